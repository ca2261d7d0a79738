"""Retrain: settings, the training child process (QProcess), live progress and curves, cancel.

The app never trains in its own process (DESIGN.md section 5): this dialog writes the job
folder (`birdlab.core.ml.runs.new_run`), starts `python -m training fit` with QProcess, reads its
JSON lines, and on `done`/`ok` registers the exported model as the new active version. A
failure, a cancel or a killed child leaves the previous model active and says why.
"""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout)

from birdlab.core.model import ModelVersion, TrainingRun
from birdlab.core.store.project import Project
from birdlab.core.ml.jobs import no_negative_warnings
from birdlab.core.ml.runs import TrainingRunDriver, teacher_tracks, version_weights
from birdlab.core.ml.starts import STARTS, LabelBand, default_start, fit_to_band, merge_config, student_n_mels


class RetrainDialog(QDialog):
    """`modelReady(version)` when a new version is registered and active (on its own when its validation
    is defined and no worse than the active version's on the same crops, else when the user chooses)."""

    modelReady = Signal(object)

    def __init__(self, project: Project, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Retrain")
        self.project = project
        self.process: QProcess | None = None
        self.run: TrainingRun | None = None
        self.driver: TrainingRunDriver | None = None  # the run's lifecycle (core); this dialog is its QProcess adapter
        self.final_event: dict = {}
        self.version: ModelVersion | None = None
        self._buffer = ""
        self._started = 0.0
        active = project.active_model()
        self.start_from = QComboBox()
        no_trainer = STARTS["active"].missing()
        for version in reversed(project.model_versions()):
            if version.kind == "onnx" and version_weights(project, version) is not None:
                self.start_from.addItem(f"continue from {version.name}" + (" (active)" if version.active else "")
                                        + (f" — {no_trainer}" if no_trainer else ""), f"active:{version.id}")
                if no_trainer:
                    self.start_from.model().item(self.start_from.count() - 1).setEnabled(False)
        for key in ("birdnet", "imagenet", "scratch"):
            start = STARTS[key]
            missing = start.missing()
            self.start_from.addItem(start.title + (f" — {missing}" if missing else ""), key)
            if missing:  # shown, so the user learns it exists, but not selectable
                self.start_from.model().item(self.start_from.count() - 1).setEnabled(False)
        self.band = LabelBand.of(project)  # where the calls lie: BirdNET is no start for bats
        default = f"active:{active.id}" if active is not None and version_weights(project, active) else \
            default_start(self.band).key
        self.default_start = default
        self.start_from.setCurrentIndex(max(0, self.start_from.findData(default)))
        self.start_info = QLabel()
        self.start_info.setWordWrap(True)
        self.mode = QComboBox()
        self.mode.addItem("quick (head only, cached embeddings, CPU)", "head")
        self.mode.addItem("full fine-tune (GPU when there is one)", "full")
        self.backbone = QLineEdit(active.model_card.backbone if active and active.model_card else "efficientnet_lite0")
        self.epochs = QSpinBox(minimum=1, maximum=500, value=10)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.teacher = QComboBox()
        self.teacher.addItem("none: learn from the labels", None)
        n_recordings = len(project.recordings())
        self._scored: dict[int, int] = {}  # version id -> recordings it has score tracks of
        for version in reversed(project.model_versions()):
            if version.kind == "onnx":
                scored = self._scored[version.id] = len(teacher_tracks(project, version)[0])
                self.teacher.addItem(f"distil {version.name} (it has scored {scored}/{n_recordings} recordings)",
                                     version.id)
                if not scored:
                    self.teacher.model().item(self.teacher.count() - 1).setEnabled(False)
        self.teacher.setToolTip("A fast copy for batch scoring: a student SED model learns this version's score "
                                "tracks on every recording it has scored (and the labels where there are any)")
        form = QFormLayout()
        form.addRow("teacher", self.teacher)
        form.addRow("start", self.start_from)
        form.addRow("", self.start_info)
        form.addRow("mode", self.mode)
        form.addRow("backbone", self.backbone)
        form.addRow("epochs", self.epochs)
        form.addRow("device", self.device)
        self.start_from.currentIndexChanged.connect(self._start_changed)
        self.teacher.currentIndexChanged.connect(self._start_changed)
        self._start_changed()
        self.warning = QLabel("<br>".join(no_negative_warnings(project)))
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b35900")
        self.warning.setVisible(bool(self.warning.text()))
        self.status = QLabel("The labels are snapshotted when you press Train; you can keep labelling meanwhile.")
        self.status.setWordWrap(True)
        self.bar = QProgressBar(maximum=1000)
        self.loss_plot = pg.PlotWidget(title="loss (train) and cmAP (validation)")
        self.loss_plot.setMinimumHeight(220)
        legend = self.loss_plot.addLegend()
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#ffb000", width=2), name="train loss")
        self.val_curve = self._metric_axis(legend)
        self.loss_points: list[tuple[float, float]] = []
        self.val_points: list[tuple[float, float]] = []
        self.train_button = QPushButton("Train")
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setEnabled(False)
        self.activate_button = QPushButton("Make active")
        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.activate_button.clicked.connect(self.make_active)
        buttons = QDialogButtonBox()
        buttons.addButton(self.train_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.activate_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.close)
        self.activate_button.setVisible(False)  # after addButton, which shows it: only for a version not active
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(buttons)
        self.resize(720, 600)
        self.finished.connect(lambda _: self.stop_child())

    # ---- settings ------------------------------------------------------------------------------

    def _metric_axis(self, legend) -> pg.PlotDataItem:
        """cmAP on its own axis at the right (0 to 1), the loss on the left: one scale fits neither."""
        item = self.loss_plot.getPlotItem()
        item.setLabel("left", "train loss")
        item.setLabel("bottom", "epoch")
        item.getAxis("left").enableAutoSIPrefix(False)  # "x0.001" reads as a different loss
        item.showAxis("right")
        item.setLabel("right", "val cmAP")
        self.metric_box = pg.ViewBox()
        item.scene().addItem(self.metric_box)
        item.getAxis("right").linkToView(self.metric_box)
        self.metric_box.setXLink(item)
        self.metric_box.setYRange(0.0, 1.0, padding=0.02)
        self.metric_box.setMouseEnabled(x=False, y=False)
        item.vb.sigResized.connect(lambda: self.metric_box.setGeometry(item.vb.sceneBoundingRect()))
        curve = pg.PlotDataItem([], [], pen=pg.mkPen("#3ee06b", width=2), symbol="o", name="val cmAP")
        self.metric_box.addItem(curve)
        legend.addItem(curve, "val cmAP")
        return curve
    def set_teacher(self, version_id: int) -> None:
        """Distil this version ("make a fast copy for batch scoring"): an SED student, from ImageNet weights."""
        self.teacher.setCurrentIndex(max(0, self.teacher.findData(version_id)))
        self.start_from.setCurrentIndex(max(0, self.start_from.findData("imagenet")))
        self.backbone.setText("efficientnet_lite0")  # the light backbone whose ImageNet weights install with pip

    def teacher_version(self) -> ModelVersion | None:
        version_id = self.teacher.currentData()
        return self.project.model_version(version_id) if version_id is not None else None

    def _start_changed(self) -> None:
        """Show the start's licence and expected time; an embedding start trains only its head; a
        student (with a teacher) is an SED model, fine-tuned whole."""
        key, version_id = self.selected_start()
        teacher = self.teacher_version()
        if teacher is not None and (key == "birdnet" or (key == "active" and self._is_embedding(version_id))):
            self.start_from.setCurrentIndex(max(0, self.start_from.findData("imagenet")))
            return  # setCurrentIndex called this again
        start = STARTS[key]
        default = " (the default)" if self.start_from.currentData() == self.default_start else ""
        lines = [f"<b>{start.title}</b>{default}: {start.expected}."]
        if key == "active":
            version = self.project.model_version(version_id)
            card = version.model_card
            family = "embedding" if card and card.family == "embedding" else "sed"
            lines[0] = f"<b>continue from {version.name}</b>{default}: its weights, more epochs on the current labels."
            if card and card.license:
                lines.append(f"Licence of its weights: {card.license}.")
        else:
            family = "embedding" if key == "birdnet" else "sed"
            if start.license:
                lines.append(f"Licence of the pretrained weights: {start.license}.")
        self.start_info.setText("<br>".join(lines))
        self.mode.setEnabled(family == "sed")
        self.backbone.setEnabled(key in ("imagenet", "scratch"))
        if family == "embedding":
            self.mode.setCurrentIndex(0)
            self.epochs.setValue(int(STARTS["birdnet"].config["epochs"]))
        elif key in ("imagenet", "scratch"):
            self.mode.setCurrentIndex(1)
            self.epochs.setValue(20)
        else:
            self.mode.setCurrentIndex(0)
            self.epochs.setValue(10)
        if teacher is not None:
            scored = self._scored[teacher.id]
            lines.append(f"Distilling <b>{teacher.name}</b>: the student learns its score tracks on the {scored} "
                         f"recording(s) it has scored, and the labels where there are any. Batch-score with the "
                         f"student: it runs at the speed of its backbone, whatever the teacher's.")
            mels = self._student_mels(key)
            if mels:
                lines.append(f"It hears {mels} mel bands, half the model's work of the default 128 (about 5.6x "
                             f"BirdNET's speed on 2 cores); with labels beside the teacher it kept the teacher's "
                             f"AP on the Noisy Pitta benchmark.")
            self.start_info.setText("<br>".join(lines))
            self.mode.setCurrentIndex(1)
            self.mode.setEnabled(False)

    def _student_mels(self, key: str) -> int | None:
        """The mel bands of a fast copy (an SED student of the chosen teacher); None otherwise."""
        if key not in ("imagenet", "scratch") or self.teacher_version() is None:
            return None
        return student_n_mels(self.project)

    def _is_embedding(self, version_id: int | None) -> bool:
        card = self.project.model_version(version_id).model_card if version_id is not None else None
        return bool(card and card.family == "embedding")

    def selected_start(self) -> tuple[str, int | None]:
        """(start key, version id for 'active') of the start box's item ("birdnet", "active:3", ...)."""
        key, _, version = str(self.start_from.currentData()).partition(":")
        return key, int(version) if version else None

    def config(self) -> dict:
        key, _ = self.selected_start()
        config: dict = {"mode": self.mode.currentData(), "epochs": self.epochs.value(),
                        "device": self.device.currentText(), "model": {}}
        if key in ("imagenet", "scratch") and self.backbone.text().strip():
            config["model"]["backbone"] = self.backbone.text().strip()
        mels = self._student_mels(key)
        if mels:
            config["model"]["n_mels"] = mels
        if key == "birdnet":
            config.pop("mode")
        return fit_to_band(merge_config(STARTS[key].config, config), self.band) if key != "active" else config

    def start_version(self) -> ModelVersion | None:
        key, version_id = self.selected_start()
        return self.project.model_version(version_id) if key == "active" else None

    def start(self) -> None:
        key, _ = self.selected_start()
        if STARTS[key].missing():
            self.status.setText(f"This start {STARTS[key].missing()}.")
            return
        have = self.project.classes_with()
        teacher = self.teacher_version()
        if not (have["positive"] or have["negative"]) and teacher is None:
            self.status.setText("There are no positive or negative labels to train on yet.")
            return
        try:
            self.driver = TrainingRunDriver.start(self.project, self.config(), start_from=self.start_version(),
                                                  teacher=teacher)
        except Exception as exc:  # a job that cannot be written: say why, change nothing
            self.status.setText(f"Could not start: {exc}")
            return
        self.run, job_path = self.driver.run, self.driver.job_path
        self.final_event, self.version = {}, None
        self.loss_points, self.val_points = [], []
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.process.setStandardErrorFile(str(job_path.parent / "stderr.txt"))
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        command = self.driver.command
        self._started = time.monotonic()
        self.process.start(command[0], command[1:])
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Training in {job_path.parent} ...")

    def cancel(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.write(b"cancel\n")
            self.status.setText("Cancelling (the run saves a checkpoint first) ...")

    def _read(self) -> None:
        if self.process is None or self.driver is None:
            return
        for event in self.driver.feed(bytes(self.process.readAllStandardOutput()).decode(errors="replace")):
            self.on_event(event)

    def on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "progress" and event.get("phase") == "train":
            done = (event["epoch"] - 1 + event["step"] / max(1, event["steps"])) / max(1, event["epochs"])
            self.bar.setValue(int(1000 * done))
            self.bar.setFormat(f"epoch {event['epoch']}/{event['epochs']}  loss {event['loss']:.3f}  "
                               f"ETA {event.get('eta_s', 0):.0f} s")
        elif kind == "progress" and event.get("phase") == "embed":
            self.bar.setFormat(f"embedding crops {event['done']}/{event['total']}")
            self.bar.setValue(int(1000 * event["done"] / max(1, event["total"])) // 10)
        elif kind == "metric":
            epochs = self.epochs.value()
            if not event.get("parent"):
                self.bar.setValue(int(1000 * event["epoch"] / max(1, epochs)))
                self.bar.setFormat(f"epoch {event['epoch']}/{epochs}")
            if event.get("train_loss") is not None:
                self.loss_points.append((float(event["epoch"]), float(event["train_loss"])))
                self.loss_curve.setData(*zip(*self.loss_points))
            if event.get("cmap") is not None:
                self.val_points.append((float(event["epoch"]), float(event["cmap"])))
                self.val_curve.setData(*zip(*self.val_points))
        elif kind == "done":
            self.final_event = event

    def _finished(self, code: int, _status) -> None:
        self._read()
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        outcome = self.driver.finish(code)
        self.version = outcome.version
        if outcome.status == "ok":
            seconds = time.monotonic() - self._started
            self.bar.setValue(1000)
            blind = outcome.no_negatives
            self.warning.setText(f"{', '.join(blind)}: no negative evidence, AP n/a; the model may say yes "
                                 "everywhere." if blind else "")
            self.warning.setVisible(bool(blind))
            if outcome.activated:
                self.status.setText(f"New model {self.version.name!r} is active ({seconds:.0f} s, "
                                    f"{outcome.cmap_text}).")
                self.modelReady.emit(self.version)
            else:
                self.status.setText(f"New model {self.version.name!r} is ready but not active ({seconds:.0f} s, "
                                    f"{outcome.cmap_text}): {outcome.why_not_active}. Make it active if you want it.")
                self.activate_button.setVisible(True)
        elif outcome.status == "cancelled":
            self.status.setText("Cancelled; the previous model stays active.")
        else:
            self.status.setText(f"Training failed; the previous model stays active.\n{outcome.error}")

    def make_active(self) -> None:
        """The user's choice for a version that did not become active on its own."""
        if self.version is None:
            return
        self.project.set_active_model(self.version.id)
        self.version = self.project.model_version(self.version.id)
        self.activate_button.setVisible(False)
        self.status.setText(f"New model {self.version.name!r} is active.")
        self.modelReady.emit(self.version)

    def show_summary(self, text: str) -> None:
        """What changed: detections new / lost / flipped on the rescored recordings, AP old vs new
        (replaced as more recordings are rescored)."""
        head = self.status.text().split("\nOn ", 1)[0]
        self.status.setText(head + "\n" + text)

    def stop_child(self) -> None:
        """Closing the dialog cancels a running child (it saves a checkpoint) and waits for it."""
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.cancel()
            self.process.waitForFinished(30000)

