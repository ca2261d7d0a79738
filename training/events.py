"""The child's side of the job protocol (DESIGN.md section 5): JSON lines out, cancel in.

Events go to stdout, one JSON object per line (`progress`, `metric`, `artifact`, `done`), and
are copied to the run folder (`log.txt` for everything, `metrics.jsonl` for metrics). A
`cancel` line on stdin or SIGTERM sets the cancel flag; the loop then saves a checkpoint
and ends with `done` / `cancelled`.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Events:
    """Writes protocol events (rank 0 only under torchrun; other ranks are silent)."""

    def __init__(self, stream: TextIO, run_dir: Path | None = None, enabled: bool = True):
        self.stream, self.enabled = stream, enabled
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self._last_progress = 0.0

    def emit(self, event: str, **fields) -> None:
        if not self.enabled:
            return
        record = _clean({"event": event, "time": round(time.time(), 3), **fields})
        line = json.dumps(record)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
            if self.run_dir is not None:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                with open(self.run_dir / "log.txt", "a") as log:
                    log.write(line + "\n")
                if event == "metric":
                    with open(self.run_dir / "metrics.jsonl", "a") as metrics:
                        metrics.write(line + "\n")

    def progress(self, min_interval_s: float = 0.5, force: bool = False, **fields) -> None:
        """A progress event, at most every `min_interval_s` unless forced."""
        now = time.monotonic()
        if force or now - self._last_progress >= min_interval_s:
            self._last_progress = now
            self.emit("progress", **fields)


class CancelFlag:
    """Set by a `cancel` line on stdin or by SIGTERM/SIGINT; polled by the loop between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def listen(self, stdin: TextIO | None = None) -> None:
        """Install the signal handlers and a daemon thread reading stdin (main thread only).

        `restore()` puts the previous signal handlers back.
        """
        self._previous = {sig: signal.signal(sig, lambda *_: self.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        stream = stdin if stdin is not None else sys.stdin
        if stream is None or stream.closed:
            return

        def read() -> None:
            try:
                for line in stream:
                    if line.strip().lower() == "cancel":
                        self.set()
                        return
            except (OSError, ValueError):
                return

        threading.Thread(target=read, name="cancel-listener", daemon=True).start()

    def restore(self) -> None:
        for sig, handler in getattr(self, "_previous", {}).items():
            signal.signal(sig, handler)
