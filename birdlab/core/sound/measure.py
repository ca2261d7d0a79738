"""Measurements of a box on its recording, as Raven's selection table columns give them.

Duration and bandwidth come from the box; peak frequency and peak time from the loudest cell of
the box's spectrogram (n_fft about 10 ms, half-frame hop); SNR compares the mean power in the
box's band during the box with the same band in the audio around it (as long as the box, at least
0.5 s, each side). Not Raven's "SNR NIST Quick": a simpler, documented estimate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from birdlab.core.model import Box
from birdlab.core.sound.audio import MIX, read_window
from birdlab.core.sound.spectrogram import power_spectrogram


@dataclass(frozen=True)
class Measurements:
    duration_s: float
    bandwidth_hz: float
    peak_hz: float
    peak_time_s: float  # seconds from the start of the recording
    snr_db: float  # nan when there is no audio around the box to compare with

    def raven_columns(self) -> dict[str, str]:
        """Extra columns of a Raven selection table."""
        return {"Delta Time (s)": f"{self.duration_s:.6f}", "Delta Freq (Hz)": f"{self.bandwidth_hz:.1f}",
                "Peak Freq (Hz)": f"{self.peak_hz:.1f}", "Peak Time (s)": f"{self.peak_time_s:.6f}",
                "SNR (dB)": "" if np.isnan(self.snr_db) else f"{self.snr_db:.1f}"}


def measure_box(path: str | Path, box: Box, duration: float, channel: int = MIX) -> Measurements:
    """The box's measurements on the recording at `path` (`duration`: its length in seconds)."""
    pad = max(0.5, box.t_max - box.t_min)
    t0, t1 = max(0.0, box.t_min - pad), min(duration, box.t_max + pad)
    audio, sr = read_window(path, t0, t1, channel=channel)
    n_fft = int(2 ** np.clip(np.round(np.log2(0.01 * sr)), 7, 12))
    hop = n_fft // 2
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    power = power_spectrogram(audio, n_fft, hop)  # [frames, bins]
    times = t0 + (np.arange(power.shape[0]) * hop + n_fft / 2) / sr
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    band = (freqs >= box.f_min) & (freqs <= box.f_max)
    if not band.any():
        band[np.abs(freqs - (box.f_min + box.f_max) / 2).argmin()] = True
    inside = (times >= box.t_min) & (times <= box.t_max)
    if not inside.any():
        inside[np.abs(times - (box.t_min + box.t_max) / 2).argmin()] = True
    cells = power[np.ix_(inside, band)]
    f_i, = np.nonzero(band)
    t_i, = np.nonzero(inside)
    peak_t, peak_f = np.unravel_index(int(cells.argmax()), cells.shape)
    around = power[np.ix_(~inside, band)]
    signal, noise = float(cells.mean()), float(around.mean()) if around.size else float("nan")
    snr = 10.0 * np.log10(max(signal, 1e-20) / max(noise, 1e-20)) if around.size else float("nan")
    return Measurements(box.t_max - box.t_min, box.f_max - box.f_min, float(freqs[f_i[peak_f]]),
                        float(times[t_i[peak_t]]), float(snr))
