"""birdlab's own table: the detections CSV of `birdlab score`, or truth with a polarity column.

    file,t_min,t_max[,f_min,f_max],class[,score][,polarity][,note,tags]

`recording` may replace `file`, `label` may replace `class`. Without a polarity column every
row is positive (the `polarity` argument, when given, applies instead); without a class column
every row takes `default_label`. Frequencies are optional (empty: the full band). A label's
`note` and `tags` (one cell, `;` between tags) are written when any label has them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from birdlab.core.atomic import atomic_open
from birdlab.core.formats.common import (Annotation, RecordingRef, RowError, TableError, box_problems, norm_header,
                                         parse_float, read_text_table, row_polarity, rows_error)
from birdlab.core.model import Polarity, parse_tags, tags_text

NAME = "csv"
DETECTIONS = False  # labels, or detections when a score column is there (evaluate reads those)
EXTENSIONS = (".csv",)
SNIFF_PRIORITY = 90  # last: the most generic header
EXPORT_FILE_SUFFIXES = None  # always one file
KEEPS = ("note", "tags")  # what of a label beyond box, class and polarity it writes


def sniff(path: Path, first_line: str) -> bool:
    cells = {norm_header(c.strip('"')) for c in first_line.split(",")}
    return {"t_min", "t_max"} <= cells and bool(cells & {"class", "label", "file", "recording", "recording_id"})



def read(path: Path, *, default_label: str | None = None, polarity: Polarity | None = None) -> list[Annotation]:
    """Rows of the table; TableError listing every bad row."""
    table = read_text_table(path, ",")
    rec_col = table.first_of("file", "recording", "recording_id")
    cls_col = table.first_of("class", "label")
    errors = list(table.errors)
    errors += table.missing(*(["file"] if rec_col is None else []), "t_min", "t_max")
    if cls_col is None and not default_label:
        errors.append(RowError(table.file, table.header_line, "no 'class' (or 'label') column; give the class of "
                                                              "every row with --label CLASS"))
    if errors and any(e.line == table.header_line for e in errors):
        raise TableError(errors)
    has_polarity = table.has("polarity")
    out: list[Annotation] = []
    for line, row in table.rows:
        problems: list[str] = []
        values: dict[str, float | None] = {}
        for col in ("t_min", "t_max", "f_min", "f_max", "score"):
            if col in ("t_min", "t_max") or row.get(col, ""):
                try:
                    values[col] = parse_float(row[col], col)
                except ValueError as exc:
                    problems.append(str(exc))
        t_min, t_max = values.get("t_min"), values.get("t_max")
        if t_min is not None and t_max is not None:
            problems += box_problems(t_min, t_max, values.get("f_min"), values.get("f_max"))
        pol = row_polarity(row["polarity"] if has_polarity else "", polarity, problems)
        if not row[rec_col]:
            problems.append(f"column {table.original(rec_col)!r} is empty")
        label = (row[cls_col] if cls_col else "") or default_label or ""
        if not label:
            problems.append(f"column {table.original(cls_col)!r} is empty (or give a default class: --label)")
        if problems:
            errors.append(RowError(table.file, line, "; ".join(problems)))
            continue
        out.append(Annotation(recording=row[rec_col], t_min=float(t_min), t_max=float(t_max),  # type: ignore[arg-type]
                              f_min=values.get("f_min"), f_max=values.get("f_max"), label=label, polarity=pol,
                              score=values.get("score"), file=table.file, line=line,
                              note=row.get("note", ""), tags=parse_tags(row.get("tags", ""))))
    if errors:
        raise rows_error(errors, out)
    return out


def write(annotations: list[Annotation], out: Path, recordings: dict[str, RecordingRef] | None = None) -> list[Path]:
    """One CSV with every annotation (a score column when any has a score), atomically."""
    return [write_stream(annotations, Path(out), with_score=any(a.score is not None for a in annotations),
                         with_notes=any(a.note or a.tags for a in annotations))]


def write_stream(annotations: Iterable[Annotation], out: Path, with_score: bool, with_notes: bool = False) -> Path:
    """The same CSV from an iterable (a generator over millions of detections), row by row."""
    with atomic_open(out, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "t_min", "t_max", "f_min", "f_max", "class", *(["score"] if with_score else []),
                         "polarity", *(["note", "tags"] if with_notes else [])])
        for a in annotations:
            writer.writerow([a.recording, f"{a.t_min:.6f}", f"{a.t_max:.6f}",
                             "" if a.f_min is None else f"{a.f_min:.3f}", "" if a.f_max is None else f"{a.f_max:.3f}",
                             a.label, *([("" if a.score is None else f"{a.score:.6g}")] if with_score else []),
                             Polarity(a.polarity).value, *([a.note, tags_text(a.tags)] if with_notes else [])])
    return Path(out)
