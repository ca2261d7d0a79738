"""Batch scoring from the app runs `birdlab score` as a child, shows progress, lands in the project."""

import csv
import shutil

import numpy as np
import soundfile as sf

from birdlab.cli import main
from tests.gui.windows import new_window


def test_batch_dialog_scores_a_folder_into_files_and_the_project(qtbot, tmp_path):
    demo = tmp_path / "demo"
    assert main(["demo", str(demo), "--no-gui"]) == 0
    folder = tmp_path / "field"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        sf.write(folder / f"rec{i}.wav", (0.05 * rng.standard_normal(32000 * 12)).astype(np.float32), 32000)
    shutil.copy(sorted((demo / "audio").glob("*.wav"))[0], folder / "rec0.wav")  # one with the demo's calls
    (folder / "broken.wav").write_text("not audio")
    win = new_window(qtbot, tmp_path)
    win.open_project(demo)
    dialog = win.open_batch()
    assert dialog.model.text().endswith("model.onnx")
    dialog.inputs.addItem(str(folder))
    dialog.out.setText(str(tmp_path / "scores"))
    with qtbot.waitSignal(dialog.finishedRun, timeout=120000) as done:
        dialog.start()
    assert done.args == [1]  # the broken file is named and skipped
    assert "broken.wav" in dialog.status.text()
    assert dialog.bar.value() == 1000 and "4/4 files" in dialog.bar.format()
    assert (tmp_path / "scores" / "detections.csv").exists()
    names = {r.name for r in win.project.recordings()}
    assert {"rec0.wav", "rec1.wav", "rec2.wav"} <= names
    active = win.project.active_model()
    assert [v.name for v in win.project.model_versions()] == ["demo"]  # stored under the active version
    rec = next(r for r in win.project.recordings() if r.name == "rec0.wav")
    stored = win.project.detections(active.id, rec.id)
    rows = [r for r in csv.DictReader(open(tmp_path / "scores" / "detections.csv")) if r["file"].endswith("rec0.wav")]
    assert rows and len(stored) >= len(rows)  # the project keeps what the tables show, and more (threshold 0.2)
    names = {c.id: c.name for c in win.project.classes()}
    for row in rows:
        assert any(names[d.class_id] == row["class"] and d.t_min <= float(row["t_min"]) + 1e-3
                   and d.t_max >= float(row["t_max"]) - 1e-3 for d in stored)  # inside a lower-threshold event
    win.close()


def test_the_batch_dialog_can_target_a_ray_cluster(qtbot, tmp_path):
    from birdlab.core.store.project import Project
    from birdlab.gui.batch_dialog import BatchDialog

    with Project.create(tmp_path / "p") as project:
        dialog = BatchDialog(project)
        qtbot.addWidget(dialog)
        dialog.inputs.addItem(str(tmp_path))
        assert "--cluster" not in dialog.command()  # this machine by default
        dialog.cluster.setText(" ray://head:10001 ")
        command = dialog.command()
        assert command[command.index("--cluster") + 1] == "ray://head:10001"
