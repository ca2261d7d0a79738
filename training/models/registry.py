"""A registry of model factories, so a job file or the app can name a model."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory
    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the model registered as `name`; ValueError listing the known names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(list_models())})")
    return _REGISTRY[name](**kwargs)
