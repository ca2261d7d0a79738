"""Export a trained SED model as one self-describing ONNX file (DESIGN.md section 4).

The graph takes STFT power (birdlab.core.sound.features.stft_power, computed by the scorer in
numpy) and holds the mel filterbank, log and normalisation. Its outputs: `framewise` and
`clipwise` probabilities, and `embedding` (the backbone's features averaged over the window's
time, which similarity search uses; scoring never asks for it, so it costs nothing there). After writing, `check_parity`
runs fresh random audio through ONNX Runtime with the scorer's own numpy feature code and
through torch from the raw audio (torch STFT), and fails the export when any probability
differs by 1e-3 or more.
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from birdlab.core.sound.features import stft_power
from birdlab.scoring.metadata import ModelMetadata
from training.frontend import stft_power_torch
from training.models.sed import ExportWrapper, SEDModel

PARITY_TOLERANCE = 1e-3


class ExportError(RuntimeError):
    """The exported file does not reproduce the torch model (or could not be written)."""


def model_metadata(model: SEDModel, classes: list[str], *, parent: str = "", training_run: str = "",
                   class_bands: dict[str, list[float]] | None = None) -> dict[str, str]:
    """The SED model's self-description, written through the scorer's own `ModelMetadata`."""
    cfg = model.cfg
    return ModelMetadata(
        classes=tuple(classes), sample_rate=cfg.sample_rate, window_s=float(cfg.window_s),
        frame_hop_s=float(cfg.frame_hop_s), spec=model.spec, raw_audio=bool(model.needs_audio),
        frontend={"kind": "logmel", "n_mels": cfg.n_mels, "f_min": cfg.f_min, "f_max": min(cfg.f_max, cfg.sample_rate / 2),
                  "top_db": cfg.top_db, "mel_scale": "htk",
                  "normalise": ("band means out, then " if cfg.band_norm else "") + "per-example standardisation"},
        backbone=cfg.backbone, head=cfg.head, parent=parent, training_run=training_run,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        class_bands={k: (float(v[0]), float(v[1])) for k, v in (class_bands or {}).items()}).to_props()


def export_onnx(model: SEDModel, classes: list[str], path: str | Path, *, parity: bool = True,
                **meta_kwargs) -> dict:
    """Write model.onnx (atomically) with its metadata; returns {"metadata", "parity_max_abs_diff"}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().cpu().eval()
    wrapper = ExportWrapper(model).eval()
    n_samples = int(round(model.cfg.window_s * model.cfg.sample_rate))
    dummy = (torch.zeros(1, model.spec.n_frames(n_samples), model.spec.n_bins),)
    names = ["power"]
    if model.needs_audio:
        dummy += (torch.zeros(1, n_samples),)
        names.append("audio")
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, dummy, str(tmp), input_names=names,
                          output_names=["framewise", "clipwise", "embedding"],
                          dynamic_axes={**{name: {0: "batch"} for name in names}, "framewise": {0: "batch"},
                                        "clipwise": {0: "batch"}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    metadata = model_metadata(model, classes, **meta_kwargs)
    stamp_metadata(tmp, metadata)
    diff = check_parity(model, tmp) if parity else float("nan")
    os.replace(tmp, path)
    return {"metadata": metadata, "parity_max_abs_diff": diff}


def stamp_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Replace an exported file's metadata_props with `metadata` and check the model."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def check_parity(model: SEDModel, onnx_path: str | Path, batch: int = 2, seed: int | None = None) -> float:
    """Max abs difference of torch (from audio) vs ONNX Runtime (numpy features); ExportError at >= 1e-3."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    n = int(round(model.cfg.window_s * model.cfg.sample_rate))
    # fresh random audio: noise at a random level plus a tone, so the features are not flat
    t = np.arange(n) / model.cfg.sample_rate
    audio = (rng.standard_normal((batch, n)) * rng.uniform(0.01, 0.3, (batch, 1))
             + 0.2 * np.sin(2 * np.pi * rng.uniform(500, 8000, (batch, 1)) * t)).astype(np.float32)
    wrapper = ExportWrapper(model.float().cpu().eval()).eval()
    audio_t = torch.from_numpy(audio)
    with torch.no_grad():
        ref = wrapper(stft_power_torch(audio_t, model.spec), audio_t if model.needs_audio else None)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {"power": stft_power(audio, model.spec)}
    if model.needs_audio:
        feeds["audio"] = audio
    got = session.run(["framewise", "clipwise", "embedding"], feeds)
    diff = max(float(np.abs(g - r.numpy()).max()) for g, r in zip(got[:2], ref[:2]))
    if not diff < PARITY_TOLERANCE:
        raise ExportError(f"{onnx_path}: ONNX Runtime and torch disagree (max abs difference {diff:.2e} "
                          f">= {PARITY_TOLERANCE}); the export is not usable")
    embedding = ref[2].numpy()
    relative = float(np.abs(got[2] - embedding).max() / max(float(np.abs(embedding).max()), 1e-6))
    if not relative < PARITY_TOLERANCE:
        raise ExportError(f"{onnx_path}: the embedding output differs from torch's by {relative:.2e} of its "
                          f"scale (>= {PARITY_TOLERANCE}); the export is not usable")
    return diff


def export_random_model(path: str | Path, backbone: str = "efficientnet_b0", classes: list[str] | None = None,
                        sample_rate: int = 32000, **model_kwargs) -> Path:
    """An untrained model of the default architecture (benchmarks of the scorer need one)."""
    from training.config import ModelConfig
    from training.models import create_model

    classes = classes or [f"class_{i}" for i in range(10)]
    torch.manual_seed(0)
    model_kwargs.setdefault("pretrained", False)  # untrained: no weights to fetch
    model = create_model("sed", cfg=ModelConfig(backbone=backbone, sample_rate=sample_rate, **model_kwargs),
                         n_classes=len(classes))
    export_onnx(model, classes, path)
    return Path(path)
