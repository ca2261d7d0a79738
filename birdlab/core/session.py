"""The app's state, Qt-free: what is open and shown, and the work queued on the active model.

In the spirit of napari's `ViewerModel`: the window and its panels read this state and call
its methods; they subscribe to its events (`session.events.connect(callback)`, called with the
name of what changed and its new value) instead of reading each other's widgets. Nothing here
imports Qt, so the logic is tested without a window (tests/core/test_session.py).

- `Session`: the open project and recording, the visible range, the display threshold, the
  current class and polarity, the rescore plan, and the version the review queue reads (the
  active model, or a similarity search's candidates).
- `RescorePlan`: after a new version becomes active, the recording on screen is rescored first,
  then every recording the parent version had detections on, one at a time; the rescored ones
  are compared with the parent (new / lost / flipped detections).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from birdlab.core.ml.compare import NO_CHANGE, DetectionDiff
from birdlab.core.model import ModelVersion, Polarity, Recording
from birdlab.core.store.project import Project, ProjectError

Listener = Callable[[str, Any], None]


class Events:
    """A list of listeners told `(name, value)` after a change (synchronously, in order)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def connect(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def emit(self, name: str, value: Any) -> None:
        for listener in list(self._listeners):
            listener(name, value)


@dataclass
class ScoreJob:
    """One recording to score with a version's model file."""

    recording: Recording
    model: ModelVersion
    model_file: Path


@dataclass
class RescorePlan:
    """The recordings still to rescore with the active version, and its comparison with its parent."""

    pending: list[int] = field(default_factory=list)  # recording ids, in order
    model_id: int | None = None  # the version being compared ...
    parent_id: int | None = None  # ... with the one it was trained from
    compared: set[int] = field(default_factory=set)  # recordings rescored since, to compare on
    diffs: dict[int, DetectionDiff] = field(default_factory=dict)  # each rescored recording's, read once

    @property
    def diff(self) -> DetectionDiff:
        """New / lost / flipped / kept over the recordings rescored so far."""
        return sum(self.diffs.values(), NO_CHANGE)

    def start(self, project: Project, version: ModelVersion, on_screen: int | None) -> None:
        """A new active version: the recordings its parent had detections on (the one on screen
        is scored first, by the window, so it is not queued again)."""
        self.model_id, self.parent_id = version.id, version.parent_id
        self.compared, self.diffs = set(), {}
        if version.parent_id is None:
            self.pending = []
            return
        had = set(project.detection_recordings(version.parent_id))
        self.pending = sorted(had - {on_screen})

    def scored(self, recording_id: int, model_id: int) -> bool:
        """A recording was scored with `model_id`; True when the comparison gained it."""
        self.pending = [r for r in self.pending if r != recording_id]
        if self.parent_id is not None and model_id == self.model_id:
            self.compared.add(recording_id)
            return True
        return False

    def next_job(self, project: Project, busy: bool) -> ScoreJob | None:
        """The next recording to rescore with the active version, unless the scorer is busy."""
        if busy or not self.pending:
            return None
        model = project.active_model()
        path = project.model_file(model) if model else None
        if model is None or path is None:
            return None
        return ScoreJob(project.recording(self.pending[0]), model, path)


class Session:
    """The state the window and its panels share; changes are announced on `events`."""

    def __init__(self) -> None:
        self.events = Events()
        self.project: Project | None = None
        self.recording: Recording | None = None
        self.view_range: tuple[float, float] = (0.0, 0.0)
        self.threshold = 0.5  # the display threshold: detections, the review queue and the report
        self.polarity = Polarity.POSITIVE  # of new boxes
        self.scoring_model = ""  # the version whose scoring is running or was last asked for
        self.rescore = RescorePlan()
        self.review_source: int | None = None  # the version the review queue reads; None: the active one

    # ---- changes --------------------------------------------------------------------------------
    def _set(self, name: str, value: Any) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)
            self.events.emit(name, value)

    def set_project(self, project: Project | None) -> None:
        """A new project (or none): the recording, the rescore plan and the scoring go with the old."""
        self.recording = None
        self.rescore = RescorePlan()
        self.scoring_model = ""
        self.review_source = None
        self.project = project
        self.events.emit("project", project)

    def set_recording(self, recording: Recording | None) -> None:
        self._set("recording", recording)

    def set_view_range(self, t0: float, t1: float) -> None:
        self._set("view_range", (t0, t1))

    def set_threshold(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold {value} must lie in [0, 1]")
        self._set("threshold", value)

    def set_polarity(self, polarity: Polarity) -> None:
        self._set("polarity", polarity)

    def set_review_source(self, model_id: int | None) -> None:
        """Review another version's detections (a similarity search's candidates); None: the active model's."""
        self._set("review_source", model_id)

    # ---- what is shown ------------------------------------------------------------------------
    def active_model(self) -> ModelVersion | None:
        return self.project.active_model() if self.project else None

    def review_model(self) -> ModelVersion | None:
        """The version whose detections the review queue holds: the chosen source while it exists,
        else the active model."""
        if self.project and self.review_source is not None:
            try:
                return self.project.model_version(self.review_source)
            except ProjectError:
                pass
        return self.active_model()

    def shows(self, recording_id: int, t_min: float, t_max: float) -> bool:
        """Whether a box lies inside what is on screen (its recording, inside the visible range)."""
        t0, t1 = self.view_range
        return self.recording is not None and self.recording.id == recording_id and t0 <= t_min and t_max <= t1
