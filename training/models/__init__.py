"""Models by name: `create_model(name, ...)` through the registry (timm style)."""

from training.models import sed  # noqa: F401  (registers "sed")
from training.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
