"""Ranking metrics of detectors: per-class average precision, cmAP and LWLRAP.

Masked entries (mask 0) take no part: a class is scored only on the examples where its
truth is known, as the RFCX tp/fp labels require. Plain numpy so that the trainer, the
command line (`birdlab evaluate`) and the app compute the same numbers.
"""

from __future__ import annotations

import numpy as np


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """AP of one class (step-wise, as scikit-learn's average_precision_score).

    NaN when there is no positive or no negative: AP is undefined without positives, and
    without negatives it is 1.0 whatever the scores, which says nothing ("n/a (no negatives)").
    Ties are ranked pessimistically only in the sense that the whole tied group is counted at once.
    """
    truth = np.asarray(truth, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(truth.sum())
    if n_pos == 0 or n_pos == len(truth):
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], truth[order]
    # the last index of each group of tied scores
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(t)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_class_ap(truth: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """AP of each class: truth, scores, mask are [n_examples, n_classes]; NaN where undefined."""
    truth = np.asarray(truth)
    scores = np.asarray(scores)
    mask = np.ones_like(truth, dtype=bool) if mask is None else np.asarray(mask) > 0
    return np.array([average_precision(truth[mask[:, c], c], scores[mask[:, c], c])
                     for c in range(truth.shape[1])])


def cmap(truth: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Class-mean AP over the classes where AP is defined (NaN when none is)."""
    ap = per_class_ap(truth, scores, mask)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


def lwlrap(truth: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Label-weighted label-ranking average precision (the Kaggle freesound/RFCX metric).

    For each example and each of its true labels: the precision of the ranking of that
    example's classes down to that label. Masked classes are left out of an example's ranking.
    """
    truth = np.asarray(truth) > 0
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.ones_like(truth, dtype=bool) if mask is None else np.asarray(mask) > 0
    total, count = 0.0, 0
    for t, s, m in zip(truth, scores, mask):
        t, s = t[m], s[m]
        if not t.any():
            continue
        for c in np.nonzero(t)[0]:
            ranked_above = s >= s[c]
            total += (t & ranked_above).sum() / ranked_above.sum()
            count += 1
    return total / count if count else float("nan")
