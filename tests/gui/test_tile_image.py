"""TileImage renders tiles straight to 32-bit colour: the same pixels as pyqtgraph's own path."""

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage

from birdlab.gui.tile_image import TileImage


def pixels(item: pg.ImageItem) -> np.ndarray:
    image = item.qimage.convertToFormat(QImage.Format.Format_RGB32)
    return np.array([[image.pixel(x, y) & 0xFFFFFF for x in range(image.width())] for y in range(image.height())])


@pytest.mark.parametrize("levels", [(-80.0, 0.0), (-30.0, -10.0), (5.0, 5.0)])
def test_tile_colours_match_pyqtgraphs_own_rendering(qtbot, levels):
    rng = np.random.default_rng(0)
    values = rng.uniform(-100, 10, (40, 60)).astype(np.float32)
    values[0, :5] = [levels[0], levels[1], -1e9, 1e9, (levels[0] + levels[1]) / 2]  # the edges and far outside
    lut = pg.colormap.get("viridis").getLookupTable(nPts=256, alpha=True)
    ours, theirs = TileImage(), pg.ImageItem()
    for item in (ours, theirs):
        item.setImage(values, levels=levels, autoLevels=False, lut=lut, axisOrder="row-major")  # as the view's
        item.render()
    assert ours.qimage.format() == QImage.Format.Format_RGB32  # no conversion left for paint time
    assert theirs.qimage.format() == QImage.Format.Format_Indexed8
    np.testing.assert_array_equal(pixels(ours), pixels(theirs))


def test_tiles_with_gaps_take_pyqtgraphs_path_in_32_bit_colour(qtbot):
    values = np.zeros((8, 8), np.float32)
    values[2, 3] = np.nan
    lut = pg.colormap.get("viridis").getLookupTable(nPts=256, alpha=True)
    item = TileImage()
    item.setImage(values, levels=(-1.0, 1.0), autoLevels=False, lut=lut, axisOrder="row-major")
    item.render()
    assert item.qimage.depth() == 32
    assert item.qimage.pixelColor(3, 2).alpha() == 0  # the gap stays transparent


def test_the_overview_under_the_tiles_is_drawn_only_in_the_gaps(qtbot):
    """GapImage draws its image's columns [x0, x1) of each gap, and nothing elsewhere; with no
    gaps given (None) it draws all of it."""
    from PySide6.QtGui import QPainter

    from birdlab.gui.tile_image import GapImage

    values = np.linspace(-1.0, 1.0, 20 * 10, dtype=np.float32).reshape(10, 20)  # 10 rows, 20 columns
    lut = pg.colormap.get("viridis").getLookupTable(nPts=256, alpha=True)
    item = GapImage()
    item.setImage(values, levels=(-1.0, 1.0), autoLevels=False, lut=lut, axisOrder="row-major")
    item.render()
    drawn = pixels(item)

    def painted(gaps):
        canvas = QImage(20, 10, QImage.Format.Format_RGB32)
        canvas.fill(0)
        item.set_gaps(gaps)
        painter = QPainter(canvas)
        item.paint(painter)
        painter.end()
        return np.array([[canvas.pixel(x, y) & 0xFFFFFF for x in range(20)] for y in range(10)])

    out = painted([(2.0, 5.0), (12.0, 13.0)])
    inside = np.zeros(20, bool)
    inside[2:5] = inside[12:13] = True
    np.testing.assert_array_equal(out[:, inside], drawn[:, inside])
    assert (out[:, ~inside] == 0).all() and (drawn[:, ~inside] != 0).all()
    np.testing.assert_array_equal(painted(None), drawn)
    assert (painted([]) == 0).all()
