"""Losses: the RFCX frame-masked BCE, the masked clip BCE, the BirdCLEF multi-loss and distillation.

Shapes: framewise logits [B, T, C]; targets and masks [B, C, T] (as birdlab.core.ml.targets makes
them); clipwise probabilities [B, C]. Only labelled entries (mask 1) contribute, so the
gradient on a masked frame or class is exactly zero. Compute in float32, outside autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


def smooth(targets: torch.Tensor, amount: float) -> torch.Tensor:
    """Label smoothing toward 0.5: 1 -> 1 - amount/2, 0 -> amount/2."""
    return targets * (1.0 - amount) + 0.5 * amount if amount > 0 else targets


def masked_frame_bce(frame_logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                     label_smoothing: float = 0.0) -> torch.Tensor:
    """sum(m * BCE(p, y)) / max(1, sum(m)) over frames and classes (DESIGN.md section 3)."""
    logits = frame_logits.transpose(1, 2).float()  # [B, C, T]
    bce = F.binary_cross_entropy_with_logits(logits, smooth(targets, label_smoothing), reduction="none")
    return (bce * mask).sum() / mask.sum().clamp_min(1.0)


def clip_level(targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip targets and mask [B, C]: positive if any positive frame, negative if only negatives."""
    return (targets * mask).amax(dim=-1), mask.amax(dim=-1)


def masked_clip_bce(clip_probs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                    label_smoothing: float = 0.0) -> torch.Tensor:
    """BCE of clip probabilities [B, C] against clip targets, labelled classes only."""
    p = clip_probs.float().clamp(EPS, 1 - EPS)
    bce = F.binary_cross_entropy(p, smooth(targets, label_smoothing), reduction="none")
    return (bce * mask).sum() / mask.sum().clamp_min(1.0)


def sed_loss(frame_logits: torch.Tensor, clipwise: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
             clip_weight: float = 1.0, label_smoothing: float = 0.0) -> torch.Tensor:
    """Frame-masked BCE + clip_weight x (clipwise BCE + 0.5 x BCE of the max framewise probability).

    The max is taken over labelled frames only, so masked frames get no gradient from it; the
    clipwise term pools the whole crop (its attention) but only for classes labelled in it.
    """
    loss = masked_frame_bce(frame_logits, targets, mask, label_smoothing)
    if clip_weight > 0:
        clip_t, clip_m = clip_level(targets, mask)
        probs = torch.sigmoid(frame_logits.float()).transpose(1, 2)  # [B, C, T]
        max_frame = torch.where(mask > 0, probs, torch.full_like(probs, -1.0)).amax(dim=-1).clamp_min(0.0)
        loss = loss + clip_weight * (masked_clip_bce(clipwise, clip_t, clip_m, label_smoothing)
                                     + 0.5 * masked_clip_bce(max_frame, clip_t, clip_m, label_smoothing))
    return loss


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Mean KL(p || q) of independent Bernoulli probabilities."""
    p, q = p.float().clamp(EPS, 1 - EPS), q.float().clamp(EPS, 1 - EPS)
    return (p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).mean()


def distillation_loss(task_loss: torch.Tensor, student_frames: torch.Tensor, teacher_frames: torch.Tensor,
                      student_clip: torch.Tensor, teacher_clip: torch.Tensor) -> torch.Tensor:
    """BirdCLEF 2023: 0.33 task BCE + 0.34 KL(student||teacher) + 0.33 KL(teacher||student).

    The KL terms cover every frame and class, labelled or not: that is where the teacher helps.
    Inputs are probabilities (frames [B, T, C], clips [B, C]).
    """
    s = torch.cat([student_frames.flatten(), student_clip.flatten()])
    t = torch.cat([teacher_frames.flatten(), teacher_clip.flatten()]).detach()
    return 0.33 * task_loss + 0.34 * bernoulli_kl(s, t) + 0.33 * bernoulli_kl(t, s)
