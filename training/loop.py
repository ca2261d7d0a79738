"""The training loop of a job: full fine-tuning, or head-only on cached embeddings.

AdamW with a linear warmup and cosine decay, gradient clipping, an EMA of the weights,
AMP (bf16 or fp16) and channels_last on CUDA, validation every epoch on held-out
recordings (per-class AP, cmAP, LWLRAP), checkpoints as plain state dicts (loaded with
`weights_only=True`) that a run resumes from, a cancel flag polled between steps, and
DistributedDataParallel under torchrun (rank 0 validates, saves and reports).

Long because: the loop is one sequence (build, epochs, validation, checkpoint, resume, DDP)
whose steps share the optimiser, scheduler, EMA and scaler; split, each part would take them all
as arguments. Head-only training on cached embeddings is `head_mode`; the embedding family is `embedding_head`.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from birdlab.core.ml.card import ModelCard
from birdlab.core.ml.jobs import Job, JobError, classes_without_negatives
from birdlab.core.ml.metrics import cmap, lwlrap, per_class_ap
from birdlab.core.model import Polarity
from training.augment import BatchAugmenter
from training.config import TrainConfig, architecture, config_to_dict
from training.data import (Crop, CropDataset, JobData, balanced_weights, epoch_order, split_recordings,
                           unlabelled_audio)
from training.events import CancelFlag, Events
from training.frontend import stft_power_torch
from training.losses import distillation_loss, sed_loss
from training.models import create_model
from training.models.sed import SEDModel

CHECKPOINT = "last.pt"


@dataclass
class FitResult:
    status: str  # ok or cancelled
    model_dir: Path | None = None
    metrics: dict = field(default_factory=dict)
    epochs_done: int = 0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise JobError(f"device {name!r} asked for, but torch sees no CUDA GPU here (use auto or cpu)")
    return device


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or setting == "off":
        return None
    if setting == "fp16":
        return torch.float16
    if setting == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def param_groups(model: torch.nn.Module, backbone_scale: float) -> list[dict]:
    """The optimizer's groups: the backbone at `backbone_scale` x lr, the rest (frontend, head) at lr.

    A pretrained backbone fine-tuned on a few dozen labels keeps more of what it learnt at a lower
    rate, while the freshly initialised head still needs the full one (discriminative rates)."""
    backbone = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.")]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
    return [g for g in ({"params": backbone, "lr_scale": backbone_scale}, {"params": rest, "lr_scale": 1.0})
            if g["params"]]


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup to 1, then cosine down to 1 % of the base rate."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class EMA:
    """Exponential moving average of the weights, with a warmup so early steps are not frozen in."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema_v, v in zip(self.model.state_dict().values(), model.state_dict().values()):
            if ema_v.dtype.is_floating_point:
                ema_v.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                ema_v.copy_(v)


def validate_job(job: Job) -> None:
    """Fail at once on jobs that cannot train (the message names the job file)."""
    where = str(job.path or "job")
    if not job.classes:
        raise JobError(f"{where}: the job has no classes")
    if job.teacher is not None:
        folder = job.teacher_folder()
        if folder is None or not folder.is_dir() or not any(folder.glob("*.npz")):
            raise JobError(f"{where}: the teacher's score tracks are missing (expected in {folder})")
        return  # a distillation job may have no labels: the teacher's tracks are its targets
    if not job.labels:
        raise JobError(f"{where}: the job has no labels")
    positives = {lab.class_name for lab in job.labels if lab.polarity is Polarity.POSITIVE}
    if not positives:
        raise JobError(f"{where}: the job has no positive labels (at least one class needs positives)")


CLASS_TENSORS = ("head.att.weight", "head.att.bias", "head.cla.weight", "head.cla.bias", "head.queries",
                 "head.frame_bias")


