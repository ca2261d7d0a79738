"""The review loop at archive scale: a decision changes its row only, and the queue table is lazy."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from birdlab.core.store.project import Project
from birdlab.core.store.review import QueueSpec, ReviewFilter, ReviewQueue
from birdlab.gui.review_panel import QueueModel, ReviewPanel


def test_a_decision_touches_only_its_row(window, monkeypatch):
    """No whole-model detection list, no queue or recordings-table reset, one row removed, the
    progress moved by one."""
    project, panel = window.project, window.review
    det = panel.current()
    window.go_to_detection(det)
    done, total = window.reviewing.progress[None]
    whole_model_reads, resets, removed, recording_resets = [], [], [], []
    real = project.detections

    def detections(model_id, recording_id=None, *args, **kwargs):
        if recording_id is None:
            whole_model_reads.append(model_id)
        return real(model_id, recording_id, *args, **kwargs)

    monkeypatch.setattr(project, "detections", detections)
    monkeypatch.setattr(project, "label_counts", lambda ids=None, real=project.label_counts: (
        recording_resets.append(ids) if ids is None else None) or real(ids))
    panel.model.modelReset.connect(lambda: resets.append(1))
    panel.model.rowsRemoved.connect(lambda _parent, first, last: removed.append((first, last)))
    QTest.keyClick(window, Qt.Key.Key_A)
    QTest.qWait(50)  # queued project-change signals are delivered
    assert det.id in {lab.detection_id for lab in project.labels()}
    assert whole_model_reads == [] and resets == [] and recording_resets == []
    assert len(removed) == 1 and removed[0][0] == removed[0][1]
    assert window.reviewing.progress[None] == (done + 1, total)
    assert panel.progress_label.text().startswith(f"reviewed {done + 1} / {total}")
    assert panel.current() is not None and panel.current().id != det.id


@pytest.fixture
def big(tmp_path, make_wav):
    """3 classes, 1,500 detections with distinct scores on one recording."""
    p = Project.create(tmp_path / "big")
    rec = p.add_recording(make_wav(duration=600.0, sample_rate=8000)).id
    classes = [p.add_class(n).id for n in ("a", "b", "c")]
    model = p.add_model_version("m", kind="external", activate=True).id
    rng = np.random.default_rng(1)
    scores = rng.permutation(1500) / 1500
    p.set_detections(model, rec, [(classes[i % 3], i * 0.39, i * 0.39 + 0.3, 0.0, 4000.0, float(s))
                                  for i, s in enumerate(scores)])
    yield p, model, classes
    p.close()


def test_the_lazy_queue_table_shows_the_right_rows_after_ordering_and_filtering(qtbot, big):
    project, model, classes = big
    panel = ReviewPanel()
    qtbot.addWidget(panel)
    everything = project.detections(model)

    def show(spec: QueueSpec) -> QueueModel:
        panel.set_queue(ReviewQueue(project, spec), {c: str(c) for c in classes}, lambda ids: {i: f"r{i}" for i in ids})
        return panel.model

    table = show(QueueSpec(model))
    assert table.rowCount() == QueueModel.PAGE and table.canFetchMore()
    by_score = sorted(everything, key=lambda d: -d.score)
    assert [d.id for d in table.items] == [d.id for d in by_score[:QueueModel.PAGE]]
    table.fetchMore()
    assert [d.id for d in table.items] == [d.id for d in by_score[:2 * QueueModel.PAGE]]
    while table.canFetchMore():
        table.fetchMore()
    assert [d.id for d in table.items] == [d.id for d in by_score]
    assert table.data(table.index(0, 3)) == f"{by_score[0].score:.3f}"

    table = show(QueueSpec(model, ReviewFilter(class_id=classes[1], min_score=0.2, max_score=0.7)))
    wanted = sorted((d for d in everything if d.class_id == classes[1] and 0.2 <= d.score <= 0.7),
                    key=lambda d: -d.score)
    while table.canFetchMore():
        table.fetchMore()
    assert [d.id for d in table.items] == [d.id for d in wanted]

    table = show(QueueSpec(model, order="uncertainty", threshold=0.3))
    nearest = sorted(everything, key=lambda d: abs(d.score - 0.3))[:QueueModel.PAGE]
    assert [round(abs(d.score - 0.3), 9) for d in table.items] == [round(abs(d.score - 0.3), 9) for d in nearest]

    far = by_score[3 * QueueModel.PAGE]  # beyond the first page: select reads on to it
    show(QueueSpec(model))
    panel.select(far.id)
    assert panel.current().id == far.id


def _ten_minute_view(qtbot, make_wav):
    """A spectrogram view on a 10-minute recording."""
    from birdlab.gui.spectrogram_view import SpectrogramView

    path = make_wav("long.wav", duration=600.0, sample_rate=8000)
    view = SpectrogramView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    view.set_recording(str(path), 8000, 600 * 8000, 1)
    return view


def test_a_long_recording_draws_only_the_detections_near_the_view(qtbot, make_wav, monkeypatch):
    from birdlab.core.model import Detection
    from birdlab.gui.spectrogram_view import DRAW_ALL_DETECTIONS

    view = _ten_minute_view(qtbot, make_wav)
    dets = [Detection.from_values(i, 1, 1, 1, i * 0.5, i * 0.5 + 1.0, 500.0, 2000.0, 0.2 + (i % 80) / 100)
            for i in range(1190)]
    assert len(dets) > DRAW_ALL_DETECTIONS
    view.set_detections(dets, {1: "a"})
    view.set_visible_range(100.0, 110.0)
    drawn = {d.id for d, _, _ in view.detection_items}
    near = {d.id for d in dets if d.t_max >= 97.5 and d.t_min <= 112.5 and d.score >= view.threshold}
    assert drawn == near  # shown ones in the view and a quarter of it on each side, nothing else
    view.set_visible_range(400.0, 410.0)
    assert {d.id for d, _, _ in view.detection_items} == \
        {d.id for d in dets if d.t_max >= 397.5 and d.t_min <= 412.5 and d.score >= view.threshold}
    view.set_threshold(0.9)
    assert {d.id for d, _, _ in view.detection_items} == \
        {d.id for d in dets if d.t_max >= 397.5 and d.t_min <= 412.5 and d.score >= 0.9}
    view.set_threshold(0.3)  # lower: the newly shown ones get their boxes
    assert {d.id for d, _, _ in view.detection_items} == \
        {d.id for d in dets if d.t_max >= 397.5 and d.t_min <= 412.5 and d.score >= 0.3}
    assert all(rect.isVisible() for d, rect, _ in view.detection_items)
    view.set_threshold(0.9)
    assert len(view.shown_detections()) == sum(d.score >= 0.9 for d in dets)  # all of the recording's
    import birdlab.gui.spectrogram_view as sv
    monkeypatch.setattr(sv, "MAX_DRAWN_DETECTIONS", 100)
    view.set_visible_range(0.0, 600.0)  # zoomed out: the 100 highest scores only
    drawn = sorted(d.score for d, _, _ in view.detection_items)
    assert len(drawn) == 100 and drawn[0] >= sorted(d.score for d in dets)[-100]
    view.loader.shutdown()


def test_a_recording_with_thousands_of_labels_draws_only_those_near_the_view(qtbot, make_wav):
    import time

    from birdlab.core.model import Box, Label
    from birdlab.gui.spectrogram_view import DRAW_ALL_LABELS

    view = _ten_minute_view(qtbot, make_wav)
    labels = [Label(i, 1, 1, Box(i * 0.25, i * 0.25 + 0.5, 500.0, 2000.0)) for i in range(1, 2001)]
    assert len(labels) > DRAW_ALL_LABELS
    view.set_visible_range(100.0, 110.0)
    t0 = time.perf_counter()
    view.set_labels(labels, {1: "a"})
    assert time.perf_counter() - t0 < 2.0  # a box each for 2,000 labels took about 5 s
    near = {lab.id for lab in labels if lab.t_max >= 97.5 and lab.t_min <= 112.5}
    assert set(view.boxes) == near
    far = labels[-1]  # chosen in a table: selected, given a box, brought into view
    view.reveal_labels([far.id])
    assert view.selected_ids() == [far.id] and view.boxes[far.id].selected
    t_a, t_b = view.visible_range()
    assert t_a <= far.t_min and far.t_max <= t_b
    view.set_visible_range(300.0, 310.0)  # the selection keeps its box (and its state) off screen
    assert far.id in view.boxes and view.selected_ids() == [far.id]
    assert set(view.boxes) == {lab.id for lab in labels if lab.t_max >= 297.5 and lab.t_min <= 312.5} | {far.id}
    moved = Label(far.id, 1, 1, Box(far.t_min, far.t_max, 700.0, 1500.0))
    view.set_labels([moved if lab.id == far.id else lab for lab in labels], {1: "a"})
    assert view.boxes[far.id].label == moved and view.boxes[far.id].selected  # rebuilt, still selected
    view.loader.shutdown()


def test_a_read_only_project_refuses_a_macro_without_an_empty_step(qtbot):
    """A relabel is a macro of two labels: refused whole, it leaves no empty step that would make
    the review believe it was made (the queue would move on with nothing written)."""
    from types import SimpleNamespace

    from PySide6.QtGui import QUndoCommand

    from birdlab.gui.commands import ProjectUndoStack

    stack = ProjectUndoStack(lambda: SimpleNamespace(read_only=True))
    said = []
    stack.refused.connect(said.append)
    stack.beginMacro("relabel detection")
    stack.push(QUndoCommand("a"))
    stack.push(QUndoCommand("b"))
    stack.endMacro()
    assert stack.index() == 0 and stack.count() == 0 and len(said) == 1


def test_the_recordings_table_sorts_filters_and_maps_rows_without_a_proxy(qtbot):
    from birdlab.core.model import Recording
    from birdlab.gui.recordings_panel import RecordingRow, RecordingsPanel

    panel = RecordingsPanel()
    qtbot.addWidget(panel)
    recs = [Recording(i, f"site/{name}.wav", 1, "", dur, 8000, 1) for i, (name, dur) in
            enumerate([("b_dawn", 60.0), ("a_dusk", 30.0), ("c_dawn", 90.0)], start=1)]
    panel.set_rows([RecordingRow(r, {"positive": 10 - r.id}, 0.0, False) for r in recs])
    model = panel.model
    assert [model.row_at(i).recording.id for i in range(model.rowCount())] == [2, 1, 3]  # by name
    panel.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # by duration, longest first
    assert [model.row_at(i).recording.id for i in range(3)] == [3, 1, 2]
    assert model.data(model.index(0, 1)) == "01:30" or "1:30" in model.data(model.index(0, 1))
    panel.search.setText("DAWN")
    assert [model.row_at(i).recording.id for i in range(model.rowCount())] == [3, 1]
    panel.select(1)
    assert panel.selected_ids() == [1]
    model.update_rows([RecordingRow(recs[0], {"positive": 42}, 0.5, False)])
    assert model.data(model.index(1, 2)) == 42 and model.data(model.index(1, 5)) == "50 %"
    panel.search.setText("")
    assert model.rowCount() == 3
