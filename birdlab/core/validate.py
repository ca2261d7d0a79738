"""Schema checks for the JSON that comes from outside: one typed cursor, errors with file and JSON path.

Job files, model cards, AOEF and AviaNZ annotation files are read through `load_json` (size
and nesting limits, UTF-8, JSON syntax with line and column) and then walked with `Node`, whose
accessors check each value's type and name its place as a JSON path (`$.recordings[3].path`).
Any problem is a `SchemaError`: file, place, reason, never a TypeError from deep inside.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from birdlab.core.failures import os_reason
from birdlab.core.paths import shown

MAX_JSON_BYTES = 512 * 1024 * 1024  # a year of AOEF annotations is a few hundred MB at most
MAX_DEPTH = 64  # birdlab's own files nest 5 deep; deeper is a broken or hostile file

_MISSING = object()


def is_text(text: str) -> bool:
    """Whether `text` is real Unicode: JSON can spell an unpaired surrogate ('\\ud800'), which is not
    text and which SQLite and UTF-8 files refuse."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class SchemaError(ValueError):
    """A JSON document that does not have the shape it must; names the file, the place and why."""

    def __init__(self, file: str | Path, where: str, reason: str):
        self.file, self.where, self.reason = shown(file), where, reason
        super().__init__(f"{self.file}: {where}: {reason}" if where and where != "$" else f"{self.file}: {reason}")


def _depth(value: Any) -> int:
    """Nesting depth, without recursion (a hostile file must not exhaust the stack)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            todo.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str, file: str | Path, what: str = "JSON") -> "Node":
    """Parse JSON text from `file`: SchemaError naming line and column, or too deep nesting."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(file, "", f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise SchemaError(file, "", f"nested deeper than {MAX_DEPTH} levels (a broken or hostile file)") from None
    if _depth(value) > MAX_DEPTH:
        raise SchemaError(file, "", f"nested deeper than {MAX_DEPTH} levels (a broken or hostile file)")
    return Node(value, file, "$")


def load_json(path: str | Path, what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES) -> "Node":
    """Read and parse a JSON file with a size limit; every failure is a SchemaError naming the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SchemaError(path, "", f"cannot read the {what}: {os_reason(exc)}") from None
    if len(data) > max_bytes:
        raise SchemaError(path, "", f"larger than {max_bytes // 2**20} MiB; not a {what} birdlab reads")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(path, "", f"not UTF-8 text (byte {exc.start}); not a {what}") from None
    return parse_json(text, path, what)


class Node:
    """A value of a JSON document with its place; accessors check the type they promise."""

    __slots__ = ("value", "file", "where")

    def __init__(self, value: Any, file: str | Path, where: str = "$"):
        self.value, self.file, self.where = value, file, where

    def fail(self, reason: str) -> SchemaError:
        return SchemaError(self.file, self.where, reason)

    def _kind(self) -> str:
        return {dict: "an object", list: "a list", str: "a text", bool: "true/false", type(None): "null",
                int: "a number", float: "a number"}.get(type(self.value), type(self.value).__name__)

    # ---- containers ------------------------------------------------------------------------

    def is_null(self) -> bool:
        return self.value is None

    def obj(self) -> "Node":
        if not isinstance(self.value, dict):
            raise self.fail(f"should be an object, not {self._kind()}")
        return self

    def has(self, key: str) -> bool:
        return key in self.obj().value

    def __getitem__(self, key: str) -> "Node":
        """A required member."""
        value = self.obj().value.get(key, _MISSING)
        if value is _MISSING:
            raise self.fail(f"missing {key!r}")
        return Node(value, self.file, f"{self.where}.{key}")

    def get(self, key: str) -> "Node | None":
        """An optional member (None when absent or null)."""
        value = self.obj().value.get(key)
        return None if value is None else Node(value, self.file, f"{self.where}.{key}")

    def items(self, *, optional: bool = False) -> list["Node"]:
        """The elements of a list (an absent/null list is empty when `optional`)."""
        if optional and self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self.fail(f"should be a list, not {self._kind()}")
        return [Node(v, self.file, f"{self.where}[{i}]") for i, v in enumerate(self.value)]

    def list_of(self, key: str) -> list["Node"]:
        """An optional list member: [] when absent or null."""
        node = self.get(key)
        return [] if node is None else node.items()

    def members(self) -> Iterator[tuple[str, "Node"]]:
        for key, value in self.obj().value.items():
            yield key, Node(value, self.file, f"{self.where}.{key}")

    # ---- scalars ---------------------------------------------------------------------------

    def str(self, *, empty: bool = True) -> str:
        if not isinstance(self.value, str):
            raise self.fail(f"should be a text, not {self._kind()}")
        if not is_text(self.value):
            bad = next(ch for ch in self.value if 0xD800 <= ord(ch) <= 0xDFFF)
            raise self.fail(f"holds an unpaired surrogate (\\u{ord(bad):04x}), which is not text")
        if not empty and not self.value.strip():
            raise self.fail("should not be empty")
        return self.value

    def path(self) -> str:
        """A file path: a non-empty text, which may hold surrogate escapes (os.fsdecode of a file
        name that is not UTF-8, as json writes them)."""
        if not isinstance(self.value, str) or not self.value.strip():
            kind = "empty" if isinstance(self.value, str) else self._kind()
            raise self.fail(f"should be a file path, not {kind}")
        return self.value

    def key(self) -> str:
        """An identifier: a text or an integer, returned as text (ids must be hashable scalars)."""
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int)):
            raise self.fail(f"should be an id (a text or an integer), not {self._kind()}")
        return self.str() if isinstance(self.value, str) else str(self.value)

    def int(self, lo: int | None = None, hi: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail(f"should be an integer, not {self._kind()}")
        self._in_range(self.value, lo, hi)
        return self.value

    def float(self, lo: float | None = None, hi: float | None = None) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise self.fail(f"should be a number, not {self._kind()}")
        if not math.isfinite(self.value):
            raise self.fail(f"should be a finite number, not {self.value}")
        self._in_range(self.value, lo, hi)
        return float(self.value)

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"should be true or false, not {self._kind()}")
        return self.value

    def _in_range(self, value: float, lo: float | None, hi: float | None) -> None:
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            low = "-inf" if lo is None else f"{lo:g}"
            high = "inf" if hi is None else f"{hi:g}"
            raise self.fail(f"{value:g} is outside [{low}, {high}]")

    def strings(self) -> list[str]:
        return [item.str() for item in self.items()]
