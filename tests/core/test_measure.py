"""Box measurements against a synthetic call with known peak, time and level."""

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.model import Box
from birdlab.core.sound.measure import measure_box


def test_a_tone_burst_measures_its_peak_time_and_snr(tmp_path):
    sr = 32000
    t = np.arange(10 * sr) / sr
    rng = np.random.default_rng(0)
    audio = 0.01 * rng.standard_normal(len(t))
    on = (t >= 4.0) & (t < 4.5)
    audio[on] += 0.3 * np.sin(2 * np.pi * 3000.0 * t[on]) * np.hanning(on.sum())  # loudest at 4.25 s
    path = tmp_path / "call.wav"
    sf.write(path, audio.astype(np.float32), sr)
    m = measure_box(path, Box(4.0, 4.5, 2000.0, 4000.0), 10.0)
    assert m.duration_s == pytest.approx(0.5) and m.bandwidth_hz == pytest.approx(2000.0)
    assert m.peak_hz == pytest.approx(3000.0, abs=40.0)
    assert m.peak_time_s == pytest.approx(4.25, abs=0.02)
    assert m.snr_db > 15.0  # a loud call over faint noise
    quiet = measure_box(path, Box(7.0, 7.5, 2000.0, 4000.0), 10.0)  # noise only
    assert abs(quiet.snr_db) < 2.0
    columns = m.raven_columns()
    assert list(columns) == ["Delta Time (s)", "Delta Freq (Hz)", "Peak Freq (Hz)", "Peak Time (s)", "SNR (dB)"]
