"""The evaluation's results: per-class numbers and the whole report, with their CSV, JSON and
table forms (`birdlab evaluate --out/--json`, the report panel). The computation is
`core/ml/evaluate.py`; the tables it reads are `core/ml/eval_tables.py`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from birdlab.core.atomic import atomic_write_text

SUMMARY_CLASS = "(all classes)"
CSV_HEADER = ("class", "n_pos", "n_neg", "ap", "precision", "recall", "f1", "tp", "fp", "fn", "lwlrap")


class EvaluationError(Exception):
    """Input that cannot be evaluated; the message names the file (and row) and the reason."""


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
