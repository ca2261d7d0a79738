"""Frame targets and masks of a crop, by the RFCX tp/fp rule of DESIGN.md section 3.

For a crop starting at `t0` with `n_frames` frames of `hop_s` seconds (frame k covers
[t0 + k*hop_s, t0 + (k+1)*hop_s)), and classes 0..C-1:
  y[c, k] = 1, m[c, k] = 1  where a positive box of class c covers frame k;
  y[c, k] = 0, m[c, k] = 1  where a negative box of c, or a reviewed-complete extent for c, covers it
                            (and no positive does: positives win);
  m[c, k] = 0               everywhere else (uncertain labels are never trained on).
A box covers a frame when it overlaps at least half of the frame, or when it is the frame
that holds the box's centre (so a box shorter than half a frame still counts somewhere).
The clip level follows one level up: positive if any frame is positive, negative if only
negative frames are labelled, masked otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from birdlab.core.model import Polarity


@dataclass(frozen=True)
class TimeBox:
    """The time extent of a label (or a reviewed extent) with its class index and polarity."""

    t_min: float
    t_max: float
    class_index: int
    polarity: Polarity  # positive or negative (a reviewed extent for a class counts as negative)


def covered_frames(t_min: float, t_max: float, t0: float, hop_s: float, n_frames: int) -> np.ndarray:
    """Boolean [n_frames]: which frames of the crop the interval covers (rule above)."""
    starts = t0 + hop_s * np.arange(n_frames)
    overlap = np.minimum(starts + hop_s, t_max) - np.maximum(starts, t_min)
    covered = overlap >= 0.5 * hop_s - 1e-9
    centre = 0.5 * (t_min + t_max)
    k = int(np.floor((centre - t0) / hop_s))
    if 0 <= k < n_frames:
        covered[k] = True
    return covered


def frame_targets(boxes: Iterable[TimeBox], t0: float, hop_s: float, n_frames: int,
                  n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(targets, mask), both float32 [n_classes, n_frames], for a crop starting at t0."""
    pos = np.zeros((n_classes, n_frames), dtype=bool)
    neg = np.zeros((n_classes, n_frames), dtype=bool)
    t1 = t0 + hop_s * n_frames
    for box in boxes:
        if box.t_max <= t0 or box.t_min >= t1:
            continue
        frames = covered_frames(box.t_min, box.t_max, t0, hop_s, n_frames)
        if box.polarity is Polarity.POSITIVE:
            pos[box.class_index] |= frames
        elif box.polarity is Polarity.NEGATIVE:
            neg[box.class_index] |= frames
    targets = pos.astype(np.float32)
    mask = (pos | neg).astype(np.float32)
    return targets, mask


def clip_targets(targets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clip_targets, clip_mask) [..., n_classes] from frame ones [..., n_classes, n_frames]."""
    positive = (targets * mask).max(axis=-1) > 0
    labelled = mask.max(axis=-1) > 0
    return positive.astype(np.float32), labelled.astype(np.float32)
