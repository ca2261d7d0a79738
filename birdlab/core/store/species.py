"""Species lists: the classes a project starts with.

Accepted: a text file with one name per line (BirdNET's `Scientific_Common` form is split
into name and common name), or a CSV/TSV with a header holding a name column
(`name`, `species`, `class`, `label`, `scientific_name` or `code`) and optionally
`common_name`, `f_min`, `f_max`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from birdlab.core.formats.common import RowError, TableError, parse_float

NAME_COLUMNS = ("name", "species", "class", "label", "scientific_name", "scientific name", "code")
COMMON_COLUMNS = ("common_name", "common name", "common")


@dataclass(frozen=True)
class SpeciesEntry:
    name: str
    common_name: str = ""
    f_min: float | None = None
    f_max: float | None = None


def read_species_list(path: str | Path) -> list[SpeciesEntry]:
    """Read a species list; raises TableError naming file:line for bad rows."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError([RowError(str(path), 0, f"cannot read species list ({exc})")]) from None
    lines = text.splitlines()
    first = lines[0] if lines else ""
    delimiter = "\t" if "\t" in first else ("," if "," in first else None)
    header = [h.strip().lower() for h in first.split(delimiter)] if delimiter else []
    name_col = next((header.index(c) for c in NAME_COLUMNS if c in header), None)
    if delimiter and name_col is not None:
        return _read_table(path, text, delimiter, header, name_col)
    if path.suffix.lower() in (".csv", ".tsv"):  # a table, yet no column to take the names from
        raise TableError([RowError(str(path), 1, f"a species table needs a name column ({', '.join(NAME_COLUMNS)}); "
                                                 f"found {', '.join(header) or 'no header'}")])
    entries, seen = [], set()
    for line in lines:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        common = ""
        if "_" in name and " " in name:  # BirdNET labels: "Turdus merula_Eurasian Blackbird"
            name, common = name.split("_", 1)
        if name not in seen:
            seen.add(name)
            entries.append(SpeciesEntry(name, common))
    if not entries:
        raise TableError([RowError(str(path), 0, "species list holds no names")])
    return entries


def _read_table(path: Path, text: str, delimiter: str, header: list[str], name_col: int) -> list[SpeciesEntry]:
    common_col = next((header.index(c) for c in COMMON_COLUMNS if c in header), None)
    fmin_col = header.index("f_min") if "f_min" in header else None
    fmax_col = header.index("f_max") if "f_max" in header else None
    entries, errors, seen = [], [], set()
    for line_no, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if line_no == 1 or not any(cell.strip() for cell in row):
            continue
        cell = lambda i: row[i].strip() if i is not None and i < len(row) else ""  # noqa: E731
        name = cell(name_col)
        if not name:
            errors.append(RowError(str(path), line_no, "empty name"))
            continue
        try:
            f_min = parse_float(cell(fmin_col), "f_min") if cell(fmin_col) else None
            f_max = parse_float(cell(fmax_col), "f_max") if cell(fmax_col) else None
        except ValueError as exc:
            errors.append(RowError(str(path), line_no, str(exc)))
            continue
        if f_min is not None and f_max is not None and not 0 <= f_min < f_max:
            errors.append(RowError(str(path), line_no, f"band {f_min:g}-{f_max:g} Hz is not a valid range"))
            continue
        if name not in seen:
            seen.add(name)
            entries.append(SpeciesEntry(name, cell(common_col), f_min, f_max))
    if errors:
        raise TableError(errors)
    return entries
