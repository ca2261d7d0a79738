"""The loop in the app: detections and score tracks on screen, threshold filtering, keyboard review."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from birdlab.core.model import Polarity, Source
from tests.gui.windows import new_window, open_demo


def test_detections_and_tracks_are_shown_and_the_threshold_filters_them(window):
    view = window.view
    assert view.detection_items and view.tracks_plot.isVisible() and view.track_curves
    model = window.project.active_model()
    stored = window.project.detections(model.id, window.recording.id)
    assert len(view.detection_items) == len(stored)
    window.threshold_slider.setValue(95)
    assert all(d.score >= 0.95 for d in view.shown_detections())
    assert len(view.shown_detections()) == sum(d.score >= 0.95 for d in stored)
    window.threshold_slider.setValue(20)
    assert len(view.shown_detections()) == len(stored)
    assert view.threshold_line.value() == pytest.approx(0.2)


def test_keyboard_review_makes_review_labels_and_moves_on(window):
    project = window.project
    queue = list(window.review.model.items)
    assert len(queue) > 10
    first, second, third = queue[:3]
    window.go_to_detection(first)
    QTest.keyClick(window, Qt.Key.Key_A)
    QTest.keyClick(window, Qt.Key.Key_X)
    QTest.keyClick(window, Qt.Key.Key_S)  # skip the third
    made = {lab.detection_id: lab for lab in project.labels() if lab.source == Source.REVIEW}
    assert made[first.id].polarity == Polarity.POSITIVE and made[second.id].polarity == Polarity.NEGATIVE
    assert (made[first.id].t_min, made[first.id].class_id) == (first.t_min, first.class_id)
    assert third.id not in made
    assert window.review.current().id == queue[3].id  # skip moved past the third
    remaining = [d.id for d in window.review.model.items]
    assert first.id not in remaining and second.id not in remaining  # unreviewed only
    assert window.review.progress_label.text().startswith("reviewed 2 / ")
    window.undo_stack.undo()
    assert second.id not in {lab.detection_id for lab in project.labels()}
    assert window.review.progress_label.text().startswith("reviewed 1 / ")


def test_relabel_makes_a_negative_and_a_positive_in_one_undo_step(window):
    project = window.project
    det = window.review.current()
    window.go_to_detection(det)  # on screen: a decision is never blind
    other = next(c for c in project.classes() if c.id != det.class_id)
    window.class_box.setCurrentText(other.name)
    n = len(project.labels())
    QTest.keyClick(window, Qt.Key.Key_C)
    made = [lab for lab in project.labels() if lab.detection_id == det.id]
    assert {(lab.class_id, lab.polarity) for lab in made} == {(det.class_id, Polarity.NEGATIVE),
                                                              (other.id, Polarity.POSITIVE)}
    window.undo_stack.undo()
    assert len(project.labels()) == n


def test_review_order_and_filters(window):
    window.review.order_box.setCurrentText("uncertainty")
    scores = [abs(d.score - window.view.threshold) for d in window.review.model.items]
    assert scores == sorted(scores)
    cls = window.project.classes()[0]
    window.review.class_box.setCurrentIndex(window.review.class_box.findData(cls.id))
    assert window.review.model.items and all(d.class_id == cls.id for d in window.review.model.items)
    window.review.this_recording.setChecked(True)
    assert all(d.recording_id == window.recording.id for d in window.review.model.items)


def test_versions_panel_lists_versions_and_reactivates_one(window, qtbot):
    project = window.project
    demo = project.active_model()
    other = project.add_model_version("copy", "onnx", demo.path, parent_id=demo.id,
                                      card={**demo.card, "metrics": {"cmap": 0.5}})
    project.set_active_model(other.id)
    qtbot.waitUntil(lambda: window.versions.table.rowCount() == 2, timeout=5000)
    assert window.versions.table.item(0, 1).text() == "copy" and window.versions.table.item(0, 0).text() == "●"
    window.versions.table.selectRow(1)
    window.versions.activate.click()
    assert project.active_model().id == demo.id
    qtbot.waitUntil(lambda: window.model_label.text().strip() == "model: demo", timeout=5000)
    with project.transaction() as db:
        db.execute("DELETE FROM model_versions WHERE id = ?", (other.id,))


def test_report_panel_shows_the_active_model_against_the_labels(window, tmp_path):
    from PySide6.QtGui import QImage
    report = window.show_report()
    assert report is not None and window.report_dock.isVisible()
    assert {c.name for c in report.classes} == {c.name for c in window.project.classes()}
    out = tmp_path / "report.png"
    window.report_panel.grab().save(str(out))
    image = QImage(str(out))
    assert image.width() > 200 and image.height() > 200


def test_changing_the_look_keeps_detections_and_tracks(window):
    n = len(window.view.detection_items)
    window.nfft_box.setCurrentText("512")
    window.mel_box.setChecked(True)
    assert len(window.view.detection_items) == n and window.view.track_curves
    det, rect, _ = window.view.detection_items[0]
    assert rect.rect().top() == pytest.approx(window.view.hz_to_y(det.f_min))  # boxes follow the mel axis
    window.mel_box.setChecked(False)


def test_rescoring_with_the_same_version_keeps_the_review_done(window, qtbot):
    """Pressing Score again must not bring reviewed detections back into the queue."""
    project = window.project
    queue = list(window.review.model.items)
    window.go_to_detection(queue[0])
    QTest.keyClick(window, Qt.Key.Key_A)
    reviewed = {lab.detection_id for lab in project.labels() if lab.source == Source.REVIEW}
    assert queue[0].id in reviewed
    window.go_to_detection(queue[0])  # A moved on, maybe to another recording: back to the reviewed one
    model = project.active_model()
    on_screen = {d.id for d in project.detections(model.id, window.recording.id)}
    assert reviewed & on_screen
    with qtbot.waitSignal(window.scorer.finished, timeout=60000):
        window.rescore_current()
    qtbot.waitUntil(lambda: window.score_bar.isHidden(), timeout=10000)
    after = {d.id for d in project.detections(model.id, window.recording.id)}
    assert after == on_screen  # the same model on the same audio: the same rows
    assert reviewed == {lab.detection_id for lab in project.labels() if lab.source == Source.REVIEW}
    assert not reviewed & {d.id for d in window.review.model.items}


def test_a_decision_is_never_blind_the_first_key_shows_the_detection(window):
    """The queue highlights a detection the view does not show: A first shows it, the next A decides."""
    project = window.project
    queue = list(window.review.model.items)
    target = next(d for d in queue if d.t_min > 12.0)
    window.review.select(target.id)
    window.view.set_visible_range(0.0, 5.0)
    assert not window.on_screen(target)
    QTest.keyClick(window, Qt.Key.Key_A)
    assert target.id not in {lab.detection_id for lab in project.labels()}  # nothing decided blind
    assert window.on_screen(target) and window.review.current().id == target.id
    QTest.keyClick(window, Qt.Key.Key_A)
    made = {lab.detection_id: lab for lab in project.labels() if lab.source == Source.REVIEW}
    assert made[target.id].polarity == Polarity.POSITIVE


def test_a_read_only_project_opens_for_viewing_and_refuses_edits_in_the_app(qtbot, demo_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("birdlab.core.store.project.writable", lambda root: False)
    win = new_window(qtbot, tmp_path, (1400, 900))
    open_demo(qtbot, win, demo_dir)
    try:
        assert win.project.read_only and "[read-only]" in win.windowTitle()
        assert "read-only" in win.statusBar().currentMessage()
        before = len(win.project.labels())
        det = win.review.current()
        win.go_to_detection(det)
        QTest.keyClick(win, Qt.Key.Key_A)
        assert len(win.project.labels()) == before and win.undo_stack.count() == 0
        assert "read-only" in win.statusBar().currentMessage()
    finally:
        win.close()


def test_review_keys_decide_whatever_has_focus_and_never_become_a_class_name(window):
    project = window.project

    def decided(det):
        return [lab.polarity for lab in project.labels() if lab.detection_id == det.id]

    classes_before = [c.name for c in project.classes()]
    assert window.class_box.focusPolicy() == Qt.FocusPolicy.ClickFocus  # only a click gives it the keys
    first = window.review.current()
    window.go_to_detection(first)
    QTest.keyClick(window.top_db, Qt.Key.Key_A)  # a toolbar spin box has the focus
    assert decided(first) == [Polarity.POSITIVE]
    second = window.review.current()
    window.go_to_detection(second)
    edit = window.class_box.lineEdit()
    text = window.class_box.currentText()
    QTest.keyClicks(edit, "x")  # the clicked class box takes text: no decision
    assert window.class_box.currentText() == text + "x" and decided(second) == []
    window.class_box.setEditText(text)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    QTest.keyClick(window.labels_table.filter, Qt.Key.Key_X)
    assert decided(second) == [] and window.labels_table.filter.text() == "x"  # a search box keeps its letters
    window.labels_table.filter.clear()
    QTest.keyClick(window.view, Qt.Key.Key_X)
    assert decided(second) == [Polarity.NEGATIVE]
    assert [c.name for c in project.classes()] == classes_before


def test_f1_lists_every_shortcut_of_the_window_from_its_actions(window):
    from PySide6.QtGui import QAction

    from birdlab.gui.shortcuts import action_shortcuts, shortcuts_html

    actions = window.findChildren(QAction)
    listed = dict((what, keys) for keys, what in action_shortcuts(actions))
    for what, key in (("Accept (positive label)", "A"), ("Reject (negative label)", "X"), ("Uncertain", "Q")):
        assert listed[what] == key
    html = shortcuts_html(actions)
    for action in actions:
        for key in action.shortcuts():
            assert f"<b>{key.toString()}" in html or f"/ {key.toString()}" in html, action.text()


def test_the_detection_under_review_is_framed(window):
    det = window.review.current()
    window.go_to_detection(det)
    frame = window.view.review_highlight
    assert frame.isVisible()
    rect = frame.rect()
    assert (rect.left(), rect.right()) == pytest.approx((det.t_min, det.t_max))
    assert (rect.top(), rect.bottom()) == pytest.approx((window.view.hz_to_y(det.f_min), window.view.hz_to_y(det.f_max)))
    QTest.keyClick(window, Qt.Key.Key_S)  # skip: the frame follows the queue
    nxt = window.review.current()
    assert nxt.id != det.id and frame.rect().left() == pytest.approx(nxt.t_min)
