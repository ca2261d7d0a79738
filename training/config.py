"""Training settings: one dataclass per concern, read from a job file's `config` object.

Unknown keys are an error (a typo must not silently train with a default). Defaults follow
the BirdCLEF 2023 recipe (SED, log-mel n_fft 1024 / hop 320 / 20-14000 Hz / 128 mels / top_db 80,
AdamW + cosine) at 32 kHz with 5 s crops, on an ImageNet-pretrained efficientnet_lite0 whose
weights install with pip (training.models.pretrained), so the default trains offline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    name: str = "sed"  # registry name (training.models.registry)
    backbone: str = "efficientnet_lite0"  # any timm model with forward_features
    pretrained: bool = True  # ImageNet weights: from a pip package where one ships them, else timm's hub
    init_weights: str | None = None  # a timm state-dict file for the backbone
    init_model: str | None = None  # a previous version's checkpoint (model.pt) to start from
    sample_rate: int = 32000
    window_s: float = 5.0
    frame_hop_s: float = 0.1  # framewise output resolution
    n_fft: int = 1024
    hop: int = 320
    n_mels: int = 128
    f_min: float = 20.0
    f_max: float = 14000.0
    top_db: float = 80.0
    band_norm: bool = False  # subtract each mel band's mean over the window (see docs/quality.md)
    head: str = "attention"  # "attention" (PANNs SED block) or "class_query" (BirdCLEF 2023 MHA)
    hidden: int = 512
    dropout: float = 0.25
    wave_branch: bool = False  # BirdCLEF 2024: a raw-waveform CNN (waveform reshaped to 2D) fused with the mel CNN
    wave_backbone: str = "mobilenetv3_small_050"
    wave_columns: int = 256  # samples per row of the waveform image (rows run along time)
    # the embedding family (name "embedding_head"): a head on a frozen embedder's windows
    embedder: str = "birdnet-v2.4"
    start_from_embedder: bool = True  # classes named like an embedder label start from its output


# the ModelConfig settings that fix the model's shape: a card carries them (`architecture`), and
# a run that starts from that version keeps them, so the weights fit
ARCHITECTURE_FIELDS = ("name", "embedder", "backbone", "sample_rate", "window_s", "frame_hop_s", "n_fft", "hop",
                       "n_mels", "f_min", "f_max", "top_db", "band_norm", "head", "hidden", "wave_branch", "wave_backbone",
                       "wave_columns")


def architecture(model: "ModelConfig") -> dict:
    return {name: getattr(model, name) for name in ARCHITECTURE_FIELDS}


@dataclass
class AugmentConfig:
    mixup: float = 0.0  # probability of a mixup batch, Beta(1.5, 1.5)
    sumix: float = 0.0  # probability of a sumix batch (random gains, targets as a union)
    sumup: float = 0.0  # probability of a sumup batch (plain sum, targets as a union)
    gain_db: float = 6.0  # random gain in +-gain_db (0: off)
    gaussian_snr_db: tuple[float, float] | None = (10.0, 40.0)  # None: off
    pink_snr_db: tuple[float, float] | None = (10.0, 40.0)
    noise_p: float = 0.3  # probability of each noise kind per sample
    background_p: float = 0.0  # mix in a crop of unlabelled project audio
    background_snr_db: tuple[float, float] = (3.0, 20.0)
    time_masks: int = 2  # SpecAugment on the log-mel, inside the model, training only
    time_mask_frames: int = 40
    freq_masks: int = 2
    freq_mask_bins: int = 16
    time_shift: bool = True  # roll the crop (targets roll with it)


@dataclass
class TrainConfig:
    mode: str = "full"  # "full": fine-tune everything; "head": frozen backbone, cached embeddings
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    backbone_lr: float = 1.0  # full mode: the backbone's learning rate as a fraction of lr (the head gets lr)
    weight_decay: float = 1e-2
    warmup_epochs: float = 0.5
    grad_clip: float = 5.0
    ema_decay: float = 0.999  # 0: off
    label_smoothing: float = 0.0
    clip_weight: float = 1.0  # weight of clipwise BCE + 0.5 x max-framewise BCE (BirdCLEF multi-loss)
    distill_from: str | None = None  # a teacher checkpoint (model.pt)
    distill_weight: float = 0.67  # 0.33 BCE + 0.34 KL(s||t) + 0.33 KL(t||s)
    teacher: str = ""  # a distillation job's teacher version (its tracks come with the job; recorded in the card)
    distil_share: float = 0.5  # a distillation job: the share of each epoch's crops drawn from all the audio
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA when supported, else fp16), bf16, fp16, off
    workers: int = 0  # DataLoader workers
    seed: int = 0
    crop_s: float = 5.0
    background_crops: float = 0.5  # background crops from complete extents per labelled crop
    val_fraction: float = 0.2  # recordings held out when the job names none
    min_epoch_samples: int = 256  # full mode: a small project's epoch still takes this many crops (drawn balanced)
    head_offsets: int = 1  # head mode: crops per label (seeded random offsets) whose embeddings are cached
    checkpoint_every_s: float = 60.0
    export: bool = True
    parent: str = ""  # the model version this run starts from (recorded in the card and the ONNX file)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def _check_type(value: object, f: dataclasses.Field, where: str) -> None:
    """A setting must have its default's type (an int where the default is an int, ...): a job
    file written by hand or by another tool fails here with the setting's name, not later."""
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        return
    if default is None or value is None or dataclasses.is_dataclass(default):
        return
    kind = type(default)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {bool: isinstance(value, bool), int: number and isinstance(value, int), float: number,
          str: isinstance(value, str), tuple: isinstance(value, (list, tuple)),
          list: isinstance(value, (list, tuple)), dict: isinstance(value, dict)}.get(kind, True)
    if not ok:
        raise ValueError(f"{where}.{f.name} should be {kind.__name__}, not {type(value).__name__} ({value!r})")


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where} should be an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting(s) in {where}: {', '.join(unknown)} "
                         f"(known: {', '.join(fields)})")
    kwargs = {}
    for key, value in data.items():
        _check_type(value, fields[key], where)
        if key == "model":
            value = _build(ModelConfig, value, f"{where}.model")
        elif key == "augment":
            value = _build(AugmentConfig, value, f"{where}.augment")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(data: dict) -> TrainConfig:
    """A TrainConfig from a job's `config` object; ValueError naming unknown or bad settings."""
    cfg = _build(TrainConfig, data, "config")
    if cfg.mode not in ("full", "head"):
        raise ValueError(f"config.mode {cfg.mode!r}: use 'full' or 'head'")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError("config.epochs and config.batch_size must be >= 1")
    if cfg.model.name == EMBEDDING_FAMILY:
        apply_embedding_family(cfg, data)
    elif cfg.model.name != "sed":
        raise ValueError(f"config.model.name {cfg.model.name!r}: use 'sed' or {EMBEDDING_FAMILY!r}")
    if cfg.model.head not in ("attention", "class_query"):
        raise ValueError(f"config.model.head {cfg.model.head!r}: use 'attention' or 'class_query'")
    if cfg.model.init_model:  # its checkpoint replaces every weight: fetching ImageNet ones (hub) is moot
        cfg.model.pretrained = False
    return cfg


