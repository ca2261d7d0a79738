"""The active model's output on screen: its detections and score tracks on the recording shown,
scoring that recording in the background when they are missing, and, after a new version, the
rescoring of the recordings its parent had detections on (the session's `RescorePlan`).

The window gives it the widgets it drives (the view, the model label, the track-class box and
the score progress bar) and listens to its signals; the state is the session's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QToolButton

from birdlab.core.ml.compare import change_summary, recordings_diff
from birdlab.core.model import ModelVersion, Recording
from birdlab.core.store.project import ProjectError
from birdlab.core.session import Session
from birdlab.core.store.track_cache import load_tracks, tracks_path
from birdlab.gui.scoring_worker import RecordingScorer, ScoreRequest
from birdlab.gui.spectrogram_view import SpectrogramView
from birdlab.scoring.store import APP_DETECTION_THRESHOLD, project_bands, store_scores


class ModelOutput(QObject):
    shown = Signal(int)  # recording id: its detections and score tracks are on screen
    stored = Signal()  # new detections in the project: the review queue is stale
    changes = Signal(str)  # what a new version changed against its parent (first line, then AP)
    message = Signal(str, int)  # a status-bar message and how long to show it (ms)

    def __init__(self, session: Session, view: SpectrogramView, model_label: QLabel, track_classes: QComboBox,
                 bar: QProgressBar, cancel: QToolButton, class_names: Callable[[], dict[int, str]], parent=None):
        super().__init__(parent)
        self.session, self.view, self.model_label = session, view, model_label
        self.track_classes, self.bar, self.cancel_button = track_classes, bar, cancel
        self.class_names = class_names
        self.scorer = RecordingScorer(self)
        self.scorer.progress.connect(lambda _rid, fraction: self.bar.setValue(int(fraction * 1000)))
        self.scorer.finished.connect(self._scored)
        self.scorer.failed.connect(lambda _rid, reason: self._done(f"scoring failed: {reason}"))
        self.cancel_button.clicked.connect(self.cancel)
        self.track_classes.currentIndexChanged.connect(
            lambda *_: self.view.show_track_classes(self._visible_track_classes()))
        self.bar.hide()
        self.cancel_button.hide()

    # ---- what is shown ------------------------------------------------------------------------
    def show(self, allow_scoring: bool = True) -> None:
        """Detections and score tracks of the active model; score in the background when missing."""
        project, recording = self.session.project, self.session.recording
        model = self.session.active_model()
        path = project.model_file(model) if model else None
        self.model_label.setText(f" model: {model.name} " if model else " no model ")
        if not (recording and model):
            self.view.set_detections([], {})
            self.view.set_tracks(None)
            return
        self.view.set_detections(project.detections(model.id, recording.id), self.class_names())
        if path is None:  # imported detections (e.g. BirdNET's): boxes to review, no tracks, nothing to score
            self.view.set_tracks(None)
            return
        cached = load_tracks(tracks_path(project, model.name, recording.id))
        if cached is not None:
            tracks, hop, classes = cached
            self._fill_track_classes(classes)
            self.view.set_tracks(tracks, hop, classes, self._visible_track_classes())
            self.shown.emit(recording.id)
        elif allow_scoring:
            self.view.set_tracks(None)
            if not (self.scorer.busy_with == recording.id and self.session.scoring_model == model.name):
                self.score(recording, model.name, path)  # (a new version and its "models" change both ask)

    def _fill_track_classes(self, classes: tuple[str, ...]) -> None:
        box = self.track_classes
        current = box.currentText()
        box.blockSignals(True)
        box.clear()
        box.addItem("all classes")
        box.addItems(list(classes))
        if current in classes:
            box.setCurrentText(current)
        box.blockSignals(False)

    def _visible_track_classes(self) -> set[str] | None:
        return None if self.track_classes.currentIndex() <= 0 else {self.track_classes.currentText()}

    # ---- scoring ---------------------------------------------------------------------------------
    def score(self, rec: Recording, model_name: str, model_path: Path) -> None:
        project = self.session.project
        self.session.scoring_model = model_name
        self.scorer.score(ScoreRequest(rec.id, str(rec.abs_path), str(model_path), rec.duration,
                                       project_bands(project), APP_DETECTION_THRESHOLD, str(project.cache_dir),
                                       rec.fingerprint))
        self.bar.setValue(0)
        self.bar.setFormat(f"scoring {rec.name} %p%")
        self.bar.show()
        self.cancel_button.show()

    def rescore_current(self) -> None:
        model = self.session.active_model()
        path = self.session.project.model_file(model) if model else None
        if model and path and self.session.recording:
            self.score(self.session.recording, model.name, path)
        else:
            self.message.emit("no active model to score with", 5000)

    def cancel(self) -> None:
        self.scorer.cancel()
        self._done("scoring cancelled")

    def _done(self, message: str = "") -> None:
        self.bar.hide()
        self.cancel_button.hide()
        if message:
            self.message.emit(message, 8000)

    def _scored(self, recording_id: int, result) -> None:
        """Store the detections (the same rows `birdlab score --project` writes) and the tracks."""
        self._done(f"scored in {result.seconds:.1f} s: {len(result.detections)} detections")
        project = self.session.project
        model = project.model_by_name(self.session.scoring_model) if project else None
        if model is None:
            return
        try:
            store_scores(project, model.id, recording_id, result)
        except (ProjectError, OSError) as exc:  # a read-only project or a full disk: said, nothing half-kept
            self.message.emit(f"Scored, but the detections could not be kept: {exc}", 10000)
            return
        plan = self.session.rescore
        if plan.scored(recording_id, model.id):  # its diff once, added to the run's total
            plan.diffs[recording_id] = recordings_diff(project, model.id, plan.parent_id, [recording_id])
            self.changes.emit("\n".join(change_summary(project, model, plan.parent_id, plan.compared, plan.diff)))
        if self.session.recording and self.session.recording.id == recording_id:
            self.show(allow_scoring=False)
        self.stored.emit()
        self.rescore_next()

    # ---- a new version ----------------------------------------------------------------------------
    def new_version(self, version: ModelVersion) -> None:
        """Rescore what is on screen first, then the recordings the parent had detections on."""
        recording = self.session.recording
        self.session.rescore.start(self.session.project, version, recording.id if recording else None)
        self.message.emit(f"model {version.name} is active; rescoring {recording.name}" if recording
                          else f"model {version.name} is active", 8000)
        self.show()
        self.rescore_next()

    def rescore_next(self) -> None:
        """The next recording of the rescore plan, when the scorer is free."""
        project = self.session.project
        job = self.session.rescore.next_job(project, busy=self.scorer.busy_with is not None) if project else None
        if job is not None:
            self.score(job.recording, job.model.name, job.model_file)
