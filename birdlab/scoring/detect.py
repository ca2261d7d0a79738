"""Events from score tracks: threshold with hysteresis, merge gap, minimum duration.

Rules, per class, on frames of `frame_hop_s`:
1. Hysteresis (double threshold, as in DCASE sound event detection): an event is a maximal
   run of frames scoring >= `off_threshold` that holds at least one frame >= `threshold`.
   It is symmetric: an event starts where the score first rose above the lower level, not
   where it crossed the upper one. Without `off_threshold` both are `threshold`.
2. Events of the same class separated by a gap (end of one to start of the next, in
   seconds) of at most `merge_gap_s` are merged into one.
3. Events shorter than `min_duration_s` (after merging) are dropped.
The score of an event is the highest frame score inside it.

Tracks are read in row chunks with the open run carried over, so memory-mapped tracks of a
very long recording are walked once, front to back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

EPS = 1e-9


@dataclass(frozen=True)
class DetectSettings:
    """Thresholds of the detector. Scores are probabilities in [0, 1]."""

    threshold: float = 0.5
    off_threshold: float | None = None  # hysteresis: an event lasts while the score >= this
    min_duration_s: float = 0.0
    merge_gap_s: float = 0.0

    @property
    def off(self) -> float:
        return self.threshold if self.off_threshold is None else self.off_threshold

    def problems(self) -> list[str]:
        out = []
        if not (math.isfinite(self.threshold) and 0 <= self.threshold <= 1):
            out.append(f"threshold {self.threshold!r} must be in [0, 1]")
        if self.off_threshold is not None and not (math.isfinite(self.off_threshold)
                                                   and 0 <= self.off_threshold <= self.threshold):
            out.append(f"off threshold {self.off_threshold!r} must be in [0, threshold {self.threshold:g}]")
        for name in ("min_duration_s", "merge_gap_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 3600):
                out.append(f"{name} {value!r} s must be in [0, 3600]")
        return out


@dataclass(frozen=True)
class Event:
    """One detection on the frame grid: frames [start, stop) of class `class_index`."""

    class_index: int
    start: int
    stop: int
    score: float


def _runs(chunks: Iterable[tuple[int, np.ndarray]], n_classes: int,
          off: float) -> list[list[list[float]]]:
    """Per class, [start, stop, max] of every maximal run of frames >= off."""
    runs: list[list[list[float]]] = [[] for _ in range(n_classes)]
    open_start = np.full(n_classes, -1, dtype=np.int64)
    open_max = np.zeros(n_classes, dtype=np.float64)
    end = 0
    for a, block in chunks:
        above = block >= off
        end = a + len(block)
        active = np.flatnonzero(above.any(axis=0) | (open_start >= 0))
        for c in active:
            col = above[:, c]
            was_open = open_start[c] >= 0
            change = np.diff(col.astype(np.int8), prepend=np.int8(was_open))
            starts = np.flatnonzero(change == 1)
            stops = np.flatnonzero(change == -1)
            if was_open:
                if len(stops) == 0:  # the run goes on through this whole chunk
                    open_max[c] = max(open_max[c], float(block[:, c].max()))
                    continue
                first = stops[0]
                peak = max(open_max[c], float(block[:first, c].max())) if first else open_max[c]
                runs[c].append([int(open_start[c]), a + int(first), peak])
                open_start[c] = -1
                stops = stops[1:]
            for i, s in enumerate(starts):
                if i < len(stops):
                    e = stops[i]
                    runs[c].append([a + int(s), a + int(e), float(block[s:e, c].max())])
                else:  # still above at the end of the chunk
                    open_start[c] = a + int(s)
                    open_max[c] = float(block[s:, c].max())
    for c in np.flatnonzero(open_start >= 0):
        runs[c].append([int(open_start[c]), end, float(open_max[c])])
    return runs


def find_events(chunks: Iterable[tuple[int, np.ndarray]], n_classes: int, frame_hop_s: float,
                settings: DetectSettings) -> list[Event]:
    """Events from tracks given as (first row, [rows, classes] block) chunks in order."""
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    events: list[Event] = []
    for c, class_runs in enumerate(_runs(chunks, n_classes, settings.off)):
        kept = [r for r in class_runs if r[2] >= settings.threshold]
        merged: list[list[float]] = []
        for run in kept:
            if merged and (run[0] - merged[-1][1]) * frame_hop_s <= settings.merge_gap_s + EPS:
                merged[-1][1] = run[1]
                merged[-1][2] = max(merged[-1][2], run[2])
            else:
                merged.append(list(run))
        for start, stop, score in merged:
            if (stop - start) * frame_hop_s + EPS >= settings.min_duration_s:
                events.append(Event(c, int(start), int(stop), float(score)))
    events.sort(key=lambda e: (e.start, e.class_index))
    return events


def events_from_tracks(tracks: np.ndarray, frame_hop_s: float, settings: DetectSettings) -> list[Event]:
    """Convenience for an in-memory [frames, classes] array."""
    return find_events([(0, np.asarray(tracks))], tracks.shape[1], frame_hop_s, settings)
