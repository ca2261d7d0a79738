"""Every window of a recording through a frozen embedder, kept in the project's embedding cache.

The embedding index (issue 17) needs each recording's windows on one grid (window k starts at
k x hop and lasts the embedder's window, the last one zero-padded), the grid the embedding head
trains on. Windows already in `WindowEmbeddingCache` (from training or an earlier index build)
are not computed again; a recording is decoded once, streamed in blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from birdlab.core.model import Recording
from birdlab.core.sound.audio import iter_windows, read_window
from birdlab.core.store.embedding_cache import WindowEmbeddingCache

BATCH = 8
SPAN_WINDOWS = 32  # a query span longer than this many half-window steps is sampled evenly


class WindowEmbedder(Protocol):
    """What the index needs of an embedder (BirdNET's and the SED backbone's both are one)."""

    name: str
    sha256: str
    sample_rate: int
    window_s: float
    dim: int

    def embed(self, audio: np.ndarray, batch: int = BATCH) -> np.ndarray: ...


def window_count(duration: float, hop_s: float) -> int:
    """Windows start at k x hop while they start inside the recording (at least one)."""
    return max(1, math.ceil(duration / hop_s - 1e-9))


def embedding_cache(cache_root, embedder: WindowEmbedder, hop_s: float) -> WindowEmbeddingCache:
    return WindowEmbeddingCache(cache_root, embedder.name, embedder.sha256, hop_s)


@dataclass(frozen=True)
class EmbedProgress:
    recording: Recording
    done: int  # windows of this recording computed so far
    total: int


def embed_recording(recording: Recording, embedder: WindowEmbedder, cache: WindowEmbeddingCache,
                    progress: Callable[[EmbedProgress], None] | None = None,
                    cancelled: Callable[[], bool] = lambda: False) -> np.ndarray | None:
    """All windows of a recording, float16 [n, dim] in window order; None when cancelled (what was
    computed is kept in the cache). Raises AudioError (naming the file) when it cannot be read."""
    n = window_count(recording.duration, cache.hop_s)
    have = cache.load(recording.fingerprint)
    if all(k in have for k in range(n)):
        return np.stack([have[k] for k in range(n)]).astype(np.float16)
    batch_k: list[int] = []
    batch_audio: list[np.ndarray] = []
    done = sum(1 for k in range(n) if k in have)

    def flush() -> None:
        nonlocal done
        if batch_k:
            for k, e in zip(batch_k, embedder.embed(np.stack(batch_audio), batch=BATCH)):
                have[k] = e.astype(np.float16)
            done += len(batch_k)
            batch_k.clear()
            batch_audio.clear()
            if progress:
                progress(EmbedProgress(recording, done, n))

    windows = iter_windows(recording.abs_path or recording.path, embedder.window_s, cache.hop_s, sample_rate=embedder.sample_rate)
    for k, window in enumerate(windows):
        if k >= n:
            break
        if k in have:
            continue
        batch_k.append(k)
        batch_audio.append(window.samples)
        if len(batch_k) >= BATCH * 4:
            flush()
            if cancelled():
                cache.save(recording.fingerprint, have)
                return None
    flush()
    missing = [k for k in range(n) if k not in have]  # a file shorter than its header said
    for k in missing:
        have[k] = np.zeros(embedder.dim, np.float16)
    cache.save(recording.fingerprint, have)
    return np.stack([have[k] for k in range(n)]).astype(np.float16)


def embed_span(recording: Recording, t0: float, t1: float, embedder: WindowEmbedder) -> np.ndarray:
    """One embedding [dim] for a box or a selected time range: windows centred on it (one when it is
    shorter than a window, else windows at half-window steps covering it, at most about
    `SPAN_WINDOWS` of them spread evenly over a long range), their mean."""
    t0, t1 = max(0.0, min(t0, t1)), min(recording.duration, max(t0, t1))
    length = t1 - t0
    if length <= embedder.window_s:
        starts = [(t0 + t1) / 2 - embedder.window_s / 2]
    else:
        step = max(embedder.window_s / 2, (length - embedder.window_s) / (SPAN_WINDOWS - 1))
        starts = list(np.arange(t0, t1 - embedder.window_s + 1e-9, step))
        if starts[-1] + embedder.window_s < t1 - 1e-6:
            starts.append(t1 - embedder.window_s)
    n = int(round(embedder.window_s * embedder.sample_rate))
    audio = np.zeros((len(starts), n), np.float32)
    for row, start in enumerate(starts):
        start = max(0.0, min(start, max(0.0, recording.duration - embedder.window_s)))
        samples, _ = read_window(recording.abs_path or recording.path, start, start + embedder.window_s, sample_rate=embedder.sample_rate)
        audio[row, :min(n, len(samples))] = samples[:n]
    return embedder.embed(audio).mean(axis=0)
