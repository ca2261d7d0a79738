"""Optional per-file post-processing of score tracks before detection (BirdCLEF practice).

In order:
1. Smoothing: a centred moving average over `smooth_s` seconds (an odd number of frames,
   at least 3 when on); at the edges it averages the frames that exist, so a recording's
   first and last frames are not pulled towards zero.
2. Per-file class decisions, from each class's highest (smoothed) score in the file:
   - suppress: a class whose maximum stays below `suppress_below` is set to 0 in this file
     (one confident call is required before any weaker frame counts);
   - boost: a class whose maximum reaches `boost_above` is multiplied by `boost_factor`
     (capped at 1) in this file, which is the same as lowering its threshold there:
     a species clearly present is likely to call again more quietly.
The raw tracks are never changed; `PostProcessor.chunks` yields processed row chunks, so
memory-mapped tracks of a long file are processed in two sequential passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from birdlab.scoring.tracks import row_chunks


@dataclass(frozen=True)
class PostSettings:
    """What to do to the tracks of one file before detection (all off by default)."""

    smooth_s: float = 0.0
    suppress_below: float | None = None
    boost_above: float | None = None
    boost_factor: float = 1.0

    @property
    def active(self) -> bool:
        return self.smooth_s > 0 or self.suppress_below is not None or (
            self.boost_above is not None and self.boost_factor != 1.0)

    def problems(self) -> list[str]:
        out = []
        if not (math.isfinite(self.smooth_s) and 0 <= self.smooth_s <= 600):
            out.append(f"smoothing {self.smooth_s!r} s must be in [0, 600]")
        for name in ("suppress_below", "boost_above"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
                out.append(f"{name} {value!r} must be in [0, 1]")
        if not (math.isfinite(self.boost_factor) and self.boost_factor > 0):
            out.append(f"boost factor {self.boost_factor!r} must be > 0")
        return out

    def smooth_frames(self, frame_hop_s: float) -> int:
        """Width of the moving average in frames (odd; 1 means off)."""
        if self.smooth_s <= 0:
            return 1
        n = max(3, int(round(self.smooth_s / frame_hop_s)))
        return n if n % 2 else n + 1


class PostProcessor:
    """Applies `PostSettings` to tracks [frames, classes], chunk by chunk."""

    def __init__(self, settings: PostSettings, frame_hop_s: float):
        problems = settings.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.settings = settings
        self.half = settings.smooth_frames(frame_hop_s) // 2

    def _smoothed(self, tracks: np.ndarray, a: int, b: int) -> np.ndarray:
        if self.half == 0:
            return np.asarray(tracks[a:b], dtype=np.float32)
        n, h = len(tracks), self.half
        lo, hi = max(0, a - h), min(n, b + h)
        block = np.asarray(tracks[lo:hi], dtype=np.float64)
        csum = np.zeros((len(block) + 1, block.shape[1]), dtype=np.float64)
        np.cumsum(block, axis=0, out=csum[1:])
        rows = np.arange(a, b)
        left = np.maximum(rows - h, 0) - lo
        right = np.minimum(rows + h + 1, n) - lo
        return ((csum[right] - csum[left]) / (right - left)[:, None]).astype(np.float32)

    def class_factors(self, tracks: np.ndarray) -> np.ndarray:
        """Per-class multipliers from each class's maximum in this file."""
        s = self.settings
        factors = np.ones(tracks.shape[1], dtype=np.float32)
        if s.suppress_below is None and s.boost_above is None:
            return factors
        peak = np.full(tracks.shape[1], -np.inf, dtype=np.float32)
        for a, b in row_chunks(len(tracks), tracks.shape[1]):
            np.maximum(peak, self._smoothed(tracks, a, b).max(axis=0), out=peak)
        if s.boost_above is not None:
            factors[peak >= s.boost_above] = s.boost_factor
        if s.suppress_below is not None:
            factors[peak < s.suppress_below] = 0.0
        return factors

    def chunks(self, tracks: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, processed block) over the whole track array, in order."""
        if not self.settings.active:
            for a, b in row_chunks(len(tracks), tracks.shape[1]):
                yield a, np.asarray(tracks[a:b])
            return
        factors = self.class_factors(tracks)
        scale = not np.all(factors == 1.0)
        for a, b in row_chunks(len(tracks), tracks.shape[1]):
            block = self._smoothed(tracks, a, b)
            if scale:
                block = np.minimum(block * factors, 1.0, dtype=np.float32)
            yield a, block

    def apply(self, tracks: np.ndarray) -> np.ndarray:
        """The processed tracks as one in-memory array (for display and tests)."""
        out = np.empty((len(tracks), tracks.shape[1]), dtype=np.float32)
        for a, block in self.chunks(tracks):
            out[a:a + len(block)] = block
        return out
