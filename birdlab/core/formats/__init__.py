"""Import and export of annotation tables: one module per external format.

Every format module has the same interface:

    NAME: str                                   # the CLI's --format value
    DETECTIONS: bool                            # True: rows are detections with scores (birdnet)
    read(path, *, default_label=None, polarity=None) -> list[Annotation]
    write(annotations, out, recordings) -> list[Path]

`read` checks every row and raises `TableError` with all bad rows; `write` returns the files it
wrote (atomically). See `common.py` for the shared records and each module's docstring for its
conventions (polarity encodings, label forms, units).
"""

from __future__ import annotations

from types import ModuleType

from birdlab.core.formats import aoef, audacity, avianz, birdnet, raven, rfcx
from birdlab.core.formats.common import Annotation, RecordingRef, RowError, TableError

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (raven, rfcx, audacity, avianz, aoef, birdnet)}


def get_format(name: str) -> ModuleType:
    """The format module called `name` (case-insensitive); ValueError listing the valid names."""
    module = FORMATS.get(name.strip().lower())
    if module is None:
        raise ValueError(f"unknown annotation format {name!r} (valid: {', '.join(FORMATS)})")
    return module


__all__ = ["FORMATS", "get_format", "Annotation", "RecordingRef", "RowError", "TableError"]
