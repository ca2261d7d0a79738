"""BirdNET-Analyzer result files, read as detections (every row has a score).

Headers as BirdNET-Analyzer writes them (kahst/BirdNET-Analyzer,
`birdnet_analyzer/analyze/utils.py`: CSV_HEADER, RAVEN_TABLE_HEADER, RTABLE_HEADER,
KALEIDOSCOPE_HEADER); the kind is told by the header:
- CSV (`rtype csv`, `<stem>.BirdNET.results.csv`):
  `Start (s),End (s),Scientific name,Common name,Confidence[,File]` (`File` since 2.x; older
  versions and other tools leave it out; BirdNET-Go and the Rust port may add a BOM and extra
  columns).
- Raven selection table (`rtype table`, `<stem>.BirdNET.selection.table.txt`, tab-separated):
  `Selection View Channel Begin Time (s) End Time (s) Low Freq (Hz) High Freq (Hz) Common Name
  Species Code Confidence Begin Path File Offset (s)`. Combined tables shift Begin/End Time by
  the lengths of the files before; `File Offset (s)` is the start within the file, so the box
  is `File Offset` .. `File Offset + (End - Begin)` in `Begin Path` (as in `raven`). Rows whose
  Common Name and Species Code are both `nocall` are BirdNET's placeholders and are skipped.
- R table (`rtype r`): `filepath,start,end,scientific_name,common_name,confidence,...`.
- Kaleidoscope (`rtype kaleidoscope`):
  `INDIR,FOLDER,IN FILE,OFFSET,DURATION,scientific_name,common_name,confidence,...`
  (recording = INDIR/FOLDER/IN FILE).
- Audacity labels (`rtype audacity`, no header): `start<TAB>end<TAB>Sci, Common<TAB>confidence`;
  the label is turned back into `Sci_Common`; recording "" (one file per recording).

Labels: BirdNET's own label form `"<Scientific name>_<Common name>"` wherever the file has both
names (CSV, R, Kaleidoscope, Audacity, and a selection table with a `Scientific Name` column). BirdNET's
selection table has only `Common Name` (and the eBird `Species Code`), so its label is the
common name: the same detection read from the CSV and from the table gets different labels.
When only one of the two names is present the label is that name alone.

Frequencies: the CSV, R and Kaleidoscope forms have none (full band, None); the selection table
has BirdNET's band limits. Polarity: the `Polarity` column when present (birdlab writes it when
it has non-positive rows), else the `polarity` argument, else positive. An empty `Confidence`
reads as no score.

Writing: the CSV form (`Start (s),End (s),Scientific name,Common name,Confidence,File`);
`out` ending in `.csv` is one combined file, otherwise a folder of
`<stem>.BirdNET.results.csv`. `File` is the recording's path. The label is split at its first
`_` into scientific and common name (no `_`: empty common name); annotations without a score
get an empty Confidence; boxes lose their frequencies (the CSV has none). A `Polarity` column is
added only when some annotation is not positive.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from birdlab.core.atomic import atomic_write_text
from birdlab.core.formats import audacity, raven
from birdlab.core.formats.common import (
    Annotation,
    RecordingRef,
    RowError,
    TableError,
    box_problems,
    by_recording,
    norm_header,
    parse_float,
    read_table_text,
    read_text_table,
    row_polarity,
    rows_error,
    split_lines,
    unique_names,
)
from birdlab.core.model import Polarity

NAME = "birdnet"
DETECTIONS = True  # rows are a model's detections (with scores), not labels
EXTENSIONS = (".csv", ".txt")
SNIFF_PRIORITY = 20  # before Raven and Audacity, whose forms it shares
EXPORT_FILE_SUFFIXES = (".csv",)  # one combined CSV, else a folder of result files


def sniff(path: Path, first_line: str) -> bool:
    if "\t" in first_line:
        cells = {norm_header(c) for c in first_line.split("\t")}
        if "begin time (s)" in cells:
            return {"species code", "confidence"} <= cells
        parts = first_line.split("\t")  # the Audacity form: start, end, label, confidence
        return (len(parts) >= 4 and all(re.fullmatch(r"-?[\d.,]+", p.strip()) for p in parts[:2])
                and re.fullmatch(r"[\d.]+", parts[3].strip()) is not None)
    cells = {norm_header(c.strip('"')) for c in first_line.split(",")}
    return {"start (s)", "confidence"} <= cells or "filepath" in cells or "in file" in cells


CSV_COLUMNS = ("Start (s)", "End (s)", "Scientific name", "Common name", "Confidence", "File")


def join_label(scientific: str, common: str) -> str:
    """BirdNET's label form: `Sci_Common`; one name alone when the other is empty."""
    scientific, common = scientific.strip(), common.strip()
    return f"{scientific}_{common}" if scientific and common else scientific or common


def split_label(label: str) -> tuple[str, str]:
    """`"Turdus merula_Eurasian Blackbird"` -> (scientific, common); no `_` -> (label, "")."""
    scientific, _, common = label.partition("_")
    return scientific, common


def read(path: Path, *, default_label: str | None = None,
         polarity: Polarity | None = None) -> list[Annotation]:
    """Detections of a BirdNET result file (CSV, selection table, R or Kaleidoscope form)."""
    first = next((line for line in split_lines(read_table_text(path)) if line.strip()), "")
    if "\t" in first:
        try:
            parse_float(first.split("\t")[0], "start")
        except ValueError:
            return _read_table(path, default_label, polarity)
        return _read_audacity(path, default_label, polarity)
    return _read_csv(path, default_label, polarity)


