"""What every annotation format reads into and writes from.

A format module turns an external table into a list of `Annotation` rows (one per box)
and back. It knows nothing of projects: `birdlab.core.store.label_io` resolves the recordings,
checks the boxes against each recording and writes to the project in one transaction.

Readers check every row and raise `TableError` with all bad rows at once, so that an
import either writes everything or nothing.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from birdlab.core.model import Polarity


@dataclass
class Annotation:
    """One box of an external table, in seconds and Hz.

    `recording` is how the table names the recording (a file name, a path or an id such as
    RFCX's recording_id); it may be empty when the table belongs to one recording, which
    the importer then takes from the table's own file name or the user's choice.
    f_min/f_max of None mean the full band of the recording.
    """

    recording: str
    t_min: float
    t_max: float
    f_min: float | None
    f_max: float | None
    label: str
    polarity: Polarity = Polarity.POSITIVE
    score: float | None = None  # detections carry a score; labels do not
    file: str = ""  # table it came from
    line: int = 0  # 1-based line in that table (the header is line 1)
    extra: dict[str, str] = field(default_factory=dict)  # more columns for formats that keep them (Raven)
    note: str = ""  # a label's free note, where the format has a place for it
    tags: tuple[str, ...] = ()  # a label's tags (`key:value` or words), where the format has a place


@dataclass(frozen=True)
class RowError:
    """A bad row: where it is and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


class TableError(Exception):
    """A table with one or more bad rows (or a bad header); nothing was imported."""

    def __init__(self, errors: list[RowError]):
        self.errors = list(errors)
        shown = "\n".join(str(e) for e in self.errors[:50])
        more = f"\n... and {len(self.errors) - 50} more" if len(self.errors) > 50 else ""
        super().__init__(f"{len(self.errors)} bad row(s):\n{shown}{more}")


def parse_float(text: str, what: str) -> float:
    """A finite float from a table cell, or ValueError naming the column."""
    try:
        value = float(text)  # the common case, fast (a million-row import)
    except (TypeError, ValueError):
        value = None
    try:
        if value is None:
            value = float(str(text).strip().replace(",", ".")) if str(text).strip() else math.nan
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} is empty or not a finite number ({text!r})")
    return value


def row_polarity(cell: str, default: Polarity | None, problems: list[str]) -> Polarity:
    """A row's polarity: its own `polarity` cell when it has one, else the import's (positive by
    default); a cell that names no polarity goes to `problems`."""
    if cell:
        try:
            return Polarity.parse(cell)
        except ValueError as exc:
            problems.append(str(exc))
    return default or Polarity.POSITIVE


def table_stem(path: str | Path) -> str:
    """The recording stem a per-recording table is named after.

    `XC1234.Table.1.selections.txt` -> `XC1234`; `rec.BirdNET.selection.table.txt` -> `rec`;
    `rec.wav.data` -> `rec`; `rec.txt` -> `rec`.
    """
    name = Path(path).name
    for marker in (".Table.", ".BirdNET.", ".birdnet.", ".selections", ".wav.data", ".WAV.data",
                   ".flac.data", ".data", ".labels", ".txt", ".csv", ".json"):
        idx = name.find(marker)
        if idx > 0:
            name = name[:idx]
            break
    return name


def rows_error(errors: list[RowError], good: list[Annotation]) -> TableError:
    """The TableError a reader raises: its bad rows in line order, plus the rows that were fine.

    The good rows ride along as `exc.annotations` so that an importer can still check them
    against their recordings (duration, Nyquist) and report every problem of an import at once.
    """
    exc = TableError(sorted(errors, key=lambda e: e.line))
    exc.annotations = list(good)  # type: ignore[attr-defined]
    return exc


