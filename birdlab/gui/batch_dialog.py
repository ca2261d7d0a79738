"""Batch scoring from the app: `birdlab score` as a child process, followed through its journal.

The child is the same command a user runs headless (so results are identical and a crash of
either side loses nothing); the dialog reads `journal.jsonl` in the output folder for progress
(files, hours of audio, x real time, ETA). Cancel stops the child; Start again with the same
output folder resumes where it stopped. Results land in the files and in the project.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QProcess, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QProgressBar, QPushButton, QVBoxLayout)

from birdlab.core.progress import format_duration
from birdlab.core.store.project import Project


def journal_progress(journal: Path) -> dict:
    """{files, done, failed, audio_s, started} from a batch journal (partial last line ignored)."""
    out = {"files": 0, "done": 0, "failed": 0, "audio_s": 0.0}
    try:
        lines = journal.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = event.get("event")
        if kind == "run":
            out["files"] = int(event.get("files", 0))
        elif kind == "done":
            out["done"] += 1
            out["audio_s"] += float(event.get("duration", 0.0))
        elif kind == "failed":
            out["failed"] += 1
    return out


class BatchDialog(QDialog):
    """`finishedRun(exit_code)` when the child ends (0 all scored, 1 some files failed)."""

    finishedRun = Signal(int)

    def __init__(self, project: Project, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Score folders")
        self.project = project
        self.process: QProcess | None = None
        self.started = 0.0
        self.inputs = QListWidget()
        add = QPushButton("Add folder...")
        add.clicked.connect(self._add_folder)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: [self.inputs.takeItem(self.inputs.row(i)) for i in self.inputs.selectedItems()])
        active = project.active_model()
        model_file = project.model_file(active) if active else None
        self.model = QLineEdit(str(model_file) if model_file else "")
        browse = QPushButton("...")
        browse.clicked.connect(self._browse_model)
        self.threshold = QDoubleSpinBox(minimum=0.01, maximum=0.99, singleStep=0.05, value=0.5, decimals=2)
        self.csv, self.raven, self.audacity = QCheckBox("CSV"), QCheckBox("Raven tables"), QCheckBox("Audacity")
        self.csv.setChecked(True)
        self.raven.setChecked(True)
        self.out = QLineEdit(str(project.root / "scores"))
        self.into_project = QCheckBox("also store the detections in this project")
        self.into_project.setChecked(True)
        self.cluster = QLineEdit()
        self.cluster.setPlaceholderText("this machine (or: local, auto, ray://host:10001)")
        self.cluster.setToolTip("score on a Ray cluster (pip install 'birdlab[cluster]'): the folders, the model "
                                "and the output folder must be at the same paths on every node (docs/cluster.md)")
        folders = QHBoxLayout()
        folders.addWidget(add)
        folders.addWidget(remove)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        outputs = QHBoxLayout()
        for box in (self.csv, self.raven, self.audacity):
            outputs.addWidget(box)
        form = QFormLayout()
        form.addRow("folders / files", self.inputs)
        form.addRow("", folders)
        form.addRow("model", model_row)
        form.addRow("threshold", self.threshold)
        form.addRow("outputs", outputs)
        form.addRow("output folder", self.out)
        form.addRow("", self.into_project)
        form.addRow("Ray cluster", self.cluster)
        self.bar = QProgressBar(maximum=1000)
        self.status = QLabel("Pick folders; a run stopped half-way resumes when started again.")
        self.status.setWordWrap(True)
        self.start_button, self.cancel_button = QPushButton("Start"), QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QDialogButtonBox()
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.timer = QTimer(self, interval=500)
        self.timer.timeout.connect(self._poll)
        self.finished.connect(lambda _: self.cancel())
        self.resize(640, 520)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of recordings (searched recursively)")
        if folder:
            self.inputs.addItem(folder)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", str(self.project.models_dir), "ONNX (*.onnx)")
        if path:
            self.model.setText(path)

    def command(self) -> list[str]:
        formats = [name for box, name in ((self.csv, "csv"), (self.raven, "raven"), (self.audacity, "audacity"))
                   if box.isChecked()] or ["csv"]
        cmd = [sys.executable, "-m", "birdlab", "score",
               *[self.inputs.item(i).text() for i in range(self.inputs.count())],
               "--model", self.model.text(), "--out", self.out.text(), "--format", ",".join(formats),
               "--threshold", f"{self.threshold.value():g}", "--resume", "--quiet"]
        if self.into_project.isChecked():
            cmd += ["--project", str(self.project.root)]
        if self.cluster.text().strip():
            cmd += ["--cluster", self.cluster.text().strip()]
        return cmd

    def start(self) -> None:
        if not self.inputs.count():
            self.status.setText("Add at least one folder or file.")
            return
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.finished.connect(self._finished)
        command = self.command()
        self.started = time.monotonic()
        self.process.start(command[0], command[1:])
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Scoring ...")
        self.timer.start()

    def cancel(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.terminate()
            self.process.waitForFinished(10000)
            if self.process.state() != QProcess.ProcessState.NotRunning:
                self.process.kill()
            self.status.setText("Cancelled; start again with the same output folder to resume.")

    def _poll(self) -> None:
        p = journal_progress(Path(self.out.text()) / "journal.jsonl")
        if not p["files"]:
            return
        done = p["done"] + p["failed"]
        elapsed = max(1e-9, time.monotonic() - self.started)
        rate = p["audio_s"] / elapsed
        eta = (p["files"] - done) * elapsed / done if done else 0.0
        self.bar.setValue(int(1000 * done / p["files"]))
        self.bar.setFormat(f"{done}/{p['files']} files  {p['audio_s'] / 3600:.2f} h  {rate:.0f}x real time  "
                           f"ETA {format_duration(eta)}")

    def _finished(self, code: int, _status) -> None:
        self.timer.stop()
        self._poll()
        output = bytes(self.process.readAll()).decode(errors="replace").strip()
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        tail = "\n".join(output.splitlines()[-8:])
        self.status.setText(("Done." if code == 0 else "Done, but some files failed:" if code == 1 else
                             f"Stopped (exit code {code}).") + ("\n" + tail if tail else ""))
        if code in (0, 1):
            self.bar.setValue(1000)
        self.finishedRun.emit(code)
