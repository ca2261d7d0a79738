"""AviaNZ annotation files (`<recording file name>.data`, e.g. `rec.wav.data`), JSON.

The file is a list: an optional metadata object first
(`{"Operator": ..., "Reviewer": ..., "Duration": ...}`), then one segment per box:
`[start, end, freq_low, freq_high, labels]` with seconds relative to the file start and Hz
(AviaNZ's Docs/file_format_specification.md). `freq_low = freq_high = 0` is a full-band
segment (None); both between 0 and 1.1 is AviaNZ's old relative form, which AviaNZ itself
ignores (full band), and so does birdlab. Old files may also start with a metadata list
`[-1, duration, operator, reviewer, ...]` instead of the object.
`labels` is a list of `{"species": ..., "certainty": 0..100, "filter": "M", "calltype": ...}`;
a segment with several species becomes one Annotation per species.

Old files have plain strings as labels (`["Kiwi", "Morepork?"]`, or a single string): a
trailing `?` means uncertain, otherwise certainty 100.

Polarity (birdlab convention): certainty 100 -> positive, 1..99 -> uncertain (AviaNZ uses 50
for "?" and filters' guesses), 0 -> negative. AviaNZ's own `"Don't Know"` label (which AviaNZ
always gives certainty 0, meaning "unidentified") is read as an uncertain `"Don't Know"` box,
not a negative. A label without `certainty` gets the `polarity` argument, else positive.
Written files use 100 / 50 / 0.

Tags and notes: AviaNZ's one place for more about a label is its `calltype`, read as the tag
`calltype:<value>` and written back from it. AviaNZ has no place for notes or other tags;
they are not written (`birdlab labels export` says so).

Line numbers: JSON has no rows, so `RowError.line` is the segment's index (1 = the first
segment after the metadata) and the reason starts with "segment N: ".
`Annotation.recording` is "" (the file belongs to one recording; the importer uses its name).

Writing: `out` is a folder with one `<recording file name>.data` per recording, metadata
`{"Operator": "birdlab", "Reviewer": "", "Duration": <s>}`; boxes with the same extent share a
segment. Full band (None, None) is written as 0, 0; one missing edge as 0 or sample_rate/2.
Scores are not written (no place for them).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from birdlab.core.atomic import atomic_write_text
from birdlab.core.formats.common import (
    Annotation,
    RecordingRef,
    RowError,
    TableError,
    box_problems,
    by_recording,
    read_table_text,
    rows_error,
    unique_names,
)
from birdlab.core.model import Polarity
from birdlab.core.validate import SchemaError, parse_json

NAME = "avianz"
DETECTIONS = False  # rows are labels (not a model's detections)
EXTENSIONS = (".data",)  # told by its name alone (no sniff)
SNIFF_PRIORITY = 10
EXPORT_FILE_SUFFIXES = ()  # an export is a folder: one .data file per recording
KEEPS = ("calltype",)  # what of a label beyond box, class and polarity it writes

DONT_KNOW = "Don't Know"

CERTAINTY = {Polarity.POSITIVE: 100, Polarity.UNCERTAIN: 50, Polarity.NEGATIVE: 0}


def polarity_of(certainty: float) -> Polarity:
    if certainty >= 100:
        return Polarity.POSITIVE
    if certainty <= 0:
        return Polarity.NEGATIVE
    return Polarity.UNCERTAIN


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value).strip())
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a number") from None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number ({value!r})")
    return value


CALLTYPE_TAG = "calltype:"


def _labels(raw: Any, default_label: str | None, polarity: Polarity | None,
            problems: list[str]) -> list[tuple[str, Polarity, tuple[str, ...]]]:
    """(label, polarity, tags) of a segment's label list (new dicts or old plain strings)."""
    if isinstance(raw, (str, dict)):
        raw = [raw]
    if not isinstance(raw, list):
        problems.append(f"labels should be a list, not {type(raw).__name__}")
        return []
    if not raw:
        if default_label:
            return [(default_label, polarity or Polarity.POSITIVE, ())]
        problems.append("the segment has no labels and no default label given")
        return []
    out: list[tuple[str, Polarity, tuple[str, ...]]] = []
    for i, item in enumerate(raw, 1):
        tags: tuple[str, ...] = ()
        if isinstance(item, str):  # old format: "Kiwi" or "Kiwi?"
            name = item.strip()
            pol = Polarity.POSITIVE
            if name.endswith("?"):
                name, pol = name[:-1].strip(), Polarity.UNCERTAIN
        elif isinstance(item, dict):
            name = str(item.get("species") or "").strip()
            if "certainty" in item:
                try:
                    pol = polarity_of(_number(item["certainty"], "certainty"))
                except ValueError as exc:
                    problems.append(f"label {i}: {exc}")
                    continue
            else:
                pol = polarity or Polarity.POSITIVE
            if name.lower() in ("don't know", "dont know", "don’t know"):
                pol = Polarity.UNCERTAIN
            calltype = item.get("calltype")
            if isinstance(calltype, (str, int, float)) and str(calltype).strip():
                tags = (CALLTYPE_TAG + str(calltype).strip(),)
        else:
            problems.append(f"label {i} should be an object or a text, not {type(item).__name__}")
            continue
        if not name:
            if not default_label:
                problems.append(f"label {i} has no species and no default label given")
                continue
            name = default_label
        out.append((name, pol, tags))
    return out


