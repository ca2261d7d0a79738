"""The truth and detection tables an evaluation reads: any registered format (guessed from the
header when not given), recordings matched by file stem, scores required of detections."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from birdlab.core.ml.eval_report import EvaluationError
from birdlab.core.formats import format_names, get_format
from birdlab.core.formats import guess_format as guess_table_format
from birdlab.core.formats.common import Annotation, TableError, recording_name, table_stem

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".w64", ".rf64")


def row_place(a: Annotation) -> str:
    if a.file:
        return f"{a.file}:{a.line}: " if a.line else f"{a.file}: "
    return f"{a.recording}: " if a.recording else ""


# ---- files ------------------------------------------------------------------------------------


def recording_key(a: Annotation) -> str:
    """How files name a recording for matching: the file stem, without directory or audio extension.

    A table for one recording (`Annotation.recording` empty) is named by its own file name.
    """
    name = recording_name(a.recording) if a.recording else table_stem(a.file)
    return name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in AUDIO_SUFFIXES else name


def _check_keys(items: Sequence[Annotation], what: str) -> None:
    """Refuse two different recordings that would share a key (a/rec.wav and b/rec.wav)."""
    seen: dict[str, tuple[str, Annotation]] = {}
    for a in items:
        full = a.recording.replace("\\", "/")
        key = recording_key(a)
        if not a.recording or full == key:
            continue  # a bare stem: matches whichever file has it
        other = seen.setdefault(key, (full, a))
        if other[0] != full and (recording_name(other[0]) != recording_name(full)
                                 or ("/" in other[0] and "/" in full)):
            raise EvaluationError(
                f"{row_place(a)}{what} name two different recordings with the stem {key!r}: {other[0]!r} "
                f"({row_place(other[1]).rstrip(': ')}) and {full!r}; recordings are matched by stem")


def some_names(names: Iterable[str], n: int = 3) -> str:
    names = sorted(names)
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def guess_format(path: str | Path) -> str:
    """The format of a truth or detection table from its name and header (the formats' own
    sniffers); EvaluationError if none recognises it."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: file not found")
    try:
        name = guess_table_format(path)
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if name is None:
        raise EvaluationError(f"{path}: cannot tell the table's format from its header; name it "
                              f"({', '.join(format_names())})")
    return name


def read_tables(paths: Sequence[str | Path], fmt: str | None, *, predictions: bool,
                default_label: str | None = None) -> list[Annotation]:
    """Annotations of every table (format given or guessed per file), recordings named as written;
    `default_label` is the class of rows that name none.

    EvaluationError listing every bad row of every file (file:line: reason).
    """
    what = "prediction" if predictions else "truth"
    out: list[Annotation] = []
    errors: list[str] = []
    for path in paths:
        path = Path(path)
        try:
            if not path.is_file():
                raise EvaluationError(f"{path}: {what} file not found")
            name = (fmt or guess_format(path)).strip().lower()
            try:
                module = get_format(name)
            except ValueError as exc:
                raise EvaluationError(str(exc)) from None
            rows = module.read(path, default_label=default_label)
        except TableError as exc:
            errors += [str(e) for e in exc.errors]
            continue
        except EvaluationError as exc:
            errors.append(str(exc))
            continue
        for a in rows:
            if not a.file:
                a.file = str(path)
        unscored = [a for a in rows if a.score is None] if predictions else []
        if unscored and len(unscored) == len(rows):
            errors.append(f"{path}:1: missing column 'score' (a {what} table needs a score for every detection)")
        else:
            errors += [f"{row_place(a)}detection has no score (a {what} table needs a score column)" for a in unscored]
        out += rows
    if errors:
        shown = "\n".join(errors[:50]) + (f"\n... and {len(errors) - 50} more" if len(errors) > 50 else "")
        raise EvaluationError(f"{len(errors)} problem(s) in the {what} table(s):\n{shown}")
    _check_keys(out, f"{what} tables")
    return out


def audio_durations(items: Iterable[Annotation]) -> dict[str, float]:
    """Durations (s) of the recordings whose tables name an audio file that exists (a detections
    CSV holds absolute paths), keyed as `recording_key`. Header reads only."""
    from birdlab.core.sound.audio import AudioError, probe

    found: dict[str, float] = {}
    for a in items:
        key = recording_key(a)
        if key in found:
            continue
        if a.recording and Path(a.recording).is_file():
            try:
                found[key] = probe(a.recording).duration
            except AudioError:
                continue
    return found
