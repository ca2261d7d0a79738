"""The review queue: which detections to look at next, and in what order (Qt-free).

Orders: by score (highest first), by uncertainty (nearest the threshold first: active learning
in its simplest form), by time (recording by recording, each from its start), or stratified (round-robin over five score bins, shuffled within each,
so a short session still sees the whole score range and gives calibrated precision estimates).
A detection is reviewed once a label points at it (`Label.detection_id`).

A project may hold millions of detections, so the queue is never built in memory: a
`ReviewQueue` reads it from SQL a page at a time, each page continuing after the last row of the
one before (keyset paging over the indexes of schema migration 3). Ties go by recording, then
time, then id.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from birdlab.core.model import Box, Detection, Label, Polarity
from birdlab.core.store.project import Project, detection_from_row

ORDERS = ("score", "uncertainty", "stratified", "time")
RANKED = "ranked"  # an order computed elsewhere (from embeddings): QueueSpec.ranked holds the ids
STRATA = 5
# the stratified order's bin and shuffle: exactly the expressions of the index `detections_stratified`
# (core/store/schema.py, migration 3), so that SQLite reads each bin in shuffled order straight from it
STRATUM_SQL = "min(4, CAST(score * 5 AS INTEGER))"
SHUFFLE_SQL = "(id * 2654435761) % 4294967291"  # a prime modulus: one-to-one on ids below it
TIE = ("recording_id", "t_min", "id")  # ascending, after the order's own key


@dataclass(frozen=True)
class ReviewFilter:
    class_id: int | None = None
    min_score: float = 0.0
    max_score: float = 1.0
    recording_id: int | None = None
    unreviewed_only: bool = True


@dataclass(frozen=True)
class QueueSpec:
    """Everything that decides a queue's rows and their order; a new spec means a new queue."""

    model_id: int
    filter: ReviewFilter = field(default_factory=ReviewFilter)
    order: str = "score"
    threshold: float = 0.5
    ranked: tuple[int, ...] = ()  # with order RANKED: detection ids in the order to review them

    def __post_init__(self) -> None:
        if self.order not in ORDERS and self.order != RANKED:
            raise ValueError(f"unknown review order {self.order!r} (use {', '.join(ORDERS)})")


def reviewed_ids(labels: list[Label]) -> dict[int, str]:
    """{detection id: polarity of the (latest) label made from it}."""
    out: dict[int, str] = {}
    for label in sorted(labels, key=lambda lab: lab.modified):
        if label.detection_id is not None:
            out[label.detection_id] = label.polarity.value
    return out