EMBEDDING_FAMILY = "embedding_head"


def apply_embedding_family(cfg: TrainConfig, data: dict) -> None:
    """The embedder fixes the window and rate; the head trains on cached embeddings (mode head)
    and scores every `frame_hop_s` (1 s unless set)."""
    from birdlab.scoring.embedders import BIRDNET, BirdnetEmbedder

    if cfg.model.embedder != BIRDNET:
        raise ValueError(f"config.model.embedder {cfg.model.embedder!r}: known embedders: {BIRDNET}")
    if data.get("mode", "head") != "head":
        raise ValueError("the embedding family trains only its head: use mode 'head'")
    cfg.mode = "head"
    cfg.model.sample_rate = BirdnetEmbedder.sample_rate
    cfg.model.window_s = cfg.crop_s = BirdnetEmbedder.window_s
    if "frame_hop_s" not in data.get("model", {}):
        cfg.model.frame_hop_s = 1.0
    frames = cfg.model.window_s / cfg.model.frame_hop_s
    if cfg.model.frame_hop_s > 1.0 or abs(frames - round(frames)) > 1e-6:
        raise ValueError(f"config.model.frame_hop_s {cfg.model.frame_hop_s}: the embedding family needs a hop "
                         f"<= 1 s that divides the {cfg.model.window_s:g} s window")


def config_to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)
