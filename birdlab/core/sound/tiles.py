"""Spectrogram tiles for a view of any length (Qt-free; the GUI computes them off its thread).

A recording is cut into tiles on a pyramid of zoom levels. At level L a spectrogram column
is `hop(L) = hop0 * 2**L` samples wide (hop0 = n_fft / 4) and a tile holds `columns`
columns, so a view of any length needs a few tiles of the level whose column is about one
screen pixel.

Zoomed out, a column is wider than one FFT frame. A pooled tile (the default) analyses every
sample of it in frames at half-frame steps and keeps, per frequency, the loudest frame of the
column (the max of power), so a call shorter than a pixel still shows: a user scanning a long
file zoomed out must see every call. Its cost grows with the audio it covers (about a second
per hour of 48 kHz audio on one core), decoded in blocks so memory does not. A sampled tile
(`pooled=False`) reads `frames_per_column` frames per column by seeking instead: its cost does
not grow with the time covered, but it misses what falls between its frames; the app shows it
first, far out, while the pooled tile is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from birdlab.core.sound.audio import MIX, AudioError, _open, _reason
from birdlab.core.sound.spectrogram import SpectrogramConfig, power_to_db, window_function

CONTIGUOUS_S = 60.0  # a sampled tile covering less audio than this is decoded whole (cheaper than seeking)
POOL_BLOCK_SAMPLES = 1 << 19  # a pooled tile decodes this much audio at a time (2 MB of float32; its frames 8 MB)


@dataclass(frozen=True)
class TileGrid:
    """The tile pyramid of one recording and one spectrogram setting."""

    sample_rate: int
    frames: int  # the recording's length in samples
    n_fft: int = 1024
    columns: int = 512  # columns per tile
    overlap_halvings: int = 2  # the finest hop is n_fft / 2**this: 0, 50, 75 (default) or 87.5 % overlap

    @property
    def hop0(self) -> int:
        return max(1, self.n_fft >> self.overlap_halvings)

    def hop(self, level: int) -> int:
        return self.hop0 << level

    def column_s(self, level: int) -> float:
        return self.hop(level) / self.sample_rate

    def tile_s(self, level: int) -> float:
        return self.columns * self.column_s(level)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def top_level(self) -> int:
        """The level whose single tile covers the whole recording (the overview)."""
        return max(0, math.ceil(math.log2(max(1.0, self.frames / (self.hop0 * self.columns)))))

    def level_for(self, seconds: float, pixels: int) -> int:
        """The coarsest level whose columns are no wider than one pixel of this view."""
        per_pixel = seconds / max(1, pixels)
        if per_pixel <= self.column_s(0):
            return 0
        return min(self.top_level, int(math.floor(math.log2(per_pixel / self.column_s(0)))))

    def tiles_for(self, t0: float, t1: float, level: int) -> range:
        """Indices of the tiles of `level` that cover [t0, t1] (inside the recording)."""
        span = self.tile_s(level)
        first = max(0, int(math.floor(max(0.0, t0) / span)))
        last = max(first, int(math.ceil(min(t1, self.duration) / span)) - 1)
        return range(first, last + 1)

    def tile_range(self, level: int, index: int) -> tuple[float, float]:
        span = self.tile_s(level)
        return index * span, (index + 1) * span


@dataclass
class Tile:
    """values[freq, column] in dB; column c covers [t0 + c*column_s, t0 + (c+1)*column_s)."""

    level: int
    index: int
    t0: float
    column_s: float
    values: np.ndarray
    freqs: np.ndarray  # bin (or mel band) centres in Hz
    exact: bool  # every sample analysed (False: sampled columns, far zoomed out)
    envelope: np.ndarray | None = None  # [2, columns]: the waveform's min and max in each column

    @property
    def t1(self) -> float:
        return self.t0 + self.values.shape[1] * self.column_s


def _mono(block: np.ndarray, channel: int) -> np.ndarray:
    if not np.isfinite(block).all():  # NaN/Inf samples show as silence (scoring warns about them)
        block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
    if channel == MIX:
        return block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
    return block[:, min(channel, block.shape[1] - 1)]


def compute_tile(path: str | Path, grid: TileGrid, level: int, index: int,
                 cfg: SpectrogramConfig = SpectrogramConfig(), channel: int = MIX,
                 frames_per_column: int = 1, pooled: bool = True) -> Tile:
    """One tile of the recording (AudioError naming the file when it cannot be read).

    Columns wider than a frame are pooled (every sample, the loudest frame per frequency) unless
    `pooled` is False (then `frames_per_column` sampled frames, averaged)."""
    if cfg.n_fft != grid.n_fft:
        raise ValueError(f"grid n_fft {grid.n_fft} differs from the spectrogram's {cfg.n_fft}")
    hop = grid.hop(level)
    first = index * grid.columns * hop
    n_cols = max(0, min(grid.columns, math.ceil((grid.frames - first) / hop)))
    if n_cols == 0:
        raise ValueError(f"tile {index} of level {level} lies past the end of {path}")
    sr, n_fft = grid.sample_rate, grid.n_fft
    if pooled and hop > n_fft:
        power, envelope = _pooled_power(path, grid, first, n_cols, hop, cfg, channel)
        values, freqs = power_to_db(power, sr, cfg)
        return Tile(level, index, first / sr, hop / sr, values, freqs, True, envelope)
    m = 1 if hop <= n_fft else max(1, frames_per_column)
    # frame j of column c starts here (m frames spread evenly across a wide column)
    starts = (first + np.arange(n_cols)[:, None] * hop + (np.arange(m)[None, :] * hop) // m
              + max(0, hop - n_fft) // (2 * m)).ravel()
    starts = np.clip(starts, 0, max(0, grid.frames - n_fft))
    contiguous = hop <= n_fft or n_cols * hop <= CONTIGUOUS_S * sr
    with _open(path) as f:
        try:
            if contiguous:  # decode the tile's audio once and take the frames from memory
                lo = int(starts[0])
                f.seek(lo)
                block = _mono(f.read(int(starts[-1]) - lo + n_fft, dtype="float32", always_2d=True), channel)
                block = np.pad(block, (0, max(0, int(starts[-1]) - lo + n_fft - len(block))))
                frames = block[(starts - lo)[:, None] + np.arange(n_fft)[None, :]]
                envelope = _envelope(block, max(0, first - lo), n_cols, hop)
            else:  # far out: seek to each frame, so the cost does not grow with the tile's duration
                frames = np.zeros((len(starts), n_fft), dtype=np.float32)
                for i, start in enumerate(starts):
                    f.seek(int(start))
                    got = _mono(f.read(n_fft, dtype="float32", always_2d=True), channel)
                    frames[i, :len(got)] = got
                per_col = frames.reshape(n_cols, -1)  # the sampled frames of each column
                envelope = np.stack([per_col.min(axis=1), per_col.max(axis=1)])
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(path, f"could not read tile near {first / sr:.1f} s ({_reason(exc)})") from None
    w = window_function(cfg.window, n_fft)
    spec = np.fft.rfft(frames * w, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32) * np.float32(4.0 / float(w.sum()) ** 2)
    power = power.reshape(n_cols, m, -1).mean(axis=1)
    exact = hop <= n_fft
    values, freqs = power_to_db(power, sr, cfg)
    return Tile(level, index, first / sr, hop / sr, values, freqs, exact, envelope)


def _envelope(block: np.ndarray, offset: int, n_cols: int, hop: int) -> np.ndarray:
    """[2, n_cols] min and max of each column's samples (`block` from `offset` on, zero-padded)."""
    samples = block[offset:offset + n_cols * hop]
    samples = np.pad(samples, (0, n_cols * hop - len(samples))).reshape(n_cols, hop)
    return np.stack([samples.min(axis=1), samples.max(axis=1)])


