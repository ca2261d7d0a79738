"""A text progress bar for long command-line work: count, rate, ETA (and x real time for audio)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """Redraws one line on a terminal; on a pipe it prints a line every `every` seconds."""

    def __init__(self, total: int, what: str = "files", stream: TextIO | None = None,
                 every: float = 5.0, width: int = 28):
        self.total = max(0, total)
        self.what = what
        self.stream = stream or sys.stderr
        self.every = every
        self.width = width
        self.done = 0
        self.audio_s = 0.0
        self.start = time.monotonic()
        self._last = 0.0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, n: int = 1, audio_s: float = 0.0) -> None:
        self.done += n
        self.audio_s += audio_s
        now = time.monotonic()
        if self.tty or now - self._last >= self.every or self.done >= self.total:
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.start
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        text = f"[{bar}] {self.done}/{self.total} {self.what} {rate:.1f}/s ETA {format_duration(eta)}"
        if self.audio_s and elapsed > 0:
            text += f" {self.audio_s / 3600:.2f} h audio {self.audio_s / elapsed:.0f}x real time"
        return text

    def _draw(self, now: float) -> None:
        end = "" if self.tty and self.done < self.total else "\n"
        prefix = "\r" if self.tty else ""
        self.stream.write(prefix + self.line(now) + end)
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()
