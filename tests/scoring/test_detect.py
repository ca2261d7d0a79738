"""Detections from known score tracks: threshold, hysteresis, merge gap, minimum duration."""

from __future__ import annotations

import numpy as np
import pytest

from birdlab.scoring.detect import DetectSettings, Event, events_from_tracks, find_events
from birdlab.scoring.recording import RecordingScores, ScoreSettings, detect, redetect, resolve_bands

HOP = 0.1


def track(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)[:, None]


def spans(events: list[Event]) -> list[tuple[int, int, int, float]]:
    return [(e.class_index, e.start, e.stop, round(e.score, 4)) for e in events]


def test_plain_threshold():
    t = track(0.1, 0.6, 0.7, 0.2, 0.5, 0.49, 0.9)
    got = events_from_tracks(t, HOP, DetectSettings(threshold=0.5))
    assert spans(got) == [(0, 1, 3, 0.7), (0, 4, 5, 0.5), (0, 6, 7, 0.9)]


def test_hysteresis_extends_both_ways_and_needs_one_frame_above_threshold():
    #            0    1    2    3    4    5    6    7    8    9
    t = track(0.1, 0.35, 0.4, 0.8, 0.45, 0.3, 0.1, 0.4, 0.45, 0.1)
    got = events_from_tracks(t, HOP, DetectSettings(threshold=0.7, off_threshold=0.3))
    # run 1..5 (>= 0.3) holds 0.8 -> event; run 7..8 never reaches 0.7 -> none
    assert spans(got) == [(0, 1, 6, 0.8)]
    assert spans(events_from_tracks(t, HOP, DetectSettings(threshold=0.7))) == [(0, 3, 4, 0.8)]


def test_merge_gap_then_min_duration():
    t = track(0.9, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.9, 0.9, 0.9, 0.0, 0.8)
    base = DetectSettings(threshold=0.5)
    assert spans(events_from_tracks(t, HOP, base)) == [(0, 0, 1, 0.9), (0, 3, 4, 0.9), (0, 7, 10, 0.9),
                                                       (0, 11, 12, 0.8)]
    merged = events_from_tracks(t, HOP, DetectSettings(threshold=0.5, merge_gap_s=0.2))  # gaps: 0.2, 0.3, 0.1
    assert spans(merged) == [(0, 0, 4, 0.9), (0, 7, 12, 0.9)]
    longer = events_from_tracks(t, HOP, DetectSettings(threshold=0.5, merge_gap_s=0.2, min_duration_s=0.45))
    assert spans(longer) == [(0, 7, 12, 0.9)]
    assert spans(events_from_tracks(t, HOP, DetectSettings(threshold=0.5, min_duration_s=0.3))) == [(0, 7, 10, 0.9)]


def test_classes_are_independent_and_events_are_sorted_by_time():
    t = np.array([[0.0, 0.9], [0.9, 0.9], [0.9, 0.0], [0.0, 0.0]], dtype=np.float32)
    assert spans(events_from_tracks(t, HOP, DetectSettings())) == [(1, 0, 2, 0.9), (0, 1, 3, 0.9)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_chunked_tracks_give_the_same_events(chunk):
    rng = np.random.default_rng(3)
    t = np.clip(np.cumsum(rng.normal(0, 0.15, (200, 4)), axis=0) % 1.0, 0, 1).astype(np.float32)
    settings = DetectSettings(threshold=0.6, off_threshold=0.4, merge_gap_s=0.2, min_duration_s=0.2)
    whole = events_from_tracks(t, HOP, settings)
    chunks = [(a, t[a:a + chunk]) for a in range(0, len(t), chunk)]
    assert find_events(chunks, 4, HOP, settings) == whole
    assert len(whole) > 5


def test_an_event_running_to_the_end_is_closed():
    assert spans(events_from_tracks(track(0.0, 0.9, 0.9), HOP, DetectSettings())) == [(0, 1, 3, 0.9)]
    assert spans(events_from_tracks(track(0.9, 0.9, 0.9), HOP, DetectSettings())) == [(0, 0, 3, 0.9)]


def test_bad_settings_are_refused():
    for bad in (DetectSettings(threshold=1.5), DetectSettings(threshold=0.5, off_threshold=0.6),
                DetectSettings(min_duration_s=-1), DetectSettings(merge_gap_s=float("nan"))):
        assert bad.problems()
        with pytest.raises(ValueError):
            events_from_tracks(track(0.5), HOP, bad)


def test_boxes_take_bands_and_are_cut_at_the_end_of_the_recording():
    t = np.array([[0.0, 0.9], [0.9, 0.9], [0.9, 0.9]], dtype=np.float32)
    bands = resolve_bands(("a", "b"), 8000.0, {"a": (1000.0, 12000.0)}, {})
    assert bands == [(1000.0, 8000.0), (0.0, 8000.0)]  # clipped to Nyquist; unknown -> full band
    boxes = detect(t, ("a", "b"), HOP, 0.25, bands, ScoreSettings())
    assert [(b.label, b.t_min, b.t_max, b.f_min, b.f_max) for b in boxes] == [
        ("b", 0.0, 0.25, 0.0, 8000.0), ("a", 0.1, 0.25, 1000.0, 8000.0)]
    # an override wins over the model's band; a band above Nyquist falls back to the full band
    assert resolve_bands(("a",), 8000.0, {"a": (1000.0, 2000.0)}, {"a": (500.0, 900.0)}) == [(500.0, 900.0)]
    assert resolve_bands(("a",), 4000.0, {"a": (5000.0, 9000.0)}, {}) == [(0.0, 4000.0)]


def test_redetect_reuses_tracks_with_new_settings():
    scores = RecordingScores("x.wav", 0.4, 16000, 1, ("a",), HOP, track(0.2, 0.6, 0.2, 0.8), np.zeros(1),
                             np.zeros((1, 1), np.float32), [])
    assert [(b.t_min, b.t_max) for b in redetect(scores, {}, ScoreSettings())] == [(0.1, 0.2), (0.3, 0.4)]
    high = ScoreSettings(detect=DetectSettings(threshold=0.7))
    assert [(b.t_min, b.score) for b in redetect(scores, {}, high)] == [(0.3, pytest.approx(0.8))]