class ReviewQueue:
    """The detections of one `QueueSpec`, in order, read lazily: `take(n)` gives the next n."""

    def __init__(self, project: Project, spec: QueueSpec, page: int = 200):
        self.project, self.spec, self.page = project, spec, page
        self.exhausted = False
        self._rows = self._ordered()

    def take(self, n: int) -> list[Detection]:
        """The next `n` detections (fewer at the end, which sets `exhausted`)."""
        out = list(itertools.islice(self._rows, n))
        if len(out) < n:
            self.exhausted = True
        return out

    # ---- SQL --------------------------------------------------------------------------------
    # Each page continues after the last row read with one lower and one upper bound on the
    # ordering key, so SQLite seeks straight to it in the index: a deep page costs what the
    # first one does.

    def _where(self) -> tuple[list[str], list]:
        """The filter's conditions but the score range (each stream bounds the score itself)."""
        f = self.spec.filter
        sql, params = ["model_version_id = ?"], [self.spec.model_id]
        if f.class_id is not None:
            sql.append("class_id = ?")
            params.append(f.class_id)
        if f.recording_id is not None:
            sql.append("recording_id = ?")
            params.append(f.recording_id)
        if f.unreviewed_only:
            sql.append("NOT EXISTS (SELECT 1 FROM labels WHERE labels.detection_id = detections.id)")
        return sql, params

    def _index(self, stratified: bool, by_time: bool = False) -> str:
        """The index that reads the queue in order: SQLite's planner would otherwise pick the score
        range and sort every row in it. A one-recording queue is small: the planner's choice."""
        if self.spec.filter.recording_id is not None:
            return ""
        if by_time:
            return "INDEXED BY detections_by_recording"
        if stratified:
            return "INDEXED BY detections_stratified"
        return "INDEXED BY " + ("detections_by_class_score" if self.spec.filter.class_id is not None
                                else "detections_by_score")

    def _pages(self, conditions, order: str, stratified: bool, by_time: bool = False) -> Iterator[Detection]:
        """Pages of rows in `order`; `conditions(last row or None)` gives each page's WHERE terms.
        A stratum's page is a fifth of the queue's: the round robin takes one row from each in
        turn (and a class filter makes the stratified index skip the other classes' rows)."""
        index = self._index(stratified, by_time)
        size = max(1, self.page // STRATA) if stratified else self.page
        base, params = self._where()
        last = None
        while True:
            extra, args = conditions(last)
            rows = self.project.select(f"SELECT *, {SHUFFLE_SQL} AS shuffle FROM detections {index} WHERE "
                                       f"{' AND '.join(base + extra)} ORDER BY {order} LIMIT {int(size)}",
                                       params + args)
            for row in rows:
                yield detection_from_row(row)
            if len(rows) < size:
                return
            last = rows[-1]

    def _by_score(self, lo: float, hi: float, hi_open: bool, descending: bool) -> Iterator[Detection]:
        """Detections with lo <= score <= hi (< hi when `hi_open`), by score, ties by TIE."""
        def conditions(last) -> tuple[list[str], list]:
            low, high, open_ = lo, hi, hi_open
            extra, args = [], []
            if last is not None:
                if descending:
                    high, open_ = last["score"], False
                else:
                    low = last["score"]
                extra.append(f"(score {'<' if descending else '>'} ? OR (recording_id, t_min, id) > (?, ?, ?))")
                args += [last["score"], last["recording_id"], last["t_min"], last["id"]]
            return ["score >= ?", f"score {'<' if open_ else '<='} ?", *extra], [low, high, *args]

        tie = ", ".join(f"{c} ASC" for c in TIE)
        return self._pages(conditions, f"score {'DESC' if descending else 'ASC'}, {tie}", stratified=False)

    def _stratum(self, stratum: int) -> Iterator[Detection]:
        """One score bin in its fixed shuffled order (the shuffle is one-to-one on ids: no ties)."""
        f = self.spec.filter

        def conditions(last) -> tuple[list[str], list]:
            extra = [f"{STRATUM_SQL} = ?", "score >= ?", "score <= ?"]
            args = [stratum, f.min_score, f.max_score]
            if last is not None:
                extra.append(f"{SHUFFLE_SQL} > ?")
                args.append(last["shuffle"])
            return extra, args

        return self._pages(conditions, SHUFFLE_SQL, stratified=True)

    def _by_time(self) -> Iterator[Detection]:
        """Recording by recording (the project's order), each in time: a session through the files."""
        f = self.spec.filter

        def conditions(last) -> tuple[list[str], list]:
            extra, args = ["score >= ?", "score <= ?"], [f.min_score, f.max_score]
            if last is not None:
                extra.append("(recording_id, t_min, id) > (?, ?, ?)")
                args += [last["recording_id"], last["t_min"], last["id"]]
            return extra, args

        return self._pages(conditions, ", ".join(f"{c} ASC" for c in TIE), stratified=False, by_time=True)

    def _ranked(self) -> Iterator[Detection]:
        """The spec's ids in their order, a page at a time, through the filter (a detection deleted
        or reviewed since the ranking was made drops out)."""
        f = self.spec.filter
        base, params = self._where()
        ids = self.spec.ranked
        for start in range(0, len(ids), self.page):
            page = ids[start:start + self.page]
            rows = self.project.select(
                f"SELECT * FROM detections WHERE id IN ({', '.join('?' * len(page))}) AND score >= ? AND score <= ?"
                f" AND {' AND '.join(base)}", [*page, f.min_score, f.max_score, *params])
            found = {row["id"]: row for row in rows}
            for det_id in page:
                if det_id in found:
                    yield detection_from_row(found[det_id])

    def _ordered(self) -> Iterator[Detection]:
        order, threshold, f = self.spec.order, self.spec.threshold, self.spec.filter
        if order == RANKED:
            return self._ranked()
        if order == "time":
            return self._by_time()
        if order == "score":
            return self._by_score(f.min_score, f.max_score, False, descending=True)
        if order == "uncertainty":  # two index walks away from the threshold, merged by distance
            up = self._by_score(max(f.min_score, threshold), f.max_score, False, descending=False)
            below = (f.max_score, False) if f.max_score < threshold else (threshold, True)
            down = self._by_score(f.min_score, *below, descending=True)
            return heapq.merge(up, down, key=lambda d: (abs(d.score - threshold), d.recording_id, d.t_min, d.id))
        # only the bins the score filter reaches (an empty bin would be read through for nothing)
        return _round_robin([self._stratum(s) for s in range(STRATA - 1, -1, -1)
                             if f.min_score < (s + 1) / STRATA + (s == STRATA - 1) and f.max_score >= s / STRATA])


def _round_robin(streams: list[Iterator[Detection]]) -> Iterator[Detection]:
    """One from each stream in turn (the highest score bin first), skipping emptied ones."""
    live = list(streams)
    while live:
        for stream in list(live):
            item = next(stream, None)
            if item is None:
                live.remove(stream)
            else:
                yield item


def progress(project: Project, model_id: int) -> dict[int | None, tuple[int, int]]:
    """{class id: (reviewed, total)} plus the overall figure under the key None, from the kept
    detection counts and the review labels (no detection list is read)."""
    totals, reviewed = project.detection_totals(model_id), project.reviewed_counts(model_id)
    out: dict[int | None, tuple[int, int]] = {c: (reviewed.get(c, 0), n) for c, n in totals.items() if n}
    out[None] = (sum(r for r, _ in out.values()), sum(n for _, n in out.values()))
    return out


# ---- decisions ---------------------------------------------------------------------------
# What a review key writes, kept here so that the rule has one home and tests without Qt:
# a decision is a label on the detection's own box (its time and band), with source `review`
# and the detection's id, so the detection counts as reviewed.


@dataclass(frozen=True)
class DecisionLabel:
    """One label a review decision writes."""

    recording_id: int
    class_id: int
    box: Box
    polarity: Polarity
    detection_id: int


def decision_labels(det: Detection, polarity: Polarity) -> list[DecisionLabel]:
    """Accept (positive), reject (negative) or uncertain: one label of the detected class."""
    return [DecisionLabel(det.recording_id, det.class_id, det.box, polarity, det.id)]


def relabel_labels(det: Detection, class_id: int) -> list[DecisionLabel]:
    """Not the detected class but `class_id`: a negative for the detected class and a positive for
    the other (nothing when they are the same class)."""
    if class_id == det.class_id:
        return []
    return [DecisionLabel(det.recording_id, det.class_id, det.box, Polarity.NEGATIVE, det.id),
            DecisionLabel(det.recording_id, class_id, det.box, Polarity.POSITIVE, det.id)]


def context_range(det: Detection, min_span_s: float = 4.0) -> tuple[float, float]:
    """The time range that shows a detection with some context: three times its length, at least
    `min_span_s`, centred on it."""
    span = max(min_span_s, 3 * (det.t_max - det.t_min))
    centre = (det.t_min + det.t_max) / 2
    return centre - span / 2, centre + span / 2
