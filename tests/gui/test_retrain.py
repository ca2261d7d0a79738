"""Retrain from the app: the child process trains, the new version becomes active and the
recording on screen is rescored; a failed run leaves the previous model active."""

import importlib.util

import pytest

from birdlab.cli import main
from tests.gui.windows import new_window, open_demo

# checked without importing torch: the app process never loads it (the child process does)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the training extra is not installed")


@pytest.fixture
def window(qtbot, tmp_path):
    folder = tmp_path / "demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    win = new_window(qtbot, tmp_path)
    open_demo(qtbot, win, folder)
    yield win
    win.close()


def test_quick_retrain_makes_a_new_active_version_with_detections_on_screen(window, qtbot):
    before = window.project.active_model()
    dialog = window.open_retrain()
    dialog.epochs.setValue(3)
    with qtbot.waitSignal(dialog.modelReady, timeout=120000) as ready:
        dialog.start()
    version = ready.args[0]
    assert window.project.active_model().id == version.id != before.id
    assert window.project.model_version(version.parent_id).id == before.id
    assert dialog.loss_points and "is active" in dialog.status.text()
    qtbot.waitUntil(lambda: bool(window.project.detections(version.id, window.recording.id)), timeout=60000)
    qtbot.waitUntil(lambda: window.view.detection_items and window.model_label.text().strip().endswith(version.name),
                    timeout=60000)
    qtbot.waitUntil(lambda: "new," in dialog.status.text(), timeout=60000)
    assert "Validation AP, old → new" in dialog.status.text()
    assert version.card["parent_metrics"]["ap"]  # the parent was scored on the same validation crops
    # loss and cmAP on two axes: the curve of cmAP lives in the right axis' own view (0 to 1)
    plot = dialog.loss_plot.getPlotItem()
    assert dialog.val_curve.getViewBox() is dialog.metric_box is not plot.vb
    assert dialog.loss_curve.getViewBox() is plot.vb and plot.getAxis("right").isVisible()
    assert dialog.metric_box.viewRange()[1][0] <= 0.0 and dialog.metric_box.viewRange()[1][1] >= 1.0
    dialog.close()


def test_a_failing_run_leaves_the_previous_model_active(window, qtbot):
    before = window.project.active_model().id
    dialog = window.open_retrain()
    dialog.backbone.setText("no_such_backbone")
    dialog.start_from.setCurrentIndex(dialog.start_from.findData("scratch"))  # the backbone name is used
    dialog.start()
    qtbot.waitUntil(lambda: "failed" in dialog.status.text(), timeout=120000)
    assert "unknown backbone" in dialog.status.text()
    assert window.project.active_model().id == before
    assert window.project.training_runs()[-1].status == "failed"
    dialog.close()


def test_a_version_with_undefined_validation_waits_for_the_user(window, qtbot, tmp_path):
    """A finished run whose validation metrics are undefined is registered but not made active;
    Make active does it (and the window then shows the new model)."""
    import json
    import shutil

    from birdlab.core.ml.runs import TrainingRunDriver

    before = window.project.active_model()
    dialog = window.open_retrain()
    assert not dialog.activate_button.isVisible()
    dialog.driver = TrainingRunDriver.start(window.project, {"epochs": 1})
    job_path = dialog.driver.job_path
    model_dir = job_path.parent / "model"
    shutil.copytree(window.project.model_file(before).parent, model_dir)
    card = json.loads((model_dir / "card.json").read_text())
    card.update(metrics={"epoch": 1, "cmap": None}, parent="", no_negatives=["trill_frog"])
    (model_dir / "card.json").write_text(json.dumps(card))
    dialog.driver.feed(json.dumps({"event": "done", "status": "ok", "model_dir": str(model_dir)}) + "\n")
    dialog._finished(0, None)
    assert window.project.active_model().id == before.id
    assert "not active" in dialog.status.text() and "undefined" in dialog.status.text()
    assert dialog.activate_button.isVisible() and "trill_frog" in dialog.warning.text()
    with qtbot.waitSignal(dialog.modelReady, timeout=10000):
        dialog.activate_button.click()
    assert window.project.active_model().id == dialog.version.id != before.id
    dialog.close()


def test_a_fast_copy_distils_the_selected_version_into_a_student(window, qtbot):
    """Model versions > Fast copy: Retrain opens set to distil that version (an SED student, full
    fine-tune); Train writes a job that carries the teacher's tracks of every recording."""
    import json

    from PySide6.QtCore import Qt

    teacher = window.project.active_model()
    panel = window.versions
    panel.table.selectRow(panel.ids.index(teacher.id))
    qtbot.mouseClick(panel.fast_copy, Qt.MouseButton.LeftButton)
    dialog = window.retrain_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.teacher_version().id == teacher.id
    assert dialog.selected_start()[0] == "imagenet" and dialog.backbone.text() == "efficientnet_lite0"
    assert dialog.mode.currentData() == "full" and not dialog.mode.isEnabled()
    assert f"Distilling <b>{teacher.name}</b>" in dialog.start_info.text()
    n = len(window.project.recordings())
    assert f"(it has scored {n}/{n} recordings)" in dialog.teacher.currentText()
    dialog.start_from.setCurrentIndex(dialog.start_from.findData("birdnet"))  # no student: back to an SED start
    assert dialog.selected_start()[0] == "imagenet"
    dialog.start_from.setCurrentIndex(dialog.start_from.findData("scratch"))
    dialog.backbone.setText("mobilenetv3_small_050")
    dialog.epochs.setValue(1)
    dialog.start()
    job = json.loads(dialog.driver.job_path.read_text())
    assert job["teacher"] == {"version": teacher.name, "tracks": "teacher"} and job["config"]["mode"] == "full"
    assert job["config"]["model"]["n_mels"] == 64  # the project has labels: the fast copy's frontend
    # registered (made active, or waiting for the user when its validation is below the teacher's)
    qtbot.waitUntil(lambda: dialog.version is not None, timeout=240000)
    assert dialog.version.card["config"]["teacher"] == teacher.name
    dialog.close()
