"""The main window: builds the docks, the session and the controllers, and wires them.

The state is the session's (core/session.py); the layout is gui/window_layout.py; the work is
the controllers': model output, review decisions, label edits, playback (gui/*). Every edit
goes through the undo stack and is written to the project at once (there is no Save).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox

from birdlab.core.sound.audio import AudioError, probe
from birdlab.core.model import Detection, Polarity, Recording
from birdlab.core.store.project import Project, ProjectError
from birdlab.core.session import Session
from birdlab.gui import model_dialogs
from birdlab.gui.bridge import ProjectBridge
from birdlab.gui.commands import ProjectUndoStack
from birdlab.gui.dialogs import ask_classes
from birdlab.gui.label_edits import LabelEdits
from birdlab.gui.label_measurer import LabelMeasurer
from birdlab.gui.model_output import ModelOutput
from birdlab.gui.play_actions import PlayActions
from birdlab.gui.project_io import new_audio_project
from birdlab.gui.review_actions import ReviewActions
from birdlab.gui.similar_actions import SimilarActions
from birdlab.scoring.similarity import store_candidates
from birdlab.gui.window_layout import (build_docks, build_menus, build_toolbars, fit_controls, remember_recent,
                                       restore_layout)


class MainWindow(QMainWindow):
    recordingShown = Signal(int)
    modelOutputShown = Signal(int)  # recording id: its detections and score tracks are on screen

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings("birdlab", "birdlab")
        self.interactive = True  # False for --screenshot: problems go to stderr, no modal dialog waits
        self.problems: list[str] = []
        self.session = Session()  # the shared state (Qt-free): what is open and shown, the rescore plan
        self.retrain_dialog = None
        self.batch_dialog = None
        self.report_panel = None
        self.report_dock: QDockWidget | None = None
        self.last_change_summary = ""
        self.bridge: ProjectBridge | None = None
        self.undo_stack = ProjectUndoStack(lambda: self.project, self)
        self.undo_stack.refused.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.setWindowTitle("birdlab")
        self.resize(1400, 850)

        build_docks(self)  # the view, the panels and the status bar (gui/window_layout.py)
        self.review.filterChanged.connect(self.refresh_review)
        self.versions.activateRequested.connect(self.activate_version)
        self.versions.distilRequested.connect(self.open_fast_copy)
        self.review.currentChanged.connect(self.go_to_detection)
        build_menus(self)
        build_toolbars(self)
        self.playing = PlayActions(self.session, self.view, self.channel_box, self.speed_box, self)
        self.reviewing = ReviewActions(self.session, self.review, self.view, self.undo_stack, self.show_recording,
                                       self.playing.play, self._class_names, self)
        self.reviewing.message.connect(self.statusBar().showMessage)
        self.edits = LabelEdits(self.session, self.view, self.labels_table, self.class_box, self.undo_stack,
                                self.settings, lambda title, checked: ask_classes(self, self.project, title, checked),
                                self)
        self.edits.message.connect(self.statusBar().showMessage)
        self.similar = SimilarActions(self.session, self.view, self.review,
                                      lambda: self.current_class_id(create=False), self.index_bar,
                                      self.index_cancel, self)
        self.similar.message.connect(self.statusBar().showMessage)
        self.similar.found.connect(self._candidates_found)
        self.review.sourceChanged.connect(self._review_source_chosen)
        self.map_panel.jumpRequested.connect(self._show_window)
        self.map_panel.reviewRequested.connect(self._review_windows)
        self.map_panel.message.connect(self.statusBar().showMessage)
        self.measurer = LabelMeasurer(self.labels_table.model.add_measurements, parent=self)
        self.labels_browser.edited.connect(self.edits.edit_field)
        self.labels_browser.jumpRequested.connect(self.jump_to_label)
        self.playing.state.connect(self.status_play.setText)
        self.playing.message.connect(self.statusBar().showMessage)
        self.output = ModelOutput(self.session, self.view, self.model_label, self.track_class_box, self.score_bar,
                                  self.score_cancel, self._class_names, self)
        self.scorer = self.output.scorer
        self.output.shown.connect(self.modelOutputShown)
        self.output.stored.connect(self.refresh_review)
        self.output.changes.connect(self._show_changes)
        self.output.message.connect(self.statusBar().showMessage)

        self.view.boxDrawn.connect(self.edits.add_box)
        self.view.labelEdited.connect(self.edits.moved)
        self.view.selectionChanged.connect(self.labels_table.select)
        self.view.cursorMoved.connect(lambda t: self.status_cursor.setText(f"cursor {t:.3f} s"))
        self.view.rangeChanged.connect(self._range_changed)
        self.labels_table.selectionChanged.connect(self.view.reveal_labels)
        self.labels_table.activated.connect(lambda label_id: self.view.reveal_labels([label_id]))
        self.recordings.recordingActivated.connect(self.show_recording)
        self.recordings.markEmptyRequested.connect(self.mark_empty)
        # every label or extent edit in the app goes through the undo stack: refresh on its index
        # (at once, once); the store's change signal covers the rest (classes, models, recordings)
        self.undo_stack.indexChanged.connect(self._edited)
        self.view.thresholdChanged.connect(lambda t: self.threshold_slider.setValue(int(round(t * 100))))
        restore_layout(self)

    @property
    def project(self) -> Project | None:
        """The open project (the session's)."""
        return self.session.project

    @property
    def polarity(self) -> Polarity:
        """The polarity of new boxes (the session's)."""
        return self.session.polarity

    @property
    def recording(self) -> Recording | None:
        """The recording on screen (the session's)."""
        return self.session.recording

    def warn(self, text: str) -> None:
        """A problem the user must see: a dialog, or stderr when nobody is there to click (--screenshot)."""
        self.problems.append(text)
        if self.interactive:
            QMessageBox.warning(self, "birdlab", text)
        else:
            print(f"birdlab: {text}", file=sys.stderr)

    # ---- project ---------------------------------------------------------------------------
    def open_project(self, folder: str | Path) -> None:
        try:
            project = Project.open(folder)
        except ProjectError as exc:
            self.warn(str(exc))
            return
        self.set_project(project)

    def set_project(self, project: Project) -> None:
        self.close_project()
        self.session.set_project(project)
        self.bridge = ProjectBridge(project, self)
        self.bridge.changed.connect(self._project_changed)
        self.setWindowTitle(f"birdlab — {project.root}" + (" [read-only]" if project.read_only else ""))
        if project.read_only:
            self.statusBar().showMessage("This project is read-only (permission denied): you can view and play it, "
                                         "but labels and scores cannot be saved. Copy it to a folder you can write.")
        self._remember_recent(str(project.root))
        self.edits.fill_classes()
        self._refresh_recordings()
        self.refresh_review()
        self.versions.set_versions(project.model_versions())
        self.labels_browser.set_project(project)
        ids = project.recording_ids()
        if ids:
            last = self.settings.value(f"last-recording/{project.root}", None)
            self.show_recording(int(last) if last is not None and int(last) in set(ids) else ids[0])

    def close_project(self) -> None:
        if self.bridge:
            self.bridge.close()
        if self.project:
            self.project.close()
        self.session.set_project(None)
        self.labels_browser.set_project(None)
        self.bridge = None
        self.undo_stack.clear()

    def open_audio(self, files: list[str], project_folder: str | Path | None = None) -> None:
        """Plain audio files go into a new project (a scratch one when no folder is given)."""
        project = new_audio_project(files, project_folder, self.warn)
        self.set_project(project)

    def _class_names(self) -> dict[int, str]:
        return {c.id: c.name for c in self.project.classes()} if self.project else {}

    def _refresh_recordings(self) -> None:
        if self.project:
            self.recordings.show_project(self.project, self.recording.id if self.recording else None)

    def show_recording(self, recording_id: int, view_range: tuple[float, float] | None = None) -> None:
        """Open a recording in the view (at `view_range`, else from its start)."""
        if not self.project:
            return
        rec = self.project.recording(recording_id)
        try:
            info = probe(rec.abs_path)
        except AudioError as exc:
            self.warn(f"{exc}\n\nIf the file moved, open its new folder with "
                      "File > Open audio files or `birdlab init` to relink it.")
            return
        self.session.set_recording(rec)
        self.settings.setValue(f"last-recording/{self.project.root}", rec.id)
        fit_controls(self, info)
        self.view.set_recording(str(rec.abs_path), info.sample_rate, info.frames, info.channels, start_range=view_range)
        self._refresh_labels()
        self.recordings.select(rec.id)
        self._show_model_output()
        self.status_recording.setText(f"{rec.name}  {info.sample_rate / 1000:g} kHz  {info.channels} ch  "
                                      f"{info.duration:.1f} s")
        self.recordingShown.emit(rec.id)

    def _refresh_labels(self) -> None:
        if not (self.project and self.recording):
            return
        labels = self.project.labels(self.recording.id)
        names = self._class_names()
        selected = [i for i in self.view.selected_ids() if any(lab.id == i for lab in labels)]
        self.view.set_labels(labels, names)
        self.view.select_labels(selected)
        self.labels_table.set_labels(labels, names, selected)
        self.measurer.measure(self.recording.abs_path, self.recording.duration, labels)
        self.view.set_extents([(e.t_min, e.t_max) for e in self.project.extents(self.recording.id)])

    def jump_to_label(self, recording_id: int, label_id: int) -> None:
        """From the labels browser: open the label's recording and bring the box into view, selected."""
        if self.recording is None or self.recording.id != recording_id:
            self.show_recording(recording_id)
        self.view.reveal_labels([label_id])
        self.labels_table.select([label_id])

    def _edited(self, _index: int) -> None:
        self._refresh_labels()
        if not self.reviewing.deciding:  # a review decision refreshes the queue itself, keeping its place
            self.refresh_review()

    def _project_changed(self, table: str, action: str, ids: tuple, recordings: tuple = ()) -> None:
        if self.project is None:  # a change queued before the project closed
            return
        if table == "classes":
            self.edits.fill_classes()
            self._refresh_labels()
        if table in ("classes", "recordings", "labels"):
            self.labels_browser.refresh()
        if table in ("labels", "extents") and recordings and self.project:
            self.recordings.update_recordings(self.project, recordings)  # their rows only
        elif table in ("labels", "extents", "recordings"):
            self._refresh_recordings()
        if table == "models":
            self._show_model_output()
            self.versions.set_versions(self.project.model_versions())
        if table in ("models", "classes"):
            self.refresh_review()

    # ---- model output (gui/model_output.py) ----------------------------------------------------
    def _show_model_output(self, allow_scoring: bool = True) -> None:
        self.output.show(allow_scoring)

    def rescore_current(self) -> None:
        self.output.rescore_current()

    def _threshold_changed(self, value: int) -> None:
        self.threshold_value.setText(f"{value / 100:.2f}")
        self.session.set_threshold(value / 100)
        self.view.set_threshold(value / 100)

    def _show_changes(self, text: str) -> None:
        """New / lost / flipped detections on the recordings rescored so far, and AP old vs new."""
        self.last_change_summary = text
        self.statusBar().showMessage(text.split("\n", 1)[0], 15000)
        if self.retrain_dialog is not None:
            self.retrain_dialog.show_summary(text)

    def activate_version(self, model_id: int) -> None:
        """Make an earlier (or later) version active again; its detections come back, or are scored."""
        if self.project:
            self.project.set_active_model(model_id)
            self.statusBar().showMessage(f"model {self.project.model_version(model_id).name} is active", 6000)

    # ---- dialogs and the report (gui/model_dialogs.py) -------------------------------------
    def open_retrain(self):
        return model_dialogs.open_retrain(self)

    def open_fast_copy(self, version_id: int):
        """Retrain, set to distil this version into a fast student for batch scoring."""
        dialog = self.open_retrain()
        if dialog is not None:
            dialog.set_teacher(version_id)
        return dialog

    def show_report(self):
        return model_dialogs.show_report(self)

    def open_batch(self):
        return model_dialogs.open_batch(self)

    def _new_model(self, version) -> None:
        """A new active version: the output rescores what is on screen, then its parent's recordings."""
        self.output.new_version(version)
        self.refresh_review()

    # ---- review (gui/review_actions.py) ------------------------------------------------------
    def refresh_review(self, keep: int | None = None) -> None:
        self.reviewing.refresh(keep)

    def _review_source_chosen(self, model_id: int | None) -> None:
        self.session.set_review_source(model_id)
        self.refresh_review()

    def _candidates_found(self, model_id: int) -> None:
        """A similarity search's candidates: the review queue reads them, the first one is shown."""
        self.refresh_review()
        self.review_dock.raise_()
        self.go_to_detection(self.review.current())

    def show_map(self) -> None:
        self.map_dock.show()
        self.map_dock.raise_()
        self.map_panel.draw()

    def _show_window(self, recording_id: int, t0: float, t1: float) -> None:
        """A window of the map: shown with as much around it, and played."""
        span = t1 - t0
        self.show_recording(recording_id, (max(0.0, t0 - span / 2), t1 + span / 2))
        self.playing.play(t0, t1)

    def _review_windows(self, hits, what: str, embedder: str) -> None:
        """Windows chosen on the map become candidates of the class box's class in the review queue."""
        class_id = self.current_class_id(create=False)
        if class_id is None or not self.project:
            self.statusBar().showMessage("Choose the class of the selected windows in the class box first.", 6000)
            return
        version = store_candidates(self.project, hits, class_id, [], embedder, what=what)
        self.session.set_review_source(version)
        self._candidates_found(version)

    def go_to_detection(self, det: Detection | None) -> None:
        self.reviewing.go_to(det)

    def on_screen(self, det: Detection) -> bool:
        return self.reviewing.on_screen(det)

    def decide(self, polarity: Polarity) -> None:
        self.reviewing.decide(polarity)

    # ---- labelling (gui/label_edits.py) ------------------------------------------------------
    def current_class_id(self, create: bool = True) -> int | None:
        return self.edits.current_class_id(create)

    def set_polarity(self, polarity: Polarity) -> None:
        self.edits.set_polarity(polarity)
        self.polarity_actions[polarity].setChecked(True)

    def mark_empty(self, recording_ids: list[int], class_ids: list[int] | None = None) -> None:
        self.edits.mark_empty(recording_ids, class_ids)

    def _range_changed(self, t0: float, t1: float) -> None:
        self.session.set_view_range(t0, t1)
        self.status_cursor.setText(f"{t0:.2f}–{t1:.2f} s")

    def _remember_recent(self, folder: str) -> None:
        remember_recent(self, folder)

    def closeEvent(self, event):  # noqa: N802 (Qt naming)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.playing.stop()
        self.scorer.shutdown()
        self.similar.shutdown()
        self.map_panel.shutdown()
        self.view.loader.shutdown()
        self.measurer.shutdown()
        self.close_project()
        super().closeEvent(event)


__all__ = ["MainWindow", "QTimer"]
