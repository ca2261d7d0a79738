"""Pair the detections of a rescoring with the ones they replace (pure, Qt-free).

Rescoring a recording with the same model version (the app's Score button, `birdlab score
--project`, a changed detection setting) produces boxes that are mostly the same calls as
before. Keeping the old row for each of them keeps its id, and with it the review labels
that point at it (`Label.detection_id`): a reviewer's work must not reappear as unreviewed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence

MIN_IOU = 0.5  # time overlap (intersection over union) for "the same call"


def time_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time spans (0 when they do not overlap; 1 when equal)."""
    if a[0] == b[0] and a[1] == b[1]:
        return 1.0  # also for zero-length spans
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 1.0


def match_boxes(old: Sequence[tuple[int, float, float]], new: Sequence[tuple[int, float, float]],
                min_iou: float = MIN_IOU) -> dict[int, int]:
    """{new index: old index} for boxes given as (class id, t_min, t_max).

    Same class only, time IoU >= min_iou, each old box used at most once; the best-overlapping
    pairs are taken first, so an exact repeat always finds its own old box.
    """
    if not 0 < min_iou <= 1:
        raise ValueError(f"min_iou {min_iou!r} must be in (0, 1]")
    old_by_class: dict[int, list[int]] = defaultdict(list)
    for i, (cls, _, _) in enumerate(old):
        old_by_class[cls].append(i)
    starts: dict[int, list[float]] = {}
    for cls, indices in old_by_class.items():
        indices.sort(key=lambda i: old[i][1])
        starts[cls] = [old[i][1] for i in indices]
    # IoU >= m needs |old start - new start| <= union - intersection <= d * (1/m - 1), where d is
    # the new box's length: a window of starts that does not grow with the longest old box.
    reach = 1.0 / min_iou - 1.0
    pairs: list[tuple[float, int, int]] = []
    for j, (cls, t0, t1) in enumerate(new):
        if cls not in old_by_class:
            continue
        indices, begins = old_by_class[cls], starts[cls]
        slack = (t1 - t0) * reach + 1e-9
        for k in range(bisect_left(begins, t0 - slack), len(indices)):
            if begins[k] > t0 + slack:
                break
            i = indices[k]
            iou = time_iou((old[i][1], old[i][2]), (t0, t1))
            if iou >= min_iou:
                pairs.append((iou, j, i))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    out: dict[int, int] = {}
    used: set[int] = set()
    for _, j, i in pairs:
        if j not in out and i not in used:
            out[j] = i
            used.add(i)
    return out
