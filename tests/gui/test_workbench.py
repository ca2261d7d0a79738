"""The workbench driven like a user: mouse drags draw labels, keys edit them, undo restores the
database exactly, zoom and scroll move the view, the table and the view stay in sync."""

import dataclasses
import sqlite3

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from birdlab.core.model import Polarity
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project
from tests.gui.windows import new_window


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("gui") / "project"
    make_synthetic_project(root, SyntheticProjectSpec(recordings=2, duration_s=20.0, species=2)).close()
    return root


@pytest.fixture
def window(qtbot, project_dir, tmp_path):
    win = new_window(qtbot, tmp_path, (1400, 850))
    win.open_project(project_dir)
    win.class_box.setCurrentText("upsweep_warbler")
    win.view.set_visible_range(0.0, 10.0)
    qtbot.waitUntil(lambda: win.view.is_painted(), timeout=10000)
    yield win
    win.close()
    with sqlite3.connect(project_dir / "project.sqlite") as conn:  # keep the module's project as it was
        conn.execute("DELETE FROM labels WHERE source = 'manual'")
        conn.execute("DELETE FROM reviewed_extents WHERE id > 2")


def to_viewport(win, t: float, hz: float) -> QPoint:
    scene = win.view.view.mapViewToScene(QPointF(t, win.view.hz_to_y(hz)))
    return win.view.graphics.mapFromScene(scene)


