"""Path safety at the edge: outputs that can never overwrite inputs, and a path jail.

Every command that writes checks each output path here before it writes anything. A
mistyped `--out` must never destroy a project database, a model, a run or a recording
(SQLite and git refuse the same way). `check_output` refuses, with a message naming the path
and the reason:
- a path that is, or lies inside, a project's database, `models/` or `runs/` folder (the
  project is found by walking up from the path, so any project counts, not only the one the
  command opened);
- a path that is one of the command's inputs (tables, models, recordings);
- an existing file that is an SQLite database or an audio file (told by its first bytes);
- a path the OS cannot hold: a folder given for a file, a file among the parent folders, a
  name longer than the file system allows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROJECT_DB = "project.sqlite"
PROTECTED_FOLDERS = ("models", "runs")
# First bytes of files no output may replace: SQLite databases and the audio formats we read.
MAGIC = {b"SQLite format 3\x00": "an SQLite database", b"RIFF": "an audio file (WAV)",
         b"RF64": "an audio file (RF64)", b"BW64": "an audio file (BW64)", b"FORM": "an audio file (AIFF)",
         b"fLaC": "an audio file (FLAC)", b"OggS": "an audio file (Ogg)", b"ID3": "an audio file (MP3)",
         b"riff": "an audio file (W64)", b"wvpk": "an audio file (WavPack)", b".snd": "an audio file (AU)"}
NAME_MAX = 255
PATH_MAX = 4096


class OutputRefused(Exception):
    """An output path that would overwrite something the user has; nothing was written."""


def shown(path: str | os.PathLike | bytes, limit: int | None = None) -> str:
    """A path as text for messages: undecodable bytes of a non-UTF-8 name become U+FFFD; with
    `limit`, a longer path keeps its start and its end around an ellipsis."""
    text = os.fsencode(path).decode("utf-8", errors="replace")
    if limit is not None and len(text) > limit:
        head = limit // 3
        text = f"{text[:head]}...{text[-(limit - head - 3):]}"
    return text


def _resolve(path: str | Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path))).resolve()


def _kind_of_file(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "an audio file (MP3)"
    return next((what for magic, what in MAGIC.items() if head.startswith(magic)), None)


def project_part(path: Path) -> str | None:
    """What part of a project `path` is or lies in ("the database of project P", ...), or None."""
    for folder in [path, *path.parents]:
        if not (folder / PROJECT_DB).is_file():
            continue
        if path.parent == folder and path.name.startswith(PROJECT_DB):  # the database, -wal, -shm, -journal
            return f"the database of project {shown(folder)}"
        for sub in PROTECTED_FOLDERS:
            if path == folder / sub or path.is_relative_to(folder / sub):
                return f"inside the {sub} folder of project {shown(folder)}"
        return None
    return None


def _check_name(path: Path) -> None:
    raw = os.fsencode(path)
    if len(raw) >= PATH_MAX:
        raise OutputRefused(f"{shown(path)[:80]}...: path too long ({len(raw)} bytes; the limit is {PATH_MAX - 1})")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise OutputRefused(f"{shown(path)}: a name in the path is too long "
                                f"({len(os.fsencode(part))} bytes; the limit is {NAME_MAX})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputRefused(f"{shown(path)}: {shown(parent)} is a file, not a folder")
            return


def check_output(path: str | Path, *, inputs: Iterable[str | Path] = (), folder: bool = False,
                 what: str = "output") -> Path:
    """Refuse (OutputRefused) an output path that would overwrite something; returns it resolved.

    folder: the output is a folder the command writes into (`score --out`, `demo DIR`),
    else a single file.
    """
    if not str(path).strip():
        raise OutputRefused(f"the {what} path is empty")
    target = _resolve(path)
    _check_name(target)
    part = project_part(target)
    if part:
        raise OutputRefused(f"{shown(path)}: refused as {what}: it is {part}; choose a path outside the project's "
                            f"database, models and runs")
    for item in inputs:
        if _resolve(item) == target:
            raise OutputRefused(f"{shown(path)}: refused as {what}: it is one of this command's inputs")
    if folder:
        if target.exists() and not target.is_dir():
            raise OutputRefused(f"{shown(path)}: refused as {what} folder: it is a file")
        return target
    if target.is_dir():
        raise OutputRefused(f"{shown(path)}: is a folder; give a file name for the {what}")
    kind = _kind_of_file(target) if target.is_file() else None
    if kind:
        raise OutputRefused(f"{shown(path)}: refused as {what}: it is {kind}, which an output never replaces")
    return target


def check_outputs_of(paths: Iterable[Path], protected: Iterable[str | Path]) -> None:
    """Refuse when any of the files a command is about to write is a protected input
    (e.g. the recordings of a project, checked by resolved path)."""
    protected_set = {_resolve(p) for p in protected}
    for path in paths:
        if _resolve(path) in protected_set:
            raise OutputRefused(f"{shown(path)}: refused as output: it is one of the inputs (a recording)")
        check_output(path)


def confine(path: str | Path, root: str | Path, what: str = "path") -> Path:
    """`root / path`, refusing (ValueError) one that climbs out of `root` (a path jail)."""
    base = _resolve(root)
    candidate = _resolve(base / path)
    if candidate != base and not candidate.is_relative_to(base):
        raise ValueError(f"{what} {shown(path)!r} lies outside {shown(base)}")
    return candidate
