"""The embedding family: a head trained on a frozen pretrained embedder's window embeddings.

BirdNET v2.4 (`birdlab.scoring.embedders`) embeds 3 s windows at 48 kHz on the scorer's grid
(window k starts at k * frame_hop_s, default 1 s); the head maps each 1024-d embedding to
one probability per class. A window's probability is its framewise output on each of its
frames, and the scorer averages the overlapping windows of every 1 s frame, so detections
have 1 s resolution.

Labels become window targets by the RFCX rule one level up (DESIGN.md section 3, the clip
rule of `birdlab.core.ml.targets`): positive if a positive box covers one of its frames,
negative if only negative boxes or reviewed-complete extents do, masked otherwise. Windows
touched only by complete extents are sampled (`background_crops` per labelled window).

The head is linear: logits = e @ (W0 + dW).T + (b0 + db). For a class whose name matches
a BirdNET label, (W0, b0) is BirdNET's own output row, so an untrained head is BirdNET
zero-shot and weight decay pulls toward it; other classes start at zero. Embeddings are
cached per recording (`birdlab.core.store.embedding_cache`), so a retrain after a few more labels
embeds only the new windows and trains in seconds.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from birdlab.core.sound.audio import AudioError, read_window
from birdlab.core.store.embedding_cache import WindowEmbeddingCache
from birdlab.core.ml.jobs import JobError
from birdlab.core.ml.metrics import cmap, lwlrap, per_class_ap
from birdlab.core.ml.targets import clip_targets, frame_targets
from training.config import ModelConfig



def load_embedder(name: str, threads: int | None = None):
    """The frozen embedder by name; JobError saying what to install when it is missing."""
    from birdlab.scoring.embedders import EmbedderUnavailable, EmbeddingSpec, get_embedder

    try:
        return get_embedder(EmbeddingSpec(name, 0), threads or torch.get_num_threads())
    except EmbedderUnavailable as exc:
        raise JobError(str(exc)) from None


class EmbeddingHeadModel(nn.Module):
    """logits = e @ (W0 + dW).T + (b0 + db); W0/b0 fixed (BirdNET's rows or zeros)."""

    def __init__(self, cfg: ModelConfig, n_classes: int, dim: int):
        super().__init__()
        self.cfg = cfg
        self.n_classes, self.dim = n_classes, dim
        self.out_frames = int(round(cfg.window_s / cfg.frame_hop_s))
        self.register_buffer("base_weight", torch.zeros(n_classes, dim))
        self.register_buffer("base_bias", torch.zeros(n_classes))
        self.delta = nn.Linear(dim, n_classes)
        nn.init.normal_(self.delta.weight, std=0.01)
        nn.init.zeros_(self.delta.bias)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        """[B, dim] -> logits [B, C]."""
        return emb @ (self.base_weight + self.delta.weight).T + self.base_bias + self.delta.bias

    # ---- FrameModel: the embedder runs outside (scoring.embedders), so the features are the input
    def forward_features(self, emb: torch.Tensor) -> torch.Tensor:
        return emb

    def forward_head(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One score per window: every frame of the window gets it."""
        logits = self(emb)
        return logits.unsqueeze(1).expand(-1, self.out_frames, -1), torch.sigmoid(logits)

    def frozen_parts(self) -> list[nn.Module]:
        return []

    @property
    def head(self) -> nn.Module:
        """The trained part: W0 and b0 are buffers and never move."""
        return self.delta

    def start_from_embedder(self, classes: list[str], weights: np.ndarray, bias: np.ndarray,
                            labels: list[str]) -> list[str]:
        """Set (W0, b0) of classes named like an embedder label; returns the matched labels."""
        from birdlab.scoring.embedders import match_birdnet_label

        matched = []
        with torch.no_grad():
            for c, name in enumerate(classes):
                i = match_birdnet_label(name, labels)
                if i is None:
                    continue
                self.base_weight[c] = torch.from_numpy(weights[i])
                self.base_bias[c] = float(bias[i])
                self.delta.weight[c].zero_()
                matched.append(f"{name} = {labels[i]}")
        return matched


class HeadExport(nn.Module):
    """What the model file holds: embedding [B, dim] -> (framewise [B, frames, C], clipwise [B, C])."""

    def __init__(self, model: EmbeddingHeadModel):
        super().__init__()
        self.model = model

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, clipwise = self.model.forward_head(embedding)
        return torch.sigmoid(logits), clipwise


def window_starts(duration: float, hop_s: float) -> np.ndarray:
    """The scorer's grid: windows start at k * hop_s while they start inside the recording."""
    return np.arange(max(1, math.ceil(duration / hop_s - 1e-9))) * hop_s


class WindowSet:
    """Windows of a job on the scorer's grid with their clip targets and masks [N, C].

    Every window that a label touches is kept; windows that only complete extents make
    negative are sampled, `background` per labelled window (all of them when no label
    touches the recordings, e.g. a folder marked empty).
    """

    def __init__(self, trainer, recording_ids: set[int], rng: np.random.Generator, background: float):
        data, mc = trainer.data, trainer.cfg.model
        n_frames = int(round(mc.window_s / mc.frame_hop_s))
        n_classes = len(trainer.job.classes)
        labelled: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        extent_only: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        for rid in sorted(recording_ids):
            labels = [(lab.t_min, lab.t_max) for lab in trainer.job.labels if lab.recording == rid]
            for k, start in enumerate(window_starts(data.recordings[rid].duration, mc.frame_hop_s)):
                t, m = frame_targets(data.boxes.get(rid, ()), float(start), mc.frame_hop_s, n_frames, n_classes)
                ct, cm = clip_targets(t, m)
                if not cm.any():
                    continue
                end = start + mc.window_s
                touched = any(t0 < end and t1 > start for t0, t1 in labels)
                (labelled if touched else extent_only).append((rid, k, ct, cm))
        n_bg = len(extent_only) if not labelled else min(len(extent_only), int(round(background * len(labelled))))
        picked = sorted(rng.choice(len(extent_only), size=n_bg, replace=False)) if n_bg else []
        rows = labelled + [extent_only[i] for i in picked]
        self.items = [(rid, k) for rid, k, _, _ in rows]
        self.targets = np.stack([r[2] for r in rows]).astype(np.float32) if rows else np.zeros((0, n_classes), np.float32)
        self.masks = np.stack([r[3] for r in rows]).astype(np.float32) if rows else np.zeros((0, n_classes), np.float32)


def embed_windows(trainer, embedder, windows: WindowSet, what: str) -> np.ndarray | None:
    """Embeddings [N, dim] of the windows, from the per-recording cache where possible."""
    cfg = trainer.cfg.model
    cache_root = Path(trainer.job.project) / "cache" if trainer.job.project else trainer.run_dir / "cache"
    cache = WindowEmbeddingCache(cache_root, embedder.name, embedder.sha256, cfg.frame_hop_s)
    by_rec: dict[int, list[int]] = {}
    for rid, k in windows.items:
        by_rec.setdefault(rid, []).append(k)
    found: dict[tuple[int, int], np.ndarray] = {}
    todo = 0
    cached_recs = {}
    for rid, ks in by_rec.items():
        fp = trainer.data.recordings[rid].fingerprint
        cached_recs[rid] = cache.load(fp)
        todo += sum(1 for k in ks if k not in cached_recs[rid])
    t0, done = time.monotonic(), 0
    n = embedder.window_samples
    for rid, ks in by_rec.items():
        rec = trainer.data.recordings[rid]
        have = cached_recs[rid]
        missing = sorted(k for k in set(ks) if k not in have)
        for i in range(0, len(missing), 16):
            chunk = missing[i:i + 16]
            audio = np.zeros((len(chunk), n), np.float32)
            for row, k in enumerate(chunk):
                start = k * cfg.frame_hop_s
                try:
                    samples, _ = read_window(rec.path, start, start + cfg.window_s, sample_rate=embedder.sample_rate)
                except AudioError as exc:
                    raise JobError(str(exc)) from None
                audio[row, :min(n, len(samples))] = samples[:n]
            for k, e in zip(chunk, embedder.embed(audio)):
                have[k] = e.astype(np.float16)
            done += len(chunk)
            rate = done / max(time.monotonic() - t0, 1e-9)
            trainer.events.progress(phase="embed", what=what, done=done, total=todo,
                                    cached=len(windows.items) - todo, crops_per_s=rate,
                                    eta_s=(todo - done) / max(rate, 1e-9))
            if trainer.cancelled():
                cache.save(rec.fingerprint, have)
                return None
        if missing:
            cache.save(rec.fingerprint, have)
        for k in ks:
            found[(rid, k)] = have[k]
    if not windows.items:
        return np.zeros((0, embedder.dim), np.float32)
    return np.stack([found[item] for item in windows.items]).astype(np.float32)


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (bce * mask).sum() / mask.sum().clamp_min(1.0)


def evaluate_head(model: EmbeddingHeadModel, x: torch.Tensor, y: np.ndarray, m: np.ndarray,
                  classes: list[str]) -> dict:
    with torch.no_grad():
        scores = torch.sigmoid(model(x)).numpy()
    ap = per_class_ap(y, scores, m)
    return {"ap": {c: (None if not np.isfinite(v) else float(v)) for c, v in zip(classes, ap)},
            "cmap": cmap(y, scores, m), "lwlrap": lwlrap(y, scores, m), "crops": int(len(scores))}


def fit_embedding_head(trainer, resume: bool = False):
    """Train the head of an embedding-family job; returns the trainer's FitResult."""
    from training.head_mode import train_on_cached
    from training.loop import FitResult

    cfg = trainer.cfg
    trainer.data.check_audio()
    embedder = load_embedder(cfg.model.embedder)
    classes = list(trainer.job.classes)
    model = EmbeddingHeadModel(cfg.model, len(classes), embedder.dim)
    torch.manual_seed(cfg.seed)
    nn.init.normal_(model.delta.weight, std=0.01)
    matched: list[str] = []
    if cfg.model.start_from_embedder:
        weights, bias = embedder.classifier()
        from birdlab.scoring.embedders import birdnet_labels
        matched = model.start_from_embedder(classes, weights, bias, birdnet_labels())
    if cfg.model.init_model:
        load_head_init(model, cfg.model.init_model, classes)
    train_ids, val_ids = trainer.split()
    rng = np.random.default_rng([cfg.seed, 1])
    train = WindowSet(trainer, train_ids, rng, cfg.background_crops)
    val = WindowSet(trainer, val_ids, rng, cfg.background_crops)
    if not train.items:
        raise JobError(f"{trainer.job.path}: no labelled windows to train on (all labelled recordings were held out)")
    trainer.events.emit("progress", phase="start", mode="head", family="embedding", embedder=embedder.name,
                        device="cpu", train_crops=len(train.items), val_crops=len(val.items), epochs=cfg.epochs,
                        matched_classes=matched, resumed=resume)
    x_train = embed_windows(trainer, embedder, train, "train")
    x_val = embed_windows(trainer, embedder, val, "validation") if val.items else None
    if x_train is None or (val.items and x_val is None) or trainer.cancelled():
        return FitResult("cancelled")
    xt, yt, mt = torch.from_numpy(x_train), torch.from_numpy(train.targets), torch.from_numpy(train.masks)
    xv = torch.from_numpy(x_val) if x_val is not None else None
    if xv is not None and len(xv):
        trainer.parent_metrics = evaluate_head(model, xv, val.targets, val.masks, classes) \
            if (cfg.model.init_model or matched) else None
        if trainer.parent_metrics is not None:
            trainer.events.emit("metric", split="val", epoch=0, parent=True, **trainer.parent_metrics)
    history = train_on_cached(
        trainer, model.head, len(xt), 0.0, loss_of=lambda idx: masked_bce(model(xt[idx]), yt[idx], mt[idx]),
        evaluate=lambda: evaluate_head(model, xv, val.targets, val.masks, classes) if xv is not None and len(xv)
        else {})
    if history is None:
        return FitResult("cancelled")
    return trainer.finish(model, history, embedder=embedder,
                          export=lambda *args, **kwargs: export_head(*args, embedder, **kwargs))


def load_head_init(model: EmbeddingHeadModel, path: str, classes: list[str]) -> None:
    """Start from a previous head (model.pt), rows matched by class name."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise JobError(f"{path}: model to start from not found") from None
    state, old = saved["state_dict"], list(saved.get("classes", []))
    if "delta.weight" not in state:
        raise JobError(f"{path}: not an embedding-head model; start it from BirdNET or from scratch")
    with torch.no_grad():
        for c, name in enumerate(classes):
            if name not in old:
                continue
            o = old.index(name)
            model.base_weight[c] = state["base_weight"][o]
            model.base_bias[c] = state["base_bias"][o]
            model.delta.weight[c] = state["delta.weight"][o]
            model.delta.bias[c] = state["delta.bias"][o]


def export_head(model: EmbeddingHeadModel, classes: list[str], path: Path, embedder, *, parent: str = "",
                training_run: str = "") -> dict:
    """Write the head as model.onnx (input `embedding`) with metadata naming its embedder; parity-checked."""
    import onnxruntime as ort

    from birdlab.scoring.metadata import ModelMetadata
    from training.export import PARITY_TOLERANCE, ExportError, stamp_metadata

    model = model.float().cpu().eval()
    wrapper = HeadExport(model).eval()
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (torch.zeros(1, model.dim),), str(tmp), input_names=["embedding"],
                          output_names=["framewise", "clipwise"],
                          dynamic_axes={"embedding": {0: "batch"}, "framewise": {0: "batch"},
                                        "clipwise": {0: "batch"}}, opset_version=17, dynamo=False)
    cfg = model.cfg
    metadata = ModelMetadata(
        classes=tuple(classes), sample_rate=embedder.sample_rate, window_s=float(embedder.window_s),
        frame_hop_s=float(cfg.frame_hop_s), default_hop_s=float(cfg.frame_hop_s), spec=None,
        embedding=embedder.spec,
        overlap="geometric",  # one score per window: a frame is high when the windows around it agree
        frontend={"kind": "embedding", "embedder": embedder.name}, backbone=embedder.name, head="linear",
        license=embedder.license, parent=parent, training_run=training_run,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds")).to_props()
    stamp_metadata(tmp, metadata)
    # parity: embeddings like BirdNET's (non-negative, mostly small) through torch and ONNX Runtime
    rng = np.random.default_rng()
    emb = np.abs(rng.standard_normal((4, model.dim))).astype(np.float32) * 0.5
    with torch.no_grad():
        ref = wrapper(torch.from_numpy(emb))
    got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(["framewise", "clipwise"],
                                                                                {"embedding": emb})
    diff = max(float(np.abs(g - r.numpy()).max()) for g, r in zip(got, ref))
    if not diff < PARITY_TOLERANCE:
        raise ExportError(f"{path}: ONNX Runtime and torch disagree (max abs difference {diff:.2e})")
    os.replace(tmp, path)
    return {"metadata": metadata, "parity_max_abs_diff": diff}
