"""Display spectrograms: linear-frequency or mel, in dB, vectorised numpy.

These are for looking at, not for the model (the model's features are defined once in the
model file's frontend). Levels are absolute (dB relative to full scale: a full-scale sine
peaks near 0 dB), so tiles computed separately line up without seams.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

WINDOWS = ("hann", "hamming", "blackman", "rectangular")


@dataclass(frozen=True)
class SpectrogramConfig:
    """How to compute a display spectrogram."""

    n_fft: int = 1024
    hop: int = 256
    window: str = "hann"
    mel: bool = False
    n_mels: int = 128
    f_min: float = 0.0  # mel band limits (Hz); f_max None means Nyquist
    f_max: float | None = None
    top_db: float = 0.0  # the loudest level shown, dBFS
    db_range: float = 90.0  # levels below top_db - db_range are clipped

    def __post_init__(self) -> None:
        if self.n_fft < 8 or self.hop < 1:
            raise ValueError(f"n_fft must be >= 8 and hop >= 1 (got {self.n_fft}, {self.hop})")
        if self.window not in WINDOWS:
            raise ValueError(f"unknown window {self.window!r}; choose one of {', '.join(WINDOWS)}")
        if self.db_range <= 0:
            raise ValueError("db_range must be positive")


@dataclass
class Spectrogram:
    """values[freq_bin, frame] in dB; times are frame centres (s) from the window start."""

    values: np.ndarray
    times: np.ndarray
    freqs: np.ndarray  # bin centres in Hz (mel: the centre frequency of each mel band)
    sample_rate: int
    config: SpectrogramConfig


@lru_cache(maxsize=16)
def window_function(name: str, n: int) -> np.ndarray:
    if name == "hann":
        w = np.hanning(n + 1)[:-1]  # periodic, as for spectral analysis
    elif name == "hamming":
        w = np.hamming(n + 1)[:-1]
    elif name == "blackman":
        w = np.blackman(n + 1)[:-1]
    else:
        w = np.ones(n)
    return w.astype(np.float32)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float,
                   f_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangular HTK mel filters [n_mels, n_fft//2+1] and their centre frequencies."""
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_points = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    hz_points = mel_to_hz(mel_points)
    lower, centre, upper = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    up = (fft_freqs[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    down = (upper - fft_freqs[None, :]) / np.maximum(upper - centre, 1e-9)
    filters = np.clip(np.minimum(up, down), 0.0, None)
    return filters.astype(np.float32), hz_points[1:-1].astype(np.float32)


def power_spectrogram(samples: np.ndarray, n_fft: int, hop: int, window: str = "hann") -> np.ndarray:
    """|rfft|^2 of windowed frames, [frames, n_fft//2+1], scaled so a full-scale sine is ~1.

    Frames start at 0, hop, 2*hop... (no centring padding), so a tile of audio maps to
    frames without reference to its neighbours.
    """
    x = np.asarray(samples, dtype=np.float32)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    w = window_function(window, n_fft)
    frames = sliding_window_view(x, n_fft)[::hop] * w
    spec = np.fft.rfft(frames, axis=1)
    power = spec.real.astype(np.float32) ** 2 + spec.imag.astype(np.float32) ** 2
    # A sine of amplitude 1 gives a peak of (sum(w)/2)^2; normalise that to 1 (0 dBFS).
    return power * np.float32(4.0 / float(w.sum()) ** 2)


def power_to_db(power: np.ndarray, sample_rate: int, cfg: SpectrogramConfig) -> tuple[np.ndarray, np.ndarray]:
    """[frames, bins] power -> ([freq, frames] float32 dB clipped to the config's range, freqs);
    mel bands when the config asks for them. Shared by whole spectrograms and tiles."""
    if cfg.mel:
        filters, freqs = mel_filterbank(sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.f_min),
                                        float(cfg.f_max or sample_rate / 2.0))
        # The triangles peak at 1, so a tone at a band centre keeps its level in dB.
        power = power @ filters.T
    else:
        freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / sample_rate).astype(np.float32)
    floor = cfg.top_db - cfg.db_range
    db = 10.0 * np.log10(np.maximum(power, 10.0 ** (floor / 10.0)))
    np.clip(db, floor, cfg.top_db, out=db)
    return np.ascontiguousarray(db.T, dtype=np.float32), freqs


def spectrogram_db(samples: np.ndarray, sample_rate: int,
                   config: SpectrogramConfig = SpectrogramConfig()) -> Spectrogram:
    """A display spectrogram of mono samples: dB values clipped to [top_db - db_range, top_db]."""
    cfg = config
    power = power_spectrogram(samples, cfg.n_fft, cfg.hop, cfg.window)
    values, freqs = power_to_db(power, sample_rate, cfg)
    times = (np.arange(power.shape[0]) * cfg.hop + cfg.n_fft / 2.0) / sample_rate
    return Spectrogram(values, times.astype(np.float64), freqs, sample_rate, cfg)


def subtract_noise_profile(db: np.ndarray, floor_db: float, margin_db: float = 6.0) -> np.ndarray:
    """Per-frequency noise removal, as Raven's and AviaNZ's denoise: each frequency row's median
    over the columns (the steady noise of that band: wind, insects, the recorder's hiss) is taken
    out, and what remains is set on `floor_db + margin_db`, so calls stand on an even floor."""
    return (db - np.median(db, axis=1, keepdims=True) + np.float32(floor_db + margin_db)).astype(np.float32)


def auto_levels(tiles_db: list[np.ndarray], noise_pct: float = 30.0, peak_pct: float = 99.8,
                min_range_db: float = 20.0) -> tuple[float, float]:
    """(top_db, db_range) that spread what is shown over the colour scale: the noise (a low
    percentile) at the bottom, the loudest calls (a high one) at the top."""
    values = np.concatenate([t.ravel() for t in tiles_db]) if tiles_db else np.zeros(1, np.float32)
    noise, peak = np.percentile(values, [noise_pct, peak_pct])
    top = float(np.ceil(peak))
    return top, float(max(min_range_db, np.ceil(top - noise)))
