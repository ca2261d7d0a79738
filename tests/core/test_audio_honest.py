"""Honest audio and models: truncated files, NaN samples, non-UTF-8 names, broken model outputs."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.sound.audio import AudioError, iter_windows, probe, read_window


def test_a_truncated_flac_gets_the_duration_that_decodes_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.flac"
    rng = np.random.default_rng(0)
    sf.write(path, (0.3 * rng.standard_normal(16000 * 30)).astype(np.float32), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # the header still says 30 s
    with caplog.at_level(logging.WARNING, logger="birdlab"):
        info = probe(path)
    assert 15.0 < info.duration < 25.0
    assert "cut.flac: truncated" in caplog.text and "30.00 s" in caplog.text
    audio, rate = read_window(path, 0.0, info.duration)
    assert len(audio) == info.frames
    assert sum(w.valid for w in iter_windows(path, 5.0, 5.0)) <= info.frames + 5 * 16000


def test_a_complete_file_keeps_its_header_duration(tmp_path, make_wav):
    assert probe(make_wav("ok.wav", duration=3.0)).frames == 48000


def test_nan_and_inf_samples_become_silence_with_the_time_range(tmp_path, caplog):
    samples = np.full(16000 * 4, 0.1, dtype=np.float32)
    samples[16000 * 2: 16000 * 2 + 800] = np.nan
    samples[16000 * 3] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="birdlab"):
        audio, _ = read_window(path)
        windows = list(iter_windows(path, 1.0, 1.0))
    assert np.isfinite(audio).all() and audio[16000 * 2 + 10] == 0.0 and audio[100] == pytest.approx(0.1)
    assert all(np.isfinite(w.samples).all() for w in windows)
    assert "nan.wav: 801 NaN/infinite sample(s) between 2.000 and 3.000 s replaced by silence" in caplog.text


@pytest.mark.skipif(sys.platform != "linux", reason="Linux file names are bytes")
def test_a_non_utf8_file_name_opens_and_is_shown_with_replacement_characters(tmp_path, make_wav):
    source = make_wav("plain.wav", duration=1.0)
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.wav")  # Latin-1, not UTF-8
    os.rename(os.fsencode(source), raw)
    path = os.fsdecode(raw)
    assert probe(path).duration == pytest.approx(1.0)
    assert len(read_window(path)[0]) == 16000
    with pytest.raises(AudioError) as info:
        probe(path + "-missing")
    assert "caf\ufffd.wav-missing: file not found" in str(info.value)