def _read_audacity(path: Path, default_label: str | None, polarity: Polarity | None) -> list[Annotation]:
    """BirdNET's Audacity labels: `start end "Sci, Common" confidence` (label back to `Sci_Common`)."""
    def relabel(rows: list[Annotation]) -> list[Annotation]:
        for a in rows:
            scientific, sep, common = a.label.partition(", ")
            if sep and scientific and common:
                a.label = f"{scientific}_{common}"
        return rows

    try:
        return relabel(audacity.read(path, default_label=default_label, polarity=polarity))
    except TableError as exc:
        relabel(getattr(exc, "annotations", []))
        raise


def _read_table(path: Path, default_label: str | None, polarity: Polarity | None) -> list[Annotation]:
    table = read_text_table(path, "\t")
    has_sci = table.has("Scientific Name")
    common_col = table.first_of("Common Name", "Species Code")
    if common_col is None and not has_sci:
        raise TableError(table.missing("Begin Time (s)", "End Time (s)", "Common Name", "Confidence"))

    def label_of(row: dict[str, str]) -> str:
        common = row.get(common_col or "", "")
        return join_label(row.get("scientific name", ""), common) if has_sci else common

    def nocall(row: dict[str, str]) -> bool:
        return row.get("common name", "") == "nocall" and row.get("species code", "") == "nocall"

    return raven.parse_selections(table, label_of=label_of, label_what="the species name",
                                  default_label=default_label, polarity=polarity,
                                  required=("Confidence",), skip=nocall)


def _read_csv(path: Path, default_label: str | None, polarity: Polarity | None) -> list[Annotation]:
    table = read_text_table(path, ",")
    if table.has("In File") and table.has("Offset"):
        kind = "kaleidoscope"
        required = ("INDIR", "FOLDER", "IN FILE", "OFFSET", "DURATION", "scientific_name", "common_name",
                    "confidence")
        start_col, end_col, sci_col, common_col, conf_col = ("offset", "duration", "scientific_name",
                                                             "common_name", "confidence")
    elif table.has("filepath") and table.has("start"):
        kind = "r"
        required = ("filepath", "start", "end", "scientific_name", "common_name", "confidence")
        start_col, end_col, sci_col, common_col, conf_col = ("start", "end", "scientific_name",
                                                             "common_name", "confidence")
    else:
        kind = "csv"
        required = ("Start (s)", "End (s)", "Scientific name", "Common name", "Confidence")
        start_col, end_col, sci_col, common_col, conf_col = ("start (s)", "end (s)", "scientific name",
                                                             "common name", "confidence")
    header_errors = table.missing(*required)
    if header_errors:
        raise TableError(header_errors)
    errors: list[RowError] = list(table.errors)
    out: list[Annotation] = []
    for line, row in table.rows:
        problems: list[str] = []

        def number(col: str, what: str) -> float | None:
            try:
                return parse_float(row.get(col, ""), what)
            except ValueError as exc:
                problems.append(str(exc))
                return None

        start = number(start_col, "start time" if kind != "kaleidoscope" else "OFFSET")
        end = number(end_col, "end time" if kind != "kaleidoscope" else "DURATION")
        if kind == "kaleidoscope" and start is not None and end is not None:
            end = start + end
        if start is not None and end is not None:
            problems += box_problems(start, end, None, None)
        score = number(conf_col, "Confidence") if row.get(conf_col, "") else None
        label = join_label(row.get(sci_col, ""), row.get(common_col, ""))
        if not label:
            if default_label:
                label = default_label
            else:
                problems.append("no species name and no default label given")
        pol = row_polarity(row.get("polarity", ""), polarity, problems)
        if kind == "kaleidoscope":
            parts = [row.get("indir", ""), row.get("folder", ""), row.get("in file", "")]
            recording = os.path.join(*[p for p in parts if p]) if any(parts) else ""
        elif kind == "r":
            recording = row.get("filepath", "")
        else:
            recording = row.get("file", "")
        if problems:
            errors.append(RowError(table.file, line, "; ".join(problems)))
            continue
        out.append(Annotation(recording=recording, t_min=float(start), t_max=float(end),  # type: ignore[arg-type]
                              f_min=None, f_max=None, label=label, polarity=pol, score=score,
                              file=table.file, line=line))
    if errors:
        raise rows_error(errors, out)
    return out


def _csv_text(rows: list[tuple[Annotation, RecordingRef]], with_polarity: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(CSV_COLUMNS) + (["Polarity"] if with_polarity else []))
    for a, ref in rows:
        scientific, common = split_label(a.label)
        writer.writerow([f"{a.t_min:.6f}", f"{a.t_max:.6f}", scientific, common,
                         "" if a.score is None else f"{a.score:.6g}", ref.path]
                        + ([a.polarity.value] if with_polarity else []))
    return buf.getvalue()


def write(annotations: list[Annotation], out: Path,
          recordings: dict[str, RecordingRef]) -> list[Path]:
    """One combined CSV (`out` ends in .csv) or a folder of `<stem>.BirdNET.results.csv`."""
    out = Path(out)
    groups = by_recording(annotations, recordings)
    with_polarity = any(a.polarity is not Polarity.POSITIVE for a in annotations)
    if out.suffix.lower() == ".csv":
        rows = [(a, recordings[key]) for key, anns in groups.items() for a in anns]
        atomic_write_text(out, _csv_text(rows, with_polarity))
        return [out]
    names = unique_names([f"{recordings[key].stem}.BirdNET.results.csv" for key in groups])
    written: list[Path] = []
    for (key, anns), name in zip(groups.items(), names):
        path = out / name
        atomic_write_text(path, _csv_text([(a, recordings[key]) for a in anns], with_polarity))
        written.append(path)
    return written

