"""Characterisation of the app's edits, row by row: what each decision key (A, X, Q, C), the
reviewed key R and every undoable command write to the database, and that undo and redo put
it back exactly. These pin behaviour before the window's logic moves into controllers; each
compares whole rows, so a one-line mutation (a label with the full band instead of the
detection's, R marking every class) fails here.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from birdlab.cli import main
from birdlab.core.model import Box, Polarity
from birdlab.gui.commands import AddLabel

TABLES = ("labels", "reviewed_extents", "reviewed_extent_classes", "classes", "detections")


def snapshot(folder) -> dict[str, list[tuple]]:
    """Every row of every table an edit can touch, as stored."""
    with sqlite3.connect(folder / "project.sqlite") as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


def new_rows(before: dict, after: dict, table: str) -> list[tuple]:
    return [row for row in after[table] if row not in before[table]]


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("characterise") / "demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    return folder


@pytest.fixture
def demo_dir(built_demo, tmp_path):
    """A fresh copy of the demo project for each test (the recordings stay shared)."""
    folder = tmp_path / "demo"
    shutil.copytree(built_demo, folder, ignore=shutil.ignore_patterns("audio", "cache"))
    (folder / "audio").symlink_to(built_demo / "audio")
    return folder


def label_columns(folder) -> list[str]:
    with sqlite3.connect(folder / "project.sqlite") as conn:
        return [r[1] for r in conn.execute("PRAGMA table_info(labels)")]


@pytest.mark.parametrize("key, polarity", [(Qt.Key.Key_A, "positive"), (Qt.Key.Key_X, "negative"),
                                           (Qt.Key.Key_Q, "uncertain")])
def test_a_decision_key_writes_one_review_label_with_the_detections_box(window, demo_dir, key, polarity):
    det = window.review.current()
    window.go_to_detection(det)
    before = snapshot(demo_dir)
    QTest.keyClick(window, key)
    after = snapshot(demo_dir)
    added = new_rows(before, after, "labels")
    assert len(added) == 1 and {t: before[t] == after[t] for t in TABLES if t != "labels"} == \
        {t: True for t in TABLES if t != "labels"}
    row = dict(zip(label_columns(demo_dir), added[0]))
    assert (row["recording_id"], row["class_id"], row["detection_id"]) == (det.recording_id, det.class_id, det.id)
    assert (row["t_min"], row["t_max"], row["f_min"], row["f_max"]) == (det.t_min, det.t_max, det.f_min, det.f_max)
    assert (row["polarity"], row["source"]) == (polarity, "review")
    assert row["created"] and row["author"] == window.project.author
    window.undo_stack.undo()
    assert snapshot(demo_dir) == before
    window.undo_stack.redo()
    assert snapshot(demo_dir) == after  # the same row again: id and times included


def test_relabel_writes_a_negative_and_a_positive_with_the_detections_box(window, demo_dir):
    det = window.review.current()
    window.go_to_detection(det)
    other = next(c for c in window.project.classes() if c.id != det.class_id)
    window.class_box.setCurrentText(other.name)
    before = snapshot(demo_dir)
    QTest.keyClick(window, Qt.Key.Key_C)
    after = snapshot(demo_dir)
    cols = label_columns(demo_dir)
    added = sorted((dict(zip(cols, r)) for r in new_rows(before, after, "labels")), key=lambda r: r["polarity"])
    assert [(r["class_id"], r["polarity"]) for r in added] == [(det.class_id, "negative"), (other.id, "positive")]
    for row in added:
        assert (row["t_min"], row["t_max"], row["f_min"], row["f_max"], row["detection_id"], row["source"]) == \
            (det.t_min, det.t_max, det.f_min, det.f_max, det.id, "review")
    window.undo_stack.undo()  # one step for both
    assert snapshot(demo_dir) == before
    window.undo_stack.redo()
    assert snapshot(demo_dir) == after


def test_r_marks_the_visible_range_for_the_current_class_only(window, demo_dir):
    classes = window.project.classes()
    assert len(classes) >= 2
    window.class_box.setCurrentText(classes[1].name)
    window.view.set_visible_range(5.0, 15.0)
    before = snapshot(demo_dir)
    QTest.keyClick(window, Qt.Key.Key_R)
    after = snapshot(demo_dir)
    (extent,) = new_rows(before, after, "reviewed_extents")
    assert extent[1] == window.recording.id and (extent[2], extent[3]) == pytest.approx((5.0, 15.0), abs=0.05)
    assert new_rows(before, after, "reviewed_extent_classes") == [(extent[0], classes[1].id)]
    window.undo_stack.undo()
    assert snapshot(demo_dir) == before
    window.undo_stack.redo()
    assert snapshot(demo_dir) == after  # the same extent: id, author and creation time


def test_polarity_keys_class_change_and_delete_undo_and_redo_exactly(window, demo_dir, qtbot):
    project = window.project
    cls = project.classes()[0]
    add = AddLabel(project, window.recording.id, cls.id, Box(1.0, 2.0, 500.0, 4000.0), Polarity.POSITIVE)
    window.undo_stack.push(add)
    label = add.label
    window.view.set_visible_range(0.0, 10.0)
    qtbot.waitUntil(lambda: label.id in window.view.boxes, timeout=5000)
    window.view.select_labels([label.id], emit=True)
    start = snapshot(demo_dir)
    steps = []
    for key in (Qt.Key.Key_N, Qt.Key.Key_U, Qt.Key.Key_P):
        QTest.keyClick(window, key)
        steps.append(snapshot(demo_dir))
    assert [dict(zip(label_columns(demo_dir), r))["polarity"] for r in
            (next(x for x in s["labels"] if x[0] == label.id) for s in steps)] == ["negative", "uncertain", "positive"]
    other = project.classes()[1]
    window.class_box.setCurrentText(other.name)
    QTest.keyClick(window, Qt.Key.Key_L)
    steps.append(snapshot(demo_dir))
    assert next(x for x in steps[-1]["labels"] if x[0] == label.id)[2] == other.id
    QTest.keyClick(window, Qt.Key.Key_Delete)
    steps.append(snapshot(demo_dir))
    assert label.id not in {x[0] for x in steps[-1]["labels"]}
    for expected in reversed([start, *steps[:-1]]):
        window.undo_stack.undo()
        assert snapshot(demo_dir) == expected
    for expected in steps:
        window.undo_stack.redo()
        assert snapshot(demo_dir) == expected


def test_switching_projects_clears_the_undo_stack(window, demo_dir, tmp_path):
    det = window.review.current()
    window.go_to_detection(det)
    QTest.keyClick(window, Qt.Key.Key_A)
    assert window.undo_stack.canUndo()
    other = tmp_path / "other"
    shutil.copytree(demo_dir, other, symlinks=True)
    window.open_project(other)
    assert not window.undo_stack.canUndo() and window.undo_stack.count() == 0


class FakePlayer:
    """Stands in for the sound card: records what the window asks to play."""

    def __init__(self):
        self.state, self.calls = "stopped", []

    def play(self, path, t0, t1, channel=-1, band=None, speed=1.0):
        self.calls.append(("play", path, round(t0, 3), round(t1, 3), band, speed))
        self.state = "playing"

    def toggle(self):
        self.calls.append(("toggle",))
        self.state = "paused" if self.state == "playing" else "playing"

    def stop(self):
        self.state = "stopped"


def test_play_keys_space_shift_space_and_b(window, qtbot):
    player = window.playing.player = FakePlayer()
    path = str(window.recording.abs_path)
    window.view.set_visible_range(10.0, 20.0)
    window.view.set_cursor(12.5)
    QTest.keyClick(window, Qt.Key.Key_Space)  # from the cursor (inside the view) to the end
    assert player.calls[-1] == ("play", path, 12.5, round(window.view.duration, 3), None, 1.0)
    QTest.keyClick(window, Qt.Key.Key_Space)  # playing: pause
    assert player.calls[-1] == ("toggle",) and player.state == "paused"
    player.state = "stopped"
    QTest.keyClick(window, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)  # the visible range
    t0, t1 = window.view.visible_range()
    assert player.calls[-1] == ("play", path, round(t0, 3), round(t1, 3), None, 1.0)
    add = AddLabel(window.project, window.recording.id, window.project.classes()[0].id,
                   Box(11.0, 11.5, 2000.0, 3000.0), Polarity.POSITIVE)
    window.undo_stack.push(add)
    qtbot.waitUntil(lambda: add.label.id in window.view.boxes, timeout=5000)
    window.view.select_labels([add.label.id], emit=True)
    window.speed_box.setCurrentText("0.5x")
    QTest.keyClick(window, Qt.Key.Key_B)  # the selected box, band-limited, at the chosen speed
    assert player.calls[-1] == ("play", path, 11.0, 11.5, (2000.0, 3000.0), 0.5)


def test_imported_detections_are_drawn_for_review(window, demo_dir, tmp_path, qtbot):
    """An external version (imported BirdNET results) has no model file: its boxes are still drawn,
    so its queue is reviewed with the detections on screen."""
    table = tmp_path / f"{window.recording.abs_path.stem}.BirdNET.results.csv"
    table.write_text("Start (s),End (s),Scientific name,Common name,Confidence\n3.0,6.0,Parus major,Great Tit,0.8\n")
    assert main(["labels", "import", str(demo_dir), "--format", "birdnet", "--model", "BirdNET", str(table)]) == 0
    version = window.project.model_by_name("BirdNET")
    window.project.set_active_model(version.id)
    window.open_project(demo_dir)
    window.view.set_visible_range(0.0, 10.0)
    qtbot.waitUntil(lambda: len(window.view.detection_items) == 1, timeout=5000)
    assert window.review.model.items and window.review.current().model_version_id == version.id