def read(path: Path, *, default_label: str | None = None,
         polarity: Polarity | None = None) -> list[Annotation]:
    """Boxes of an AviaNZ .data file; TableError listing every bad segment."""
    file = str(path)
    text = read_table_text(path)
    try:
        doc = parse_json(text, path).value  # depth-limited; the checks below read it item by item
    except SchemaError as exc:
        raise TableError([RowError(file, 0, exc.reason)]) from None
    if not isinstance(doc, list):
        raise TableError([RowError(file, 0, "an AviaNZ .data file is a JSON list "
                                            f"(metadata, then segments), not {type(doc).__name__}")])
    # metadata: a dict first, or in old files a list starting with -1 ([-1, duration, operator, ...])
    has_meta = bool(doc) and (isinstance(doc[0], dict) or (
        isinstance(doc[0], list) and bool(doc[0]) and doc[0][0] == -1))
    segments = doc[1:] if has_meta else doc
    errors: list[RowError] = []
    out: list[Annotation] = []
    for index, seg in enumerate(segments, 1):
        problems: list[str] = []
        if not isinstance(seg, list) or len(seg) < 5:
            what = f"a list of {len(seg)} item(s)" if isinstance(seg, list) else type(seg).__name__
            errors.append(RowError(file, index, f"segment {index}: expected [start, end, low freq, high freq, "
                                                f"labels], found {what}"))
            continue
        values: list[float | None] = []
        for value, what in zip(seg[:4], ("start", "end", "low frequency", "high frequency")):
            try:
                values.append(_number(value, what))
            except ValueError as exc:
                problems.append(str(exc))
                values.append(None)
        t_min, t_max, f_lo, f_hi = values
        if f_lo is not None and f_hi is not None and (
                (f_lo == 0 and f_hi == 0) or (0 < f_lo < 1.1 and 0 < f_hi < 1.1)):
            f_lo = f_hi = None  # full-band segment (new and old forms)
        if t_min is not None and t_max is not None:
            problems += box_problems(t_min, t_max, f_lo, f_hi)
        else:  # the frequency checks alone when a time was bad
            problems += box_problems(0.0, 1.0, f_lo, f_hi)
        labels = _labels(seg[4], default_label, polarity, problems)
        if problems:
            errors.append(RowError(file, index, f"segment {index}: " + "; ".join(problems)))
            continue
        for label, pol, tags in labels:
            out.append(Annotation(recording="", t_min=float(t_min), t_max=float(t_max),  # type: ignore[arg-type]
                                  f_min=f_lo, f_max=f_hi, label=label, polarity=pol, file=file, line=index,
                                  tags=tags))
    if errors:
        raise rows_error(errors, out)
    return out


def write(annotations: list[Annotation], out: Path,
          recordings: dict[str, RecordingRef]) -> list[Path]:
    """One `<recording file name>.data` per recording in the folder `out`."""
    out = Path(out)
    groups = by_recording(annotations, recordings)
    names = unique_names([f"{recordings[key].name}.data" for key in groups])
    written: list[Path] = []
    for (key, rows), name in zip(groups.items(), names):
        ref = recordings[key]
        segments: dict[tuple[float, float, float, float], list[dict[str, Any]]] = {}
        for a in rows:
            if a.f_min is None and a.f_max is None:
                f_lo, f_hi = 0.0, 0.0
            else:
                f_lo = 0.0 if a.f_min is None else a.f_min
                f_hi = ref.sample_rate / 2.0 if a.f_max is None else a.f_max
            label: dict[str, Any] = {"species": a.label, "certainty": CERTAINTY[a.polarity], "filter": "M"}
            calltype = next((t[len(CALLTYPE_TAG):] for t in a.tags if t.startswith(CALLTYPE_TAG)), "")
            if calltype:
                label["calltype"] = calltype
            segments.setdefault((a.t_min, a.t_max, f_lo, f_hi), []).append(label)
        doc: list[Any] = [{"Operator": "birdlab", "Reviewer": "", "Duration": ref.duration}]
        doc += [[t0, t1, f0, f1, labels] for (t0, t1, f0, f1), labels in segments.items()]
        path = out / name
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False) + "\n")
        written.append(path)
    return written