def recording_name(recording: str) -> str:
    """The file name in an `Annotation.recording` written on any system.

    Tables made on Windows hold paths like `C:\\data\\rec.wav` (Raven's `Begin Path`, BirdNET's
    `File`); `Path(...).name` on Linux or macOS would keep the whole string.
    """
    return recording.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RecordingRef:
    """What a writer may need to know of a recording besides its boxes.

    `key` is the value used in `Annotation.recording` for this recording.
    """

    key: str
    path: str  # file path as the user knows it (absolute where possible)
    duration: float
    sample_rate: int
    channels: int = 1

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def stem(self) -> str:
        return Path(self.path).stem


# ---------------------------------------------------------------------------------------------
# Helpers shared by the format modules (reading text tables, checking boxes, writing per file).
# ---------------------------------------------------------------------------------------------


def decode_table_bytes(data: bytes, strict: bool = True) -> str:
    """Text of a table file: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252.

    Raven and Excel on Windows write cp1252 or UTF-16; Latin-1 is the last resort (never fails).
    UnicodeDecodeError only for broken UTF-16 when `strict` (else U+FFFD, e.g. to sniff a header).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="strict" if strict else "replace")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: latin-1 decodes every byte string")


def first_line(path: str | Path) -> str:
    """The first non-empty line of a table (from its first 64 KiB), for format sniffing; OSError passes."""
    with open(path, "rb") as handle:
        data = handle.read(65536)
    text = decode_table_bytes(data, strict=False)  # the first 64 KiB may end inside a character
    return next((line for line in text.splitlines() if line.strip()), "")


def read_table_text(path: str | Path) -> str:
    """The decoded text of a table, or TableError naming the file (unreadable, binary)."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TableError([RowError(file, 0, f"cannot read the file: {exc.strerror or exc}")]) from None
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TableError([RowError(file, 0, "not a text table (the file holds binary data)")])
    try:
        return decode_table_bytes(data)
    except UnicodeDecodeError as exc:
        raise TableError([RowError(file, 0, f"not valid UTF-16 text (its byte-order mark says UTF-16; "
                                            f"{exc.reason} at byte {exc.start})")]) from None


