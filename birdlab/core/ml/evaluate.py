"""Per-class evaluation of a model's detections against truth (`birdlab evaluate`, the report panel).

Why fixed segments: labels and detections are boxes of any length, and each format draws them
differently. Cutting every recording into fixed segments (default 5 s) turns both into the
`[segments, classes]` matrices that `birdlab.core.ml.metrics` scores, with the mask of DESIGN.md
section 3 one level up (the clip rule):

- truth of a segment and class: positive if a positive box of the class overlaps it; else
  negative if a negative box (or a complete extent, or `complete=True`) overlaps it; else masked.
  An uncertain box masks a segment that no positive overlaps (uncertain is never scored).
- score of a segment and class: the highest score of the class's detections overlapping it, 0 if
  none.

Masked segments take no part in any number. Recordings are matched by file stem (directory and
audio extension dropped), so a Raven table `rec1.Table.1.selections.txt`, an RFCX `recording_id`
`rec1` and a detection of `/data/site/rec1.wav` meet. Plain numpy (no Qt), so the command line
and the app compute the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from birdlab.core.ml.eval_report import ClassResult, EvaluationError, EvaluationReport
from birdlab.core.ml.eval_tables import audio_durations, read_tables, recording_key, row_place, some_names
from birdlab.core.formats.common import Annotation
from birdlab.core.ml.metrics import cmap as class_mean_ap
from birdlab.core.ml.metrics import lwlrap as label_weighted_lrap
from birdlab.core.ml.metrics import per_class_ap
from birdlab.core.model import ModelVersion, Polarity
from birdlab.core.store.project import Project

EPS = 1e-6  # seconds: boxes that only touch a segment's edge do not overlap it

SEGMENT_RANGE = (0.1, 3600.0)  # seconds; shorter cuts an hour into tens of millions of segments


# ---- the computation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CompleteExtent:
    """A time range of a recording whose unlabelled audio is negative for `classes` (None: all)."""

    recording: str
    t_min: float
    t_max: float
    classes: frozenset[str] | None = None


def pr_curve(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, precision, recall) with tied scores taken as one step, as in
    `birdlab.core.ml.metrics.average_precision` (so `sum(diff([0, recall]) * precision)` is its AP).
    Empty arrays when there is no positive."""
    truth = np.asarray(truth, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(truth.sum())
    if n_pos == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], truth[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(t)[last]
    return s[last], tp / (last + 1), tp / n_pos


def _segment_span(t_min: np.ndarray, t_max: np.ndarray, segment_s: float,
                  n_seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last segment each box overlaps by more than EPS, clipped to the recording."""
    first = np.floor((t_min + EPS) / segment_s).astype(np.int64)
    last = np.ceil((t_max - EPS) / segment_s).astype(np.int64)
    return np.clip(first, 0, n_seg), np.clip(last, 0, n_seg)


def _expand(first: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment index, box index) for every segment of every box: [first, stop) per box."""
    lengths = np.maximum(stop - first, 0)
    box = np.repeat(np.arange(len(first)), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(first, lengths) + (np.arange(len(box)) - starts), box


@dataclass
class PredictionStream:
    """Predictions read in chunks (a project's detections, recording by recording), with what the
    evaluation must know of them up front: their recordings, their classes, and how far each
    recording's boxes reach (for recordings of unknown duration). Memory holds one chunk."""

    recordings: set[str]
    labels: set[str]
    chunks: Callable[[], Iterable[Sequence[Annotation]]]
    ends: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, predictions: Sequence[Annotation]) -> "PredictionStream":
        ends: dict[str, float] = {}
        for a in predictions:
            ends[a.recording] = max(ends.get(a.recording, 0.0), a.t_max)
        return cls({a.recording for a in predictions}, {a.label for a in predictions}, lambda: [predictions], ends)


def evaluate(truth: Sequence[Annotation], predictions: Sequence[Annotation] | PredictionStream, *,
             segment_s: float = 5.0,
             threshold: float = 0.5, complete: bool = False, extents: Iterable[CompleteExtent] = (),
             durations: dict[str, float] | None = None, classes: Sequence[str] | None = None,
             bins: int = 20, truth_source: str = "", pred_source: str = "") -> EvaluationReport:
    """Score `predictions` (annotations with scores) against `truth` (annotations with polarity).

    Recording keys are `Annotation.recording` as given (see `recording_key` for files).
    `durations` gives recording lengths where known; elsewhere a recording ends with its last box
    (which only matters with `complete`). `classes` restricts and orders the classes (default:
    every class of truth or predictions, sorted); truth of other classes is listed in
    `ignored_truth_classes`. ValueError on a bad segment length, threshold or bin count.
    """
    if not SEGMENT_RANGE[0] <= segment_s <= SEGMENT_RANGE[1]:  # also refuses NaN
        raise ValueError(f"segment length {segment_s!r} s: must lie in [{SEGMENT_RANGE[0]:g}, {SEGMENT_RANGE[1]:g}] s")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold {threshold!r}: must be a number")
    if bins < 1:
        raise ValueError(f"histogram bins {bins}: must be at least 1")
    durations = dict(durations or {})
    extents = list(extents)
    truth = list(truth)
    stream = predictions if isinstance(predictions, PredictionStream) else PredictionStream.of(list(predictions))
    if classes is None:
        names = sorted({a.label for a in truth if a.polarity != Polarity.UNCERTAIN} | stream.labels)
    else:
        names = list(dict.fromkeys(classes))
    index = {name: i for i, name in enumerate(names)}
    ignored = sorted({a.label for a in truth if a.label not in index and a.polarity != Polarity.UNCERTAIN})

    truth_recs = {a.recording for a in truth} | {e.recording for e in extents}
    pred_recs = stream.recordings
    recordings = sorted(truth_recs | pred_recs) if complete else sorted(truth_recs)
    unmatched = sorted(pred_recs - truth_recs)
    ends = {r: durations.get(r, 0.0) for r in recordings}
    for a in truth:
        if a.recording in ends and a.recording not in durations:
            ends[a.recording] = max(ends[a.recording], a.t_max)
    for r, end in stream.ends.items():
        if r in ends and r not in durations:
            ends[r] = max(ends[r], end)
    for e in extents:
        if e.recording in ends and e.recording not in durations:
            ends[e.recording] = max(ends[e.recording], e.t_max)
    rec_index = {r: i for i, r in enumerate(recordings)}
    n_seg = np.array([max(1, math.ceil(ends[r] / segment_s - 1e-9)) for r in recordings], dtype=np.int64)
    offset = np.r_[0, np.cumsum(n_seg)][:-1].astype(np.int64)
    total, n_cls = int(n_seg.sum()), len(names)

    def boxes(items: Sequence[Annotation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global segment index, class index and score (NaN for labels) of every (box, segment) pair,
        for the boxes of evaluated recordings and classes."""
        kept = [a for a in items if a.recording in rec_index and a.label in index]
        if not kept:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        rec = np.array([rec_index[a.recording] for a in kept])
        for a in kept:
            if a.recording in durations and a.t_min >= durations[a.recording] - EPS:
                raise EvaluationError(row_place(a) + f"box starts at {a.t_min:g} s, after the end of the "
                                                  f"recording ({durations[a.recording]:g} s)")
        first, stop = _segment_span(np.array([a.t_min for a in kept]), np.array([a.t_max for a in kept]),
                                    segment_s, n_seg[rec])
        seg, box = _expand(first, stop)
        values = np.array([math.nan if a.score is None else a.score for a in kept], dtype=np.float64)
        return offset[rec][box] + seg, np.array([index[a.label] for a in kept])[box], values[box]

    pos = np.zeros((total, n_cls), dtype=bool)
    neg = np.zeros((total, n_cls), dtype=bool)
    unc = np.zeros((total, n_cls), dtype=bool)
    for polarity, target in ((Polarity.POSITIVE, pos), (Polarity.NEGATIVE, neg), (Polarity.UNCERTAIN, unc)):
        seg, cls, _ = boxes([a for a in truth if a.polarity == polarity])
        target[seg, cls] = True
    if complete:
        neg[:] = True
    for e in extents:
        if e.recording not in rec_index:
            continue
        r = rec_index[e.recording]
        first, stop = _segment_span(np.array([e.t_min]), np.array([e.t_max]), segment_s, n_seg[r:r + 1])
        cols = [index[c] for c in e.classes if c in index] if e.classes is not None else list(range(n_cls))
        rows = slice(offset[r] + first[0], offset[r] + stop[0])
        for c in cols:
            neg[rows, c] = True
    known = pos | (neg & ~unc)

    scores = np.zeros((total, n_cls), dtype=np.float64)
    for chunk in stream.chunks():
        for a in chunk:
            if a.score is None or not math.isfinite(a.score):
                raise EvaluationError(row_place(a) + "detection has no score")
        seg, cls, values = boxes(chunk)
        np.maximum.at(scores, (seg, cls), values)

    ap = per_class_ap(pos, scores, known)
    cm = class_mean_ap(pos, scores, known)
    rows_with_truth = (pos & known).any(axis=1)
    lw = label_weighted_lrap(pos[rows_with_truth], scores[rows_with_truth], known[rows_with_truth])
    lo = min(0.0, float(scores.min())) if scores.size else 0.0
    hi = max(1.0, float(scores.max())) if scores.size else 1.0
    edges = np.linspace(lo, hi, bins + 1)
    results = []
    for c, name in enumerate(names):
        m = known[:, c]
        t, s = pos[m, c], scores[m, c]
        predicted = s >= threshold
        thresholds, precision, recall = pr_curve(t, s)
        results.append(ClassResult(
            name=name, n_pos=int(t.sum()), n_neg=int((~t).sum()), ap=float(ap[c]),
            tp=int((predicted & t).sum()), fp=int((predicted & ~t).sum()), fn=int((~predicted & t).sum()),
            pr_thresholds=thresholds, pr_precision=precision, pr_recall=recall,
            hist_pos=np.histogram(s[t], edges)[0], hist_neg=np.histogram(s[~t], edges)[0]))
    return EvaluationReport(classes=results, cmap=cm, lwlrap=lw, threshold=threshold, segment_s=segment_s,
                            complete=complete, hist_edges=edges, n_recordings=len(recordings), n_segments=total,
                            truth_source=truth_source, pred_source=pred_source,
                            unmatched_predictions=[] if complete else unmatched, ignored_truth_classes=ignored)


def evaluate_files(truth_paths: Sequence[str | Path], pred_paths: Sequence[str | Path], *,
                   truth_format: str | None = None, pred_format: str | None = None, segment_s: float = 5.0,
                   threshold: float = 0.5, complete: bool = False, default_label: str | None = None
                   ) -> EvaluationReport:
    """Read truth and detection tables and evaluate. With `complete`, recording lengths come from
    the audio where the tables' paths lead to it (else each recording ends with its last box).
    `default_label`: the class of rows (truth or detections) that name none."""
    if not truth_paths or not pred_paths:
        raise EvaluationError("evaluation needs at least one truth table and one detection table")
    raw_preds = read_tables(pred_paths, pred_format, predictions=True, default_label=default_label)
    raw_truth = read_tables(truth_paths, truth_format, predictions=False, default_label=default_label)
    durations = audio_durations([*raw_preds, *raw_truth]) if complete else {}
    for a in [*raw_truth, *raw_preds]:
        a.recording = recording_key(a)
    if not raw_truth:
        raise EvaluationError(f"{', '.join(map(str, truth_paths))}: the truth has no boxes")
    truth_keys, pred_keys = {a.recording for a in raw_truth}, {a.recording for a in raw_preds}
    if pred_keys and not truth_keys & pred_keys:
        raise EvaluationError("no recording of the detections appears in the truth (recordings are matched by "
                              f"file stem; truth: {some_names(truth_keys)}; detections: {some_names(pred_keys)})")
    return evaluate(raw_truth, raw_preds, segment_s=segment_s, threshold=threshold, complete=complete,
                    durations=durations, truth_source=", ".join(map(str, truth_paths)),
                    pred_source=", ".join(map(str, pred_paths)))



# ---- projects ---------------------------------------------------------------------------------

DEFAULT_VAL_FRACTION, DEFAULT_SEED = 0.2, 0  # training.config.TrainConfig's defaults


def find_model(project: Project, name: str | None) -> ModelVersion:
    """The model version called `name`, else the active one; EvaluationError listing the known ones."""
    model = project.model_by_name(name) if name else project.active_model()
    if model is None:
        known = ", ".join(repr(m.name) for m in project.model_versions()) or "none"
        what = f"no model version named {name!r}" if name else "no active model version"
        raise EvaluationError(f"{project.root}: {what} (model versions: {known})")
    return model


def validation_recordings(project: Project, model: ModelVersion) -> set[int]:
    """Recording ids the model's training run held out (the trainer's own split, `split_recordings`)."""
    from birdlab.core.ml.jobs import JobError, read_job, split_recordings

    if model.training_run_id is None:
        raise EvaluationError(f"{project.root}: model version {model.name!r} was not trained in this project, "
                              "so it has no validation recordings")
    run = project.training_run(model.training_run_id)
    try:
        job = read_job(project.runs_dir / run.folder / "job.json")
    except JobError as exc:
        raise EvaluationError(str(exc)) from None
    _, held = split_recordings(job, float(job.config.get("val_fraction", DEFAULT_VAL_FRACTION)),
                               int(job.config.get("seed", DEFAULT_SEED)))
    if not held:
        raise EvaluationError(f"{job.path}: the training run of {model.name!r} held out no recordings")
    return held


def evaluate_project(project: Project, model_name: str | None = None, *, validation_only: bool = False,
                     segment_s: float = 5.0, threshold: float = 0.5, complete: bool = False) -> EvaluationReport:
    """A model version's detections against the project's labels and complete extents.

    Classes are the model's (its card), so labels of classes it cannot know are left out (and listed).
    """
    model = find_model(project, model_name)
    names = {c.id: c.name for c in project.classes()}
    recs = {r.id: r for r in project.recordings()}
    keep = validation_recordings(project, model) if validation_only else set(recs)
    scored = [r for r in project.detection_recordings(model.id) if r in keep]
    if not scored:
        raise EvaluationError(f"{project.root}: model version {model.name!r} has no detections"
                              + (" on its validation recordings" if validation_only else "")
                              + " (score the recordings first)")
    labels = [x for x in project.labels() if x.recording_id in keep]
    reviewed = [e for e in project.extents() if e.recording_id in keep]
    truth = [Annotation(recording=recs[x.recording_id].path, t_min=x.t_min, t_max=x.t_max, f_min=x.f_min,
                        f_max=x.f_max, label=names[x.class_id], polarity=Polarity(x.polarity)) for x in labels]
    extents = [CompleteExtent(recs[e.recording_id].path, e.t_min, e.t_max, frozenset(names[c] for c in e.class_ids))
               for e in reviewed]
    if not truth and not extents and not complete:
        raise EvaluationError(f"{project.root}: no labels or reviewed extents to evaluate against")

    # without `complete`, only recordings with truth are scored (evaluate leaves the others out):
    # an archive's report reads the detections of its labelled recordings, not of all of them
    with_truth = {x.recording_id for x in labels} | {e.recording_id for e in reviewed}
    needed = scored if complete else [r for r in scored if r in with_truth]

    def chunks() -> Iterator[list[Annotation]]:  # one recording's detections at a time
        for rid in needed:
            yield [Annotation(recording=recs[rid].path, t_min=d.t_min, t_max=d.t_max, f_min=d.f_min, f_max=d.f_max,
                              label=names[d.class_id], score=d.score) for d in project.detections(model.id, rid)]

    detected = {names[c] for c, n in project.detection_totals(model.id).items() if n}
    preds = PredictionStream({recs[r].path for r in scored}, detected, chunks)
    card = model.model_card
    classes = card.classes if card else sorted(detected)
    return evaluate(truth, preds, segment_s=segment_s, threshold=threshold, complete=complete, extents=extents,
                    durations={r.path: r.duration for r in recs.values() if r.id in keep}, classes=classes,
                    truth_source=f"{project.root} (labels{', validation recordings' if validation_only else ''})",
                    pred_source=f"model version {model.name!r}")
