"""Review orders from the embedding index: "near my positives" and "diverse uncertain" (issue 17).

Both rank the active model's detections and hand the ranking to the review queue as ids
(`core.store.review.RANKED`), so the filters, keys and labels are the queue's own.

- near my positives: the windows nearest to the positive labels (the index's nearest-neighbour
  search, each label's windows averaged into one query, a window's similarity its best over the
  labels), then the unreviewed detections on those windows, most similar first. It finds what the
  model detects that sounds like what the user already confirmed, the quick way to more positives.
- diverse uncertain: the `POOL` detections nearest the display threshold (uncertainty sampling),
  ordered by greedy farthest-point selection in embedding space (k-centre, from the most
  uncertain one), so the first ones reviewed are uncertain and unlike each other: a batch of
  labels that teaches the model more than the same number of near-duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from birdlab.core.model import Polarity
from birdlab.core.store.project import Project
from birdlab.core.store.review import QueueSpec, ReviewQueue
from birdlab.scoring.embedding_index import EmbeddingIndex, normalise

POOL = 500  # uncertain detections the diverse order spreads out
NEAR_WINDOWS = 500  # windows the positives' search returns
POSITIVES = 100  # the newest positive labels that make the query (the ranking runs on the GUI thread)

NEAR_POSITIVES = "near my positives"
DIVERSE_UNCERTAIN = "diverse uncertain"
EMBEDDING_ORDERS = (NEAR_POSITIVES, DIVERSE_UNCERTAIN)


def span_rows(index: EmbeddingIndex, recording_id: int, t0: float, t1: float) -> np.ndarray:
    """The index rows whose windows overlap [t0, t1] of a recording (empty when it is not indexed)."""
    block = index.blocks.get(recording_id)
    if block is None:
        return np.zeros(0, np.int64)
    first = max(0, int(np.floor((t0 - index.window_s) / index.hop_s)) + 1)
    last = min(block["count"] - 1, int(np.ceil(t1 / index.hop_s)) - 1)
    last = max(last, min(first, block["count"] - 1))
    return block["start"] + np.arange(first, last + 1, dtype=np.int64)


def span_vectors(index: EmbeddingIndex, spans: Iterable[tuple[int, float, float]]) -> tuple[np.ndarray, list[int]]:
    """One vector per span (the mean of its windows' rows, normalised) and which spans had one."""
    vectors, kept = [], []
    rows_all = index.vectors()
    for i, (rid, t0, t1) in enumerate(spans):
        rows = span_rows(index, rid, t0, t1)
        if len(rows):
            vectors.append(np.asarray(rows_all[rows], np.float32).mean(axis=0))
            kept.append(i)
    dim = index.dim
    return (normalise(np.stack(vectors)) if vectors else np.zeros((0, dim), np.float32)), kept


def near_positives(project: Project, index: EmbeddingIndex, spec: QueueSpec) -> list[int]:
    """Unreviewed detections of the spec's model on the windows nearest the positive labels (of the
    spec's class when it has one), most similar first."""
    f = spec.filter
    positives = [lab for lab in project.labels(class_id=f.class_id) if lab.polarity is Polarity.POSITIVE]
    positives = sorted(positives, key=lambda lab: lab.modified)[-POSITIVES:]
    queries, kept = span_vectors(index, [(lab.recording_id, lab.t_min, lab.t_max) for lab in positives])
    if not kept:
        return []
    exclude = [(positives[i].recording_id, positives[i].t_min, positives[i].t_max) for i in kept]
    scope = [f.recording_id] if f.recording_id is not None else None
    hits = index.search(queries, NEAR_WINDOWS, combine="max", recording_ids=scope, exclude=exclude)
    best: dict[int, float] = {}
    by_rec: dict[int, list] = {}
    for hit in hits:
        by_rec.setdefault(hit.recording_id, []).append(hit)
    for rid, rec_hits in by_rec.items():
        lo, hi = min(h.t_start for h in rec_hits), max(h.t_end for h in rec_hits)
        sql = ("SELECT id, t_min, t_max FROM detections WHERE model_version_id = ? AND recording_id = ?"
               " AND t_max > ? AND t_min < ? AND score >= ? AND score <= ?")
        params: list = [spec.model_id, rid, lo, hi, f.min_score, f.max_score]
        if f.class_id is not None:
            sql += " AND class_id = ?"
            params.append(f.class_id)
        if f.unreviewed_only:
            sql += " AND NOT EXISTS (SELECT 1 FROM labels WHERE labels.detection_id = detections.id)"
        for row in project.select(sql, params):
            for hit in rec_hits:
                if row["t_min"] < hit.t_end and hit.t_start < row["t_max"]:
                    best[row["id"]] = max(best.get(row["id"], -2.0), hit.similarity)
    return sorted(best, key=lambda det_id: -best[det_id])


def diverse_uncertain(project: Project, index: EmbeddingIndex, spec: QueueSpec, pool: int = POOL) -> list[int]:
    """The `pool` detections nearest the threshold, in farthest-point order from the most uncertain;
    detections of recordings not indexed yet follow in uncertainty order."""
    candidates = ReviewQueue(project, replace(spec, order="uncertainty", ranked=())).take(pool)
    if not candidates:
        return []
    vectors, kept = span_vectors(index, [(d.recording_id, d.t_min, d.t_max) for d in candidates])
    order: list[int] = []
    if kept:
        mean = index.mean()
        centred = normalise(vectors - mean[None, :])
        distance = np.full(len(kept), np.inf)
        chosen = 0  # the most uncertain
        picked = np.zeros(len(kept), bool)
        for _ in range(len(kept)):
            picked[chosen] = True
            order.append(candidates[kept[chosen]].id)
            distance = np.minimum(distance, 1.0 - centred @ centred[chosen])
            distance[picked] = -np.inf
            chosen = int(np.argmax(distance))
            if picked[chosen]:
                break
    rest = set(range(len(candidates))) - set(kept)
    return order + [candidates[i].id for i in sorted(rest)]
