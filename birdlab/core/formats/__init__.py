"""Import and export of annotation tables: one plug-in module per format, found by the registry.

A format module declares:

    NAME: str                                   # the --format value
    DETECTIONS: bool                            # True: rows are a model's detections with scores (birdnet)
    EXTENSIONS: tuple[str, ...]                 # the file suffixes it reads and writes
    SNIFF_PRIORITY: int                         # sniffers run in this order (specific forms first)
    sniff(path, first_line) -> bool             # optional: does this file look like this format?
                                                # (default: its name ends in one of EXTENSIONS)
    EXPORT_FILE_SUFFIXES: tuple | None          # an export to a path with one of these suffixes is one
                                                # file, else a folder; None: always one file
    KEEPS: tuple[str, ...]                      # optional: what of a label beyond box, class and polarity
                                                # an export writes: "note", "tags" ("calltype": that tag only)
    read(path, *, default_label=None, polarity=None) -> list[Annotation]
    write(annotations, out, recordings) -> list[Path]

Adding a format is adding its module here (and its test): the registry imports every module
of this package that declares NAME, read and write, so the command line's choices, exports and
evaluate's format guessing all derive from it. `read` checks every row and raises `TableError`
with all bad rows; `write` returns the files it wrote (atomically). See `common.py` for the
shared records and each module's docstring for its conventions.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

from birdlab.core.formats.common import Annotation, RecordingRef, RowError, TableError, first_line

REQUIRED = ("NAME", "DETECTIONS", "EXTENSIONS", "EXPORT_FILE_SUFFIXES", "read", "write")


def _discover() -> dict[str, ModuleType]:
    """Every format module of this package, in sniffing order."""
    modules = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if all(hasattr(module, attr) for attr in ("NAME", "read", "write")):
            missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
            if missing:
                raise ImportError(f"format module {module.__name__} lacks {', '.join(missing)}")
            modules.append(module)
    return {m.NAME: m for m in sorted(modules, key=lambda m: (getattr(m, "SNIFF_PRIORITY", 50), m.NAME))}


FORMATS: dict[str, ModuleType] = _discover()


def format_names() -> tuple[str, ...]:
    return tuple(sorted(FORMATS))


def get_format(name: str) -> ModuleType:
    """The format module called `name` (case-insensitive); ValueError listing the valid names."""
    module = FORMATS.get(name.strip().lower())
    if module is None:
        raise ValueError(f"unknown annotation format {name!r} (valid: {', '.join(format_names())})")
    return module


def sniffs(module: ModuleType, path: Path, line: str) -> bool:
    """Whether `path` looks like the module's format: its sniffer, else its file name's suffix."""
    if hasattr(module, "sniff"):
        return module.sniff(path, line)
    return path.name.lower().endswith(tuple(module.EXTENSIONS))


def guess_format(path: str | Path) -> str | None:
    """The format a table looks like (its name and first non-empty line), or None."""
    path = Path(path)
    line = first_line(path)
    return next((name for name, module in FORMATS.items() if sniffs(module, path, line)), None)


def writes_one_file(module: ModuleType, out: str | Path) -> bool:
    """Whether an export in this format to `out` is one file (else a folder of tables)."""
    suffixes = module.EXPORT_FILE_SUFFIXES
    return suffixes is None or Path(out).suffix.lower() in suffixes


__all__ = ["FORMATS", "format_names", "get_format", "guess_format", "writes_one_file", "Annotation",
           "RecordingRef", "RowError", "TableError"]
