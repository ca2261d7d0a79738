"""Every label of a project, filtered and sorted in SQL and read a page at a time: the labels
browser of a project with a million labels never holds them all (Qt-free).

The filter is words: a label is shown when every word is found (case-insensitively, as a part)
in its class, recording path, polarity, source, author, note or tags. A sort is one column,
with the label id breaking ties so pages never overlap or skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from birdlab.core.model import Label
from birdlab.core.store.project import Project, label_from_row

# sort column -> SQL ordering (ascending); "recording" is the recording's path as stored (folder
# first), then the time in it
SORTS: dict[str, str] = {
    "recording": "r.path, l.t_min", "start (s)": "l.t_min", "end (s)": "l.t_max",
    "low (Hz)": "l.f_min", "high (Hz)": "l.f_max", "class": "c.name", "polarity": "l.polarity",
    "source": "l.source", "author": "l.author", "note": "l.note", "tags": "l.tags",
    "duration (s)": "l.t_max - l.t_min", "band (Hz)": "l.f_max - l.f_min",
}
# what a filter word is looked for in: the label's own text columns, and its class and recording
# through the ids whose name or path matches (a small table searched once, not a join per label)
OWN_TEXT = ("l.polarity", "l.source", "l.author", "l.note", "l.tags")
LIKE = "LIKE ? ESCAPE '\\'"


@dataclass(frozen=True)
class LabelQuery:
    text: str = ""
    sort: str = "recording"
    descending: bool = False


@dataclass(frozen=True)
class LabelRow:
    label: Label
    recording_path: str  # as the project stores it: relative to the project folder when inside it
    class_name: str


def _where(text: str) -> tuple[str, list[str]]:
    words = text.split()
    if not words:
        return "", []
    match = ("(l.class_id IN (SELECT id FROM classes WHERE name " + LIKE + ")"
             " OR l.recording_id IN (SELECT id FROM recordings WHERE path " + LIKE + ")"
             + "".join(f" OR {column} {LIKE}" for column in OWN_TEXT) + ")")
    params: list[str] = []
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern] * (2 + len(OWN_TEXT))
    return " WHERE " + " AND ".join([match] * len(words)), params


def _order(query: LabelQuery) -> str:
    """The sort, then the id ascending whatever the direction: a stable order for paging that
    keeps SQLite's top-N sorter from reshuffling at every row of a column full of ties."""
    if query.sort not in SORTS:
        raise ValueError(f"cannot sort labels by {query.sort!r} (one of {', '.join(SORTS)})")
    direction = " DESC" if query.descending else ""
    return " ORDER BY " + ", ".join(f"{part}{direction}" for part in SORTS[query.sort].split(", ")) + ", l.id"


def count_labels(project: Project, query: LabelQuery) -> int:
    where, params = _where(query.text)
    return project.select(f"SELECT COUNT(*) FROM labels l{where}", params)[0][0]


def label_page(project: Project, query: LabelQuery, offset: int, limit: int) -> list[LabelRow]:
    """Rows offset .. offset + limit of the filtered, sorted labels: their ids sorted first (the
    sorter carries an id, not a whole row), then those rows read by id."""
    where, params = _where(query.text)
    join = {"class": " JOIN classes c ON c.id = l.class_id",
            "recording": " JOIN recordings r ON r.id = l.recording_id"}.get(query.sort, "")
    ids = [r[0] for r in project.select(f"SELECT l.id FROM labels l{join}{where}{_order(query)} LIMIT ? OFFSET ?",
                                        [*params, limit, offset])]
    if not ids:
        return []
    rows = project.select("SELECT l.*, r.path AS recording_path, c.name AS class_name FROM labels l"
                          " JOIN classes c ON c.id = l.class_id JOIN recordings r ON r.id = l.recording_id"
                          f" WHERE l.id IN ({','.join('?' * len(ids))})", ids)
    by_id = {r["id"]: r for r in rows}
    return [LabelRow(label_from_row(r), os.fsdecode(r["recording_path"]), r["class_name"])
            for r in (by_id[i] for i in ids)]
