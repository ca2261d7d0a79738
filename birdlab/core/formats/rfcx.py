"""Kaggle "Rainforest Connection Species Audio Detection" (2021) label tables.

`train_tp.csv` and `train_fp.csv` share the header
`recording_id,species_id,songtype_id,t_min,f_min,t_max,f_max` (seconds and Hz).

Reading
- Polarity: rows of a file whose name contains `fp` as a word (train_fp.csv, my-fp.csv, but
  not "hfproject.csv") are negatives, of any other file positives; the `polarity` argument,
  when given, replaces that rule for the whole file.
- `Annotation.recording` is `recording_id` (the file stem of the recording, without `.flac`).
- Label: `species_id` as text (`"3"`); the song type goes into the label only when it is not 1:
  species 3 with songtype 4 is `"3_4"`. This keeps every row lossless with plain labels for the
  common case (in the competition data almost every songtype is 1).

Writing
- `out` is a folder; `train_tp.csv` gets the positives and `train_fp.csv` the negatives
  (both are always written, possibly with the header only). Uncertain annotations have no
  place in this format and are skipped.
- `recording_id` is the recording's file stem; a label `"<species>_<digits>"` is split back into
  species_id and songtype_id, any other label is written as species_id with songtype 1.
- Full band (None) is written as 0 .. sample_rate/2.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from birdlab.core.atomic import atomic_write_text
from birdlab.core.formats.common import (
    Annotation,
    RecordingRef,
    RowError,
    TableError,
    box_problems,
    by_recording,
    full_band,
    norm_header,
    parse_float,
    read_text_table,
    rows_error,
)
from birdlab.core.model import Polarity

NAME = "rfcx"
DETECTIONS = False  # rows are labels (not a model's detections)
EXTENSIONS = (".csv",)
SNIFF_PRIORITY = 30
EXPORT_FILE_SUFFIXES = ()  # a folder: train_tp.csv and train_fp.csv


def sniff(path: Path, first_line: str) -> bool:
    return {"recording_id", "species_id"} <= {norm_header(c.strip('"')) for c in first_line.split(",")}


COLUMNS = ("recording_id", "species_id", "songtype_id", "t_min", "f_min", "t_max", "f_max")


def _songtype(text: str) -> str:
    """`1`, `1.0` and empty -> "1"; other integers normalised; anything else kept as written."""
    text = text.strip()
    if not text:
        return "1"
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def label_for(species_id: str, songtype_id: str) -> str:
    songtype = _songtype(songtype_id)
    return species_id if songtype == "1" else f"{species_id}_{songtype}"


def split_label(label: str) -> tuple[str, str]:
    """`"3_4"` -> ("3", "4"); `"3"` or `"Parus major"` -> (label, "1")."""
    species, sep, songtype = label.rpartition("_")
    if sep and species and songtype.isdigit():
        return species, songtype
    return label, "1"


def is_fp_name(path: str | Path) -> bool:
    """Whether a file name marks false positives: `fp` as a word (train_fp.csv, fp-2.csv)."""
    return re.search(r"(?<![a-z])fp(?![a-z])", Path(path).name.lower()) is not None


def read(path: Path, *, default_label: str | None = None,
         polarity: Polarity | None = None) -> list[Annotation]:
    """Boxes of an RFCX train_tp/train_fp table; TableError listing every bad row."""
    table = read_text_table(path, ",")
    header_errors = table.missing(*COLUMNS)
    if header_errors:
        raise TableError(header_errors)
    if polarity is None:
        polarity = Polarity.NEGATIVE if is_fp_name(path) else Polarity.POSITIVE
    errors: list[RowError] = list(table.errors)
    out: list[Annotation] = []
    for line, row in table.rows:
        problems: list[str] = []
        values: dict[str, float] = {}
        for col in ("t_min", "t_max", "f_min", "f_max"):
            try:
                values[col] = parse_float(row[col], col)
            except ValueError as exc:
                problems.append(str(exc))
        if len(values) == 4:
            problems += box_problems(values["t_min"], values["t_max"], values["f_min"], values["f_max"])
        elif "f_min" in values and "f_max" in values:
            problems += box_problems(0.0, 1.0, values["f_min"], values["f_max"])
        recording = row["recording_id"]
        if not recording:
            problems.append("recording_id is empty")
        species = row["species_id"]
        if species:
            label = label_for(species, row["songtype_id"])
        elif default_label:
            label = default_label
        else:
            label = ""
            problems.append("species_id is empty and no default label given")
        if problems:
            errors.append(RowError(table.file, line, "; ".join(problems)))
            continue
        out.append(Annotation(recording=recording, t_min=values["t_min"], t_max=values["t_max"],
                              f_min=values["f_min"], f_max=values["f_max"], label=label,
                              polarity=polarity, file=table.file, line=line))
    if errors:
        raise rows_error(errors, out)
    return out


def write(annotations: list[Annotation], out: Path,
          recordings: dict[str, RecordingRef]) -> list[Path]:
    """Write `train_tp.csv` and `train_fp.csv` into the folder `out` (uncertain rows skipped)."""
    out = Path(out)
    groups = by_recording(annotations, recordings)
    buffers = {Polarity.POSITIVE: io.StringIO(), Polarity.NEGATIVE: io.StringIO()}
    writers = {pol: csv.writer(buf, lineterminator="\n") for pol, buf in buffers.items()}
    for writer in writers.values():
        writer.writerow(COLUMNS)
    for key, rows in groups.items():
        ref = recordings[key]
        for a in rows:
            if a.polarity not in writers:
                continue  # uncertain: not expressible
            f_lo, f_hi = full_band(a, ref)
            species, songtype = split_label(a.label)
            writers[a.polarity].writerow([ref.stem, species, songtype, f"{a.t_min:.6f}", f"{f_lo:.3f}",
                                          f"{a.t_max:.6f}", f"{f_hi:.3f}"])
    written = []
    for pol, name in ((Polarity.POSITIVE, "train_tp.csv"), (Polarity.NEGATIVE, "train_fp.csv")):
        path = out / name
        atomic_write_text(path, buffers[pol].getvalue())
        written.append(path)
    return written
