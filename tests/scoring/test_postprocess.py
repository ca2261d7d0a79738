"""Per-file post-processing: smoothing, suppression of absent classes, boosting of present ones."""

from __future__ import annotations

import numpy as np
import pytest

from birdlab.scoring.detect import DetectSettings
from birdlab.scoring.postprocess import PostProcessor, PostSettings
from birdlab.scoring.recording import ScoreSettings, detect
from birdlab.scoring.tracks import allocate

HOP = 0.1


def test_off_by_default_returns_the_tracks_unchanged():
    t = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    assert not PostSettings().active
    np.testing.assert_array_equal(PostProcessor(PostSettings(), HOP).apply(t), t)


def test_smoothing_is_a_centred_mean_over_the_frames_that_exist():
    t = np.array([0, 0, 3, 0, 0, 6], dtype=np.float32)[:, None]
    out = PostProcessor(PostSettings(smooth_s=0.3), HOP).apply(t)[:, 0]  # 3 frames
    np.testing.assert_allclose(out, [0, 1, 1, 1, 2, 3])  # edges: mean of the 2 frames there
    assert PostSettings(smooth_s=0.4).smooth_frames(HOP) == 5  # made odd
    assert PostSettings(smooth_s=0.05).smooth_frames(HOP) == 3  # at least 3 when on


def test_smoothing_in_chunks_matches_one_pass(monkeypatch):
    import birdlab.scoring.tracks as tracks_mod

    rng = np.random.default_rng(1)
    t = rng.random((1000, 2)).astype(np.float32)
    whole = PostProcessor(PostSettings(smooth_s=0.7), HOP).apply(t)
    kernel = np.ones(7) / 7
    np.testing.assert_allclose(whole[100:900, 0], np.convolve(t[:, 0], kernel, mode="same")[100:900], atol=1e-6)
    monkeypatch.setattr(tracks_mod, "CHUNK_BYTES", 8 * 37)  # tiny chunks (256 rows minimum)
    assert len(list(tracks_mod.row_chunks(1000, 2))) == 4
    mapped = allocate(1000, 2, max_bytes=0)
    mapped[:] = t
    np.testing.assert_allclose(PostProcessor(PostSettings(smooth_s=0.7), HOP).apply(mapped), whole, atol=1e-7)


def test_suppress_and_boost_by_the_files_best_score():
    t = np.array([[0.2, 0.5, 0.95],
                  [0.4, 0.6, 0.5],
                  [0.1, 0.2, 0.1]], dtype=np.float32)
    settings = PostSettings(suppress_below=0.45, boost_above=0.9, boost_factor=1.5)
    proc = PostProcessor(settings, HOP)
    np.testing.assert_allclose(proc.class_factors(t), [0.0, 1.0, 1.5])
    np.testing.assert_allclose(proc.apply(t), [[0.0, 0.5, 1.0], [0.0, 0.6, 0.75], [0.0, 0.2, 0.15]], atol=1e-6)


def test_post_processing_changes_detections():
    t = np.zeros((40, 2), dtype=np.float32)
    t[5, 0] = 0.45  # a weak blip of class 0, never confident
    t[10:13, 1] = 0.95  # a clear call of class 1 ...
    t[30:33, 1] = 0.4  # ... and a quieter one later in the file
    bands = [(0.0, 8000.0)] * 2
    plain = ScoreSettings(detect=DetectSettings(threshold=0.4))
    assert [(b.label, b.t_min) for b in detect(t, ("a", "b"), HOP, 4.0, bands, plain)] == [
        ("a", 0.5), ("b", 1.0), ("b", 3.0)]
    post = ScoreSettings(detect=DetectSettings(threshold=0.5),
                         post=PostSettings(suppress_below=0.5, boost_above=0.9, boost_factor=1.5))
    got = detect(t, ("a", "b"), HOP, 4.0, bands, post)
    assert [(b.label, b.t_min, round(b.score, 3)) for b in got] == [("b", 1.0, 1.0), ("b", 3.0, 0.6)]


def test_bad_settings_are_refused():
    for bad in (PostSettings(smooth_s=-1), PostSettings(suppress_below=2), PostSettings(boost_factor=0)):
        with pytest.raises(ValueError):
            PostProcessor(bad, HOP)
