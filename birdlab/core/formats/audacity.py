"""Audacity label tracks (File > Export > Labels), one file per recording.

Each label is a line `start<TAB>end<TAB>text` (seconds), optionally followed by a spectral line
`\\<TAB>f_low<TAB>f_high` (a line starting with a backslash, Hz) when the label has a frequency
range. Audacity writes -1 for an undefined edge and leaves the line out when both are
undefined: -1 or no spectral line means no frequency information (None, the full band).

birdlab conventions
- Polarity lives in the label text as a suffix: `Parus major [negative]`,
  `Parus major [uncertain]` (`[positive]` is accepted too); plain text is positive, or the
  `polarity` argument's value when given.
- A fourth numeric field (BirdNET's Audacity output: `start end label confidence`) is read as
  the score. Scores are not written (Audacity would show them as part of the label).
- Empty label text (Audacity allows it) takes `default_label`, else the row is an error.
- `Annotation.recording` is "" (a label file belongs to one recording; the importer uses the
  file's name).

Writing: `out` is a folder with one `<stem>.txt` per recording; 6 decimals; the spectral line
is always written (-1 for None). `write_labels(annotations, path)` writes one recording's
labels to an exact path (an empty file when there are none).
"""

from __future__ import annotations

import re
from pathlib import Path

from birdlab.core.atomic import atomic_write_text
from birdlab.core.formats.common import (
    Annotation,
    RecordingRef,
    RowError,
    box_problems,
    by_recording,
    clean_cell,
    parse_float,
    read_table_text,
    rows_error,
    split_lines,
    unique_names,
)
from birdlab.core.model import Polarity

NAME = "audacity"
DETECTIONS = False  # rows are labels (not a model's detections)
EXTENSIONS = (".txt",)
SNIFF_PRIORITY = 50
EXPORT_FILE_SUFFIXES = ()  # a folder: one label file per recording


def sniff(path: Path, first_line: str) -> bool:
    parts = first_line.split("\t")
    return len(parts) >= 2 and all(re.fullmatch(r"-?[\d.,]+", p.strip()) for p in parts[:2])


_SUFFIX = re.compile(r"\s*\[(positive|negative|uncertain)\]\s*$", re.IGNORECASE)


def split_polarity(text: str) -> tuple[str, Polarity | None]:
    """`"Parus major [negative]"` -> ("Parus major", NEGATIVE); no suffix -> (text, None)."""
    match = _SUFFIX.search(text)
    if not match:
        return text.strip(), None
    return text[:match.start()].strip(), Polarity(match.group(1).lower())


def label_text(label: str, polarity: Polarity) -> str:
    text = clean_cell(label)
    return text if polarity is Polarity.POSITIVE else f"{text} [{polarity.value}]"


def _edge(text: str, what: str) -> float | None:
    value = parse_float(text, what)
    return None if value == -1 else value


def _parsed(parse, text: str, what: str, problems: list[str]) -> float | None:
    """`parse(text, what)`, or None with the reason added to `problems`."""
    try:
        return parse(text, what)
    except ValueError as exc:
        problems.append(str(exc))
        return None


def read(path: Path, *, default_label: str | None = None,
         polarity: Polarity | None = None) -> list[Annotation]:
    """Labels of an Audacity label file; TableError listing every bad line."""
    file = str(path)
    lines = split_lines(read_table_text(path))
    errors: list[RowError] = []
    out: list[Annotation] = []
    # (line, annotation or None when that label line was bad) of the last label line
    last: tuple[int, Annotation | None] | None = None
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        fields = raw.split("\t")
        if raw.startswith("\\"):
            # spectral line of the label above
            if last is None:
                errors.append(RowError(file, number,
                                       "frequency line (starting with '\\') without a label line before it"))
                continue
            problems: list[str] = []
            f_lo = f_hi = None
            if len(fields) < 3:
                problems.append(f"frequency line needs '\\', low and high frequency; found {len(fields)} field(s)")
            else:
                f_lo = _parsed(_edge, fields[1], "low frequency", problems)
                f_hi = _parsed(_edge, fields[2], "high frequency", problems)
                if not problems:
                    problems += box_problems(0.0, 1.0, f_lo, f_hi)
            ann = last[1]
            last = None
            if problems:
                errors.append(RowError(file, number, "; ".join(problems)))
                if ann is not None and out and out[-1] is ann:
                    out.pop()
                continue
            if ann is not None:
                ann.f_min, ann.f_max = f_lo, f_hi
            continue

        problems = []
        start = end = None
        if len(fields) < 2:
            problems.append("expected 'start<TAB>end<TAB>label'")
        else:
            start = _parsed(parse_float, fields[0], "start time", problems)
            end = _parsed(parse_float, fields[1], "end time", problems)
        if start is not None and end is not None:
            problems += box_problems(start, end, None, None)
        text = fields[2] if len(fields) > 2 else ""
        score = None
        if len(fields) > 3:
            try:
                score = parse_float(fields[3], "score")
            except ValueError:
                text = "\t".join(fields[2:])  # a label with tabs in it, not a score
        label, pol = split_polarity(text)
        if not label:
            if default_label:
                label = default_label
            else:
                problems.append("the label text is empty and no default label given")
        if problems:
            errors.append(RowError(file, number, "; ".join(problems)))
            last = (number, None)
            continue
        assert start is not None and end is not None  # no problems: both parsed
        ann = Annotation(recording="", t_min=start, t_max=end, f_min=None, f_max=None,
                         label=label, polarity=pol or polarity or Polarity.POSITIVE, score=score,
                         file=file, line=number)
        out.append(ann)
        last = (number, ann)
    if errors:
        raise rows_error(errors, out)
    return out


def labels_text(annotations: list[Annotation]) -> str:
    """One recording's label track (empty text when there are no labels)."""
    lines = []
    for a in sorted(annotations, key=lambda a: (a.t_min, a.t_max, a.label)):
        f_lo = -1.0 if a.f_min is None else a.f_min
        f_hi = -1.0 if a.f_max is None else a.f_max
        lines.append(f"{a.t_min:.6f}\t{a.t_max:.6f}\t{label_text(a.label, a.polarity)}")
        lines.append(f"\\\t{f_lo:.6f}\t{f_hi:.6f}")
    return "".join(line + "\n" for line in lines)


def write_labels(annotations: list[Annotation], path: Path) -> Path:
    """Write one recording's labels to exactly `path` (atomically)."""
    atomic_write_text(path, labels_text(annotations))
    return Path(path)


def write(annotations: list[Annotation], out: Path,
          recordings: dict[str, RecordingRef]) -> list[Path]:
    """One `<stem>.txt` label file per recording in the folder `out`."""
    out = Path(out)
    groups = by_recording(annotations, recordings)
    names = unique_names([f"{recordings[key].stem}.txt" for key in groups])
    return [write_labels(rows, out / name) for (key, rows), name in zip(groups.items(), names)]