def _pooled_power(path: str | Path, grid: TileGrid, first: int, n_cols: int, hop: int,
                  cfg: SpectrogramConfig, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """Power [n_cols, bins]: per column, the max over frames at half-frame steps that cover every
    sample of it (hop is a whole number of frames here: a power of two times n_fft); and the
    waveform's [2, n_cols] min and max per column."""
    n_fft, step = grid.n_fft, grid.n_fft // 2
    per_col = hop // step  # frame starts in one column
    w = window_function(cfg.window, n_fft)
    scale = np.float32(4.0 / float(w.sum()) ** 2)
    cols_per_block = max(1, POOL_BLOCK_SAMPLES // hop)
    out = np.zeros((n_cols, n_fft // 2 + 1), dtype=np.float32)
    envelope = np.zeros((2, n_cols), dtype=np.float32)
    with _open(path) as f:
        try:
            for c0 in range(0, n_cols, cols_per_block):
                c1 = min(n_cols, c0 + cols_per_block)
                lo = first + c0 * hop
                f.seek(min(lo, grid.frames))
                want = (c1 - c0) * hop + step  # the last frame reaches half a frame into the next column
                block = _mono(f.read(want, dtype="float32", always_2d=True), channel)
                block = np.pad(block, (0, want - len(block)))
                starts = np.arange((c1 - c0) * per_col) * step
                frames = block[starts[:, None] + np.arange(n_fft)[None, :]]
                spec = np.fft.rfft(frames * w, axis=1)
                power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32) * scale
                out[c0:c1] = power.reshape(c1 - c0, per_col, -1).max(axis=1)
                envelope[:, c0:c1] = _envelope(block, 0, c1 - c0, hop)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(path, f"could not read tile near {first / grid.sample_rate:.1f} s "
                                   f"({_reason(exc)})") from None
    return out, envelope
