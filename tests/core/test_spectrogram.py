from __future__ import annotations

import numpy as np
import pytest

from birdlab.core.sound.spectrogram import SpectrogramConfig, mel_filterbank, power_spectrogram, spectrogram_db


def _sine(freq: float, rate: int = 16000, seconds: float = 1.0, amp: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_full_scale_sine_peaks_at_0_dbfs_in_its_bin():
    spec = spectrogram_db(_sine(2000.0), 16000, SpectrogramConfig(n_fft=512, hop=128))
    peak_bin = spec.values.mean(axis=1).argmax()
    assert spec.freqs[peak_bin] == pytest.approx(2000.0, abs=16000 / 512)
    assert spec.values[peak_bin].mean() == pytest.approx(0.0, abs=0.5)
    # Half amplitude is 6 dB down.
    half = spectrogram_db(_sine(2000.0, amp=0.5), 16000, SpectrogramConfig(n_fft=512, hop=128))
    assert half.values[peak_bin].mean() == pytest.approx(-6.02, abs=0.5)


def test_shape_times_and_db_range():
    cfg = SpectrogramConfig(n_fft=256, hop=64, db_range=60.0)
    spec = spectrogram_db(_sine(1000.0) * 1e-6, 16000, cfg)  # very quiet: clipped at the floor
    assert spec.values.shape == (129, (16000 - 256) // 64 + 1)
    assert spec.values.min() >= -60.0 and spec.values.max() <= 0.0
    assert spec.times[0] == pytest.approx(128 / 16000)
    assert np.diff(spec.times) == pytest.approx(np.full(len(spec.times) - 1, 64 / 16000))


def test_matches_a_per_frame_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000).astype(np.float32) * 0.1
    n_fft, hop = 256, 100
    got = power_spectrogram(x, n_fft, hop, "hann")
    w = np.hanning(n_fft + 1)[:-1]
    for k in (0, 7, len(got) - 1):
        frame = x[k * hop:k * hop + n_fft] * w
        ref = np.abs(np.fft.rfft(frame)) ** 2 * 4.0 / w.sum() ** 2
        np.testing.assert_allclose(got[k], ref, rtol=1e-4, atol=1e-9)


def test_mel_puts_a_tone_in_the_right_band():
    cfg = SpectrogramConfig(n_fft=1024, hop=256, mel=True, n_mels=64, f_min=50.0, f_max=8000.0)
    spec = spectrogram_db(_sine(3000.0), 16000, cfg)
    assert spec.values.shape[0] == 64
    peak = spec.freqs[spec.values.mean(axis=1).argmax()]
    assert peak == pytest.approx(3000.0, rel=0.05)
    filters, centres = mel_filterbank(16000, 1024, 64, 50.0, 8000.0)
    assert filters.shape == (64, 513) and np.all(np.diff(centres) > 0)


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "rectangular"])
def test_windows(window):
    spec = spectrogram_db(_sine(4000.0), 16000, SpectrogramConfig(window=window))
    assert spec.freqs[spec.values.mean(axis=1).argmax()] == pytest.approx(4000.0, abs=16)


def test_short_input_gives_one_frame_and_bad_config_is_refused():
    assert spectrogram_db(np.zeros(10, np.float32), 8000).values.shape[1] == 1
    with pytest.raises(ValueError, match="window"):
        SpectrogramConfig(window="kaiser")
    with pytest.raises(ValueError, match="n_fft"):
        SpectrogramConfig(n_fft=4)


def test_denoise_flattens_steady_noise_and_keeps_calls_above_it():
    from birdlab.core.sound.spectrogram import subtract_noise_profile

    rng = np.random.default_rng(0)
    noise_by_band = np.linspace(-80, -30, 64, dtype=np.float32)[:, None]  # a recorder's coloured hiss
    db = noise_by_band + rng.normal(0, 1, (64, 500)).astype(np.float32)
    db[20, 100:110] += 30  # a call 30 dB over the band's noise
    out = subtract_noise_profile(db, floor_db=-90.0)
    medians = np.median(out, axis=1)
    assert np.allclose(medians, -84.0, atol=0.5)  # every band's noise on one floor
    assert out[20, 100:110].mean() - medians[20] > 25  # the call still stands out


def test_auto_levels_put_the_noise_low_and_the_peaks_at_the_top():
    from birdlab.core.sound.spectrogram import auto_levels

    rng = np.random.default_rng(1)
    tile = rng.normal(-70, 2, (128, 512)).astype(np.float32)
    tile[40:44, 200:260] = -25.0  # calls
    top, span = auto_levels([tile])
    assert -26.0 <= top <= -24.0
    assert 40.0 <= span <= 50.0  # down to about the noise (-70 dB)
    assert auto_levels([np.full((4, 4), -60.0, np.float32)]) == (-60.0, 20.0)  # a flat picture: the least range
