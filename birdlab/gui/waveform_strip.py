"""The waveform strip under the spectrogram: each column's min and max, from the tiles in view.

The tiles already hold their columns' waveform envelope (`Tile.envelope`, computed with the
spectrogram from the same samples), so the strip reads no audio of its own and follows every
zoom at once, pooled like the spectrogram when zoomed out."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from birdlab.core.sound.tiles import Tile

WAVE_COLOUR = "#9ad1ff"


class WaveformStrip:
    def __init__(self, graphics: pg.GraphicsLayoutWidget, row: int, x_link: pg.PlotItem):
        self.plot = graphics.addPlot(row=row, col=0)
        self.plot.setXLink(x_link)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("bottom")
        self.plot.setLabel("left", "wave")
        self.plot.getAxis("left").setWidth(x_link.getAxis("left").width())
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # full scale is 1: "x0.001" reads as another unit
        self.plot.setYRange(-1.0, 1.0, padding=0.02)
        pen = pg.mkPen(WAVE_COLOUR, width=1)
        self.upper = pg.PlotDataItem([], [], pen=pen)
        self.lower = pg.PlotDataItem([], [], pen=pen)
        self.fill = pg.FillBetweenItem(self.lower, self.upper, brush=pg.mkBrush(154, 209, 255, 110))
        for item in (self.upper, self.lower, self.fill):
            self.plot.addItem(item)
        self.plot.setMaximumHeight(90)

    def set_visible(self, on: bool) -> None:
        self.plot.setVisible(on)
        self.plot.setMaximumHeight(90 if on else 0)  # a hidden plot keeps its layout row otherwise

    def show(self, tiles: list[Tile]) -> None:
        """Draw the envelope of these tiles (one zoom level, any order); nothing without tiles."""
        tiles = sorted((t for t in tiles if t.envelope is not None), key=lambda t: t.t0)
        if not tiles:
            self.upper.setData([], [])
            self.lower.setData([], [])
            return
        x = np.concatenate([t.t0 + (np.arange(t.envelope.shape[1]) + 0.5) * t.column_s for t in tiles])
        low = np.concatenate([t.envelope[0] for t in tiles])
        high = np.concatenate([t.envelope[1] for t in tiles])
        self.upper.setData(x, high)
        self.lower.setData(x, low)
        peak = float(max(np.abs(low).max(), np.abs(high).max(), 1e-4))
        self.plot.setYRange(-peak, peak, padding=0.05)  # quiet recordings fill the strip too
