"""Axes that speak the user's units: h:mm:ss for long recordings, Hz or kHz."""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg


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


class TimeAxis(pg.AxisItem):
    """Seconds, formatted by `format_time` (no SI prefix: "x0.001" would fight the h:mm:ss labels)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (Qt naming)
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
