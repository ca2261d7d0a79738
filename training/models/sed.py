"""The SED model: log-mel frontend + any timm backbone + a sound-event-detection head.

Input: STFT power [batch, frames, bins] of a window (birdlab.core.sound.features). Outputs:
framewise logits [batch, out_frames, classes] at `frame_hop_s`, and clipwise probabilities
[batch, classes]. `ExportWrapper` turns the logits into the probabilities the model file holds.

Heads:
- "attention" (PANNs / BirdCLEF SED): pooled time features, a dense layer, then per-class
  attention weights (softmax over time) and per-frame class scores; clipwise is the
  attention-weighted mean of the frame probabilities.
- "class_query" (BirdCLEF 2023): one learned query per class attends over the time features
  (multi-head attention) for the clipwise logit; frames are scored against the same queries.

With `wave_branch` (BirdCLEF 2024), the window's raw audio, cut into rows of `wave_columns`
samples and stacked as an image (rows run along time), goes through a second 2D backbone; its
time features are resampled to the mel branch's time steps and concatenated before the head.
Such a model takes two inputs, `power` and `audio`, and says so in its metadata.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from birdlab.core.sound.features import StftSpec
from training.config import AugmentConfig, ModelConfig
from training.frontend import LogMel, SpecAugment
from training.models.pretrained import (BackboneError, PACKAGE_WEIGHTS, load_package_weights,  # noqa: F401
                                        offline_hint)  # BackboneError: raised here too, and imported from here
from training.models.registry import register_model


def create_backbone(name: str, pretrained: bool, init_weights: str | None) -> nn.Module:
    """A timm feature extractor with one input channel (pretrained 3-channel stems are summed).

    Pretrained weights come from a pip package where one ships them (training.models.pretrained),
    so the default backbone needs no hub access; any other backbone's come from timm's hub.
    """
    import timm


    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        raise BackboneError(f"unknown backbone {name!r}" + (f" (similar: {', '.join(close)})" if close else ""))
    from_package = pretrained and name in PACKAGE_WEIGHTS
    try:
        model = timm.create_model(name, pretrained=pretrained and not from_package, in_chans=1, num_classes=0,
                                  global_pool="")
    except Exception as exc:  # offline hub, missing cache: say what to do instead
        if not pretrained or from_package:
            raise
        raise BackboneError(
            f"could not load timm's pretrained weights for {name!r} ({type(exc).__name__}: {exc}). "
            "This machine may be offline: put the weights in the Hugging Face cache, pass a local "
            "weights file (init_weights / --init-weights FILE), train with pretrained off, or pick a "
            f"backbone whose weights install with pip. {offline_hint()}") from None
    if from_package:
        load_package_weights(model, name)
    if init_weights:
        load_backbone_weights(model, init_weights)
    return model


def load_backbone_weights(model: nn.Module, path: str) -> None:
    """Load a timm state-dict file into the backbone (classifier keys ignored, RGB stems summed)."""
    from timm.models import adapt_input_conv

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BackboneError(f"{path}: weights file not found") from None
    except Exception as exc:
        raise BackboneError(f"{path}: not a torch state-dict file ({exc})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise BackboneError(f"{path}: not a state dict")
    own = model.state_dict()
    usable = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key not in own:
            continue
        if value.ndim == 4 and own[key].ndim == 4 and value.shape[1] != own[key].shape[1]:
            value = adapt_input_conv(own[key].shape[1], value)
        if value.shape == own[key].shape:
            usable[key] = value
    if len(usable) < 0.9 * len(own):
        raise BackboneError(f"{path}: only {len(usable)} of the backbone's {len(own)} tensors match; "
                            f"is it a state dict of the same timm model?")
    model.load_state_dict(usable, strict=False)


class AttentionHead(nn.Module):
    def __init__(self, in_features: int, n_classes: int, hidden: int, dropout: float):
        super().__init__()
        self.dropout = dropout
        self.fc = nn.Linear(in_features, hidden)
        self.att = nn.Conv1d(hidden, n_classes, 1)
        self.cla = nn.Conv1d(hidden, n_classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, F, T'] -> (frame logits [B, C, T'], clipwise probabilities [B, C])."""
        padded = F.pad(x, (1, 1))  # avg_pool1d(x, 3, 1, 1) as three shifted sums: 10x faster on CPU here
        x = F.max_pool1d(x, 3, 1, 1) + (padded[..., :-2] + padded[..., 1:-1] + padded[..., 2:]) / 3
        x = F.dropout(x, self.dropout, self.training)
        x = F.relu(self.fc(x.transpose(1, 2))).transpose(1, 2)
        x = F.dropout(x, self.dropout, self.training)
        att = torch.softmax(torch.tanh(self.att(x)), dim=-1)
        logits = self.cla(x)
        clipwise = (att * torch.sigmoid(logits)).sum(dim=-1)
        return logits, clipwise


