"""The embedding map: a 2-D picture of a project's windows, coloured by label and class (issue 17).

The points are windows of the embedding index: every labelled window (a label's most central
window) up to half the points, the rest drawn at random from the index, or the windows of the
review queue's detections. Their embeddings (centred on the project's mean window, as search
uses them) are projected by PCA at once, then by t-SNE (scikit-learn's Barnes-Hut, after PCA to
50 dimensions), which shows clusters PCA cannot. UMAP (umap-learn) was the other candidate: it
brings numba and llvmlite (about 150 MB) and a JIT start of tens of seconds on 2 cores, for a
map of a few thousand points that t-SNE draws in 9-13 s here; so t-SNE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from birdlab.core.model import Detection
from birdlab.core.store.project import Project
from birdlab.scoring.active_learning import span_rows
from birdlab.scoring.embedding_index import EmbeddingIndex, normalise

MAX_POINTS = 2000
UNLABELLED = "unlabelled"


@dataclass
class MapPoints:
    """Windows on the map: where they are in the project, what they are, and their embeddings."""

    recording_ids: np.ndarray  # int64 [n]
    t_start: np.ndarray  # float64 [n]
    t_end: np.ndarray
    kinds: list[str]  # "positive", "negative" or "unlabelled" (a queue's: the detection's review, if any)
    class_ids: np.ndarray  # int64 [n], -1 for none
    vectors: np.ndarray  # float32 [n, dim], centred and normalised

    def __len__(self) -> int:
        return len(self.recording_ids)


def _central_row(index: EmbeddingIndex, recording_id: int, t0: float, t1: float) -> int | None:
    rows = span_rows(index, recording_id, t0, t1)
    if not len(rows):
        return None
    start = index.blocks[recording_id]["start"]
    centres = (rows - start) * index.hop_s + index.window_s / 2
    return int(rows[np.argmin(np.abs(centres - (t0 + t1) / 2))])


def _points(index: EmbeddingIndex, rows: list[int], kinds: list[str], class_ids: list[int]) -> MapPoints:
    rows_arr = np.asarray(rows, np.int64)
    rids, starts = index.locate(rows_arr) if len(rows_arr) else (np.zeros(0, np.int64), np.zeros(0))
    durations = np.array([index.blocks[int(r)]["duration"] for r in rids]) if len(rids) else np.zeros(0)
    order = np.argsort(rows_arr, kind="stable")  # the memory map reads best in row order
    vectors = np.empty((len(rows_arr), index.dim), np.float32)
    if len(rows_arr):
        vectors[order] = np.asarray(index.vectors()[rows_arr[order]], np.float32)
        vectors = normalise(vectors - index.mean()[None, :])
    return MapPoints(rids.astype(np.int64), starts.astype(np.float64), np.minimum(starts + index.window_s, durations),
                     kinds, np.asarray(class_ids, np.int64), vectors)


def project_sample(project: Project, index: EmbeddingIndex, max_points: int = MAX_POINTS, seed: int = 0) -> MapPoints:
    """Labelled windows (positives and negatives; at most half the points, drawn at random when there
    are more) and random other windows of the index."""
    rng = np.random.default_rng(seed)
    labels = project.select("SELECT recording_id, class_id, polarity, t_min, t_max FROM labels"
                            " WHERE polarity IN ('positive', 'negative') ORDER BY id")
    if len(labels) > max_points // 2:
        labels = [labels[i] for i in sorted(rng.choice(len(labels), max_points // 2, replace=False))]
    rows, kinds, classes, used = [], [], [], set()
    for lab in labels:
        row = _central_row(index, lab["recording_id"], lab["t_min"], lab["t_max"])
        if row is not None and row not in used:
            used.add(row)
            rows.append(row)
            kinds.append(lab["polarity"])
            classes.append(lab["class_id"])
    others = max(0, min(max_points - len(rows), index.size - len(used)))
    if others:
        pick = rng.choice(index.size, size=min(index.size, others + len(used)), replace=False)
        pick = [int(r) for r in pick if int(r) not in used][:others]
        rows += pick
        kinds += [UNLABELLED] * len(pick)
        classes += [-1] * len(pick)
    return _points(index, rows, kinds, classes)


def queue_sample(project: Project, index: EmbeddingIndex, detections: list[Detection],
                 max_points: int = MAX_POINTS) -> MapPoints:
    """The windows of a queue's detections (the first `max_points`), each kind its review label's."""
    decided = {}
    ids = [d.id for d in detections[:max_points]]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in project.select(f"SELECT detection_id, polarity FROM labels WHERE detection_id IN "
                                  f"({', '.join('?' * len(chunk))}) ORDER BY modified", chunk):
            decided[row["detection_id"]] = row["polarity"]
    rows, kinds, classes = [], [], []
    for det in detections[:max_points]:
        row = _central_row(index, det.recording_id, det.t_min, det.t_max)
        if row is not None:
            rows.append(row)
            kinds.append(decided.get(det.id, UNLABELLED))
            classes.append(det.class_id)
    return _points(index, rows, kinds, classes)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components (instant; the map's first picture)."""
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2), np.float32)
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).astype(np.float32)


def tsne_2d(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE after PCA to 50 dimensions; ImportError names the package when scikit-learn is missing."""
    try:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError("the embedding map's t-SNE needs scikit-learn: pip install 'birdlab[gui]'") from None
    n = len(vectors)
    if n < 5:
        return pca_2d(vectors)
    reduced = PCA(min(50, n - 1, vectors.shape[1]), random_state=seed).fit_transform(vectors)
    perplexity = float(min(30.0, (n - 1) / 3))
    return TSNE(2, init="pca", perplexity=perplexity, random_state=seed, max_iter=500).fit_transform(
        reduced).astype(np.float32)


def inside(points_xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie inside a closed polygon [m, 2] (even-odd rule): the lasso's selection."""
    x, y = points_xy[:, 0], points_xy[:, 1]
    result = np.zeros(len(points_xy), bool)
    px, py = polygon[:, 0], polygon[:, 1]
    for i in range(len(polygon)):
        x0, y0, x1, y1 = px[i - 1], py[i - 1], px[i], py[i]
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        result ^= crosses & (x < at)
    return result
