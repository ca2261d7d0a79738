"""Stacked channels: a multi-channel file shows every channel in its own lane; a click on a lane
shows that channel in the main view."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from tests.gui.windows import new_window

SR = 16000


def _stereo(path):
    """Channel 1: quiet noise. Channel 2: the same noise and a 3 kHz tone from 2 s to 6 s."""
    rng = np.random.default_rng(0)
    t = np.arange(10 * SR) / SR
    noise = 0.01 * rng.standard_normal(len(t))
    tone = np.where((t >= 2) & (t < 6), 0.5 * np.sin(2 * np.pi * 3000 * t), 0.0)
    sf.write(path, np.stack([noise, noise + tone], axis=1).astype(np.float32), SR)
    return path


def _band_row(lane: np.ndarray, hz: float) -> int:
    return int(hz / (SR / 2) * lane.shape[0])


def test_each_channel_has_its_lane_and_a_click_shows_it(qtbot, tmp_path):
    win = new_window(qtbot, tmp_path, (1300, 900))
    win.open_audio([str(_stereo(tmp_path / "stereo.wav"))], tmp_path / "project")
    strip = win.view.channel_strip
    qtbot.waitUntil(lambda: strip.lane_image(0) is not None and strip.lane_image(1) is not None, timeout=10000)
    assert strip.plot.isVisible() and strip.channels == 2
    first, second = strip.lane_image(0), strip.lane_image(1)
    row = _band_row(second, 3000.0)
    # the tone is in the second lane only, around 3 kHz
    assert second[row - 1:row + 2].max() - first[row - 1:row + 2].max() > 30.0
    assert win.channel_box.currentData() == -1  # the main view shows the mix
    overview = win.view.overview_image.image  # a strip a few dozen pixels high: the tone shows there too
    row = _band_row(overview, 3000.0)
    assert overview[row - 1:row + 2].max() - np.median(overview) > 30.0

    box = strip.box
    lane_2 = box.mapViewToScene(QPointF(3.0, 1.5))  # time 3 s, the middle of the second lane
    view = win.view.graphics
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(lane_2))
    qtbot.waitUntil(lambda: win.channel_box.currentData() == 1, timeout=3000)
    assert win.view.settings.channel == 1

    win.stacked_action.trigger()  # View > Stacked channels off
    assert not strip.plot.isVisible()
    win.close()


def test_a_mono_file_has_no_lanes(qtbot, tmp_path):
    win = new_window(qtbot, tmp_path, (1300, 900))
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros(SR * 3, dtype=np.float32), SR)
    win.open_audio([str(mono)], tmp_path / "project")
    qtbot.waitUntil(win.view.is_painted, timeout=10000)
    assert not win.view.channel_strip.plot.isVisible()
    win.close()
