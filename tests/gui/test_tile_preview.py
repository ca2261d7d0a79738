"""Far zoomed out, a tile arrives twice: sampled columns at once, then every sample pooled."""

from __future__ import annotations

import numpy as np


def test_the_overview_of_a_long_file_is_previewed_then_replaced_by_the_pooled_tile(qtbot, make_wav):
    from birdlab.gui.spectrogram_view import SpectrogramView

    path = make_wav("long.wav", duration=600.0, sample_rate=8000)
    view = SpectrogramView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    arrivals = []
    view.loader.tileReady.connect(lambda key, tile: arrivals.append((key, tile.exact)))
    view.show()
    view.set_recording(str(path), 8000, 600 * 8000, 1)
    qtbot.waitUntil(lambda: view.is_painted() and not view.loader.busy, timeout=20000)
    overview = [exact for key, exact in arrivals if key == view._overview_key]
    assert overview == [False, True]  # the preview first, the pooled tile last
    assert view.loader.cache[view._overview_key].exact  # only the pooled one is kept
    from birdlab.gui.channel_strip import pool_rows
    shown = pool_rows(view.loader.cache[view._overview_key].values)  # the strip's rows pooled to its height
    assert np.array_equal(view.overview_image.image, shown)


def test_new_tiles_start_computing_once_the_frame_is_painted_or_soon_after(qtbot, make_wav):
    """A held loader starts nothing until `start_queued()` (the view calls it after each painted
    frame), or until its timer runs out when nothing paints."""
    from birdlab.core.sound.tiles import TileGrid
    from birdlab.gui.spectrogram_view import SpectrogramView
    from birdlab.gui.tile_loader import TileLoader

    path = make_wav("short.wav", duration=30.0, sample_rate=8000)
    view = SpectrogramView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.set_recording(str(path), 8000, 30 * 8000, 1)
    keys = view.current_keys()
    grid: TileGrid = view.grid
    for delay, start_by_hand in ((10_000, True), (50, False)):
        loader = TileLoader(threads=1, start_after_ms=delay)
        arrived = []
        loader.tileReady.connect(lambda key, tile: arrived.append(key))
        assert loader.request(keys, grid) == [] and loader.busy
        qtbot.wait(20)
        assert not loader.background._futures and not arrived  # nothing started yet
        if start_by_hand:
            loader.start_queued()
        qtbot.waitUntil(lambda: set(arrived) == set(keys), timeout=10000)
        loader.shutdown()
