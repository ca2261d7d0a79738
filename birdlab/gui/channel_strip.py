"""Stacked channels: under the spectrogram of a multi-channel file, every channel's own
spectrogram in a lane of its own (channel 1 at the top), at the view's time range. A click on a
lane shows that channel in the main view.

The lanes are tiles of the view's loader (the same cache and worker threads), one zoom level
coarser than the main view: a lane is a few dozen pixels high, and half the columns halve the work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsSceneMouseEvent

from birdlab.core.sound.tiles import Tile
from birdlab.gui.strip_plot import show_strip
from birdlab.gui.tile_image import TileImage

LANE_HEIGHT_PX = 56
LANE_ROWS = 64  # frequency rows a lane shows: each the loudest of the bins it covers


def pool_rows(values: np.ndarray, rows: int = LANE_ROWS) -> np.ndarray:
    """values[freq, column] reduced to at most `rows` rows by their maximum, so a pure tone one
    bin wide still shows in a lane a few dozen pixels high."""
    n = values.shape[0]
    if n <= rows:
        return values
    edges = np.linspace(0, n, rows + 1).astype(int)
    return np.maximum.reduceat(values, edges[:-1], axis=0)


class _LanesViewBox(pg.ViewBox):
    laneClicked = Signal(int)

    def mouseClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802 (Qt naming)
        if event.button() == Qt.MouseButton.LeftButton:
            y = self.mapSceneToView(event.scenePos()).y()
            self.laneClicked.emit(int(np.floor(y)))
            event.accept()
        else:
            super().mouseClickEvent(event)


class ChannelStrip:
    """Lanes for `channels` channels; y in [c, c + 1) is channel c, drawn top-down."""

    def __init__(self, graphics: pg.GraphicsLayoutWidget, row: int, x_link: pg.PlotItem):
        self.box = _LanesViewBox()
        self.plot = graphics.addPlot(row=row, col=0, viewBox=self.box)
        self.x_link = x_link
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("bottom")
        self.plot.setLabel("left", "channels")
        self.plot.getAxis("left").setWidth(x_link.getAxis("left").width())
        self.box.invertY(True)  # channel 1 on top, as Raven stacks them
        self.laneClicked = self.box.laneClicked
        self.channels = 0
        self.wanted: set = set()
        self.items: dict = {}
        self.set_visible(False)

    @property
    def active(self) -> bool:
        return self.plot.isVisible() and self.channels > 1

    def set_visible(self, on: bool) -> None:
        show_strip(self.plot, self.x_link, on, LANE_HEIGHT_PX * max(self.channels, 1))

    def set_channels(self, channels: int) -> None:
        """A new recording: no lanes drawn yet."""
        for item in self.items.values():
            self.plot.removeItem(item)
        self.items, self.wanted, self.channels = {}, set(), channels
        self.plot.setYRange(0, max(channels, 1), padding=0)
        self.plot.getAxis("left").setTicks([[(c + 0.5, f"ch {c + 1}") for c in range(channels)]])

    def want(self, keys: list) -> None:
        """The tiles (`TileKey`s, one channel each) that the lanes show now; others are hidden."""
        self.wanted = set(keys)
        for key, item in self.items.items():
            item.setVisible(key in self.wanted)

    def place(self, key, tile: Tile, image: Callable[[Tile], tuple[np.ndarray, tuple[float, float], np.ndarray]]
              ) -> None:
        """Show a tile in its channel's lane; `image(tile)` gives the values, levels and colours
        the main view would use."""
        if key not in self.wanted:
            return
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = TileImage()
            self.plot.addItem(item)
        values, levels, lut = image(tile)
        item.setImage(pool_rows(values), levels=levels, autoLevels=False, lut=lut)
        item.tile = tile
        # frequency rises upwards inside a lane although lanes run downwards: flip the rect's height
        item.setRect(QRectF(tile.t0, key.channel + 1, tile.t1 - tile.t0, -1))
        item.setVisible(True)

    def lane_image(self, channel: int) -> np.ndarray | None:
        """What a lane shows now, its tiles side by side (tests)."""
        shown = sorted((item for key, item in self.items.items() if key.channel == channel and key in self.wanted
                        and item.image is not None), key=lambda item: item.tile.t0)
        return np.concatenate([item.image for item in shown], axis=1) if shown else None
