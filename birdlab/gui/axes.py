"""Axes that speak the user's units: h:mm:ss for long recordings, Hz or kHz."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import pyqtgraph as pg
from PySide6.QtCore import QTimer


def format_time(seconds: float, spacing: float) -> str:
    """Seconds as a tick label: 1.25 for short spans, 1:02:03 past a minute."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if spacing >= 1 and seconds >= 60:
        h, rem = divmod(int(round(seconds)), 3600)
        m, s = divmod(rem, 60)
        return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"
    decimals = 0 if spacing >= 1 else 1 if spacing >= 0.1 else 2 if spacing >= 0.01 else 3
    if seconds >= 60:
        m, s = divmod(seconds, 60)
        return f"{sign}{int(m)}:{s:0{3 + decimals if decimals else 2}.{decimals}f}"
    return f"{sign}{seconds:.{decimals}f}"


# tick steps people count in: decimal below a second, then 1-2-5-10-15-30 s, minutes, hours
TIME_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
              1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_steps(span_s: float, pixels: float, min_px: float = 90.0) -> tuple[float, float]:
    """(major, minor) tick steps for `span_s` seconds over `pixels`: the smallest round step whose
    ticks stand at least `min_px` apart, and the one a few steps finer."""
    fits = [s for s in TIME_STEPS if s * pixels / max(span_s, 1e-9) >= min_px]
    major = fits[0] if fits else TIME_STEPS[-1]
    i = TIME_STEPS.index(major)
    return major, TIME_STEPS[max(0, i - 2)]


def time_unit(span_end_s: float, step_s: float) -> str:
    """The unit the tick labels are in, for the axis title."""
    if step_s >= 1 and span_end_s >= 3600:
        return "h:mm:ss"
    if step_s >= 1 and span_end_s >= 60:
        return "m:ss"
    return "s" if span_end_s < 60 else "m:ss.s"


class TimeAxis(pg.AxisItem):
    """Seconds at round steps (1, 2, 5, 10, 15, 30 s, minutes, hours), formatted by `format_time`,
    the unit in the title; or the time of day when the recording's start is known (`clock_start`,
    from its file name). No SI prefix: "x0.001" would fight the h:mm:ss labels."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.enableAutoSIPrefix(False)
        # text on the major ticks only: the minor ones stand too close for a label, and pyqtgraph
        # would format and measure each of them on every zoom and scroll just to drop them
        self.setStyle(maxTextLevel=0)
        self.clock_start: datetime | None = None
        self.title = ""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802
        major, minor = time_steps(maxVal - minVal, size)
        title = ("time of day" + (" (from the file name)" if major >= 1 else "") if self.clock_start is not None
                 else f"time ({time_unit(maxVal, major)})")
        if title != self.title:
            self.title = title
            QTimer.singleShot(0, self, self._show_title)  # not while painting; never after the axis is gone
        return [(major, 0), (minor, 0)]

    def tickValues(self, minVal, maxVal, size):  # noqa: N802
        """pyqtgraph's result, in plain Python: its numpy version (arange, isclose against the
        coarser levels) costs about a millisecond on every zoom and scroll for a dozen ticks."""
        lo, hi = sorted((minVal * self.scale, maxVal * self.scale))
        levels, coarser = [], []
        for spacing, _ in self.tickSpacing(lo, hi, size):
            first, last = math.ceil(lo / spacing - 1e-9), math.floor(hi / spacing + 1e-9)
            values = [k * spacing for k in range(first, last + 1)
                      if not any(abs(k * spacing / c - round(k * spacing / c)) < 1e-6 for c in coarser)]
            levels.append((spacing / self.scale, [v / self.scale for v in values]))
            coarser.append(spacing)
        return levels

    def _show_title(self) -> None:
        self.setLabel(self.title)

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (Qt naming)
        if self.clock_start is not None:
            fmt = "%H:%M:%S" if spacing * scale >= 1 else "%H:%M:%S.%f"
            return [(self.clock_start + timedelta(seconds=v * scale)).strftime(fmt)[:12] for v in values]
        return [format_time(v * scale, spacing * scale) for v in values]


class FreqAxis(pg.AxisItem):
    """Frequency ticks; `to_hz` maps the view's y (Hz, or mel in mel mode) to Hz."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.enableAutoSIPrefix(False)  # the label says Hz or kHz itself
        self.to_hz: Callable[[float], float] = lambda y: y
        self.khz = True

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        out = []
        for v in values:
            hz = self.to_hz(v * scale)
            out.append(f"{hz / 1000:.3g}" if self.khz else f"{hz:.0f}")
        return out
