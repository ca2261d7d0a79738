"""The review queue without a window: filters, the three orders, reviewed detections, progress."""

from __future__ import annotations

import pytest

from birdlab.core.model import Detection, Label, Polarity, Source
from birdlab.core.review import ReviewFilter, build_queue, order_detections, progress, reviewed_ids


def det(i: int, score: float, cls: int = 1, rec: int = 1, t: float | None = None) -> Detection:
    t = float(i) if t is None else t
    return Detection(i, 7, rec, cls, t, t + 1.0, 0.0, 8000.0, score)


def made_from(detection: Detection, polarity: Polarity, modified: str) -> Label:
    return Label(100 + detection.id, detection.recording_id, detection.class_id, detection.t_min, detection.t_max,
                 detection.f_min, detection.f_max, polarity, Source.REVIEW, modified=modified,
                 detection_id=detection.id)


DETS = [det(1, 0.95), det(2, 0.57, cls=2), det(3, 0.45), det(4, 0.2, rec=2), det(5, 0.75, cls=2, rec=2)]


def test_score_order_is_highest_first_and_ties_go_by_recording_then_time():
    assert [d.id for d in order_detections(DETS, "score")] == [1, 5, 2, 3, 4]
    tied = [det(1, 0.5, rec=2, t=1.0), det(2, 0.5, rec=1, t=9.0), det(3, 0.5, rec=1, t=2.0)]
    assert [d.id for d in order_detections(tied, "score")] == [3, 2, 1]


def test_uncertainty_order_puts_the_scores_nearest_the_threshold_first():
    assert [d.id for d in order_detections(DETS, "uncertainty", threshold=0.5)] == [3, 2, 5, 4, 1]
    assert [d.id for d in order_detections(DETS, "uncertainty", threshold=0.9)][0] == 1


def test_stratified_order_visits_every_score_bin_before_repeating_one():
    many = [det(i, s) for i, s in enumerate([0.05, 0.1, 0.15, 0.45, 0.5, 0.55, 0.9, 0.95, 0.99], start=1)]
    first = order_detections(many, "stratified", bins=5)[:3]
    assert {min(4, int(d.score * 5)) for d in first} == {0, 2, 4}  # one from each occupied bin, high first
    assert sorted(d.id for d in order_detections(many, "stratified")) == list(range(1, 10))  # each once
    assert order_detections(many, "stratified", seed=1) != order_detections(many, "stratified", seed=2)
    with pytest.raises(ValueError, match="unknown review order 'random'"):
        order_detections(many, "random")


def test_filters_by_class_score_and_recording_and_leave_reviewed_ones_out():
    labels = [made_from(DETS[0], Polarity.POSITIVE, "2026-01-01")]
    assert [d.id for d in build_queue(DETS, labels, ReviewFilter())] == [5, 2, 3, 4]
    assert [d.id for d in build_queue(DETS, labels, ReviewFilter(unreviewed_only=False))] == [1, 5, 2, 3, 4]
    assert [d.id for d in build_queue(DETS, labels, ReviewFilter(class_id=2))] == [5, 2]
    assert [d.id for d in build_queue(DETS, labels, ReviewFilter(min_score=0.4, max_score=0.6))] == [2, 3]
    assert [d.id for d in build_queue(DETS, labels, ReviewFilter(recording_id=2))] == [5, 4]


def test_the_latest_label_made_from_a_detection_is_its_decision():
    labels = [made_from(DETS[0], Polarity.POSITIVE, "2026-01-01T10:00"),
              made_from(DETS[0], Polarity.NEGATIVE, "2026-01-01T11:00"),
              Label(9, 1, 1, 0.0, 1.0, 0.0, 100.0)]  # a manual label: no detection
    assert reviewed_ids(labels) == {1: "negative"}


def test_progress_counts_reviewed_per_class_and_overall():
    labels = [made_from(DETS[0], Polarity.POSITIVE, "a"), made_from(DETS[1], Polarity.NEGATIVE, "b")]
    assert progress(DETS, labels) == {1: (1, 3), 2: (1, 2), None: (2, 5)}
    assert progress([], []) == {None: (0, 0)}
