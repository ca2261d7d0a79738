"""The image item of spectrogram tiles: pyqtgraph's `ImageItem`, rendered straight to 32-bit colour.

pyqtgraph renders a lookup-table image as an 8-bit indexed QImage (its generic path: level
scaling, a copy, a lookup), and Qt's raster engine then converts every pixel of it to colour
again on every paint. A tile (dB values, row-major, no NaN) entering the view is rendered here
instead in two numpy passes: dB to colour index, index to a 32-bit colour from the table
(about 1 ms for a 513 x 512 tile against 2-3 ms, and no conversion at paint time). Anything
else (NaNs, no table) takes pyqtgraph's path, converted once to 32-bit colour.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage


def colour_table(lut: np.ndarray) -> np.ndarray:
    """An (n, 3|4) uint8 lookup table as opaque 0xffRRGGBB words (QImage.Format_RGB32)."""
    rgb = lut[:, :3].astype(np.uint32)
    return (0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).astype(np.uint32)


def to_colour_index(values: np.ndarray, levels: tuple[float, float], n: int) -> np.ndarray:
    """values scaled from levels (low, high) onto 0..n-1, as pyqtgraph scales them (n colours
    over the range, the top one clipped)."""
    low, high = float(levels[0]), float(levels[1])
    scale = n / ((high - low) or 1.0)
    index = np.subtract(values, low, dtype=np.float32)
    index *= scale
    np.clip(index, 0, n - 1, out=index)
    return index.astype(np.uint8 if n <= 256 else np.uint16)


class TileImage(pg.ImageItem):
    _table_of: tuple[np.ndarray, np.ndarray] | None = None  # (the lut, its colour table)

    def prepare(self) -> None:
        """Render now if a paint would have to: called between frames for tiles just in (or
        just off screen), so the frame that scrolls them into view only draws them."""
        if self.image is not None and (self._renderRequired or self.qimage is None):
            self.render()

    def render(self):
        image, lut, levels = self.image, self.lut, self.levels
        fast = (isinstance(image, np.ndarray) and image.ndim == 2 and image.size and image.dtype.kind == "f"
                and isinstance(lut, np.ndarray) and lut.dtype == np.uint8 and levels is not None
                and np.ndim(levels) == 1 and self.axisOrder == "row-major" and not self.autoDownsample
                and not np.isnan(image.min()))
        if not fast:
            super().render()
            if self.qimage is not None and self.qimage.format() == QImage.Format.Format_Indexed8:
                self.qimage = self.qimage.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
            return
        if self._table_of is None or self._table_of[0] is not lut:
            self._table_of = (lut, colour_table(lut))
        table = self._table_of[1]
        self._colours = np.ascontiguousarray(table[to_colour_index(image, levels, len(table))])  # kept: the QImage borrows it
        self.qimage = pg.functions.ndarray_to_qimage(self._colours, QImage.Format.Format_RGB32)
        self._renderRequired = False
        self._unrenderable = False


class GapImage(TileImage):
    """The whole-file overview under the view's tiles, drawn only in the gaps where a tile of
    the view is not in yet. After a scroll half the view is new: drawing the overview's whole
    width under the other half as well cost about as much again (a scaled image draw is paid
    per pixel drawn)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gaps: list[tuple[float, float]] | None = None  # image columns [x0, x1); None: all of it

    def set_gaps(self, gaps: list[tuple[float, float]] | None) -> None:
        if gaps != self.gaps:
            self.gaps = gaps
            self.update()

    def paint(self, painter, *args):
        if self.gaps is None or self.image is None:
            return super().paint(painter, *args)
        if self._renderRequired or self.qimage is None:
            self.render()
            if self._unrenderable:
                return
        height = self.image.shape[0] if self.axisOrder == "row-major" else self.image.shape[1]
        for x0, x1 in self.gaps:  # the item's coordinates are the image's pixels
            part = QRectF(x0, 0.0, x1 - x0, height)
            painter.drawImage(part, self.qimage, part)
