"""The batch run's crash-safe journal: append-only JSON lines, each fsync'd before going on.

A file counts as done only once its line is on disk, and that line is written after the
file's outputs were renamed into place, so a SIGKILL at any moment leaves every file either
done (outputs complete) or not done (rescored by `--resume`, its outputs replaced). A kill in
the middle of a line leaves a partial last line, which readers skip.

Lines: {"event": "run", ...settings} at the start of each run; {"event": "done", "file",
"fingerprint", "params", "duration", "sample_rate", "detections": [[t_min, t_max, f_min,
f_max, class, score], ...]}; {"event": "failed", "file", "reason"}.

The journal is also where the combined tables come from at the end of a run: `DoneFiles`
reads each finished file's line back by its byte offset, so a run of many thousands of files
never holds all their detections in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from birdlab.scoring.outputs import FileDone


class Journal:
    """Appends events to one journal file."""

    def __init__(self, path: Path, fresh: bool):
        """fresh: start an empty journal (a new run); otherwise append (resume)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        elif self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as f:  # a kill mid-line: start ours on a new line
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    self._append_raw(b"\n")

    def _append_raw(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, event: dict) -> int:
        """Write one event as one line and fsync it (one write call, so lines never interleave);
        returns the line's byte offset."""
        offset = self.path.stat().st_size if self.path.exists() else 0  # one writer per journal file
        self._append_raw((json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n").encode())
        return offset


def _lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(byte offset, event) of a journal file's lines, skipping a partial or damaged line."""
    try:
        with open(path, "rb") as f:
            offset = 0
            for line in f:
                try:
                    event = json.loads(line.decode("utf-8", errors="replace"))
                except json.JSONDecodeError:
                    event = None
                if isinstance(event, dict):
                    yield offset, event
                offset += len(line)
    except FileNotFoundError:
        return


def read_events(path: Path) -> Iterator[dict]:
    """Events of a journal file, skipping a partial or damaged line."""
    for _, event in _lines(path):
        yield event


@dataclass(frozen=True)
class DoneRef:
    """A finished file and where its journal line is; its detections stay on disk until needed."""

    path: str
    journal: Path
    offset: int


def _file_done(event: dict) -> FileDone:
    """KeyError / TypeError / ValueError / IndexError when the event is not a well-formed done line."""
    return FileDone(path=str(event["file"]), duration=float(event["duration"]), sample_rate=int(event["sample_rate"]),
                    detections=tuple((float(d[0]), float(d[1]), float(d[2]), float(d[3]), str(d[4]), float(d[5]))
                                     for d in event["detections"]))


def load_done(ref: DoneRef) -> FileDone:
    """Read a finished file's line back from its journal."""
    with open(ref.journal, "rb") as f:
        f.seek(ref.offset)
        line = f.readline()
    try:
        done = _file_done(json.loads(line))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
        raise ValueError(f"{ref.journal}: the line at byte {ref.offset} ({ref.path}) changed during the run") from None
    if done.path != ref.path:
        raise ValueError(f"{ref.journal}: the line at byte {ref.offset} is not {ref.path}'s")
    return done


class DoneFiles:
    """Finished files in a given order, read back from the journal on every iteration:
    re-iterable, and memory holds one file's detections at a time."""

    def __init__(self, refs: list[DoneRef]):
        self.refs = refs

    def __len__(self) -> int:
        return len(self.refs)

    def __iter__(self) -> Iterator[FileDone]:
        for ref in self.refs:
            yield load_done(ref)


def done_entries(paths: list[Path], params: str) -> dict[str, tuple[str, DoneRef]]:
    """{absolute file: (fingerprint, DoneRef)} of files done with these params (latest wins)."""
    out: dict[str, tuple[str, DoneRef]] = {}
    for path in paths:
        for offset, event in _lines(path):
            if event.get("event") != "done" or event.get("params") != params:
                continue
            try:
                done = _file_done(event)
            except (KeyError, TypeError, ValueError, IndexError):
                continue
            out[done.path] = (str(event.get("fingerprint", "")), DoneRef(done.path, Path(path), offset))
    return out


def done_event(done: FileDone, fingerprint: str, params: str, seconds: float) -> dict:
    return {"event": "done", "file": done.path, "fingerprint": fingerprint, "params": params,
            "duration": done.duration, "sample_rate": done.sample_rate, "seconds": round(seconds, 3),
            "detections": [list(d) for d in done.detections]}
