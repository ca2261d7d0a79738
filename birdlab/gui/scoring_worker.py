"""Score the current recording with the active model off the GUI thread (cancellable).

It runs the same `birdlab.scoring.recording.score_recording` as `birdlab score`, so the app and
a headless run give the same detections. Results reach the GUI thread through a queue and an
argument-free queued signal (`gui/background.Background`, shared with the tiles and playback).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from birdlab.gui.background import Background



@dataclass(frozen=True)
class ScoreRequest:
    recording_id: int
    audio_path: str
    model_path: str
    duration: float
    class_bands: dict  # project class bands (override the model's)
    threshold: float = 0.5  # detection threshold
    cache_root: str = ""  # the project's cache/ (an embedding-family model keeps its window embeddings there)
    fingerprint: str = ""  # the recording's content fingerprint


class RecordingScorer(QObject):
    """`progress(recording_id, fraction)`, `finished(recording_id, RecordingScores)`, `failed(id, reason)`."""

    progress = Signal(int, float)
    finished = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._background = Background(1, "score", self)
        self._token: object | None = None
        self._scorers: dict[tuple[str, float], object] = {}
        self._lock = threading.Lock()
        self.busy_with: int | None = None

    def score(self, request: ScoreRequest) -> None:
        """Start scoring (a request for another recording supersedes a running one)."""
        token = object()
        self._token = token
        self.busy_with = request.recording_id
        self._background.submit(self._run, request, token)

    def cancel(self) -> None:
        self._token = None
        self.busy_with = None

    def shutdown(self) -> None:
        self.cancel()
        self._background.shutdown()

    def _scorer(self, model_path: str):
        from birdlab.scoring.ensemble import load_scorer

        key = (model_path, Path(model_path).stat().st_mtime)
        with self._lock:
            if key not in self._scorers:
                self._scorers = {key: load_scorer([model_path], threads=None)}  # keep one: models are big
            return self._scorers[key]

    def _run(self, request: ScoreRequest, token: object) -> None:
        from birdlab.scoring.detect import DetectSettings
        from birdlab.scoring.recording import EmbeddingStore, ScoreSettings, ScoringCancelled, score_recording

        def stopped() -> bool:
            return self._token is not token

        def progress(seconds: float) -> None:
            self._background.deliver(self._arrived, "progress", request,
                                     min(1.0, seconds / max(request.duration, 1e-9)), token)

        try:
            if stopped():
                return
            scorer = self._scorer(request.model_path)
            settings = ScoreSettings(detect=DetectSettings(threshold=request.threshold),
                                     class_bands=dict(request.class_bands))
            store = EmbeddingStore(Path(request.cache_root), request.fingerprint) if request.cache_root else None
            result = score_recording(request.audio_path, scorer, settings, progress=progress, should_stop=stopped,
                                     embeddings=store)
            self._background.deliver(self._arrived, "done", request, result, token)
        except ScoringCancelled:
            return
        except Exception as exc:  # a bad file or model: reported, the app goes on
            self._background.deliver(self._arrived, "failed", request, str(exc), token)

    def _arrived(self, kind: str, request: ScoreRequest, value, token: object) -> None:
        """On the GUI thread: progress, a result or a failure of the current request."""
        if token is not self._token:
            return  # superseded or cancelled
        if kind == "progress":
            self.progress.emit(request.recording_id, value)
        elif kind == "done":
            self.busy_with = None
            self.finished.emit(request.recording_id, value)
        else:
            self.busy_with = None
            self.failed.emit(request.recording_id, value)
