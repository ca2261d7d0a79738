"""The waveform strip under the spectrogram: each column's min and max, from the tiles in view.

The tiles already hold their columns' waveform envelope (`Tile.envelope`, computed with the
spectrogram from the same samples), so the strip reads no audio of its own and follows every
zoom at once, pooled like the spectrogram when zoomed out."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from birdlab.core.sound.tiles import Tile
from birdlab.gui.strip_plot import show_strip

WAVE_COLOUR = "#9ad1ff"


class WaveformStrip:
    def __init__(self, graphics: pg.GraphicsLayoutWidget, row: int, x_link: pg.PlotItem):
        self.plot = graphics.addPlot(row=row, col=0)
        self.x_link = x_link
        self.plot.setXLink(x_link)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("bottom")
        self.plot.setLabel("left", "wave")
        self.plot.getAxis("left").setWidth(x_link.getAxis("left").width())
        self.plot.getAxis("left").setTicks([[], []])  # the shape is what it is for; no ticks to recompute
        self.plot.setYRange(-1.0, 1.0, padding=0.02)
        # one vertical segment per column, min to max: one path drawn in one call
        self.curve = pg.PlotDataItem([], [], pen=pg.mkPen(WAVE_COLOUR, width=1), connect="pairs")
        self.plot.addItem(self.curve)
        self.plot.setMaximumHeight(90)
        self._peak = 0.0

    def set_visible(self, on: bool) -> None:
        show_strip(self.plot, self.x_link, on, 90)

    def show(self, tiles: list[Tile], visible: tuple[float, float] | None = None, pixels: int = 0) -> None:
        """Draw the envelope of these tiles (one zoom level, any order); nothing without tiles.

        With `visible` and `pixels`, only the columns in that time range are drawn, pooled (min of
        the minima, max of the maxima) to about one per pixel: the tiles around the view hold two
        or three times the columns the strip can show, and each is a segment to draw on every
        repaint (the strip cost 10 ms of a 25 ms repaint before)."""
        tiles = sorted((t for t in tiles if t.envelope is not None), key=lambda t: t.t0)
        if not tiles:
            self.curve.setData([], [])
            return
        x = np.concatenate([t.t0 + (np.arange(t.envelope.shape[1]) + 0.5) * t.column_s for t in tiles])
        low = np.concatenate([t.envelope[0] for t in tiles])
        high = np.concatenate([t.envelope[1] for t in tiles])
        if visible is not None and pixels > 0:
            step = tiles[0].column_s
            lo = int(np.searchsorted(x, visible[0] - step, side="left"))
            hi = int(np.searchsorted(x, visible[1] + step, side="right"))
            x, low, high = x[lo:hi], low[lo:hi], high[lo:hi]
            group = max(1, len(x) // pixels)
            if group > 1 and len(x):
                starts = np.arange(0, len(x), group)
                x = x[starts]
                low = np.minimum.reduceat(low, starts)
                high = np.maximum.reduceat(high, starts)
        if not len(x):
            self.curve.setData([], [])
            return
        self.curve.setData(np.repeat(x, 2), np.column_stack([low, high]).ravel())
        peak = float(max(np.abs(low).max(), np.abs(high).max(), 1e-4))
        if abs(peak - self._peak) > 0.02 * self._peak:  # a new range only when it changed: a relayout each time
            self._peak = peak
            self.plot.setYRange(-peak, peak, padding=0.05)  # quiet recordings fill the strip too

    def envelope(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, min, max) as drawn."""
        x, y = self.curve.getData()
        if x is None or not len(x):
            return np.empty(0), np.empty(0), np.empty(0)
        return x[::2], y[::2], y[1::2]
