"""Raven Pro selection tables (tab-separated `.txt`).

Reading
- Required columns: `Begin Time (s)`, `End Time (s)`. Header names match case-insensitively.
- Frequencies from `Low Freq (Hz)` / `High Freq (Hz)`, or `Low Freq (kHz)` / `High Freq (kHz)`
  (times 1000). No frequency columns, empty cells, or 0 and 0 (Raven's waveform rows) mean the
  full band (None).
- Raven writes one row per view: a selection seen in `Waveform 1` and `Spectrogram 1` has two
  rows with the same `Selection` number. They are one box; its frequencies come from the
  spectrogram row (waveform rows carry 0 or nothing).
- The label comes from the first of these columns the table has (preferring one that is not
  empty everywhere): `Annotation`, `Species`, `Class`, `Label`, `Common Name`, `Species Code`;
  an empty cell takes `default_label`.
- Tables over several files (Raven's file sequences, BirdNET's combined tables) have
  `Begin File` and/or `Begin Path` and `File Offset (s)`: `Begin Time (s)` then counts from
  the start of the first file, so the box is `File Offset` .. `File Offset + (End - Begin)`
  within its own file, and `Annotation.recording` is `Begin Path` (else `Begin File`). Without
  `File Offset (s)` the begin/end times are taken as they are.
- birdlab's own columns: `Polarity` (positive/negative/uncertain or tp/fp, +/-, ?) and `Score`
  or `Confidence` (-> `Annotation.score`). Rows without a polarity get `polarity` (the
  caller's default), else positive.
- A label's note from `Note` (or `Notes`, `Comment`, `Comments`, as Raven users name the
  column they add), its tags from `Tags` (`;` between tags).

Writing
- `out` ending in `.txt`: one table over all recordings, with `Begin File`, `Begin Path` and
  `File Offset (s)`; `Begin Time (s)` places each file after all the previous ones (in the
  order of `recordings`, using their durations, boxes or not), as Raven does for a file sequence.
- `write_table(annotations, path, ref)`: one recording's table at an exact path (the header
  alone when it has no boxes), for writers that name files themselves (the batch scorer).
- Otherwise `out` is a folder with one `<stem>.Table.1.selections.txt` per recording.
- One `Spectrogram 1` row per box; times with 6 decimals, Hz with 3; full band (None) is
  written as 0 .. sample_rate/2. Columns `Annotation` and `Polarity` always, `Score` when any
  annotation has a score, `Note` and `Tags` when any has one (tabs and line breaks in a note
  become spaces: Raven's cells hold one line), then any extra columns (measurements).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from birdlab.core.atomic import atomic_open, atomic_write_text
from birdlab.core.formats.common import (
    Annotation,
    RecordingRef,
    RowError,
    TableError,
    TextTable,
    box_problems,
    by_recording,
    clean_cell,
    full_band,
    norm_header,
    parse_float,
    read_text_table,
    row_polarity,
    rows_error,
    unique_names,
)
from birdlab.core.model import Polarity, parse_tags, tags_text

NAME = "raven"
DETECTIONS = False  # rows are labels (not a model's detections)
EXTENSIONS = (".txt",)
SNIFF_PRIORITY = 40
EXPORT_FILE_SUFFIXES = (".txt",)  # one multi-file table, else a folder of tables
KEEPS = ("note", "tags")  # what of a label beyond box, class and polarity it writes


def sniff(path: Path, first_line: str) -> bool:
    return "\t" in first_line and "begin time (s)" in {norm_header(c) for c in first_line.split("\t")}


LABEL_COLUMNS = ("Annotation", "Species", "Class", "Label", "Common Name", "Species Code")
SCORE_COLUMNS = ("Score", "Confidence")
NOTE_COLUMNS = ("Note", "Notes", "Comment", "Comments")

Row = dict[str, str]


def read(path: Path, *, default_label: str | None = None,
         polarity: Polarity | None = None) -> list[Annotation]:
    """Boxes of a Raven selection table; TableError listing every bad row."""
    table = read_text_table(path, "\t")
    label_col = pick_label_column(table, LABEL_COLUMNS)
    if label_col is None and not default_label:
        raise TableError(table.missing("Begin Time (s)", "End Time (s)") + [RowError(
            table.file, table.header_line,
            "no label column (one of " + ", ".join(repr(c) for c in LABEL_COLUMNS)
            + f") and no default label given (columns found: {', '.join(repr(h) for h in table.header)})")])
    return parse_selections(table, label_of=lambda row: row.get(label_col, "") if label_col else "",
                            label_what=f"column {table.original(label_col)!r}" if label_col else "label",
                            default_label=default_label, polarity=polarity)


def pick_label_column(table: TextTable, candidates: tuple[str, ...]) -> str | None:
    """The first candidate column that has a value somewhere, else the first present one."""
    present = [norm_header(c) for c in candidates if table.has(c)]
    for col in present:
        if any(row.get(col) for _, row in table.rows):
            return col
    return present[0] if present else None


def _is_waveform(row: Row) -> bool:
    return row.get("view", "").lower().startswith("waveform")


def parse_selections(table: TextTable, *, label_of: Callable[[Row], str], label_what: str,
                     default_label: str | None, polarity: Polarity | None,
                     required: tuple[str, ...] = (),
                     skip: Callable[[Row], bool] | None = None) -> list[Annotation]:
    """Annotations from the rows of a Raven-style selection table (shared with BirdNET's tables).

    `label_of(row)` gives the row's label text; `skip(row)` drops placeholder rows.
    """
    file = table.file
    header_errors = table.missing("Begin Time (s)", "End Time (s)", *required)
    if header_errors:
        raise TableError(header_errors)
    errors: list[RowError] = list(table.errors)

    if table.has("Low Freq (Hz)") or table.has("High Freq (Hz)"):
        low_col, high_col, f_scale, f_unit = "low freq (hz)", "high freq (hz)", 1.0, "Hz"
    elif table.has("Low Freq (kHz)") or table.has("High Freq (kHz)"):
        low_col, high_col, f_scale, f_unit = "low freq (khz)", "high freq (khz)", 1000.0, "kHz"
    else:
        low_col = high_col = None
        f_scale, f_unit = 1.0, "Hz"
    score_col = table.first_of(*SCORE_COLUMNS)
    note_col = table.first_of(*NOTE_COLUMNS)
    has_offset = table.has("File Offset (s)")

    # Group the view rows of one selection (same Selection number) into one box.
    groups: dict[str, list[tuple[int, Row]]] = {}
    for line, row in table.rows:
        if skip is not None and skip(row):
            continue
        sel = row.get("selection", "")
        groups.setdefault(f"sel:{sel}" if sel else f"line:{line}", []).append((line, row))

    out: list[Annotation] = []
    for rows in groups.values():
        line, row = next(((ln, r) for ln, r in rows if not _is_waveform(r)), rows[0])
        problems: list[str] = []
        clash = _clashing_views(rows, low_col, high_col)
        if clash:
            errors.append(RowError(file, line, clash))
            continue

        def number(col: str, what: str, scale: float = 1.0) -> float | None:
            try:
                return parse_float(row.get(col, ""), what) * scale
            except ValueError as exc:
                problems.append(str(exc))
                return None

        begin = number("begin time (s)", "Begin Time (s)")
        end = number("end time (s)", "End Time (s)")
        offset = None
        if has_offset and row.get("file offset (s)", ""):
            offset = number("file offset (s)", "File Offset (s)")

        f_min = f_max = None
        if low_col is not None:
            if row.get(low_col, ""):
                f_min = number(low_col, f"Low Freq ({f_unit})", f_scale)
            if row.get(high_col or "", ""):
                f_max = number(high_col or "", f"High Freq ({f_unit})", f_scale)
            if f_min == 0 and f_max == 0:
                f_min = f_max = None  # waveform rows and frequency-less tables: full band

        label = label_of(row).strip() or next((label_of(r).strip() for _, r in rows if label_of(r).strip()), "")
        if not label:
            if default_label:
                label = default_label
            else:
                problems.append(f"no label ({label_what} is empty) and no default label given")

        pol = row_polarity(row.get("polarity", ""), polarity, problems)

        score = None
        if score_col is not None and row.get(score_col, ""):
            try:
                score = parse_float(row.get(score_col, ""), score_col.title())
            except ValueError as exc:
                problems.append(str(exc))

        recording = row.get("begin path", "") or row.get("begin file", "")

        t_min = t_max = 0.0
        if begin is not None and end is not None:
            if offset is None:
                t_min, t_max = begin, end
                problems += box_problems(t_min, t_max, f_min, f_max)
            else:  # times within the file: File Offset .. File Offset + length
                t_min, t_max = offset, offset + (end - begin)
                problems += [p + " (within the file, from File Offset)" if p.startswith(("start", "end"))
                             else p for p in box_problems(t_min, t_max, f_min, f_max)]
        else:
            problems += box_problems(0.0, 1.0, f_min, f_max)  # the frequency checks alone

        if problems:
            errors.append(RowError(file, line, "; ".join(problems)))
            continue
        out.append(Annotation(recording=recording, t_min=t_min, t_max=t_max, f_min=f_min, f_max=f_max,
                              label=label, polarity=pol, score=score, file=file, line=line,
                              note=row.get(note_col, "") if note_col else "", tags=parse_tags(row.get("tags", ""))))
    if errors:
        raise rows_error(errors, out)
    return out


def _clashing_views(rows: list[tuple[int, Row]], low_col: str | None, high_col: str | None) -> str | None:
    """Rows sharing a Selection number must be views of one box: the same times (and, among
    spectrogram views, the same band). Different boxes under one number is a broken table."""
    if len(rows) < 2:
        return None
    first_line, first = rows[0]
    cols = ["begin time (s)", "end time (s)", "file offset (s)", "begin path", "begin file"]
    spectral = [(ln, r) for ln, r in rows if not _is_waveform(r)]
    for line, row in rows[1:]:
        for col in cols:
            if row.get(col, "").strip() != first.get(col, "").strip():
                return (f"Selection {first.get('selection')} is on lines {first_line} and {line} with different "
                        f"boxes ({col}: {first.get(col, '')!r} and {row.get(col, '')!r}); give each box its own "
                        f"Selection number")
    for (line_a, a), (line_b, b) in zip(spectral, spectral[1:]):
        for col in (c for c in (low_col, high_col) if c):
            if a.get(col, "").strip() != b.get(col, "").strip():
                return (f"Selection {a.get('selection')} is on lines {line_a} and {line_b} with different "
                        f"boxes ({col}: {a.get(col, '')!r} and {b.get(col, '')!r}); give each box its own "
                        f"Selection number")
    return None


def _fmt_t(value: float) -> str:
    return f"{value:.6f}"


def _fmt_f(value: float) -> str:
    return f"{value:.3f}"


def _fmt_score(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _tail(with_score: bool) -> list[str]:
    return ["Annotation", "Polarity"] + (["Score"] if with_score else [])


def _cells(a: Annotation, ref: RecordingRef, with_score: bool, extra: list[str] = ()) -> list[str]:
    f_lo, f_hi = full_band(a, ref)
    return [_fmt_f(f_lo), _fmt_f(f_hi), clean_cell(a.label), a.polarity.value] + (
        [_fmt_score(a.score)] if with_score else []) + [clean_cell(_extra_value(a, name)) for name in extra]


def _extra_value(a: Annotation, column: str) -> str:
    if column == "Note":
        return a.note
    if column == "Tags":
        return tags_text(a.tags)
    return a.extra.get(column, "")


def _extra_columns(annotations: list[Annotation]) -> list[str]:
    """The columns after birdlab's own: Note and Tags when any row has one, then the extra
    columns of these rows (measurements), in first-seen order."""
    own = [name for name, has in (("Note", any(a.note for a in annotations)),
                                  ("Tags", any(a.tags for a in annotations))) if has]
    return own + list(dict.fromkeys(name for a in annotations for name in a.extra))


def table_text(annotations: list[Annotation], ref: RecordingRef, with_score: bool | None = None) -> str:
    """The selection table of one recording (just the header when there are no boxes)."""
    if with_score is None:
        with_score = any(a.score is not None for a in annotations)
    extra = _extra_columns(annotations)
    header = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
              "Low Freq (Hz)", "High Freq (Hz)"] + _tail(with_score) + extra
    lines = ["\t".join(header)]
    rows = sorted(annotations, key=lambda a: (a.t_min, a.t_max, a.label))
    for selection, a in enumerate(rows, 1):
        lines.append("\t".join([str(selection), "Spectrogram 1", "1", _fmt_t(a.t_min), _fmt_t(a.t_max)]
                               + _cells(a, ref, with_score, extra)))
    return "\n".join(lines) + "\n"


def write_table(annotations: list[Annotation], path: Path, ref: RecordingRef,
                with_score: bool | None = None) -> Path:
    """Write one recording's selection table to exactly `path` (atomically)."""
    atomic_write_text(path, table_text(annotations, ref, with_score))
    return Path(path)


class MultiFileTable:
    """One selection table over many recordings (Begin File, File Offset (s)), written as the
    recordings come, so memory holds one recording's boxes at a time however many there are.
    Boxes are written in the order given; Begin Time runs on Raven's timeline of all files
    concatenated in order."""

    def __init__(self, handle: IO[str], with_score: bool, extra: list[str] = ()):
        self.handle, self.with_score, self.extra = handle, with_score, list(extra)
        header = ["Selection", "View", "Channel", "Begin File", "Begin Path", "File Offset (s)",
                  "Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)"] + _tail(with_score) + self.extra
        handle.write("\t".join(header) + "\n")
        self.selection = 0
        self.start = 0.0  # where the next file begins in the concatenated timeline

    def add(self, ref: RecordingRef, boxes: Iterable[Annotation]) -> None:
        name, where = clean_cell(ref.name), clean_cell(ref.path)  # once a file, not once a box
        for a in boxes:
            self.selection += 1
            self.handle.write("\t".join([
                str(self.selection), "Spectrogram 1", "1", name, where,
                _fmt_t(a.t_min), _fmt_t(self.start + a.t_min), _fmt_t(self.start + a.t_max)]
                + _cells(a, ref, self.with_score, self.extra)) + "\n")
        self.start += ref.duration

    def add_detections(self, ref: RecordingRef, boxes: Iterable[tuple[float, float, float, float, str, float]]) -> None:
        """Scored boxes as (t_min, t_max, f_min, f_max, label, score): the lines `add` writes for
        them as positive Annotations, without building one per box (a batch run's combined table
        can hold millions). Needs a table with scores and no extra columns."""
        if not self.with_score or self.extra:
            raise ValueError("add_detections writes tables with a Score column and no extra columns")
        name, where, start = clean_cell(ref.name), clean_cell(ref.path), self.start
        positive = Polarity.POSITIVE.value
        labels: dict[str, str] = {}
        lines = []
        for t_min, t_max, f_min, f_max, label, score in boxes:
            self.selection += 1
            cell = labels.get(label)
            if cell is None:
                cell = labels[label] = clean_cell(label)
            lines.append(f"{self.selection}\tSpectrogram 1\t1\t{name}\t{where}\t{t_min:.6f}\t{start + t_min:.6f}\t"
                         f"{start + t_max:.6f}\t{f_min:.3f}\t{f_max:.3f}\t{cell}\t{positive}\t{score:.6g}\n")
        self.handle.writelines(lines)
        self.start += ref.duration


def write_multi_file(path: Path, recordings: Iterable[tuple[RecordingRef, Iterable[Annotation]]],
                     with_score: bool, extra: list[str] = ()) -> Path:
    """One selection table over many recordings, atomically (see MultiFileTable); `recordings`
    may be a generator (streamed)."""
    with atomic_open(path, "w", newline="\n") as handle:
        table = MultiFileTable(handle, with_score, extra)
        for ref, boxes in recordings:
            table.add(ref, boxes)
    return Path(path)


def write(annotations: list[Annotation], out: Path,
          recordings: dict[str, RecordingRef]) -> list[Path]:
    """Write one multi-file table (`out` ends in .txt) or one table per recording (a folder)."""
    out = Path(out)
    groups = by_recording(annotations, recordings)
    with_score = any(a.score is not None for a in annotations)

    if out.suffix.lower() == ".txt":
        return [write_multi_file(out, ((ref, groups.get(key, [])) for key, ref in recordings.items()), with_score,
                                 _extra_columns(annotations))]

    names = unique_names([f"{recordings[key].stem}.Table.1.selections.txt" for key in groups])
    return [write_table(rows, out / name, recordings[key], with_score)
            for (key, rows), name in zip(groups.items(), names)]
