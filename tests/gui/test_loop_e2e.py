"""The whole loop, scripted: open the demo, review 20 detections by key, Retrain in quick mode on
the CPU, and see the new version active with its detections on screen. Killing the training
child (or the app) in the middle of a run loses no label and leaves the previous model active."""

import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from birdlab.cli import main
from birdlab.core.model import Source
from birdlab.core.store.project import Project

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the train extra is not installed")]


@pytest.fixture
def demo_dir(tmp_path):
    folder = tmp_path / "demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    return folder


def test_review_twenty_then_quick_retrain_shows_the_new_model(window, qtbot):
    project = window.project
    before = project.active_model()
    window.go_to_detection(window.review.current())
    for i in range(20):
        det = window.review.current()
        QTest.keyClick(window, Qt.Key.Key_A if det.score >= 0.5 else Qt.Key.Key_X)
    reviewed = [lab for lab in project.labels() if lab.source == Source.REVIEW]
    assert len(reviewed) == 20
    assert window.review.progress_label.text().startswith("reviewed 20 / ")
    dialog = window.open_retrain()
    assert dialog.mode.currentData() == "head"
    with qtbot.waitSignal(window.modelOutputShown, timeout=180000,
                          check_params_cb=lambda rid: project.active_model().id != before.id):
        dialog.start()
    new = project.active_model()
    assert new.id != before.id and new.parent_id == before.id
    assert sum(n["positive"] + n["negative"] for n in new.card["label_counts"].values()) >= 20 + len(
        [lab for lab in project.labels() if lab.source == Source.IMPORT and lab.polarity.value != "uncertain"])
    assert window.view.detection_items
    assert {d.model_version_id for d in window.project.detections(new.id, window.recording.id)} == {new.id}
    # then the other recordings of the queue are rescored, and the summary covers them all
    qtbot.waitUntil(lambda: {d.recording_id for d in project.detections(new.id)} == {r.id for r in project.recordings()},
                    timeout=120000)
    qtbot.waitUntil(lambda: "On 6 rescored recording(s)" in dialog.status.text(), timeout=30000)
    assert all(d.model_version_id == new.id for d in window.review.model.items)
    dialog.close()


def test_killing_the_training_child_keeps_labels_and_the_model(window, qtbot):
    project = window.project
    labels_before = [(lab.id, lab.modified) for lab in project.labels()]
    active = project.active_model().id
    dialog = window.open_retrain()
    dialog.mode.setCurrentIndex(1)  # full: long enough to kill it in the middle
    dialog.epochs.setValue(50)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.bar.value() > 0, timeout=120000)
    os.kill(dialog.process.processId(), signal.SIGKILL)
    qtbot.waitUntil(lambda: "failed" in dialog.status.text(), timeout=60000)
    assert project.active_model().id == active
    assert [(lab.id, lab.modified) for lab in project.labels()] == labels_before
    assert project.training_runs()[-1].status == "failed"
    assert project.integrity_problems() == []
    dialog.close()


APP = """
import sys, time
from birdlab.core.store.project import Project
from birdlab.core.ml.runs import iter_events, new_run, start_child
project = Project.open(sys.argv[1])
run, job = new_run(project, {"epochs": 50, "mode": "full"}, start_from=project.active_model())
child = start_child(job)
print(child.pid, flush=True)
for event in iter_events(child.stdout):
    if event.get("phase") == "train":
        print("training", flush=True)
        time.sleep(60)
"""


def test_killing_the_app_mid_run_keeps_labels_and_the_model(demo_dir, tmp_path):
    demo = demo_dir
    with Project.open(demo) as project:
        labels_before = [(lab.id, lab.modified) for lab in project.labels()]
        active = project.active_model().id
    app = subprocess.Popen([sys.executable, "-c", APP, str(demo)], stdout=subprocess.PIPE, text=True)
    child_pid = int(app.stdout.readline())
    assert app.stdout.readline().strip() == "training"
    app.kill()  # the app dies; its training child loses the other end of its pipe
    app.wait()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(child_pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.5)
    else:
        os.kill(child_pid, signal.SIGKILL)
        pytest.fail("the orphaned training child did not stop")
    with Project.open(demo) as project:
        assert [(lab.id, lab.modified) for lab in project.labels()] == labels_before
        assert project.active_model().id == active
        assert project.integrity_problems() == []
