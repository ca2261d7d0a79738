"""Find more like this (M): the nearest windows of the project to what is selected, queued for review.

The query is the selected label boxes (several combine: a window's best similarity to any), else
the detection under review, else the visible range. The embedding index is brought up to date
first (only new or changed recordings are embedded, with a progress bar, its ETA and a cancel
button in the status bar: a dialog would take the keyboard from the review);
the search runs on a worker thread, and its hits become a search version's detections on the GUI
thread (`scoring/similarity.py`). The review panel then reads that version, so A / X / Q / S
work on the candidates and write positive and negative labels as in any review.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar, QToolButton

from birdlab.core.progress import format_duration
from birdlab.core.session import Session
from birdlab.gui.background import Background
from birdlab.gui.review_panel import ReviewPanel
from birdlab.gui.spectrogram_view import SpectrogramView
from birdlab.scoring.embedders import EmbedderUnavailable
from birdlab.scoring.embedding_index import EmbeddingIndexError
from birdlab.scoring.similarity import (DEFAULT_HOP_S, Span, build_index, find_similar, load_embedder, open_index,
                                        pending, store_candidates)
from birdlab.scoring.window_embeddings import window_count

TOP_K = 50  # candidates per search: a review session's worth


class SimilarActions(QObject):
    message = Signal(str, int)  # a status-bar message and how long to show it (ms)
    found = Signal(int)  # the search version whose candidates are now queued

    def __init__(self, session: Session, view: SpectrogramView, panel: ReviewPanel,
                 class_id: Callable[[], int | None], bar: QProgressBar, cancel_button: QToolButton,
                 parent: QObject | None = None, threads: int = 1):
        super().__init__(parent)
        self.session, self.view, self.panel, self.class_id = session, view, panel, class_id
        self.bar, self.cancel_button = bar, cancel_button
        self.cancel_button.clicked.connect(self._cancelled_by_user)
        self._background = Background(threads, "similar", self)
        self._token: object | None = None
        self.embedder_threads = 2
        self.top_k = TOP_K

    # ---- the query ------------------------------------------------------------------------------

    def queries(self) -> tuple[list[Span], int | None, str]:
        """(spans, class id, what they are): the selected boxes, else the detection under review,
        else the visible range of the recording on screen."""
        project, recording = self.session.project, self.session.recording
        ids = self.view.selected_ids()
        if project and ids:
            labels = [project.label(i) for i in ids]
            recs = {r.id: r for r in project.recordings_by_id({lab.recording_id for lab in labels})}
            classes = {lab.class_id for lab in labels}
            spans = [Span(recs[lab.recording_id], lab.box.t_min, lab.box.t_max, lab.box.f_min, lab.box.f_max)
                     for lab in labels]
            return spans, classes.pop() if len(classes) == 1 else self.class_id(), f"{len(spans)} selected box(es)"
        det = self.panel.current()
        if project and det is not None and self.session.shows(det.recording_id, det.t_min, det.t_max):
            rec = project.recording(det.recording_id)
            return [Span(rec, det.t_min, det.t_max, det.f_min, det.f_max)], det.class_id, "the detection under review"
        if project and recording is not None:
            t0, t1 = self.session.view_range
            return [Span(recording, t0, t1)], self.class_id(), "the visible range"
        return [], None, ""

    # ---- actions --------------------------------------------------------------------------------

    def find_similar(self) -> None:
        if self._token is not None:
            self.message.emit("A search is already running.", 4000)
            return
        spans, class_id, what = self.queries()
        if not spans:
            self.message.emit("Open a recording and select a box (or review a detection) to find more like it.", 6000)
            return
        if class_id is None:
            self.message.emit("Choose the class of the candidates in the class box first.", 6000)
            return
        self.message.emit(f"Finding windows like {what}...", 0)
        self._start(spans, class_id)

    def build_index(self) -> None:
        if self._token is None and self.session.project:
            self._start([], None)

    def _start(self, spans: list[Span], class_id: int | None) -> None:
        project = self.session.project
        token = self._token = object()
        job = dict(cache_root=project.cache_dir, recordings=project.recordings(), spans=spans, class_id=class_id,
                   top_k=self.top_k, threads=self.embedder_threads, project=project)
        self._background.submit(self._run, token, job)

    def cancel(self) -> None:
        self._token = None
        self._hide_progress()

    def shutdown(self) -> None:
        self.cancel()
        self._background.shutdown()

    # ---- the worker -----------------------------------------------------------------------------

    def _run(self, token: object, job: dict) -> None:
        """On a worker thread: no database access (the recordings were read on the GUI thread)."""
        deliver = self._background.deliver
        try:
            embedder = load_embedder(threads=job["threads"])
        except EmbedderUnavailable as exc:
            deliver(self._failed, token, str(exc))
            return
        started, last = time.monotonic(), [0.0]
        lock = threading.Lock()
        done_by_rec: dict[int, int] = {}
        index = open_index(job["cache_root"], embedder, DEFAULT_HOP_S)
        total = sum(window_count(r.duration, DEFAULT_HOP_S) for r in pending(index, job["recordings"]))

        def progress(event) -> None:
            with lock:
                done_by_rec[event.recording.id] = event.done
                now = time.monotonic()
                if now - last[0] < 0.25 and event.done < event.total:
                    return
                last[0] = now
                deliver(self._progress, token, sum(done_by_rec.values()), total, now - started)

        try:
            index, report = build_index(job["cache_root"], job["recordings"], embedder, DEFAULT_HOP_S, progress,
                                        lambda: self._token is not token)
            if report.cancelled:
                return
            hits = find_similar(index, embedder, job["spans"], k=job["top_k"]) if job["spans"] else None
        except Exception as exc:  # noqa: BLE001 - an unreadable query file, memory, ONNX Runtime: said, never stuck
            deliver(self._failed, token, str(exc) if isinstance(exc, (EmbeddingIndexError, OSError, ValueError))
                    else f"{type(exc).__name__}: {exc}")
            return
        deliver(self._done, token, job, embedder, report, hits)

    # ---- back on the GUI thread -----------------------------------------------------------------

    def _progress(self, token: object, done: int, total: int, elapsed: float) -> None:
        if token is not self._token or total <= 0:
            return
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = format_duration((total - done) / rate) if rate > 0 else "?"
        self.bar.setMaximum(total)
        self.bar.setValue(min(done, total))
        self.bar.setFormat(f"index %p%  ETA {eta}")
        self.bar.setToolTip(f"embedding windows for Find similar: {done:,} of {total:,}, {rate:.0f}/s")
        self.bar.show()
        self.cancel_button.show()

    def _cancelled_by_user(self) -> None:
        self._token = None
        self._hide_progress()
        self.message.emit("Similarity index cancelled: the windows embedded so far are kept.", 6000)

    def _hide_progress(self) -> None:
        self.bar.hide()
        self.cancel_button.hide()

    def _failed(self, token: object, reason: str) -> None:
        if token is not self._token:
            return
        self._token = None
        self._hide_progress()
        self.message.emit(f"Similarity search failed: {reason}", 15000)

    def _done(self, token: object, job: dict, embedder, report, hits) -> None:
        if token is not self._token:
            return
        self._token = None
        self._hide_progress()
        failed = f"; {len(report.failed)} recording(s) could not be read" if report.failed else ""
        project = self.session.project
        if project is not job["project"]:  # another project was opened meanwhile: its ids are not these
            return
        if hits is None:
            self.message.emit(f"Embedding index up to date: {report.windows:,} windows{failed}.", 8000)
            return
        version = store_candidates(project, hits, job["class_id"], job["spans"], embedder.name)
        self.session.set_review_source(version)
        self.message.emit(f"{len(hits)} candidate(s) like the query are in the review queue "
                          f"(best similarity {hits[0].similarity:.2f}){failed}." if hits else
                          f"No similar window found{failed}.", 10000)
        self.found.emit(version)