def load_init_model(model: SEDModel, path: str, classes: list[str]) -> None:
    """Start from a previous version's model.pt: all weights, with per-class head rows matched by
    class name (a new class starts from fresh rows, a dropped one is left out)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise JobError(f"{path}: model to start from not found") from None
    state, old_classes = saved["state_dict"], list(saved.get("classes", []))
    rows = [(i, old_classes.index(c)) for i, c in enumerate(classes) if c in old_classes]
    own = model.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            if key not in own:
                continue
            if key in CLASS_TENSORS:
                for new_i, old_i in rows:
                    own[key][new_i] = value[old_i]
            elif value.shape == own[key].shape:
                own[key].copy_(value)


class Trainer:
    def __init__(self, job: Job, cfg: TrainConfig, run_dir: Path, events: Events, cancel: CancelFlag):
        self.job, self.cfg, self.run_dir = job, cfg, run_dir
        self.events, self.cancel = events, cancel
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.device = pick_device(cfg.device)
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        self.ckpt_dir = run_dir / "checkpoints"
        mc = cfg.model
        self.data = JobData(job, mc.sample_rate, cfg.crop_s if cfg.crop_s else mc.window_s, mc.frame_hop_s)
        if abs(self.data.crop_s - mc.window_s) > 1e-9:
            raise JobError(f"{job.path}: crop_s {cfg.crop_s} must equal the model's window_s {mc.window_s}")

    # ---- set-up -------------------------------------------------------------------------
    def build_model(self) -> SEDModel:
        torch.manual_seed(self.cfg.seed)
        model = create_model(self.cfg.model.name, cfg=self.cfg.model, n_classes=len(self.job.classes),
                             augment=self.cfg.augment if self.cfg.mode == "full" else None)
        if self.cfg.model.init_model:
            load_init_model(model, self.cfg.model.init_model, self.job.classes)
        return model

    def split(self) -> tuple[set[int], set[int]]:
        """(train, validation) recording ids."""
        return split_recordings(self.job, self.cfg.val_fraction, self.cfg.seed)

    def crops(self) -> tuple[list[Crop], list[Crop]]:
        train_ids, val_ids = self.split()
        rng = np.random.default_rng([self.cfg.seed, 1])
        train = self.data.label_crops(train_ids)
        # at least one background crop per complete extent (up to 256): a folder marked empty is
        # the negatives a small project has, and RFCX-style training needs them
        extents = sum(1 for e in self.job.extents if e.recording in train_ids)
        count = max(int(round(self.cfg.background_crops * len(train))), min(extents, 256))
        train += self.data.background_crops(train_ids, count, rng)
        val = [Crop(c.recording, 0.5 * (c.start_lo + c.start_hi), 0.5 * (c.start_lo + c.start_hi), c.class_index,
                    c.polarity) for c in self.data.label_crops(val_ids)]
        val += self.data.tile_crops(val_ids)
        if self.data.has_teacher:  # all the audio not held out, labelled or not
            train += self.data.teacher_crops(set(self.data.recordings) - val_ids)
        if not train:
            raise JobError(f"{self.job.path}: no training crops (all labelled recordings were held out)")
        return train, val

    # ---- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> Path:
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = self.ckpt_dir / CHECKPOINT
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        self.events.emit("artifact", kind="checkpoint", path=str(path), epoch=state["epoch"],
                         step_in_epoch=state["step_in_epoch"])
        return path

    def load_checkpoint(self) -> dict | None:
        path = self.ckpt_dir / CHECKPOINT
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    parent_metrics: dict | None = None  # the starting version on the same validation crops

    def evaluate_parent(self, model: SEDModel, **kwargs) -> None:
        """Score the version this run starts from on the validation crops before training, so the
        card can compare old and new per class (classes the parent did not know are left out)."""
        if not self.cfg.model.init_model:
            return
        saved = torch.load(self.cfg.model.init_model, map_location="cpu", weights_only=True)
        known = set(saved.get("classes", []))
        metrics = self.evaluate(model, **kwargs)
        metrics["ap"] = {c: v for c, v in metrics["ap"].items() if c in known}
        values = [v for v in metrics["ap"].values() if v is not None]
        metrics["cmap"] = float(np.mean(values)) if values else None
        self.parent_metrics = metrics
        self.events.emit("metric", split="val", epoch=0, parent=True, **metrics)

    # ---- evaluation ---------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: SEDModel, crops: list[Crop] | None = None,
                 embeddings: torch.Tensor | None = None, targets=None) -> dict:
        """Per-class AP, cmAP and LWLRAP of clipwise scores on crops whose class truth is known."""
        model.eval()
        scores, truth, masks = [], [], []
        if embeddings is not None:
            for i in range(0, len(embeddings), 64):
                _, clip = model.forward_head(embeddings[i:i + 64].to(self.device))
                scores.append(clip.float().cpu())
            t, m = targets
            truth, masks = [(t * m).amax(-1)], [m.amax(-1)]
        else:
            ds = CropDataset(self.data, crops, self.cfg.seed, random_offsets=False)
            for audio, t, m in DataLoader(ds, batch_size=self.cfg.batch_size, num_workers=self.cfg.workers):
                audio = audio.to(self.device)
                _, clip = model(stft_power_torch(audio, model.spec), audio)
                scores.append(clip.float().cpu())
                truth.append((t * m).amax(-1))
                masks.append(m.amax(-1))
        s, y, mk = (torch.cat(x).numpy() for x in (scores, truth, masks))
        ap = per_class_ap(y, s, mk)
        # plain floats: the history goes into checkpoints, which load with weights_only=True
        return {"ap": {c: (None if not np.isfinite(v) else float(v)) for c, v in zip(self.job.classes, ap)},
                "cmap": float(cmap(y, s, mk)), "lwlrap": float(lwlrap(y, s, mk)), "crops": int(len(s))}

    # ---- the loop (full mode; training.fit picks the loop for a job) ---------------------
    def fit_full(self, resume: bool = False) -> FitResult:
        cfg, device = self.cfg, self.device
        self.data.check_audio()
        train, val = self.crops()
        # channels_last: faster convolutions on CUDA, and about 1.6x on the CPU here too
        model = self.build_model().to(device).to(memory_format=torch.channels_last)
        dtype = amp_dtype(cfg.amp, device)
        scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(param_groups(model, cfg.backbone_lr), lr=cfg.lr, weight_decay=cfg.weight_decay)
        ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        teacher = self.load_teacher() if cfg.distill_from else None
        dataset = CropDataset(self.data, train, cfg.seed, teacher=self.data.has_teacher)
        weights = balanced_weights(train, cfg.distil_share)
        epoch_samples = max(len(train), cfg.min_epoch_samples)
        steps_per_epoch = math.ceil(math.ceil(epoch_samples / self.world) / cfg.batch_size)
        total, warmup = steps_per_epoch * cfg.epochs, int(cfg.warmup_epochs * steps_per_epoch)
        start_epoch, start_step, global_step, best = 0, 0, 0, -1.0
        history: list[dict] = []
        if resume:
            state = self.load_checkpoint()
            if state is None:
                raise JobError(f"{self.run_dir}: nothing to resume (no {CHECKPOINT})")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if ema is not None and state.get("ema") is not None:
                ema.model.load_state_dict(state["ema"])
                ema.updates = int(state.get("ema_updates", 0))
            start_epoch, start_step = int(state["epoch"]), int(state["step_in_epoch"])
            global_step, best = int(state["global_step"]), float(state.get("best", -1.0))
            history = list(state.get("history", []))
        # some timm backbones keep layers that forward_features never uses (e.g. mobilenetv3's conv_head)
        net = (torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
               if self.world > 1 else model)
        frame_samples = int(round(cfg.model.frame_hop_s * cfg.model.sample_rate))
        augmenter = BatchAugmenter(cfg.augment, frame_samples, cfg.seed,
                                   background=lambda rng: unlabelled_audio(self.data, rng))

        def checkpoint(epoch: int, step_in_epoch: int) -> dict:
            return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "ema": ema.model.state_dict() if ema else None, "ema_updates": ema.updates if ema else 0,
                    "epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step, "best": best,
                    "history": history, "classes": list(self.job.classes),
                    "model_config": config_to_dict(cfg)["model"]}

        self.events.emit("progress", phase="start", device=str(device), amp=str(dtype).replace("torch.", ""),
                         train_crops=len(train), val_crops=len(val), epochs=cfg.epochs,
                         steps_per_epoch=steps_per_epoch, world_size=self.world, resumed=resume)
        if val and not resume and self.rank == 0:
            self.evaluate_parent(model, crops=val)
        t_start, samples_seen, last_ckpt = time.monotonic(), 0, time.monotonic()
        for epoch in range(start_epoch, cfg.epochs):
            dataset.epoch = epoch
            augmenter.rng = np.random.default_rng([cfg.seed, epoch, 99])
            order = epoch_order(weights, cfg.seed, epoch, balance=True, size=epoch_samples)[self.rank::self.world]
            batches = [order[i:i + cfg.batch_size].tolist() for i in range(0, len(order), cfg.batch_size)]
            first = start_step if epoch == start_epoch else 0
            loader = DataLoader(dataset, batch_sampler=batches[first:], num_workers=cfg.workers,
                                persistent_workers=False)
            net.train()
            running = []
            for i, (audio, targets, mask) in enumerate(loader, start=first):
                audio, targets, mask = augmenter(audio, targets, mask)
                audio, targets, mask = audio.to(device), targets.to(device), mask.to(device)
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * group["lr_scale"] * lr_factor(global_step, total, warmup)
                power = stft_power_torch(audio, model.spec)
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    frame_logits, clipwise = net(power, audio)
                loss = sed_loss(frame_logits.float(), clipwise.float(), targets, mask, cfg.clip_weight,
                                cfg.label_smoothing)
                if teacher is not None:
                    with torch.no_grad():
                        t_logits, t_clip = teacher(power, audio)
                    loss = distillation_loss(loss, torch.sigmoid(frame_logits.float()), torch.sigmoid(t_logits.float()),
                                             clipwise.float(), t_clip.float())
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update(model)
                global_step += 1
                samples_seen += len(audio) * self.world
                running.append(loss.item())
                elapsed = time.monotonic() - t_start
                rate = samples_seen / max(elapsed, 1e-9)
                remaining_steps = total - global_step
                self.events.progress(phase="train", epoch=epoch + 1, epochs=cfg.epochs, step=i + 1,
                                     steps=steps_per_epoch, loss=float(np.mean(running[-20:])),
                                     lr=optimizer.param_groups[-1]["lr"], samples_per_s=rate,
                                     eta_s=remaining_steps * cfg.batch_size * self.world / max(rate, 1e-9))
                if self.cancelled():
                    if self.rank == 0:
                        self.save_checkpoint(checkpoint(epoch, i + 1))
                    return FitResult("cancelled", epochs_done=epoch)
                if self.rank == 0 and time.monotonic() - last_ckpt > cfg.checkpoint_every_s:
                    self.save_checkpoint(checkpoint(epoch, i + 1))
                    last_ckpt = time.monotonic()
            if self.world > 1:
                dist.barrier()
            if self.rank == 0:
                eval_model = ema.model if ema is not None else model
                metrics = self.evaluate(eval_model, val) if val else {}
                record = {"epoch": epoch + 1, "train_loss": float(np.mean(running)) if running else None, **metrics}
                history.append(record)
                self.events.emit("metric", split="val" if val else "train", **record)
                score = metrics.get("cmap", float("nan")) if metrics else -float(np.mean(running or [0]))
                if not np.isfinite(score):
                    score = -float(np.mean(running or [0]))
                if score >= best:
                    best = score
                    self.save_weights(eval_model, "best.pt")
                self.save_checkpoint(checkpoint(epoch + 1, 0))
                last_ckpt = time.monotonic()
        if self.rank != 0:
            return FitResult("ok", epochs_done=cfg.epochs)
        final = self.best_model(model)
        return self.finish(final, history)

    def cancelled(self) -> bool:
        flag = self.cancel.is_set()
        if self.world > 1:
            t = torch.tensor([1.0 if flag else 0.0], device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            flag = bool(t.item() > 0)
        return flag

    def load_teacher(self) -> SEDModel:
        saved = torch.load(self.cfg.distill_from, map_location="cpu", weights_only=True)
        from training.config import ModelConfig
        cfg = ModelConfig(**{k: v for k, v in saved["model_config"].items()
                             if k in ModelConfig.__dataclass_fields__})
        cfg.pretrained, cfg.init_weights, cfg.init_model = False, None, None
        if list(saved["classes"]) != list(self.job.classes):
            raise JobError(f"{self.cfg.distill_from}: the teacher's classes differ from the job's")
        teacher = create_model(cfg.name, cfg=cfg, n_classes=len(saved["classes"]))
        teacher.load_state_dict(saved["state_dict"])
        return teacher.to(self.device).eval()

    def save_weights(self, model: SEDModel, name: str) -> Path:
        """model.pt-style file: weights + classes + model config (a later run's init or teacher)."""
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = self.ckpt_dir / name
        tmp = path.with_suffix(".tmp")
        torch.save({"state_dict": model.state_dict(), "classes": list(self.job.classes),
                    "model_config": config_to_dict(self.cfg)["model"]}, tmp)
        os.replace(tmp, path)
        return path

    def best_model(self, model: SEDModel) -> SEDModel:
        best = self.ckpt_dir / "best.pt"
        if best.exists():
            model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        return model

    def finish(self, model: torch.nn.Module, history: list[dict], embedder=None,
               export: Callable[..., dict] | None = None) -> FitResult:
        """Export model.onnx + card.json + model.pt into run_dir/model and report them
        (an embedding-family head with its embedder named in the file)."""
        from training.export import export_onnx

        out = self.run_dir / "model"
        out.mkdir(parents=True, exist_ok=True)
        model = model.cpu().float().eval()
        self.save_weights(model, "model.pt")
        os.replace(self.ckpt_dir / "model.pt", out / "model.pt")
        metrics = max((h for h in history if h.get("cmap") is not None and np.isfinite(h["cmap"])),
                      key=lambda h: h["cmap"], default=history[-1] if history else {})
        card = ModelCard(classes=list(self.job.classes), backbone=self.cfg.model.backbone, mode=self.cfg.mode,
                         metrics=metrics, parent_metrics=self.parent_metrics, history=history,
                         training_run=self.run_dir.name, parent=self.cfg.parent or "",
                         label_counts=self.label_counts(), no_negatives=classes_without_negatives(self.job),
                         data_fingerprint=self.data_fingerprint(), config=config_to_dict(self.cfg),
                         architecture=architecture(self.cfg.model))
        if embedder is not None:
            card.family, card.backbone, card.license = "embedding", embedder.name, embedder.license
        if self.cfg.export:
            result = (export or export_onnx)(model, self.job.classes, out / "model.onnx", parent=card.parent,
                                             training_run=self.run_dir.name)
            card.parity_max_abs_diff = result["parity_max_abs_diff"]
            card.created = result["metadata"]["created"]
            self.events.emit("artifact", kind="onnx", path=str(out / "model.onnx"))
        card.write(out / "card.json")
        self.events.emit("artifact", kind="card", path=str(out / "card.json"))
        return FitResult("ok", model_dir=out, metrics=metrics, epochs_done=self.cfg.epochs)

    def label_counts(self) -> dict:
        counts: dict[str, dict[str, int]] = {c: {"positive": 0, "negative": 0} for c in self.job.classes}
        for lab in self.job.labels:
            counts[lab.class_name][lab.polarity.value] += 1
        return counts

    def data_fingerprint(self) -> str:
        import hashlib
        h = hashlib.sha256()
        for lab in sorted(self.job.labels, key=lambda x: (x.recording, x.t_min, x.class_name)):
            h.update(f"{lab.recording}|{lab.class_name}|{lab.t_min:.4f}|{lab.t_max:.4f}|{lab.polarity.value};".encode())
        for rec in sorted(self.job.recordings, key=lambda r: r.id):
            h.update(f"{rec.id}|{rec.fingerprint};".encode())
        return "sha256:" + h.hexdigest()[:16]
