"""Recordings panel: several recordings marked empty for classes at once, undoable."""

from PySide6.QtCore import QItemSelectionModel

from birdlab.core.store.project import Project
from tests.gui.windows import new_window


def test_selected_recordings_are_marked_empty_and_undo_removes_the_marks(qtbot, tmp_path, make_wav):
    folder = tmp_path / "p"
    with Project.create(folder) as project:
        project.add_class("A")
        project.add_class("B")
        project.add_audio([make_wav(f"r{i}.wav", duration=3.0 + i) for i in range(3)])
    win = new_window(qtbot, tmp_path)
    win.open_project(folder)
    qtbot.waitUntil(lambda: win.recordings.model.rowCount() == 3, timeout=10000)
    table, proxy = win.recordings.table, win.recordings.table.model()
    for row in (0, 2):
        table.selectionModel().select(proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                                      | QItemSelectionModel.SelectionFlag.Rows)
    ids = win.recordings.selected_ids()
    assert len(ids) == 2
    b = win.project.class_by_name("B").id
    win.mark_empty(ids, [b])
    extents = win.project.extents()
    assert sorted(e.recording_id for e in extents) == sorted(ids)
    assert all(e.t_min == 0 and e.t_max == win.project.recording(e.recording_id).duration and e.class_ids == (b,)
               for e in extents)
    qtbot.waitUntil(lambda: sum(1 for row in win.recordings.model.rows if row[2] == 1.0) == 2, timeout=5000)
    win.undo_stack.undo()
    assert win.project.extents() == []
    win.close()
