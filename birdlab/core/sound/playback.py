"""What the sound card plays: a window of a recording, band-limited, slowed or sped up.

Qt-free and device-free (the GUI's `Player` sends the result to the sound card), so the DSP
is tested without audio hardware. The order is: read the window at the file's own rate, keep
only the box's band (in the recording's Hz), then resample once with soxr so the clip played
at the device rate lasts `duration / speed`. Time expansion for bats falls out of this: a
384 kHz file at 0.1x is treated as a 38.4 kHz file, so a 40 kHz call sounds at 4 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from birdlab.core.sound.audio import MIX, AudioError, read_window

MIN_SPEED = 0.1
MAX_SPEED = 2.0
DEFAULT_DEVICE_RATE = 48000
FADE_S = 0.005  # raised-cosine fade at both ends: a window cut mid-waveform clicks
MAX_OUTPUT_S = 600.0  # longest clip held in memory (115 MB of float32 at 48 kHz); longer is cut


@dataclass(frozen=True)
class PlaybackClip:
    """Samples ready for the sound card and the recording span they came from."""

    samples: np.ndarray  # float32 mono at device_rate
    device_rate: int
    t0: float  # recording seconds of the first sample
    t1: float  # recording seconds just past the last sample (cut at the end of the file)
    speed: float

    @property
    def frames(self) -> int:
        return len(self.samples)

    @property
    def duration(self) -> float:
        """Seconds of output (the recording span divided by the speed)."""
        return self.frames / self.device_rate


def clip_time(clip: PlaybackClip, frames_played: int) -> float:
    """Recording seconds under the cursor after `frames_played` output frames (speed included)."""
    t = clip.t0 + max(0, frames_played) / clip.device_rate * clip.speed
    return min(t, clip.t1)


def _fast_len(n: int) -> int:
    """Smallest 5-smooth number >= n: FFT sizes with only small factors are fast."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _skirt_hz(f_min: float, f_max: float, bin_hz: float) -> float:
    """Transition width: a tenth of the band, 50 Hz..1 kHz, never under 4 FFT bins."""
    return max(min(max(0.1 * (f_max - f_min), 50.0), 1000.0), 4 * bin_hz)


def band_limit(samples: np.ndarray, sample_rate: int, f_min: float, f_max: float) -> np.ndarray:
    """Keep f_min..f_max Hz: zero-phase FFT band-pass, gain 1 inside, raised-cosine skirts outside.

    Zero phase, so a call keeps its shape and timing under the cursor. The skirts lie outside
    the band (a box's edges are played at full level) and the signal is zero-padded by the
    filter's ring-out, so the circular FFT does not wrap the end onto the start.
    """
    nyquist = sample_rate / 2.0
    f_min, f_max = max(0.0, float(f_min)), min(nyquist, float(f_max))
    if f_max <= f_min:
        raise ValueError(f"empty band {f_min:g}..{f_max:g} Hz (Nyquist {nyquist:g} Hz)")
    x = np.asarray(samples, dtype=np.float32)
    if len(x) == 0 or (f_min <= 0.0 and f_max >= nyquist):
        return x.copy()
    skirt = _skirt_hz(f_min, f_max, sample_rate / max(len(x), 1))
    pad = int(np.ceil(4.0 * sample_rate / skirt))
    n_fft = _fast_len(len(x) + pad)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    gain = np.zeros(len(freqs), dtype=np.float32)
    gain[(freqs >= f_min) & (freqs <= f_max)] = 1.0
    if f_min > 0.0:
        lo = (freqs > f_min - skirt) & (freqs < f_min)
        gain[lo] = 0.5 * (1.0 + np.cos(np.pi * (f_min - freqs[lo]) / skirt))
    if f_max < nyquist:
        hi = (freqs > f_max) & (freqs < f_max + skirt)
        gain[hi] = 0.5 * (1.0 + np.cos(np.pi * (freqs[hi] - f_max) / skirt))
    spectrum = np.fft.rfft(x, n_fft) * gain
    return np.fft.irfft(spectrum, n_fft)[:len(x)].astype(np.float32)


def check_speed(speed: float) -> float:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"playback speed {speed:g}x is outside {MIN_SPEED:g}x..{MAX_SPEED:g}x")
    return float(speed)


def apply_speed(samples: np.ndarray, sample_rate: int, speed: float, device_rate: int) -> np.ndarray:
    """Resample so the result, played at `device_rate`, lasts duration/speed (pitch scales with speed).

    Playing at `speed` is playing the samples as if their rate were sample_rate*speed, so one
    soxr pass from that rate to the device rate does both the speed change and the rate
    conversion; soxr's anti-alias filter drops what would still lie above the device's Nyquist.
    """
    speed = check_speed(speed)
    if device_rate <= 0:
        raise ValueError(f"device rate must be positive, not {device_rate}")
    x = np.asarray(samples, dtype=np.float32)
    rate_in = sample_rate * speed
    if len(x) == 0 or abs(rate_in - device_rate) < 1e-9:
        return x.copy()
    return soxr.resample(x, rate_in, float(device_rate), quality="HQ").astype(np.float32, copy=False)


def _fade(x: np.ndarray, rate: int) -> np.ndarray:
    n = min(int(FADE_S * rate), len(x) // 2)
    if n > 1:
        ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def prepare(path: str | Path, t0: float, t1: float | None, *, channel: int = MIX,
            band: tuple[float, float] | None = None, speed: float = 1.0,
            device_rate: int | None = DEFAULT_DEVICE_RATE) -> PlaybackClip:
    """Read t0..t1 s (None: to the end) of one channel (or MIX), band-limit, change speed, resample.

    device_rate None keeps the recording's own rate (no resampling at 1x). Output longer than
    MAX_OUTPUT_S is cut there; the clip's t1 says where it really ends. Raises AudioError for
    an unreadable file or a window with no audio, ValueError (naming the file) for bad settings.
    """
    try:
        speed = check_speed(speed)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    t0 = max(0.0, float(t0))
    longest = t0 + MAX_OUTPUT_S * speed
    t1 = longest if t1 is None else min(float(t1), longest)
    if t1 <= t0:
        raise ValueError(f"{path}: nothing to play between {t0:g} s and {t1:g} s")
    raw, rate = read_window(path, t0, t1, channel=channel)
    if len(raw) == 0:
        raise AudioError(path, f"no audio between {t0:g} s and {t1:g} s (past the end of the recording)")
    raw = _fade(raw, rate)  # before the band-pass too: a cut mid-waveform is a broadband step
    if band is not None:
        try:
            raw = band_limit(raw, rate, band[0], band[1])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    out_rate = int(device_rate) if device_rate else rate
    out = apply_speed(raw, rate, speed, out_rate)
    out = np.clip(_fade(out, out_rate), -1.0, 1.0)  # apply_speed returned a new array
    return PlaybackClip(np.ascontiguousarray(out, dtype=np.float32), out_rate, t0, t0 + len(raw) / rate, speed)
