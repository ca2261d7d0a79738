"""Review decisions from the keyboard: the queue of the active model's detections, going to one,
and turning the current one into a review label (A, X, Q), skipping it (S) or relabelling it
to the class box's class (C). A decision is never blind: a detection that is not on screen is
first shown (and played); the next key press decides.

The queue's order and filters are `core/store/review.py`; what is on screen is the session's; every
label goes through the window's undo stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from birdlab.core.model import Detection, Polarity, Source
from birdlab.core.store.review import (RANKED, DecisionLabel, QueueSpec, ReviewQueue, context_range, decision_labels,
                                      progress, relabel_labels)
from birdlab.core.session import Session
from birdlab.scoring.active_learning import EMBEDDING_ORDERS, NEAR_POSITIVES, diverse_uncertain, near_positives
from birdlab.scoring.similarity import is_search_version, latest_index
from birdlab.gui.commands import AddLabel
from birdlab.gui.review_panel import ReviewPanel
from birdlab.gui.spectrogram_view import SpectrogramView


class ReviewActions(QObject):
    message = Signal(str, int)  # a status-bar message and how long to show it (ms)

    def __init__(self, session: Session, panel: ReviewPanel, view: SpectrogramView, undo: QUndoStack,
                 show_recording: Callable[..., None], play: Callable[..., None],
                 class_names: Callable[[], dict[int, str]], parent=None):
        super().__init__(parent)
        self.session, self.panel, self.view, self.undo = session, panel, view, undo
        self.show_recording, self.play, self.class_names = show_recording, play, class_names
        self.deciding = False  # while a decision writes its labels (it updates the queue itself)
        self.progress: dict[int | None, tuple[int, int]] = {}
        self._progress_key: tuple | None = None  # (project, model, project generation) it was counted at

    def refresh(self, keep: int | None = None) -> None:
        """Rebuild the queue (a new filter, order, model or an edit elsewhere): its first page is
        read from SQL, the progress from the kept counts; no detection list is loaded."""
        project, model = self.session.project, self.session.review_model()
        self.panel.set_sources(self._sources(), self.session.review_source)
        if model is None:
            self.panel.set_queue(None, {}, self.recording_names)
            self.progress, self._progress_key = {}, None
            self.panel.show_progress({}, {})
            return
        names = self.class_names()
        self.panel.set_classes(names)
        current = keep if keep is not None else (self.panel.current().id if self.panel.current() else None)
        recording = self.session.recording
        spec = self._spec(model.id, self.panel.review_filter(recording.id if recording else None))
        self.panel.set_queue(ReviewQueue(project, spec), names, self.recording_names, current)
        key = (id(project), str(project.root), model.id, project.generation)
        if key != self._progress_key:  # a filter or order change leaves the counts as they are
            self.progress, self._progress_key = progress(project, model.id), key
        self.panel.show_progress(self.progress, names)

    def _spec(self, model_id: int, review_filter) -> QueueSpec:
        """The queue's spec; an embedding order is ranked here from the project's embedding index
        (falling back to uncertainty, with a message, when there is none yet)."""
        order, threshold = self.panel.order, self.session.threshold
        if order not in EMBEDDING_ORDERS:
            return QueueSpec(model_id, review_filter, order, threshold)
        spec = QueueSpec(model_id, review_filter, "uncertainty", threshold)
        index = latest_index(self.session.project.cache_dir)
        if index is None:
            self.message.emit(f"'{order}' needs the embedding index: Review > Build the embedding index "
                              "(until then the queue is in uncertainty order).", 8000)
            return spec
        rank = near_positives if order == NEAR_POSITIVES else diverse_uncertain
        ids = rank(self.session.project, index, spec)
        if not ids and order == NEAR_POSITIVES:
            self.message.emit("No positive label of this class is in the embedding index yet: label a few calls "
                              "(or refresh the index) first.", 8000)
        return replace(spec, order=RANKED, ranked=tuple(ids))

    def _sources(self) -> list[tuple[str, int | None]]:
        """What the queue can read: the active model's detections, then the searches' candidates, newest first."""
        project = self.session.project
        if project is None:
            return []
        active = project.active_model()
        out: list[tuple[str, int | None]] = [(f"active model ({active.name})" if active else "active model", None)]
        for version in reversed(project.model_versions()):
            if is_search_version(version):
                out.append((f"{version.name}: {version.card.get('class', '?')} like {version.card.get('query', '')}",
                            version.id))
        return out

    def recording_names(self, recording_ids: list[int]) -> dict[int, str]:
        return self.session.project.recording_names(recording_ids) if self.session.project else {}

    def _decided(self, det: Detection, nxt: Detection | None, was_reviewed: bool) -> None:
        """After a decision, the queue changes by one row and the progress by one count."""
        if self.panel.unreviewed.isChecked():
            self.panel.model.remove(det.id)
        if not was_reviewed:
            for key in (det.class_id, None):
                done, total = self.progress.get(key, (0, 0))
                self.progress[key] = (done + 1, total)
            self.panel.show_progress(self.progress, self.class_names())
        project, model = self.session.project, self.session.review_model()
        self._progress_key = (id(project), str(project.root), model.id if model else None, project.generation)
        self.panel.select(nxt.id if nxt else None)

    def go_to(self, det: Detection | None) -> None:
        """Show a detection: open its recording, zoom to it with some context, play it if asked."""
        if det is None or not self.session.project:
            return
        view_range = context_range(det)
        if not self.session.recording or self.session.recording.id != det.recording_id:
            self.show_recording(det.recording_id, view_range)  # opened right there: nothing drawn twice
        self.view.set_visible_range(*view_range)
        self.view.highlight_detection(det)
        self.view.set_cursor(det.t_min)
        self.panel.select(det.id)
        if self.panel.autoplay.isChecked():
            self.play(det.t_min, det.t_max, band=(det.f_min, det.f_max))

    def on_screen(self, det: Detection) -> bool:
        return self.session.shows(det.recording_id, det.t_min, det.t_max)

    def _shown_first(self, det: Detection) -> bool:
        """True when the detection was not on screen and has just been shown instead of decided."""
        if self.on_screen(det):
            return False
        self.go_to(det)
        self.message.emit("Showing the detection first: press the key again to decide.", 4000)
        return True

    def _commit(self, det: Detection, decided: list[DecisionLabel], macro: str | None = None) -> None:
        """Push a decision's labels (one undo step) and move the queue on by one row."""
        labels = [AddLabel(self.session.project, d.recording_id, d.class_id, d.box, d.polarity, Source.REVIEW,
                           detection_id=d.detection_id) for d in decided]
        nxt = self.panel.next_after(det.id)
        was_reviewed = self.session.project.is_reviewed(det.id)
        before = self.undo.index()
        self.deciding = True
        try:
            if macro:
                self.undo.beginMacro(macro)
            for label in labels:
                self.undo.push(label)
            if macro:
                self.undo.endMacro()
        finally:
            self.deciding = False
        if self.undo.index() != before:  # a read-only project refuses the labels: nothing changed
            self._decided(det, nxt, was_reviewed)
            self.go_to(self.panel.current())

    def decide(self, polarity: Polarity) -> None:
        """The current detection becomes a label (source review); the queue moves on."""
        det = self.panel.current()
        if det is None or not self.session.project or self._shown_first(det):
            return
        self._commit(det, decision_labels(det, polarity))

    def skip(self) -> None:
        det = self.panel.current()
        nxt = self.panel.next_after(det.id) if det else None
        if nxt is not None:
            self.go_to(nxt)

    def relabel(self, class_id: int | None) -> None:
        """Not the detected class but `class_id`: a negative for the detected class and a positive
        for the other, as one undo step."""
        det = self.panel.current()
        if det is None or class_id is None or class_id == det.class_id or self._shown_first(det):
            return
        self._commit(det, relabel_labels(det, class_id), macro="relabel detection")
