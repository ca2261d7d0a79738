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
