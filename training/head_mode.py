"""Quick retrain: freeze the backbone, cache crop embeddings, train only the SED head.

The backbone's time features of every labelled crop (at `head_offsets` fixed offsets) are
computed once and cached under the project's `cache/embeddings/<weights digest>/`, keyed by
the recording's fingerprint and the crop's start, so a retrain after a few more labels only
embeds the new crops. Training the head on cached features takes seconds on a CPU.
Cancel stops between batches; the cached embeddings stay, so running again is quick.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from training.data import Crop
from birdlab.core.sound.features import stft_power
from training.frontend import stft_power_torch
from training.loop import FitResult, Trainer, lr_factor
from training.losses import sed_loss
from training.models.sed import SEDModel


def weights_digest(model: SEDModel) -> str:
    """A digest of everything that shapes the embeddings: frontend and backbone weights and settings."""
    h = hashlib.sha1()
    cfg = model.cfg
    h.update(f"{cfg.backbone}|{cfg.sample_rate}|{cfg.window_s}|{cfg.n_fft}|{cfg.hop}|{cfg.n_mels}|"
             f"{cfg.f_min}|{cfg.f_max}|{cfg.top_db}|{cfg.wave_branch}|{cfg.wave_backbone}|{cfg.wave_columns}".encode())
    for module in model.frozen_parts():
        for key, value in module.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class EmbeddingCache:
    """Per-crop embeddings on disk (float16 .npy), written atomically; disposable like all of cache/."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        try:
            return np.load(self.path(key))
        except (FileNotFoundError, ValueError, OSError):
            return None  # missing or damaged: computed again

    def put(self, key: str, value: np.ndarray) -> None:
        tmp = self.folder / f".{key}.{os.getpid()}.tmp.npy"
        np.save(tmp, value.astype(np.float16))
        os.replace(tmp, self.path(key))


def crop_key(trainer: Trainer, crop: Crop, start: float) -> str:
    rec = trainer.data.recordings[crop.recording]
    ident = rec.fingerprint or hashlib.sha1(rec.path.encode()).hexdigest()[:16]
    ident = ident.replace(":", "_").replace("/", "_")
    return f"{ident}_{int(round(start * 1000))}_{int(round(trainer.data.crop_s * 1000))}"


def crop_instances(trainer: Trainer, crops: list[Crop], offsets: int) -> list[tuple[Crop, float]]:
    """(crop, start) pairs: `offsets` seeded starts per crop (one for a fixed crop)."""
    out = []
    for i, crop in enumerate(crops):
        if crop.start_hi <= crop.start_lo:
            out.append((crop, crop.start_lo))
            continue
        rng = np.random.default_rng([trainer.cfg.seed, i, 5])
        out += [(crop, float(s)) for s in rng.uniform(crop.start_lo, crop.start_hi, size=offsets)]
    return out


