"""Per-class evaluation of a model's detections against truth (`birdlab evaluate`, the report panel).

Why fixed segments: labels and detections are boxes of any length, and each format draws them
differently. Cutting every recording into fixed segments (default 5 s) turns both into the
`[segments, classes]` matrices that `birdlab.core.metrics` scores, with the mask of DESIGN.md
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

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from birdlab.core.atomic import atomic_write_text
from birdlab.core.formats import format_names, get_format
from birdlab.core.formats import guess_format as guess_table_format
from birdlab.core.formats.common import (Annotation, TableError, recording_name, table_stem)
from birdlab.core.metrics import cmap as class_mean_ap
from birdlab.core.metrics import lwlrap as label_weighted_lrap
from birdlab.core.metrics import per_class_ap
from birdlab.core.model import ModelVersion, Polarity
from birdlab.core.project import Project

EPS = 1e-6  # seconds: boxes that only touch a segment's edge do not overlap it
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".w64", ".rf64")
SUMMARY_CLASS = "(all classes)"
CSV_HEADER = ("class", "n_pos", "n_neg", "ap", "precision", "recall", "f1", "tp", "fp", "fn", "lwlrap")

SEGMENT_RANGE = (0.1, 3600.0)  # seconds; shorter cuts an hour into tens of millions of segments


class EvaluationError(Exception):
    """Input that cannot be evaluated; the message names the file (and row) and the reason."""


# ---- results ----------------------------------------------------------------------------------


class _AtThreshold:
    """Precision, recall and F1 from tp / fp / fn (per class, or micro-averaged in a report)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)


@dataclass
class ClassResult(_AtThreshold):
    """One class: counts, AP, the numbers at the threshold, its PR curve and score histograms."""

    name: str
    n_pos: int  # positive segments (unmasked)
    n_neg: int  # negative segments (unmasked)
    ap: float  # NaN without positives
    tp: int
    fp: int
    fn: int
    pr_thresholds: np.ndarray  # distinct scores, descending
    pr_precision: np.ndarray  # precision when predicting >= each threshold
    pr_recall: np.ndarray
    hist_pos: np.ndarray  # counts of positive segments' scores per bin (EvaluationReport.hist_edges)
    hist_neg: np.ndarray



