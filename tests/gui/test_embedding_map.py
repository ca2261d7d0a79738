"""The embedding map dock: points by class and label, a click plays a window, the lasso queues a cluster."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from birdlab.core.model import Box, Polarity, Source
from tests.gui.windows import new_window
from tests.scoring.test_active_learning import make_project


def test_the_map_shows_labelled_windows_plays_a_click_and_queues_a_lasso(qtbot, tmp_path):
    project, cls, model, recs = make_project(tmp_path)
    project.add_label(recs["r1.wav"].id, cls.id, Box(1.0, 1.5, 500.0, 1500.0), Polarity.POSITIVE, Source.MANUAL)
    project.add_label(recs["r2.wav"].id, cls.id, Box(5.0, 5.5, 2500.0, 3500.0), Polarity.NEGATIVE, Source.MANUAL)
    project.close()
    win = new_window(qtbot, tmp_path, (1400, 900))
    win.open_project(tmp_path / "p")
    win.review.autoplay.setChecked(False)
    played = []
    win.playing.play = lambda t0, t1, band=None: played.append((t0, t1))
    win.class_box.setCurrentText("tone")

    win.show_map()
    panel = win.map_panel
    qtbot.waitUntil(lambda: "t-SNE:" in panel.status.text(), timeout=60000)
    points = panel.points
    assert len(points) == 3 * 28  # every window of this small index
    assert sorted(k for k in points.kinds if k != "unlabelled") == ["negative", "positive"]
    assert len(panel.scatter.points()) == len(points)
    assert panel.xy.shape == (len(points), 2) and np.isfinite(panel.xy).all()
    # the two labelled windows are drawn in the class colour, the others grey
    labelled = [i for i, k in enumerate(points.kinds) if k != "unlabelled"]
    spots = panel.scatter.points()
    assert {spots[i].symbol() for i in labelled} == {"o", "x"}

    # a click on the positive point shows its window and plays it
    i = points.kinds.index("positive")
    scene = panel.view_box.mapViewToScene(QPointF(*panel.xy[i]))
    QTest.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     panel.plot.mapFromScene(scene))
    qtbot.waitUntil(lambda: bool(played), timeout=5000)
    t0, t1 = played[-1]
    span = float(np.ptp(panel.xy[:, 0]) + np.ptp(panel.xy[:, 1]))
    clicked = [j for j in range(len(points)) if abs(points.t_start[j] - t0) < 1e-6 and abs(points.t_end[j] - t1) < 1e-6
               and points.recording_ids[j] == win.session.recording.id]
    assert clicked and min(float(np.hypot(*(panel.xy[j] - panel.xy[i]))) for j in clicked) < 0.03 * span
    v0, v1 = win.view.visible_range()
    assert v0 <= t0 and t1 <= v1  # its window is on screen

    # the lasso around the positive's neighbourhood selects points; they go to the review queue
    x, y = panel.xy[i]
    r = 0.05 * float(np.ptp(panel.xy[:, 0]) + np.ptp(panel.xy[:, 1])) + 1e-3
    panel.select_inside(np.array([[x - r, y - r], [x + r, y - r], [x + r, y + r], [x - r, y + r]]))
    chosen = int(panel.selected.sum())
    assert chosen >= 1 and panel.review_button.isEnabled()
    QTest.mouseClick(panel.review_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.session.review_source is not None, timeout=5000)
    version = win.project.model_version(win.session.review_source)
    assert version.card["query"] == f"map selection of {chosen} windows" and version.card["class"] == "tone"
    assert len(win.review.model.items) == chosen
    panel.grab().save(str(tmp_path / "map.png"))
    win.close()


def test_the_lasso_follows_the_mouse(qtbot, tmp_path):
    project, cls, model, recs = make_project(tmp_path)
    project.close()
    win = new_window(qtbot, tmp_path, (1400, 900))
    win.open_project(tmp_path / "p")
    win.show_map()
    panel = win.map_panel
    qtbot.waitUntil(lambda: "t-SNE:" in panel.status.text(), timeout=60000)
    panel.lasso_button.setChecked(True)
    viewport = panel.plot.viewport()
    rect = viewport.rect()
    w, h = rect.width(), rect.height()  # from the bottom left: the legend (top left) takes its own drags
    corners = [QPoint(w // 8, h * 7 // 8), QPoint(w * 7 // 8, h * 7 // 8), QPoint(w * 7 // 8, h // 8),
               QPoint(w // 8, h // 8)]
    left = Qt.MouseButton.LeftButton
    QTest.mouseMove(viewport, corners[0])
    QTest.mousePress(viewport, left, Qt.KeyboardModifier.NoModifier, corners[0])
    for a, b in zip(corners, corners[1:]):
        for k in range(1, 6):
            p = QPointF(a + (b - a) * (k / 5))
            QApplication.sendEvent(viewport, QMouseEvent(QEvent.Type.MouseMove, p, viewport.mapToGlobal(p),
                                                         Qt.MouseButton.NoButton, left, Qt.KeyboardModifier.NoModifier))
            QTest.qWait(20)  # pyqtgraph drops moves faster than 60 Hz
    QTest.mouseRelease(viewport, left, Qt.KeyboardModifier.NoModifier, corners[-1])
    # the points inside the dragged rectangle are selected, and only they
    corner_view = [panel.view_box.mapSceneToView(panel.plot.mapToScene(c)) for c in (corners[0], corners[2])]
    (x0, x1), (y0, y1) = sorted(p.x() for p in corner_view), sorted(p.y() for p in corner_view)
    xy = panel.xy
    clearly_in = (xy[:, 0] > x0 + 1e-3) & (xy[:, 0] < x1 - 1e-3) & (xy[:, 1] > y0 + 1e-3) & (xy[:, 1] < y1 - 1e-3)
    clearly_out = (xy[:, 0] < x0 - 1e-3) | (xy[:, 0] > x1 + 1e-3) | (xy[:, 1] < y0 - 1e-3) | (xy[:, 1] > y1 + 1e-3)
    assert clearly_in.any() and (panel.selected[clearly_in]).all() and not panel.selected[clearly_out].any()
    assert panel.review_button.text() == f"Review selection ({int(panel.selected.sum())})"
    win.close()
