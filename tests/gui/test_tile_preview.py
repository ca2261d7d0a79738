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


def test_after_a_scroll_the_overview_fills_only_the_tiles_not_in_yet(qtbot, make_wav):
    """The whole-file overview under the view is drawn only under the tiles on screen that are
    missing: after scrolling, under the new part, not under the tiles already shown."""
    from birdlab.gui.spectrogram_view import SpectrogramView
    from birdlab.gui.tile_loader import TileLoader

    path = make_wav("long.wav", duration=600.0, sample_rate=8000)
    view = SpectrogramView(loader=TileLoader(threads=1, start_after_ms=60_000))
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    view.set_recording(str(path), 8000, 600 * 8000, 1)
    view.set_visible_range(100.0, 130.0)
    view._update_tiles()
    view.loader.start_queued()
    qtbot.waitUntil(lambda: view.is_painted() and not view.loader.busy, timeout=20000)
    assert not view.background_image.isVisible()  # every tile in: no overview drawn underneath
    before = set(view._wanted)

    view.scroll(1.5)  # past the tiles held: the new ones wait for start_queued
    view._update_timer.stop()
    view._update_tiles()
    on_screen = view._on_screen(view._wanted)  # (the margins beside the view are never drawn)
    missing = [k for k in on_screen if k not in view._tile_items or not view._tile_items[k].isVisible()]
    shown = [k for k in on_screen if k not in missing]
    assert missing and shown and set(shown) <= before
    bg = view.background_image
    assert bg.isVisible()
    per_s = bg.image.shape[1] / (bg.tile.t1 - bg.tile.t0)

    def columns(keys) -> set[int]:
        ranges = (view.grid.tile_range(k.level, k.index) for k in keys)
        return {c for t0, t1 in ranges for c in range(int(round(t0 * per_s)), int(round(t1 * per_s)))}
    gap_columns = {c for x0, x1 in bg.gaps for c in range(int(x0), int(x1))}
    assert columns(missing) <= gap_columns
    assert len(gap_columns - columns(missing)) <= 2 * len(bg.gaps)  # a column of rounding at each end
    assert len(columns(shown) & gap_columns) <= 2 * len(bg.gaps)  # not under the tiles shown
    view.loader.start_queued()
    qtbot.waitUntil(lambda: view.is_painted() and not view.loader.pending(view._wanted), timeout=20000)
    assert not bg.isVisible()
    view.loader.shutdown()