def drag(win, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton,
         modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    viewport = win.view.graphics.viewport()
    QTest.mouseMove(viewport, start)  # hover first, as a hand does
    QTest.qWait(20)
    QTest.mousePress(viewport, button, modifiers, start)
    for k in range(1, 11):
        p = QPointF(start + (end - start) * (k / 10))
        move = QMouseEvent(QEvent.Type.MouseMove, p, viewport.mapToGlobal(p), Qt.MouseButton.NoButton, button,
                           modifiers)
        QApplication.sendEvent(viewport, move)
        QTest.qWait(20)  # pyqtgraph drops mouse moves that come faster than 60 Hz
    QTest.mouseRelease(viewport, button, modifiers, end)


def db_rows(project_dir):
    """Every column of every label, straight from SQLite (what is on disk)."""
    with sqlite3.connect(project_dir / "project.sqlite") as conn:
        return conn.execute("SELECT * FROM labels ORDER BY id").fetchall()


def manual_labels(win):
    return [lab for lab in win.project.labels(win.recording.id) if lab.source.value == "manual"]


def draw_box(win, t0=2.0, t1=3.0, f0=1000.0, f1=4000.0):
    drag(win, to_viewport(win, t0, f0), to_viewport(win, t1, f1))
    labels = manual_labels(win)
    assert labels, "the drag made no label"
    return labels[-1]


def test_drag_draws_a_positive_label_with_the_dragged_bounds(window):
    label = draw_box(window)
    px_t = (window.view.visible_range()[1] - window.view.visible_range()[0]) / window.view.view.width()
    px_f = window.view.nyquist / window.view.view.height()
    assert label.t_min == pytest.approx(2.0, abs=2 * px_t) and label.t_max == pytest.approx(3.0, abs=2 * px_t)
    assert label.f_min == pytest.approx(1000.0, abs=2 * px_f) and label.f_max == pytest.approx(4000.0, abs=2 * px_f)
    assert label.polarity == Polarity.POSITIVE
    assert window.project.class_(label.class_id).name == "upsweep_warbler"
    assert label.id in window.view.boxes and window.view.selected_ids() == [label.id]
    assert window.labels_table.selected_ids() == [label.id]


def test_keys_change_polarity_and_undo_redo_restore_the_database(window, project_dir):
    before = db_rows(project_dir)
    label = draw_box(window)
    after_draw = db_rows(project_dir)
    QTest.keyClick(window, Qt.Key.Key_N)
    assert window.project.label(label.id).polarity == Polarity.NEGATIVE
    after_n = db_rows(project_dir)
    QTest.keyClick(window, Qt.Key.Key_U)
    assert window.project.label(label.id).polarity == Polarity.UNCERTAIN
    window.undo_stack.undo()
    assert db_rows(project_dir) == after_n
    window.undo_stack.undo()
    assert db_rows(project_dir) == after_draw
    window.undo_stack.undo()
    assert db_rows(project_dir) == before
    window.undo_stack.redo()
    assert db_rows(project_dir) == after_draw  # the same id and timestamps come back
    window.undo_stack.redo()
    assert db_rows(project_dir) == after_n


def test_delete_several_and_undo(window, project_dir):
    a = draw_box(window, 1.0, 1.5)
    b = draw_box(window, 4.0, 4.5)
    snapshot = db_rows(project_dir)
    window.view.select_labels([a.id, b.id], emit=True)
    QTest.keyClick(window, Qt.Key.Key_Delete)
    ids = {row[0] for row in db_rows(project_dir)}
    assert a.id not in ids and b.id not in ids and not {a.id, b.id} & set(window.view.boxes)
    window.undo_stack.undo()
    assert db_rows(project_dir) == snapshot


def test_a_drag_inside_an_unselected_box_draws_a_nested_box_and_moves_nothing(window, project_dir):
    outer = draw_box(window, 2.0, 6.0, 1000.0, 8000.0)
    window.view.select_labels([], emit=True)
    assert window.view.selected_ids() == []
    drag(window, to_viewport(window, 3.0, 2000.0), to_viewport(window, 4.0, 5000.0))
    assert window.project.label(outer.id) == outer  # the expert's box did not move
    inner = manual_labels(window)[-1]
    assert inner.id != outer.id
    assert inner.t_min == pytest.approx(3.0, abs=0.05) and inner.t_max == pytest.approx(4.0, abs=0.05)
    assert outer.t_min < inner.t_min < inner.t_max < outer.t_max  # nested, as drawn


def test_only_a_selected_box_moves_and_alt_drag_always_draws(window, project_dir):
    label = draw_box(window, 2.0, 4.0, 1000.0, 6000.0)
    assert window.view.selected_ids() == [label.id]
    start = to_viewport(window, 3.0, 3000.0)
    drag(window, start, to_viewport(window, 3.5, 5000.0), modifiers=Qt.KeyboardModifier.AltModifier)
    assert window.project.label(label.id) == label  # Alt: a new box, the selected one stays
    assert len(manual_labels(window)) == 2
    window.view.select_labels([], emit=True)
    QTest.mouseClick(window.view.graphics.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     to_viewport(window, 2.3, 1500.0))  # a click inside selects
    assert label.id in window.view.selected_ids()


def test_moving_a_box_edits_the_label_and_undo_puts_it_back(window, project_dir):
    label = draw_box(window)
    snapshot = db_rows(project_dir)
    box = window.view.boxes[label.id]
    centre = to_viewport(window, (label.t_min + label.t_max) / 2, (label.f_min + label.f_max) / 2)
    drag(window, centre, centre + QPoint(60, 0))
    moved = window.project.label(label.id)
    assert moved.t_min > label.t_min + 0.1 and moved.t_max - moved.t_min == pytest.approx(label.t_max - label.t_min)
    shown = window.view.boxes[label.id]  # the box on screen sits where the label now is
    assert shown.pos().x() == pytest.approx(moved.t_min, abs=1e-6) and shown.label.t_min == moved.t_min
    assert box.label.id == label.id
    window.undo_stack.undo()
    assert db_rows(project_dir) == snapshot


def test_zoom_and_scroll_change_the_view(window, qtbot):
    view = window.view
    view.setFocus()
    t0, t1 = view.visible_range()
    QTest.keyClick(view, Qt.Key.Key_Plus)
    z0, z1 = view.visible_range()
    assert z1 - z0 == pytest.approx((t1 - t0) / 2, rel=1e-3)
    QTest.keyClick(view, Qt.Key.Key_Right)
    s0, s1 = view.visible_range()
    assert s0 > z0 and s1 - s0 == pytest.approx(z1 - z0, rel=1e-3)
    drag(window, to_viewport(window, s0 + 0.5, 100), to_viewport(window, s0 + 1.5, 100), Qt.MouseButton.RightButton)
    r0, r1 = view.visible_range()
    assert r1 - r0 == pytest.approx(1.0, abs=0.05)
    viewport = view.graphics.viewport()
    pos = QPointF(to_viewport(window, (r0 + r1) / 2, 1000))
    wheel = QWheelEvent(pos, viewport.mapToGlobal(pos), QPoint(0, 0), QPoint(0, -240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    w0, w1 = view.visible_range()
    assert w1 - w0 > (r1 - r0) * 1.2  # wheel down zooms out
    view.scrollbar.setValue(view.scrollbar.maximum())
    assert view.visible_range()[1] == pytest.approx(view.duration, abs=1e-6)
    qtbot.waitUntil(view.is_painted, timeout=10000)


def test_table_and_view_stay_in_sync(window):
    a = draw_box(window, 1.0, 1.5)
    b = draw_box(window, 5.0, 5.5)
    window.labels_table.select([a.id])
    window.labels_table.selectionChanged.emit(window.labels_table.selected_ids())
    assert window.view.selected_ids() == [a.id]
    window.view.boxes[b.id].clicked.emit(b.id, False)
    assert window.labels_table.selected_ids() == [b.id]
    window.labels_table.filter.setText("negative")
    rows = window.labels_table.proxy.rowCount()
    assert rows == sum(1 for lab in window.project.labels(window.recording.id) if lab.polarity == Polarity.NEGATIVE)
    window.labels_table.filter.setText("")
    table = window.labels_table.table
    table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    starts = [window.labels_table.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole)
              for r in range(window.labels_table.proxy.rowCount())]
    assert starts == sorted(starts, reverse=True)


def test_mark_reviewed_and_change_class(window):
    label = draw_box(window)
    window.class_box.setCurrentText("downsweep_tit")
    QTest.keyClick(window, Qt.Key.Key_L)
    assert window.project.class_(window.project.label(label.id).class_id).name == "downsweep_tit"
    n = len(window.project.extents(window.recording.id))
    QTest.keyClick(window, Qt.Key.Key_R)
    extents = window.project.extents(window.recording.id)
    assert len(extents) == n + 1
    window.undo_stack.undo()
    assert len(window.project.extents(window.recording.id)) == n


def test_screenshot_is_not_blank_and_shows_the_boxes(project_dir, tmp_path, qtbot):
    from birdlab.gui.app import run
    out = tmp_path / "shot.png"
    assert run([str(project_dir)], screenshot=str(out), view_range=(0.0, 10.0), size=(1200, 800)) == 0
    image = QImage(str(out))
    assert image.width() == 1200 and image.height() == 800
    arr = np.frombuffer(image.convertToFormat(QImage.Format.Format_RGB32).constBits(), np.uint8)
    arr = arr.reshape(image.height(), image.width(), 4)[:, :, :3].astype(int)
    assert arr.std() > 20  # not blank
    spectrogram = arr[40:int(0.5 * image.height()), int(0.25 * image.width()):]  # right of the recordings panel
    from birdlab.core.store.project import Project
    from birdlab.gui.palette import class_colour
    with Project.open(project_dir) as project:
        shown = {lab.class_id for lab in project.labels(project.recordings()[0].id) if lab.t_min < 10.0}
    assert shown
    for class_id in shown:  # each class's boxes in its own colour (qimage is BGRA: reversed)
        c = class_colour(class_id)
        near = np.abs(spectrogram[:, :, ::-1] - np.array([c.red(), c.green(), c.blue()])).max(axis=2) < 40
        assert near.sum() > 40, class_colour(class_id).name()


@pytest.mark.parametrize("kind", ["384kHz", "6ch", "10h"])
def test_odd_recordings_open_and_scroll(kind, tmp_path, qtbot):
    path = tmp_path / f"{kind}.flac"
    if kind == "384kHz":
        sr, seconds, channels = 384000, 3.0, 1
    elif kind == "6ch":
        sr, seconds, channels = 48000, 5.0, 6
    else:
        sr, seconds, channels = 8000, 10 * 3600.0, 1
    with sf.SoundFile(path, "w", sr, channels, "PCM_16") as f:
        block = int(sr * 60)
        rng = np.random.default_rng(0)
        for start in range(0, int(sr * seconds), block):  # written in blocks: memory stays small
            n = min(block, int(sr * seconds) - start)
            data = np.zeros((n, channels), np.float32)
            data[: min(n, sr // 2)] = 0.1 * rng.standard_normal((min(n, sr // 2), channels))
            f.write(data)
    win = new_window(qtbot, tmp_path)
    win.open_audio([str(path)], project_folder=tmp_path / "p")
    assert win.recording is not None and win.channel_box.count() == channels + 1
    view = win.view
    qtbot.waitUntil(view.is_painted, timeout=15000)
    view.set_visible_range(0, view.duration)
    qtbot.waitUntil(view.is_painted, timeout=15000)
    for _ in range(3):
        view.zoom(0.25, centre=view.duration * 0.6)
        view.scroll(1.0)
        qtbot.waitUntil(view.is_painted, timeout=15000)
    if channels > 1:
        win.channel_box.setCurrentIndex(6)
        qtbot.waitUntil(view.is_painted, timeout=15000)
    win.close()


def test_dataclass_settings_are_copied():
    from birdlab.gui.spectrogram_view import ViewSettings
    a = ViewSettings()
    assert dataclasses.replace(a, mel=True).mel and not a.mel


def test_frequency_limits_and_mel_axis(window):
    window.fmin.setValue(1000)
    window.fmax.setValue(4000)
    (_, _), (y0, y1) = window.view.view.viewRange()
    assert (y0, y1) == pytest.approx((1000, 4000))
    window.mel_box.setChecked(True)
    (_, _), (m0, m1) = window.view.view.viewRange()
    assert window.view.y_to_hz(m0) == pytest.approx(1000, rel=1e-3)
    assert window.view.y_to_hz(m1) == pytest.approx(4000, rel=1e-3)
    window.mel_box.setChecked(False)
    window.fmin.setValue(0)
    window.fmax.setValue(0)


def test_time_axis_keeps_seconds_at_millisecond_zoom(qtbot):
    from birdlab.gui.axes import TimeAxis
    axis = TimeAxis("bottom")
    axis.setLabel("time")
    axis.setRange(0.0, 0.6)  # a bat call view: pyqtgraph would rescale to "x0.001" and print 100 as 1:40
    assert "0.001" not in axis.labelString()
    assert axis.tickStrings([0.1, 0.2], 1.0, 0.1) == ["0.1", "0.2"]


def test_the_labels_table_gives_the_class_the_room_not_the_author(window):
    header = window.labels_table.table.horizontalHeader()
    from birdlab.gui.labels_table import COLUMNS
    widths = [header.sectionSize(c) for c in range(len(COLUMNS))]
    assert widths[COLUMNS.index("class")] == max(widths)
    assert widths[COLUMNS.index("author")] < 0.25 * sum(widths)


def test_denoise_and_auto_contrast_change_the_picture_not_the_tiles(window, qtbot):
    view = window.view
    qtbot.waitUntil(lambda: view.is_painted() and not view.loader.busy, timeout=10000)
    items = [item for key, item in view._tile_items.items() if key in view._wanted]
    before = [item.image.copy() for item in items]
    window.denoise_box.setChecked(True)
    after = [item.image for item in items]
    assert all(item.tile is not None for item in items)  # the same tiles, not recomputed
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    floor = window.top_db.value() - window.db_range.value()
    assert all(abs(float(np.median(np.median(img, axis=1))) - (floor + 6.0)) < 1.0 for img in after)
    window.denoise_box.setChecked(False)
    top, span = view.auto_levels()
    window.auto_contrast.click()
    assert (window.top_db.value(), window.db_range.value()) == (top, span)
    assert view.settings.top_db == top and view.settings.db_range == span


def test_frequency_zooms_from_its_axis_and_fits_the_selected_band(window, qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    view = window.view
    (t0, t1), (y0, y1) = view.view.viewRange()
    label = draw_box(window, 2.0, 3.0, 2000.0, 3000.0)
    QTest.keyClick(window, Qt.Key.Key_F)
    _, (f0, f1) = view.view.viewRange()
    pad = 0.1 * (label.f_max - label.f_min)
    assert f0 == pytest.approx(label.f_min - pad, abs=1) and f1 == pytest.approx(label.f_max + pad, abs=1)
    assert view.visible_range() == pytest.approx((t0, t1))  # time untouched
    QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    assert view.view.viewRange()[1] == pytest.approx([y0, y1])
    # the wheel over the picture zooms time only; over the frequency axis, frequency only
    axis = view.freq_axis
    centre = axis.mapToScene(axis.boundingRect().center())
    graphics = view.graphics
    pos = graphics.mapFromScene(centre)
    wheel = QWheelEvent(QPointF(pos), QPointF(graphics.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(graphics.viewport(), wheel)
    _, (g0, g1) = view.view.viewRange()
    assert g1 - g0 < 0.9 * (y1 - y0) and view.visible_range() == pytest.approx((t0, t1))
    assert label.id in view.boxes


def test_window_and_overlap_recompute_the_tiles(window, qtbot):
    view = window.view
    assert view.grid.hop0 == 256 and view.spectrogram_config().window == "hann"  # 1024, 75 % by default
    window.overlap_box.setCurrentIndex(window.overlap_box.findData(0.5))
    window.window_box.setCurrentText("blackman")
    assert view.grid.hop0 == 512 and view.spectrogram_config().hop == 512
    assert view.spectrogram_config().window == "blackman"
    qtbot.waitUntil(lambda: view.is_painted() and not view.loader.busy, timeout=10000)
    shown = [item.tile for key, item in view._tile_items.items() if key in view._wanted]
    assert shown and all(abs(t.column_s * view.sample_rate - view.grid.hop(t.level)) < 1e-6 for t in shown)
    assert all(key.config.window == "blackman" for key in view._wanted)


def test_the_waveform_strip_follows_the_view_and_hides(window, qtbot):
    view = window.view
    qtbot.waitUntil(lambda: view.is_painted() and not view.loader.busy, timeout=10000)
    x, low, high = view.waveform.envelope()
    t0, t1 = view.visible_range()
    assert len(x) and x.min() <= t0 + 1.0 and x.max() >= t1 - 1.0  # the strip covers the view
    assert (high >= low).all() and high.max() > 0
    view.set_visible_range(0.0, 20.0)  # the tiles follow on a timer, the strip with them
    qtbot.waitUntil(lambda: len(view.waveform.envelope()[0]) and view.waveform.envelope()[0].max() >= 19.0,
                    timeout=10000)
    window.waveform_action.trigger()
    assert not view.waveform.plot.isVisible()


def test_the_recordings_panel_shows_and_searches_the_folder(qtbot, tmp_path, make_wav):
    from birdlab.core.model import Recording
    from birdlab.gui.recordings_panel import COLUMNS, RecordingRow, RecordingsPanel

    panel = RecordingsPanel()
    qtbot.addWidget(panel)

    def rec(i, path):
        return Recording(i, path, 1000, "v1:x", 60.0, 48000, 1, "WAV", "PCM_16")

    panel.model.set_rows([RecordingRow(rec(1, "siteA/night/20240601_053000.wav"), {}, 0.0, False),
                          RecordingRow(rec(2, "siteB/night/20240601_053000.wav"), {}, 0.0, False)])
    folder = COLUMNS.index("folder")
    cells = [panel.model.index(r, folder).data() for r in range(2)]
    assert cells == ["siteA/night", "siteB/night"]  # the same file name, told apart by its folder
    panel.search.setText("siteb")
    assert panel.model.rowCount() == 1 and panel.model.index(0, folder).data() == "siteB/night"


def test_a_labels_note_is_edited_in_the_table_and_undone(window, qtbot):
    from PySide6.QtWidgets import QLineEdit

    from birdlab.gui.labels_table import NOTE

    label = draw_box(window, 5.0, 6.0, 1000.0, 3000.0)
    table = window.labels_table
    table.select([label.id])
    row = next(r for r in range(table.proxy.rowCount()) if table.id_at(r) == label.id)
    index = table.proxy.index(row, NOTE)
    table.table.setCurrentIndex(index)
    table.table.edit(index)
    editor = next(w for w in table.table.viewport().findChildren(QLineEdit) if w.isVisible())
    QTest.keyClicks(editor, "faint, under a cricket")  # letters stay in the editor: no review key fires
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.project.label(label.id).note == "faint, under a cricket", timeout=3000)
    assert window.project.label(label.id).polarity == label.polarity  # the X and U typed were text
    window.undo_stack.undo()
    assert window.project.label(label.id).note == ""
    table.filter.setText("cricket")  # the table's filter finds notes
    assert table.proxy.rowCount() == 0
    window.undo_stack.redo()
    qtbot.waitUntil(lambda: table.proxy.rowCount() == 1, timeout=3000)


def _edit_cell(table, label_id: int, column: int):
    """Open the editor of a label's cell as F2 would; returns the editor widget."""
    from PySide6.QtWidgets import QComboBox, QLineEdit

    row = next(r for r in range(table.proxy.rowCount()) if table.id_at(r) == label_id)
    index = table.proxy.index(row, column)
    table.table.setCurrentIndex(index)
    QTest.keyClick(table.table, Qt.Key.Key_F2)
    found = table.table.viewport().findChildren(QLineEdit) + table.table.viewport().findChildren(QComboBox)
    return next(w for w in found if w.isVisible() and not isinstance(w.parent(), QComboBox))


def test_tags_class_and_polarity_are_edited_in_the_table_and_undone(window, qtbot):
    from birdlab.core.model import Polarity
    from birdlab.gui.labels_table import COLUMNS, TAGS

    window.project.add_class("Other bird")
    label = draw_box(window, 5.0, 6.0, 1000.0, 3000.0)
    table = window.labels_table
    editor = _edit_cell(table, label.id, TAGS)
    QTest.keyClicks(editor, "calltype:song; flight")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.project.label(label.id).tags == ("calltype:song", "flight"), timeout=3000)
    combo = _edit_cell(table, label.id, COLUMNS.index("polarity"))
    combo.setCurrentText("negative")
    QTest.keyClick(combo, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.project.label(label.id).polarity is Polarity.NEGATIVE, timeout=3000)
    combo = _edit_cell(table, label.id, COLUMNS.index("class"))
    assert combo.findText("Other bird") >= 0 and combo.isEditable() is False  # a typo makes no class
    combo.setCurrentText("Other bird")
    QTest.keyClick(combo, Qt.Key.Key_Return)
    other = window.project.class_by_name("Other bird").id
    qtbot.waitUntil(lambda: window.project.label(label.id).class_id == other, timeout=3000)
    for _ in range(3):
        window.undo_stack.undo()
    back = window.project.label(label.id)
    assert (back.tags, back.polarity, back.class_id) == ((), label.polarity, label.class_id)
    table.filter.setText("flight")  # the filter finds tags
    assert table.proxy.rowCount() == 0


def test_the_labels_table_measures_each_box_from_the_audio(window, qtbot):
    from birdlab.core.sound.measure import measure_box
    from birdlab.gui.labels_table import COLUMNS

    label = draw_box(window, 5.0, 6.0, 1000.0, 3000.0)
    table = window.labels_table
    row = table.model.row_of(label.id)
    peak = table.model.index(row, COLUMNS.index("peak (Hz)"))
    qtbot.waitUntil(lambda: peak.data() != "", timeout=10000)  # filled in off the GUI thread
    want = measure_box(window.recording.abs_path, label.box, window.recording.duration)
    assert float(peak.data()) == pytest.approx(want.peak_hz, abs=1)
    stored = window.project.label(label.id)
    assert table.model.index(row, COLUMNS.index("duration (s)")).data() == f"{stored.t_max - stored.t_min:.3f}"
    assert table.model.index(row, COLUMNS.index("band (Hz)")).data() == f"{stored.f_max - stored.f_min:.0f}"
    snr = table.model.index(row, COLUMNS.index("SNR (dB)")).data()
    assert snr == ("" if np.isnan(want.snr_db) else f"{want.snr_db:.1f}")
    from birdlab.gui.commands import EditLabels
    window.undo_stack.push(EditLabels(window.project, [label.id], "move", t_min=7.0, t_max=8.0))  # measured again
    moved = measure_box(window.recording.abs_path, window.project.label(label.id).box, window.recording.duration)
    qtbot.waitUntil(lambda: table.model.index(table.model.row_of(label.id), COLUMNS.index("peak time (s)")).data()
                    == f"{moved.peak_time_s:.3f}", timeout=10000)


def test_a_screenshot_shows_one_tab_bar_on_the_right_and_no_stale_one(qtbot, tmp_path):
    """Review, Model versions and Embedding map share one tab bar. Qt replaces the bar it made
    for the first two and deletes the old one later; the screenshot path, which pumps events
    without an event loop, must delete it too, or it is drawn over the Review panel."""
    from PySide6.QtWidgets import QApplication, QTabBar

    from birdlab.gui.app import _wait

    win = new_window(qtbot, tmp_path, (1500, 900))

    def shown_bars() -> list[list[str]]:
        return [[bar.tabText(i) for i in range(bar.count())] for bar in win.findChildren(QTabBar)
                if bar.parent() is win and bar.isVisible()]
    _wait(QApplication.instance(), lambda: False, 0.1)
    assert sum("Model versions" in tabs for tabs in shown_bars()) == 1
    assert ["Review", "Model versions", "Embedding map"] in shown_bars()
    win.close()