class _EmbedGraph(torch.nn.Module):
    def __init__(self, model: SEDModel):
        super().__init__()
        self.model = model

    def forward(self, power: torch.Tensor, audio: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.forward_features(power, audio)


class Embedder:
    """Frontend + backbone as a function of audio batches.

    On the CPU it runs the embedding part through ONNX Runtime (exported once per weights
    digest into the cache), about twice as fast as torch there; on a GPU it stays in torch.
    """

    def __init__(self, model: SEDModel, device: torch.device, cache_folder: Path):
        self.model, self.device = model, device
        self.session = None
        if device.type == "cpu":
            import warnings

            import onnxruntime as ort

            path = cache_folder / "embedder.onnx"
            if not path.exists():
                n = int(round(model.cfg.window_s * model.cfg.sample_rate))
                dummy = (torch.zeros(1, model.spec.n_frames(n), model.spec.n_bins),)
                names = ["power"] + (["audio"] if model.needs_audio else [])
                if model.needs_audio:
                    dummy += (torch.zeros(1, n),)
                tmp = cache_folder / f".embedder.{os.getpid()}.onnx"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(_EmbedGraph(model).eval(), dummy, str(tmp), input_names=names,
                                      output_names=["embedding"],
                                      dynamic_axes={**{k: {0: "batch"} for k in names}, "embedding": {0: "batch"}},
                                      opset_version=17, dynamo=False)
                os.replace(tmp, path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            # no busy-waiting between batches: the thread reading the next crops needs that CPU
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @torch.no_grad()
    def __call__(self, audio: np.ndarray) -> np.ndarray:
        if self.session is not None:
            feeds = {"power": stft_power(audio, self.model.spec)}
            if self.model.needs_audio:
                feeds["audio"] = audio
            return self.session.run(["embedding"], feeds)[0]
        audio_t = torch.from_numpy(audio).to(self.device)
        power = stft_power_torch(audio_t, self.model.spec)
        return self.model.forward_features(power, audio_t).float().cpu().numpy()


def embed_all(trainer: Trainer, embedder: Embedder, instances: list[tuple[Crop, float]], cache: EmbeddingCache,
              what: str) -> torch.Tensor | None:
    """Embeddings [N, F, T'] of the instances, from the cache where possible. None when cancelled.

    The next batch's audio is read in a thread while the current one is embedded.
    """
    from concurrent.futures import ThreadPoolExecutor

    keys = [crop_key(trainer, c, s) for c, s in instances]
    found = {k: v for k in set(keys) if (v := cache.get(k)) is not None}
    todo = [i for i, k in enumerate(keys) if k not in found]
    t0 = time.monotonic()
    batch = 8  # ONNX Runtime on 2 cores is fastest with small batches here
    chunks = [todo[i:i + batch] for i in range(0, len(todo), batch)]

    def read(chunk: list[int]) -> np.ndarray:
        return np.stack([trainer.data.read(*instances[i]) for i in chunk])

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(read, chunks[0]) if chunks else None
        for n_chunk, chunk in enumerate(chunks):
            audio = pending.result()
            if n_chunk + 1 < len(chunks):
                pending = pool.submit(read, chunks[n_chunk + 1])
            emb = embedder(audio)
            for i, e in zip(chunk, emb):
                cache.put(keys[i], e)
                found[keys[i]] = e.astype(np.float16)
            n = n_chunk * batch + len(chunk)
            rate = n / max(time.monotonic() - t0, 1e-9)
            trainer.events.progress(phase="embed", what=what, done=n, total=len(todo),
                                    cached=len(keys) - len(todo), crops_per_s=rate,
                                    eta_s=(len(todo) - n) / max(rate, 1e-9))
            if trainer.cancelled():
                return None
    if not keys:
        return None
    return torch.from_numpy(np.stack([found[k] for k in keys]).astype(np.float32))


def targets_of(trainer: Trainer, instances: list[tuple[Crop, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [trainer.data.targets(c.recording, s) for c, s in instances]
    return torch.from_numpy(np.stack([t for t, _ in pairs])), torch.from_numpy(np.stack([m for _, m in pairs]))


def train_on_cached(trainer: Trainer, module: torch.nn.Module, n: int, grad_clip: float,
                    loss_of: Callable[[torch.Tensor], torch.Tensor], evaluate: Callable[[], dict]) -> list[dict] | None:
    """The quick loops' training on `n` cached inputs: AdamW over `module` (warmup + cosine),
    shuffled batches whose loss `loss_of(indices)` gives, progress and a metric event per epoch,
    and `module` left at its best epoch (validation cmAP, else train loss). Returns the history,
    or None when cancelled."""
    cfg = trainer.cfg
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total, warmup = steps_per_epoch * cfg.epochs, int(cfg.warmup_epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    best, best_state = -float("inf"), None
    step, t0 = 0, time.monotonic()
    for epoch in range(cfg.epochs):
        module.train()
        order = torch.randperm(n, generator=gen)
        losses = []
        for i in range(0, n, cfg.batch_size):
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, total, warmup)
            loss = loss_of(order[i:i + cfg.batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            step += 1
            losses.append(loss.item())
            rate = step * cfg.batch_size / max(time.monotonic() - t0, 1e-9)
            trainer.events.progress(phase="train", epoch=epoch + 1, epochs=cfg.epochs, step=i // cfg.batch_size + 1,
                                    steps=steps_per_epoch, loss=float(np.mean(losses[-20:])), samples_per_s=rate,
                                    eta_s=(total - step) * cfg.batch_size / max(rate, 1e-9))
            if trainer.cancelled():
                return None
        metrics = evaluate()
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), **metrics}
        history.append(record)
        trainer.events.emit("metric", split="val" if metrics else "train", **record)
        score = metrics.get("cmap")
        score = score if score is not None and np.isfinite(score) else -record["train_loss"]
        if score >= best:
            best, best_state = score, {k: v.detach().clone() for k, v in module.state_dict().items()}
    if best_state is not None:
        module.load_state_dict(best_state)
    return history


def fit_head(trainer: Trainer, resume: bool = False) -> FitResult:
    cfg, device = trainer.cfg, trainer.device
    trainer.data.check_audio()
    train, val = trainer.crops()
    model = trainer.build_model().to(device)
    for module in model.frozen_parts():
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
    cache_root = Path(trainer.job.project) / "cache" if trainer.job.project else trainer.run_dir / "cache"
    cache = EmbeddingCache(cache_root / "embeddings" / weights_digest(model))
    embedder = Embedder(model, device, cache.folder)
    train_inst = crop_instances(trainer, train, max(1, cfg.head_offsets))
    val_inst = crop_instances(trainer, val, 1)
    trainer.events.emit("progress", phase="start", mode="head", device=str(device), train_crops=len(train_inst),
                        val_crops=len(val_inst), epochs=cfg.epochs, resumed=resume)
    x_train = embed_all(trainer, embedder, train_inst, cache, "train")
    x_val = embed_all(trainer, embedder, val_inst, cache, "validation") if val_inst else None
    if x_train is None or trainer.cancelled():
        return FitResult("cancelled")
    y_train, m_train = targets_of(trainer, train_inst)
    val_targets = targets_of(trainer, val_inst) if val_inst else None

    if x_val is not None:
        trainer.evaluate_parent(model, embeddings=x_val, targets=val_targets)
    history = train_on_cached(
        trainer, model.head, len(x_train), cfg.grad_clip,
        loss_of=lambda idx: sed_loss(*model.forward_head(x_train[idx].to(device)), y_train[idx].to(device),
                                     m_train[idx].to(device), cfg.clip_weight, cfg.label_smoothing),
        evaluate=lambda: trainer.evaluate(model, embeddings=x_val, targets=val_targets) if x_val is not None else {})
    if history is None:
        return FitResult("cancelled")
    return trainer.finish(model, history)
