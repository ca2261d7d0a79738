"""score_recording end to end with a real ONNX model whose output is known in numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.sound.audio import AudioError
from birdlab.scoring.bundle import ModelBundle
from birdlab.scoring.detect import DetectSettings
from birdlab.scoring.recording import ScoreSettings, ScoringCancelled, score_recording
from tests.scoring.onnx_models import band_model, band_reference, tone_file

CLASSES = ["low", "high"]
BANDS = [(900.0, 1100.0), (3900.0, 4100.0)]
MODEL = dict(scale=1.0, bias=8.0)  # PCM noise -> ~0.01, a tone in the band -> ~0.97
EVENTS = [(2.0, 3.5, 1000.0), (6.0, 6.6, 4000.0)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = band_model(tmp_path_factory.mktemp("m") / "band.onnx", CLASSES, BANDS, **MODEL,
                      metadata={"class_bands": json.dumps({"high": [3500, 4500]})})
    return ModelBundle.load(path, threads=1)


def test_tracks_equal_the_numpy_model_stitched_by_hand(tmp_path, model):
    path = tone_file(tmp_path / "r.wav", 7.05, 16000, EVENTS, subtype="FLOAT")
    scores = score_recording(path, model, ScoreSettings(hop_s=0.5, batch_size=4))
    audio, _ = sf.read(path, dtype="float32")
    win, hop = 32000, 8000
    starts = list(range(0, len(audio), hop))
    padded = np.zeros(starts[-1] + win, np.float32)
    padded[:len(audio)] = audio
    fw, _ = band_reference(np.stack([padded[s:s + win] for s in starts]), BANDS, **MODEL)
    sums = np.zeros((len(starts) * 5 + 20, 2))
    counts = np.zeros(len(sums))
    for i, f in enumerate(fw):
        sums[i * 5:i * 5 + 20] += f
        counts[i * 5:i * 5 + 20] += 1
    want = (sums / np.maximum(counts, 1)[:, None])[:71]  # 7.05 s -> 71 frames
    assert scores.tracks.shape == (71, 2)
    np.testing.assert_allclose(scores.tracks, want, atol=2e-5)


def test_detections_of_known_calls(tmp_path, model):
    path = tone_file(tmp_path / "r.wav", 10.0, 16000, EVENTS)
    scores = score_recording(path, model, ScoreSettings(hop_s=1.0, detect=DetectSettings(threshold=0.5)))
    got = [(b.label, b.t_min, b.t_max, b.f_min, b.f_max) for b in scores.detections]
    # frames of 0.1 s whose centre STFT frames hear the tone; "high" takes the model's class band
    assert got == [("low", 2.0, 3.5, 0.0, 8000.0), ("high", 6.0, 6.6, 3500.0, 4500.0)]
    assert all(b.score > 0.8 for b in scores.detections)
    assert scores.duration == 10.0 and scores.sample_rate == 16000 and scores.channels == 1


@pytest.mark.parametrize("rate", [8000, 44100, 96000])
def test_other_sample_rates_are_resampled_to_the_model(tmp_path, model, rate):
    events = [(2.0, 3.5, 1000.0), (6.0, 6.6, 3990.0 if rate > 8000 else 1000.0)]
    path = tone_file(tmp_path / f"r{rate}.wav", 10.0, rate, events)
    scores = score_recording(path, model, ScoreSettings(hop_s=1.0, detect=DetectSettings(threshold=0.5)))
    assert scores.sample_rate == rate and scores.duration == pytest.approx(10.0)
    got = {b.label: [] for b in scores.detections}
    for b in scores.detections:  # resampling filters may smear an abrupt onset by one frame
        got[b.label].append((b.t_min, b.t_max))
    assert any(abs(t0 - 2.0) <= 0.11 and abs(t1 - 3.5) <= 0.11 for t0, t1 in got["low"])
    if rate > 8000:
        assert [(round(t0, 1), round(t1, 1)) for t0, t1 in got["high"]] == [(6.0, 6.6)]
        assert all(b.f_max <= rate / 2 for b in scores.detections)
    else:  # nothing above Nyquist: boxes stay within 0..4 kHz
        assert all(b.f_max <= 4000 for b in scores.detections)


def test_stereo_short_and_tail(tmp_path, model):
    stereo = tmp_path / "st.wav"
    t = np.arange(16000 * 3) / 16000
    noise = np.random.default_rng(0).normal(0, 1e-4, (len(t), 2))
    left = 0.3 * np.sin(2 * np.pi * 1000 * t) * (t > 1)
    sf.write(stereo, (np.stack([left, np.zeros_like(left)], axis=1) + noise).astype(np.float32), 16000)
    both = score_recording(stereo, model, ScoreSettings())
    right = score_recording(stereo, model, ScoreSettings(channel=1))
    assert both.channels == 2 and both.tracks.shape == (30, 2)  # 3 s: one padded window, tail dropped
    assert [b.label for b in both.detections] == ["low"] and not right.detections
    short = tone_file(tmp_path / "short.wav", 0.05, 16000, [])
    s = score_recording(short, model)
    assert s.tracks.shape == (1, 2) and s.duration == pytest.approx(0.05) and len(s.window_starts) == 1


def test_progress_and_cancel(tmp_path, model):
    path = tone_file(tmp_path / "r.wav", 10.0, 16000, [])
    seen = []
    score_recording(path, model, ScoreSettings(batch_size=2), progress=seen.append)
    assert seen == [4.0, 8.0, 10.0]
    calls = []
    with pytest.raises(ScoringCancelled):
        score_recording(path, model, ScoreSettings(batch_size=1), should_stop=lambda: calls.append(1) or len(calls) > 2)


def test_bad_audio_and_bad_settings(tmp_path, model):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(AudioError, match="bad.wav"):
        score_recording(bad, model)
    with pytest.raises(ValueError, match="threshold"):
        score_recording(tone_file(tmp_path / "ok.wav", 1.0, 16000, []), model,
                        ScoreSettings(detect=DetectSettings(threshold=2.0)))
