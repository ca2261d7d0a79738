"""The review queue: which detections to look at next, and in what order (Qt-free).

Orders: by score (highest first), by uncertainty (nearest the threshold first: active learning
in its simplest form), or stratified (round-robin over score bins, so a short session still
sees the whole score range and gives calibrated precision estimates). A detection is reviewed
once a label points at it (`Label.detection_id`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from birdlab.core.model import Detection, Label

ORDERS = ("score", "uncertainty", "stratified")


@dataclass(frozen=True)
class ReviewFilter:
    class_id: int | None = None
    min_score: float = 0.0
    max_score: float = 1.0
    recording_id: int | None = None
    unreviewed_only: bool = True


def reviewed_ids(labels: list[Label]) -> dict[int, str]:
    """{detection id: polarity of the (latest) label made from it}."""
    out: dict[int, str] = {}
    for label in sorted(labels, key=lambda lab: lab.modified):
        if label.detection_id is not None:
            out[label.detection_id] = label.polarity.value
    return out


def order_detections(detections: list[Detection], order: str = "score", threshold: float = 0.5,
                     bins: int = 5, seed: int = 0) -> list[Detection]:
    if order not in ORDERS:
        raise ValueError(f"unknown review order {order!r} (use {', '.join(ORDERS)})")
    if order == "score":
        return sorted(detections, key=lambda d: (-d.score, d.recording_id, d.t_min))
    if order == "uncertainty":
        return sorted(detections, key=lambda d: (abs(d.score - threshold), d.recording_id, d.t_min))
    # stratified: shuffle within equal-width score bins, then take one from each bin in turn
    rng = np.random.default_rng(seed)
    groups: dict[int, list[Detection]] = defaultdict(list)
    for d in detections:
        groups[min(bins - 1, int(d.score * bins))].append(d)
    for key in groups:
        groups[key] = [groups[key][i] for i in rng.permutation(len(groups[key]))]
    out: list[Detection] = []
    while any(groups.values()):
        for key in sorted(groups, reverse=True):
            if groups[key]:
                out.append(groups[key].pop(0))
    return out


def build_queue(detections: list[Detection], labels: list[Label], flt: ReviewFilter, order: str = "score",
                threshold: float = 0.5) -> list[Detection]:
    done = reviewed_ids(labels)
    keep = [d for d in detections
            if (flt.class_id is None or d.class_id == flt.class_id)
            and flt.min_score <= d.score <= flt.max_score
            and (flt.recording_id is None or d.recording_id == flt.recording_id)
            and not (flt.unreviewed_only and d.id in done)]
    return order_detections(keep, order, threshold)


def progress(detections: list[Detection], labels: list[Label]) -> dict[int | None, tuple[int, int]]:
    """{class id: (reviewed, total)} plus the overall figure under the key None."""
    done = reviewed_ids(labels)
    total, reviewed = Counter(d.class_id for d in detections), Counter(d.class_id for d in detections if d.id in done)
    out: dict[int | None, tuple[int, int]] = {c: (reviewed[c], n) for c, n in total.items()}
    out[None] = (sum(reviewed.values()), sum(total.values()))
    return out
