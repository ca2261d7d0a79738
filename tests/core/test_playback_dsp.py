"""Playback DSP: band limits, speed (time expansion), device-rate resampling, cursor mapping."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.sound.audio import MIX, AudioError
from birdlab.core.sound.playback import (PlaybackClip, _fast_len, apply_speed, band_limit, clip_time,
                                   prepare)


def sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def db(x: np.ndarray, ref: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) / np.sqrt(np.mean(ref.astype(np.float64) ** 2)))


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("rate, band, inside, outside", [
    (16000, (3000, 5000), 4000, 1000),
    (16000, (3000, 5000), 4000, 7000),
    (384000, (30000, 60000), 45000, 15000),
    (384000, (30000, 60000), 45000, 100000),
    (8000, (0, 1000), 500, 2500),  # a box from 0 Hz: low-pass
])
def test_band_limit_keeps_the_box_and_drops_the_rest(rate, band, inside, outside):
    keep, drop = sine(inside, rate, 0.5), sine(outside, rate, 0.5)
    assert abs(db(band_limit(keep, rate, *band), keep)) < 1.0
    assert db(band_limit(drop, rate, *band), drop) < -40.0


def test_band_limit_is_zero_phase_and_keeps_length():
    x = sine(4000, 16000, 0.5)
    y = band_limit(x, 16000, 3000, 5000)
    assert y.dtype == np.float32 and len(y) == len(x)
    middle = slice(1000, -1000)  # away from the clip's edges
    assert np.max(np.abs(y[middle] - x[middle])) < 0.01


def test_band_limit_full_band_is_a_copy_and_empty_band_is_refused():
    x = sine(1000, 16000, 0.1)
    assert np.array_equal(band_limit(x, 16000, 0, 8000), x)
    assert np.array_equal(band_limit(x, 16000, -5, 99999), x)
    with pytest.raises(ValueError, match="empty band"):
        band_limit(x, 16000, 9000, 12000)  # above Nyquist


def test_fast_len_is_smooth_and_not_smaller():
    for n in [1, 7, 97, 1001, 48001, 123457]:
        m = _fast_len(n)
        assert m >= n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m == 1


@pytest.mark.parametrize("speed, factor", [(0.5, 2.0), (2.0, 0.5), (1.0, 1.0)])
def test_speed_scales_duration_and_pitch(speed, factor):
    x = sine(2000, 48000, 1.0)
    y = apply_speed(x, 48000, speed, 48000)
    assert len(y) == pytest.approx(len(x) * factor, abs=2)
    assert peak_hz(y, 48000) == pytest.approx(2000 / factor, abs=2)


def test_speed_and_device_rate_together():
    y = apply_speed(sine(1000, 8000, 1.0), 8000, 0.5, 44100)
    assert len(y) == pytest.approx(2 * 44100, abs=2)
    assert peak_hz(y, 44100) == pytest.approx(500, abs=1)


@pytest.mark.parametrize("speed", [0.05, 2.5, 0.0, -1.0])
def test_speed_outside_range_is_refused(speed):
    with pytest.raises(ValueError, match="outside 0.1x..2x"):
        apply_speed(sine(1000, 8000, 0.1), 8000, speed, 48000)


def test_bat_file_at_384k_slowed_tenfold_becomes_audible(tmp_path):
    path = tmp_path / "bat.wav"
    sf.write(path, sine(40000, 384000, 0.2), 384000, subtype="PCM_16")
    clip = prepare(path, 0.0, 0.2, channel=MIX, speed=0.1, device_rate=48000)
    assert clip.device_rate == 48000 and clip.samples.dtype == np.float32
    assert clip.duration == pytest.approx(2.0, abs=1e-3)  # ten times longer
    assert peak_hz(clip.samples, 48000) == pytest.approx(4000, abs=2)  # ten times lower
    assert db(clip.samples[4800:-4800], sine(4000, 48000, 1.0)) > -1.0


def test_bat_file_at_full_speed_drops_the_ultrasound(tmp_path):
    path = tmp_path / "bat.wav"
    sf.write(path, sine(40000, 384000, 0.2) + sine(5000, 384000, 0.2), 384000, subtype="FLOAT")
    clip = prepare(path, 0, 0.2, channel=MIX)
    assert len(clip.samples) == pytest.approx(0.2 * 48000, abs=1)
    assert peak_hz(clip.samples, 48000) == pytest.approx(5000, abs=5)


def test_prepare_band_speed_channel_and_span(tmp_path):
    rate = 16000
    left, right = sine(1000, rate, 2.0) + sine(4000, rate, 2.0), sine(6000, rate, 2.0)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), rate, subtype="FLOAT")
    clip = prepare(path, 0.5, 1.5, channel=0, band=(3000, 5000), speed=0.5, device_rate=48000)
    assert (clip.t0, clip.t1, clip.speed) == (0.5, 1.5, 0.5)
    assert clip.duration == pytest.approx(2.0, abs=1e-3)
    body = clip.samples[4800:-4800]
    assert peak_hz(body, 48000) == pytest.approx(2000, abs=2)  # 4 kHz halved; 1 kHz removed
    assert db(body, sine(2000, 48000, 1.0)) == pytest.approx(0.0, abs=1.0)


def test_prepare_band_removes_a_tone_outside_the_box_deeply(tmp_path):
    # The fade before the band-pass keeps the cut's step from leaking into the band.
    path = tmp_path / "two.wav"
    sf.write(path, sine(1000, 16000, 1.0), 16000, subtype="FLOAT")
    clip = prepare(path, 0.25, 0.75, channel=MIX, band=(3000, 5000))
    assert db(clip.samples, sine(1000, 48000, 0.5)) < -80.0


def test_prepare_keeps_the_file_rate_when_no_device_rate_and_fades_the_ends(tmp_path):
    path = tmp_path / "low.wav"
    sf.write(path, np.full(8000, 0.5, np.float32), 8000, subtype="FLOAT")
    clip = prepare(path, 0, 1, channel=MIX, device_rate=None)
    assert clip.device_rate == 8000 and clip.frames == 8000
    assert clip.samples[0] == 0.0 and clip.samples[-1] < 0.01 and clip.samples[4000] == 0.5


def test_prepare_cuts_at_the_end_of_the_file(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, sine(1000, 8000, 1.0), 8000)
    clip = prepare(path, 0.5, 5.0, channel=MIX)
    assert clip.t1 == pytest.approx(1.0) and clip.duration == pytest.approx(0.5, abs=1e-3)
    whole = prepare(path, 0.0, None, channel=MIX)
    assert whole.t1 == pytest.approx(1.0)


def test_prepare_errors_name_the_file(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, sine(1000, 8000, 1.0), 8000)
    with pytest.raises(AudioError, match="short.wav.*past the end"):
        prepare(path, 3.0, 4.0, channel=MIX)
    with pytest.raises(ValueError, match="short.wav.*nothing to play"):
        prepare(path, 0.5, 0.5, channel=MIX)
    with pytest.raises(ValueError, match="short.wav.*outside"):
        prepare(path, 0, 1, channel=MIX, speed=3.0)
    with pytest.raises(ValueError, match="short.wav.*empty band"):
        prepare(path, 0, 1, channel=MIX, band=(5000, 6000))
    with pytest.raises(AudioError, match="short.wav.*channel 2"):
        prepare(path, 0, 1, channel=1)
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(AudioError, match="notes.wav"):
        prepare(bad, 0, 1, channel=MIX)


def test_clip_time_maps_output_frames_to_recording_seconds():
    clip = PlaybackClip(np.zeros(96000, np.float32), 48000, t0=10.0, t1=11.0, speed=0.5)
    assert clip_time(clip, 0) == 10.0
    assert clip_time(clip, 48000) == pytest.approx(10.5)  # 1 s of output at 0.5x is 0.5 s of recording
    assert clip_time(clip, 96000) == pytest.approx(11.0)
    assert clip_time(clip, 200000) == 11.0  # past the end: the end
    assert clip_time(clip, -50) == 10.0
