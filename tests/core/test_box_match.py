"""Pairing rescored detections with the ones they replace."""

from __future__ import annotations

import random

from birdlab.core.ml.box_match import match_boxes, time_iou


def test_time_iou():
    assert time_iou((0, 2), (1, 3)) == 1 / 3
    assert time_iou((0, 1), (1, 2)) == 0.0
    assert time_iou((0, 1), (0, 1)) == 1.0
    assert time_iou((2, 2), (2, 2)) == 1.0  # equal, even with no length
    assert time_iou((2, 2), (2, 3)) == 0.0


def test_exact_repeats_find_their_own_box():
    old = [(1, 0.0, 1.0), (1, 1.0, 2.0), (2, 0.0, 1.0), (2, 5.0, 5.0)]
    assert match_boxes(old, list(reversed(old))) == {0: 3, 1: 2, 2: 1, 3: 0}


def test_same_class_and_enough_overlap_only():
    old = [(1, 0.0, 1.0), (1, 5.0, 6.0), (2, 10.0, 11.0)]
    new = [(1, 0.2, 1.1),  # IoU 0.73: the same call
           (1, 5.6, 7.0),  # IoU 0.25: another call
           (3, 10.0, 11.0)]  # other class
    assert match_boxes(old, new) == {0: 0}


def test_each_old_box_is_used_once_best_overlap_first():
    old = [(1, 0.0, 1.0)]
    new = [(1, 0.0, 0.8), (1, 0.0, 1.0)]
    assert match_boxes(old, new) == {1: 0}


def test_long_old_box_is_found_from_a_later_start():
    old = [(1, 0.0, 10.0), (1, 10.5, 11.0)]
    assert match_boxes(old, [(1, 2.0, 10.0)]) == {0: 0}


def test_matches_brute_force_on_random_boxes():
    rng = random.Random(1)
    for _ in range(50):
        old = [(rng.randint(0, 2), t, t + rng.choice([0.0, rng.uniform(0.1, 3), rng.uniform(10, 40)]))
               for t in (rng.uniform(0, 30) for _ in range(20))]
        new = [(c, t0 + rng.uniform(-0.3, 0.3), t1 + rng.uniform(-0.3, 0.3)) for c, t0, t1 in old[:15]]
        got = match_boxes(old, new)
        for j, i in got.items():
            assert old[i][0] == new[j][0] and time_iou(old[i][1:], new[j][1:]) >= 0.5
        assert len(set(got.values())) == len(got)
        # greedy on the same pairs, computed the slow way
        pairs = sorted(((time_iou(o[1:], n[1:]), j, i) for j, n in enumerate(new) for i, o in enumerate(old)
                        if o[0] == n[0] and time_iou(o[1:], n[1:]) >= 0.5), key=lambda p: (-p[0], p[1], p[2]))
        want, used = {}, set()
        for _, j, i in pairs:
            if j not in want and i not in used:
                want[j] = i
                used.add(i)
        assert got == want
