"""Frame targets (DESIGN.md section 3) and the ranking metrics."""

import numpy as np
import pytest

from birdlab.core.ml.metrics import average_precision, cmap, lwlrap, per_class_ap
from birdlab.core.model import Polarity
from birdlab.core.ml.targets import TimeBox, clip_targets, covered_frames, frame_targets


def test_positive_and_negative_boxes_make_targets_and_masks():
    boxes = [TimeBox(1.0, 2.0, 0, Polarity.POSITIVE), TimeBox(3.0, 4.0, 0, Polarity.NEGATIVE), TimeBox(0.0, 5.0, 1, Polarity.NEGATIVE)]
    y, m = frame_targets(boxes, t0=0.0, hop_s=0.5, n_frames=10, n_classes=3)
    assert y[0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert m[0].tolist() == [0, 0, 1, 1, 0, 0, 1, 1, 0, 0]
    assert y[1].sum() == 0 and m[1].sum() == 10  # a complete extent: every frame negative
    assert m[2].sum() == 0  # nothing said about class 2: masked


def test_positives_win_over_negatives_where_they_overlap():
    boxes = [TimeBox(0.0, 5.0, 0, Polarity.NEGATIVE), TimeBox(2.0, 3.0, 0, Polarity.POSITIVE)]
    y, m = frame_targets(boxes, 0.0, 1.0, 5, 1)
    assert y[0].tolist() == [0, 0, 1, 0, 0] and m[0].tolist() == [1] * 5


def test_crop_offset_and_short_boxes():
    # crop starting at 10 s: a box at 11.0-11.2 s (shorter than half a frame) still marks its centre frame
    y, m = frame_targets([TimeBox(11.0, 11.2, 0, Polarity.POSITIVE)], 10.0, 0.5, 4, 1)
    assert y[0].tolist() == [0, 0, 1, 0]
    assert covered_frames(0.0, 0.2, 5.0, 0.5, 4).sum() == 0  # outside the crop


def test_clip_level_rule():
    y = np.array([[[0, 1, 0], [0, 0, 0], [0, 0, 0]]], dtype=np.float32)
    m = np.array([[[1, 1, 0], [1, 0, 0], [0, 0, 0]]], dtype=np.float32)
    ct, cm = clip_targets(y, m)
    assert ct.tolist() == [[1, 0, 0]] and cm.tolist() == [[1, 1, 0]]


def test_average_precision_matches_hand_computation():
    # ranking: pos, neg, pos -> AP = (1/1 + 2/3) / 2
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([1, 1, 0], [0.9, 0.8, 0.1]) == 1.0
    assert np.isnan(average_precision([0, 0], [0.1, 0.2]))
    assert np.isnan(average_precision([1, 1], [0.1, 0.2]))  # no negatives: n/a, never 1.0


def test_masked_entries_take_no_part():
    truth = np.array([[1, 0], [0, 1], [0, 0]])
    scores = np.array([[0.9, 0.9], [0.1, 0.2], [0.95, 0.1]])
    mask = np.array([[1, 1], [1, 1], [0, 1]])  # the high-scoring negative of class 0 is masked
    assert per_class_ap(truth, scores, mask)[0] == 1.0
    assert per_class_ap(truth, scores)[0] == 0.5
    assert cmap(truth, scores, mask) == pytest.approx((1.0 + 0.5) / 2)


def test_lwlrap_perfect_and_imperfect():
    truth = np.array([[1, 0, 0], [0, 1, 0]])
    assert lwlrap(truth, np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3]])) == 1.0
    # second example: its true class ranks second of three -> precision 1/2
    assert lwlrap(truth, np.array([[0.9, 0.1, 0.2], [0.1, 0.5, 0.6]])) == pytest.approx(0.75)
