"""Scores of one recording into a project: its detections for a model version, and the tracks.

Used by the app (after scoring the current recording) and by `birdlab demo`, so both store
exactly what `score_recording` found.
"""

from __future__ import annotations

from birdlab.core.store.project import Project
from birdlab.core.store.track_cache import save_tracks, tracks_path
from birdlab.scoring.recording import RecordingScores

APP_DETECTION_THRESHOLD = 0.2  # the app keeps detections from here up; its slider filters what is shown


def project_bands(project: Project) -> dict[str, tuple[float, float]]:
    """The project's known class bands (they override the model's)."""
    return {c.name: (c.f_min, c.f_max) for c in project.classes()
            if c.f_min is not None and c.f_max is not None and 0 <= c.f_min < c.f_max}


def store_scores(project: Project, model_id: int, recording_id: int, result: RecordingScores) -> int:
    """Replace the model's detections on the recording and cache its tracks; returns the count."""
    model = project.model_version(model_id)
    class_ids = {name: project.add_class(name).id for name in result.classes}
    n = project.set_detections(model_id, recording_id, [
        (class_ids[b.label], b.t_min, b.t_max, b.f_min, b.f_max, b.score) for b in result.detections])
    save_tracks(tracks_path(project, model.name, recording_id), result.tracks, result.frame_hop_s, result.classes)
    return n