@dataclass
class EvaluationReport(_AtThreshold):
    """Everything `birdlab evaluate` prints and the report panel shows."""

    classes: list[ClassResult]
    cmap: float
    lwlrap: float
    threshold: float
    segment_s: float
    complete: bool
    hist_edges: np.ndarray
    n_recordings: int
    n_segments: int
    truth_source: str = ""
    pred_source: str = ""
    unmatched_predictions: list[str] = field(default_factory=list)  # recordings with detections, no truth
    ignored_truth_classes: list[str] = field(default_factory=list)  # truth classes the model does not have

    def result(self, name: str) -> ClassResult:
        for item in self.classes:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def tp(self) -> int:
        return sum(c.tp for c in self.classes)

    @property
    def fp(self) -> int:
        return sum(c.fp for c in self.classes)

    @property
    def fn(self) -> int:
        return sum(c.fn for c in self.classes)

    def rows(self) -> list[dict[str, object]]:
        """The table: one row per class, then the summary (cmAP in `ap`, micro P/R/F1, LWLRAP)."""
        out: list[dict[str, object]] = [
            {"class": c.name, "n_pos": c.n_pos, "n_neg": c.n_neg, "ap": c.ap, "precision": c.precision,
             "recall": c.recall, "f1": c.f1, "tp": c.tp, "fp": c.fp, "fn": c.fn, "lwlrap": math.nan}
            for c in self.classes]
        out.append({"class": SUMMARY_CLASS, "n_pos": sum(c.n_pos for c in self.classes),
                    "n_neg": sum(c.n_neg for c in self.classes), "ap": self.cmap, "precision": self.precision,
                    "recall": self.recall, "f1": self.f1, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                    "lwlrap": self.lwlrap})
        return out

    def csv_text(self) -> str:
        lines = [",".join(CSV_HEADER)]
        for row in self.rows():
            lines.append(",".join(_csv_cell(row[k]) for k in CSV_HEADER))
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | Path) -> Path:
        """Write the table (atomically); NaN (undefined) cells are empty."""
        atomic_write_text(path, self.csv_text())
        return Path(path)

    def to_dict(self) -> dict:
        return {
            "cmap": _num(self.cmap), "lwlrap": _num(self.lwlrap), "threshold": self.threshold,
            "segment_s": self.segment_s, "complete": self.complete, "n_recordings": self.n_recordings,
            "n_segments": self.n_segments, "truth_source": self.truth_source, "pred_source": self.pred_source,
            "precision": _num(self.precision), "recall": _num(self.recall), "f1": _num(self.f1),
            "hist_edges": [float(x) for x in self.hist_edges],
            "unmatched_predictions": list(self.unmatched_predictions),
            "ignored_truth_classes": list(self.ignored_truth_classes),
            "classes": [{
                "name": c.name, "n_pos": c.n_pos, "n_neg": c.n_neg, "ap": _num(c.ap), "tp": c.tp, "fp": c.fp,
                "fn": c.fn, "precision": _num(c.precision), "recall": _num(c.recall), "f1": _num(c.f1),
                "pr": {"thresholds": c.pr_thresholds.tolist(), "precision": c.pr_precision.tolist(),
                       "recall": c.pr_recall.tolist()},
                "hist_pos": c.hist_pos.tolist(), "hist_neg": c.hist_neg.tolist()} for c in self.classes],
        }

    def to_json(self, indent: int | None = 1) -> str:
        """JSON text (undefined numbers as null); `from_dict(json.loads(...))` reads it back."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "EvaluationReport":
        classes = [ClassResult(
            name=c["name"], n_pos=int(c["n_pos"]), n_neg=int(c["n_neg"]), ap=_unnum(c["ap"]), tp=int(c["tp"]),
            fp=int(c["fp"]), fn=int(c["fn"]), pr_thresholds=np.asarray(c["pr"]["thresholds"], dtype=float),
            pr_precision=np.asarray(c["pr"]["precision"], dtype=float),
            pr_recall=np.asarray(c["pr"]["recall"], dtype=float),
            hist_pos=np.asarray(c["hist_pos"], dtype=np.int64), hist_neg=np.asarray(c["hist_neg"], dtype=np.int64))
            for c in data["classes"]]
        return cls(classes=classes, cmap=_unnum(data["cmap"]), lwlrap=_unnum(data["lwlrap"]),
                   threshold=float(data["threshold"]), segment_s=float(data["segment_s"]),
                   complete=bool(data["complete"]), hist_edges=np.asarray(data["hist_edges"], dtype=float),
                   n_recordings=int(data["n_recordings"]), n_segments=int(data["n_segments"]),
                   truth_source=data.get("truth_source", ""), pred_source=data.get("pred_source", ""),
                   unmatched_predictions=list(data.get("unmatched_predictions", [])),
                   ignored_truth_classes=list(data.get("ignored_truth_classes", [])))

    def no_negative_classes(self) -> list[str]:
        """Classes with positives but no negative segment: their AP would be 1.0 whatever the
        model does (nothing can rank above a positive), so it is reported as n/a."""
        return [c.name for c in self.classes if c.n_pos and not c.n_neg]

    def format_table(self) -> str:
        """The per-class table and the summary as plain text (the command's output)."""
        width = max([len("class"), len(SUMMARY_CLASS)] + [len(c.name) for c in self.classes])
        head = f"{'class':<{width}}  {'n_pos':>6}  {'n_neg':>6}  {'AP':>6}  {'P':>6}  {'R':>6}  {'F1':>6}"
        lines = [head, "-" * len(head)]
        for row in self.rows():
            if row["class"] == SUMMARY_CLASS:
                lines.append("-" * len(head))
            ap = "n/a" if row["n_pos"] and not row["n_neg"] else _fmt(row["ap"])
            lines.append(f"{row['class']:<{width}}  {row['n_pos']:>6}  {row['n_neg']:>6}  {ap:>6}  "
                         f"{_fmt(row['precision']):>6}  {_fmt(row['recall']):>6}  {_fmt(row['f1']):>6}")
        lines.append(f"cmAP {_fmt(self.cmap)}  LWLRAP {_fmt(self.lwlrap)}  (AP of the summary row is cmAP; "
                     f"P/R/F1 at score >= {self.threshold:g}, micro-averaged; {self.segment_s:g} s segments, "
                     f"{self.n_segments} in {self.n_recordings} recording(s)"
                     f"{', truth complete' if self.complete else ', unlabelled audio masked'})")
        return "\n".join(lines)


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _unnum(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _fmt(value: object) -> str:
    return "-" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{value:.3f}"


def _csv_cell(value: object) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n\r') else text


# ---- the computation --------------------------------------------------------------------------


@dataclass(frozen=True)
class CompleteExtent:
    """A time range of a recording whose unlabelled audio is negative for `classes` (None: all)."""

    recording: str
    t_min: float
    t_max: float
    classes: frozenset[str] | None = None


def pr_curve(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, precision, recall) with tied scores taken as one step, as in
    `birdlab.core.metrics.average_precision` (so `sum(diff([0, recall]) * precision)` is its AP).
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


def evaluate(truth: Sequence[Annotation], predictions: Sequence[Annotation], *, segment_s: float = 5.0,
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
    truth, preds = list(truth), list(predictions)
    for a in preds:
        if a.score is None or not math.isfinite(a.score):
            raise EvaluationError(_where(a) + "detection has no score")
    if classes is None:
        names = sorted({a.label for a in truth if a.polarity != Polarity.UNCERTAIN} | {a.label for a in preds})
    else:
        names = list(dict.fromkeys(classes))
    index = {name: i for i, name in enumerate(names)}
    ignored = sorted({a.label for a in truth if a.label not in index and a.polarity != Polarity.UNCERTAIN})

    truth_recs = {a.recording for a in truth} | {e.recording for e in extents}
    pred_recs = {a.recording for a in preds}
    recordings = sorted(truth_recs | pred_recs) if complete else sorted(truth_recs)
    unmatched = sorted(pred_recs - truth_recs)
    ends = {r: durations.get(r, 0.0) for r in recordings}
    for a in [*truth, *preds]:
        if a.recording in ends and a.recording not in durations:
            ends[a.recording] = max(ends[a.recording], a.t_max)
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
                raise EvaluationError(_where(a) + f"box starts at {a.t_min:g} s, after the end of the "
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
    seg, cls, values = boxes(preds)
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


def _where(a: Annotation) -> str:
    if a.file:
        return f"{a.file}:{a.line}: " if a.line else f"{a.file}: "
    return f"{a.recording}: " if a.recording else ""


# ---- files ------------------------------------------------------------------------------------


def recording_key(a: Annotation) -> str:
    """How files name a recording for matching: the file stem, without directory or audio extension.

    A table for one recording (`Annotation.recording` empty) is named by its own file name.
    """
    name = recording_name(a.recording) if a.recording else table_stem(a.file)
    return name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in AUDIO_SUFFIXES else name


def _check_keys(items: Sequence[Annotation], what: str) -> None:
    """Refuse two different recordings that would share a key (a/rec.wav and b/rec.wav)."""
    seen: dict[str, tuple[str, Annotation]] = {}
    for a in items:
        full = a.recording.replace("\\", "/")
        key = recording_key(a)
        if not a.recording or full == key:
            continue  # a bare stem: matches whichever file has it
        other = seen.setdefault(key, (full, a))
        if other[0] != full and (recording_name(other[0]) != recording_name(full)
                                 or ("/" in other[0] and "/" in full)):
            raise EvaluationError(
                f"{_where(a)}{what} name two different recordings with the stem {key!r}: {other[0]!r} "
                f"({_where(other[1]).rstrip(': ')}) and {full!r}; recordings are matched by stem")


def _some(names: Iterable[str], n: int = 3) -> str:
    names = sorted(names)
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def guess_format(path: str | Path) -> str:
    """The format of a truth or detection table from its name and header (the formats' own
    sniffers); EvaluationError if none recognises it."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: file not found")
    try:
        name = guess_table_format(path)
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if name is None:
        raise EvaluationError(f"{path}: cannot tell the table's format from its header; name it "
                              f"({', '.join(format_names())})")
    return name


def read_tables(paths: Sequence[str | Path], fmt: str | None, *, predictions: bool,
                default_label: str | None = None) -> list[Annotation]:
    """Annotations of every table (format given or guessed per file), recordings named as written;
    `default_label` is the class of rows that name none.

    EvaluationError listing every bad row of every file (file:line: reason).
    """
    what = "prediction" if predictions else "truth"
    out: list[Annotation] = []
    errors: list[str] = []
    for path in paths:
        path = Path(path)
        try:
            if not path.is_file():
                raise EvaluationError(f"{path}: {what} file not found")
            name = (fmt or guess_format(path)).strip().lower()
            try:
                module = get_format(name)
            except ValueError as exc:
                raise EvaluationError(str(exc)) from None
            rows = module.read(path, default_label=default_label)
        except TableError as exc:
            errors += [str(e) for e in exc.errors]
            continue
        except EvaluationError as exc:
            errors.append(str(exc))
            continue
        for a in rows:
            if not a.file:
                a.file = str(path)
        unscored = [a for a in rows if a.score is None] if predictions else []
        if unscored and len(unscored) == len(rows):
            errors.append(f"{path}:1: missing column 'score' (a {what} table needs a score for every detection)")
        else:
            errors += [f"{_where(a)}detection has no score (a {what} table needs a score column)" for a in unscored]
        out += rows
    if errors:
        shown = "\n".join(errors[:50]) + (f"\n... and {len(errors) - 50} more" if len(errors) > 50 else "")
        raise EvaluationError(f"{len(errors)} problem(s) in the {what} table(s):\n{shown}")
    _check_keys(out, f"{what} tables")
    return out


def audio_durations(items: Iterable[Annotation]) -> dict[str, float]:
    """Durations (s) of the recordings whose tables name an audio file that exists (a detections
    CSV holds absolute paths), keyed as `recording_key`. Header reads only."""
    from birdlab.core.audio import AudioError, probe

    found: dict[str, float] = {}
    for a in items:
        key = recording_key(a)
        if key in found:
            continue
        if a.recording and Path(a.recording).is_file():
            try:
                found[key] = probe(a.recording).duration
            except AudioError:
                continue
    return found


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
                              f"file stem; truth: {_some(truth_keys)}; detections: {_some(pred_keys)})")
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
    from birdlab.core.jobs import JobError, read_job, split_recordings

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
    detections = [d for d in project.detections(model.id) if d.recording_id in keep]
    if not detections:
        raise EvaluationError(f"{project.root}: model version {model.name!r} has no detections"
                              + (" on its validation recordings" if validation_only else "")
                              + " (score the recordings first)")
    truth = [Annotation(recording=recs[x.recording_id].path, t_min=x.t_min, t_max=x.t_max, f_min=x.f_min,
                        f_max=x.f_max, label=names[x.class_id], polarity=Polarity(x.polarity))
             for x in project.labels() if x.recording_id in keep]
    extents = [CompleteExtent(recs[e.recording_id].path, e.t_min, e.t_max,
                              frozenset(names[c] for c in e.class_ids))
               for e in project.extents() if e.recording_id in keep]
    if not truth and not extents and not complete:
        raise EvaluationError(f"{project.root}: no labels or reviewed extents to evaluate against")
    preds = [Annotation(recording=recs[d.recording_id].path, t_min=d.t_min, t_max=d.t_max, f_min=d.f_min,
                        f_max=d.f_max, label=names[d.class_id], score=d.score) for d in detections]
    card = model.model_card
    classes = card.classes if card else sorted({a.label for a in preds})
    return evaluate(truth, preds, segment_s=segment_s, threshold=threshold, complete=complete, extents=extents,
                    durations={r.path: r.duration for r in recs.values() if r.id in keep}, classes=classes,
                    truth_source=f"{project.root} (labels{', validation recordings' if validation_only else ''})",
                    pred_source=f"model version {model.name!r}")
