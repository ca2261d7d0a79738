"""The strips under the spectrogram (waveform, score tracks, overview, channel lanes): plots
that follow the main view's time range only while they are shown.

An x-linked plot updates its range, its axes and their labels on every zoom and scroll, shown
or not; and each axis re-typesets its title (`QGraphicsTextItem.setHtml`) on every range change
while pyqtgraph's automatic SI prefix is on. Both cost the GUI thread time on every repaint
for strips nobody sees."""

from __future__ import annotations

import pyqtgraph as pg

FULL_HEIGHT = 16777215  # Qt's QWIDGETSIZE_MAX


def quiet_axes(plot: pg.PlotItem) -> None:
    """No automatic SI prefix on any of the plot's axes: their titles say the unit themselves."""
    for name in ("left", "bottom", "right", "top"):
        plot.getAxis(name).enableAutoSIPrefix(False)


def show_strip(plot: pg.PlotItem, main: pg.PlotItem | None, on: bool, height: int = FULL_HEIGHT) -> None:
    """Show or hide a strip; shown, it follows `main`'s time range (None: a strip with its own range).
    A hidden plot keeps its layout row unless its height is 0."""
    if main is not None:
        plot.setXLink(main if on else None)
    plot.setVisible(on)
    plot.setMaximumHeight(height if on else 0)