class ClassQueryHead(nn.Module):
    def __init__(self, in_features: int, n_classes: int, hidden: int, dropout: float, heads: int = 4):
        super().__init__()
        self.proj = nn.Linear(in_features, hidden)
        self.queries = nn.Parameter(torch.randn(n_classes, hidden) / math.sqrt(hidden))
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.clip_out = nn.Linear(hidden, 1)
        self.frame_bias = nn.Parameter(torch.zeros(n_classes))
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.proj(F.dropout(x.transpose(1, 2), self.dropout, self.training))  # [B, T', H]
        q = self.queries.unsqueeze(0).expand(h.shape[0], -1, -1)
        pooled, _ = self.attn(q, h, h, need_weights=False)  # [B, C, H]
        clipwise = torch.sigmoid(self.clip_out(pooled).squeeze(-1))
        logits = torch.einsum("bth,ch->bct", h, self.queries) / math.sqrt(h.shape[-1])
        return logits + self.frame_bias[None, :, None], clipwise


class SEDModel(nn.Module):
    """Log-mel frontend, a timm CNN and an SED head; implements `FrameModel`."""

    def __init__(self, cfg: ModelConfig, n_classes: int, augment: AugmentConfig | None = None):
        super().__init__()
        self.cfg = cfg
        self.n_classes = n_classes
        self.spec = StftSpec(cfg.n_fft, cfg.hop)
        self.out_frames = int(round(cfg.window_s / cfg.frame_hop_s))
        self.logmel = LogMel(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max, cfg.top_db,
                             cfg.band_norm)
        aug = augment or AugmentConfig(time_masks=0, freq_masks=0)
        self.spec_augment = SpecAugment(aug.time_masks, aug.time_mask_frames, aug.freq_masks, aug.freq_mask_bins)
        self.backbone = create_backbone(cfg.backbone, cfg.pretrained, cfg.init_weights)
        features = self.backbone.num_features
        self.wave = create_backbone(cfg.wave_backbone, False, None) if cfg.wave_branch else None
        if self.wave is not None:
            features += self.wave.num_features
        head_cls = AttentionHead if cfg.head == "attention" else ClassQueryHead
        self.head = head_cls(features, n_classes, cfg.hidden, cfg.dropout)

    @property
    def needs_audio(self) -> bool:
        return self.wave is not None

    def wave_image(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, samples] -> standardised [B, 1, rows, wave_columns] (zero-padded to whole rows)."""
        cols = self.cfg.wave_columns
        pad = (-audio.shape[1]) % cols
        x = F.pad(audio, (0, pad)) if pad else audio
        x = x / (x.std(dim=1, keepdim=True) + 1e-5)
        return x.reshape(x.shape[0], 1, -1, cols)

    def forward_features(self, power: torch.Tensor, audio: torch.Tensor | None = None) -> torch.Tensor:
        """STFT power (and audio, for the wave branch) -> time features [B, F, T']."""
        x = self.spec_augment(self.logmel(power))
        emb = self.backbone.forward_features(x).mean(dim=2)
        if self.wave is None:
            return emb
        if audio is None:
            raise ValueError("this model has a raw-waveform branch: pass the audio too")
        w = self.wave.forward_features(self.wave_image(audio)).mean(dim=3)  # [B, F2, rows']
        w = F.interpolate(w, size=emb.shape[-1], mode="linear", align_corners=False)
        return torch.cat([emb, w], dim=1)

    def forward_head(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Time features -> (framewise logits [B, out_frames, C], clipwise probabilities [B, C])."""
        logits, clipwise = self.head(emb.float())
        logits = F.interpolate(logits, size=self.out_frames, mode="linear", align_corners=False)
        return logits.transpose(1, 2), clipwise

    def forward(self, power: torch.Tensor, audio: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_head(self.forward_features(power, audio))

    def frozen_parts(self) -> list[nn.Module]:
        return [self.logmel, self.backbone, *([self.wave] if self.wave is not None else [])]


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: power (and audio) -> (framewise, clipwise probabilities, and the
    window's embedding: the backbone's time features averaged over time, for similarity search)."""

    def __init__(self, model: SEDModel):
        super().__init__()
        self.model = model

    def forward(self, power: torch.Tensor, audio: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.model.forward_features(power, audio)
        logits, clipwise = self.model.forward_head(features)
        return torch.sigmoid(logits), clipwise, features.float().mean(dim=-1)


@register_model("sed")
def sed(cfg: ModelConfig, n_classes: int, augment: AugmentConfig | None = None) -> SEDModel:
    return SEDModel(cfg, n_classes, augment)