def split_lines(text: str) -> list[str]:
    """Lines without their endings (LF, CRLF or CR); line i of the file is item i-1."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def norm_header(name: str) -> str:
    """A header cell for case- and spacing-insensitive matching."""
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


@dataclass
class TextTable:
    """A delimited text table: the header (line 1) and its non-blank rows with their line numbers."""

    file: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line, {normalised column name: stripped cell})
    errors: list[RowError]  # rows that do not fit the header (more filled cells than columns)
    header_line: int = 1

    def has(self, name: str) -> bool:
        return norm_header(name) in self._names

    def first_of(self, *names: str) -> str | None:
        """The first of `names` (normalised) that is a column of this table."""
        for name in names:
            if norm_header(name) in self._names:
                return norm_header(name)
        return None

    def original(self, name: str) -> str:
        """The header cell as written for a (normalised) column name."""
        return next((h for h in self.header if norm_header(h) == norm_header(name)), name)

    def missing(self, *required: str) -> list[RowError]:
        """One RowError (on the header line) per required column that is absent."""
        found = ", ".join(repr(h) for h in self.header) or "none"
        return [RowError(self.file, self.header_line, f"missing column {name!r} (columns found: {found})")
                for name in required if not self.has(name)]

    @property
    def _names(self) -> set[str]:
        return {norm_header(h) for h in self.header}


def read_text_table(path: str | Path, delimiter: str) -> TextTable:
    """Read a tab- or comma-separated table, tolerating a BOM, CRLF, blank lines and trailing
    empty columns. Tab tables are split verbatim (Raven does not quote); CSV follows RFC 4180.

    An empty file raises TableError.
    """
    file = str(path)
    lines = split_lines(read_table_text(path))
    if delimiter != "\t":  # a quoted CSV cell may hold line breaks: give the reader them back
        lines = [line + "\n" for line in lines]
    reader = csv.reader(lines, delimiter=delimiter,
                        quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
    header: list[str] | None = None
    keys: list[str] | None = None
    header_line = 1
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[RowError] = []
    try:
        for fields in reader:
            line = reader.line_num
            cells = [f.strip() for f in fields]
            if not any(cells):
                continue  # blank line (or only delimiters)
            if header is None:
                while cells and not cells[-1]:
                    cells.pop()  # trailing empty columns
                header = [c.replace("\ufeff", "") for c in cells]
                header_line = line
                continue
            extra = [c for c in cells[len(header):] if c]
            if extra:
                errors.append(RowError(file, line, f"row has {len(header) + len(extra)} or more cells but the "
                                                   f"header has {len(header)} columns (a stray delimiter?)"))
                continue
            if keys is None:
                keys = [norm_header(name) for name in header]  # once, not per row (tables of millions)
            row: dict[str, str] = {}
            for name, cell in zip(keys, cells):
                row.setdefault(name, cell)
            for name in keys[len(cells):]:
                row.setdefault(name, "")
            rows.append((line, row))
    except csv.Error as exc:
        errors.append(RowError(file, reader.line_num, f"cannot parse the table: {exc}"))
    if header is None:
        raise TableError([RowError(file, 0, "the table is empty (no header line)")])
    return TextTable(file, header, rows, errors, header_line)


def box_problems(t_min: float, t_max: float, f_min: float | None, f_max: float | None) -> list[str]:
    """Row-level checks every reader applies (no recording needed): order and sign of the edges."""
    out: list[str] = []
    if t_min < 0:
        out.append(f"start time {t_min:g} s is negative")
    if t_max <= t_min:
        out.append(f"end time {t_max:g} s is not after start time {t_min:g} s")
    if f_min is not None and f_min < 0:
        out.append(f"low frequency {f_min:g} Hz is negative")
    if f_max is not None and f_max < 0:
        out.append(f"high frequency {f_max:g} Hz is negative")
    if f_min is not None and f_max is not None and f_max <= f_min:
        out.append(f"high frequency {f_max:g} Hz is not above low frequency {f_min:g} Hz")
    return out


def by_recording(annotations: list[Annotation],
                 recordings: dict[str, RecordingRef]) -> dict[str, list[Annotation]]:
    """Annotations grouped per recording key, in the order of `recordings`, each sorted by time.

    Raises ValueError naming any recording an annotation refers to that `recordings` lacks.
    """
    missing = sorted({a.recording for a in annotations if a.recording not in recordings})
    if missing:
        raise ValueError("no recording information for: " + ", ".join(repr(m) for m in missing))
    found: dict[str, list[Annotation]] = {}
    for a in annotations:  # one pass: a project export may hold 10^4 recordings and 10^6 boxes
        found.setdefault(a.recording, []).append(a)
    return {key: sorted(found[key], key=lambda a: (a.t_min, a.t_max, a.label)) for key in recordings if key in found}


def full_band(ann: Annotation, ref: RecordingRef) -> tuple[float, float]:
    """The annotation's band with None resolved: f_min None -> 0, f_max None -> Nyquist."""
    return (0.0 if ann.f_min is None else ann.f_min,
            ref.sample_rate / 2.0 if ann.f_max is None else ann.f_max)


def unique_names(names: list[str]) -> list[str]:
    """Make output file names unique (case-insensitively): `a.txt`, `a.txt` -> `a.txt`, `a_2.txt`.

    Two recordings with the same name in different folders would otherwise overwrite each
    other's table when a format writes one file per recording.
    """
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            first, dot, rest = name.partition(".")
            candidate = f"{first}_{n}{dot}{rest}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def clean_cell(text: str) -> str:
    """A label made safe for one cell of a tab-separated line (tabs and line breaks -> spaces)."""
    return str(text).replace("\r\n", " ").replace("\t", " ").replace("\r", " ").replace("\n", " ")
