"""Score tracks of a model on a recording, kept in the project's disposable cache.

Detections live in the database; the per-frame tracks behind them (for the score strip under
the spectrogram) are cached as float16 `.npz`, so reopening a recording does not rescore it.
Deleting `cache/` only means rescoring.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from birdlab.core.store.project import Project


def tracks_path(project: Project, model_name: str, recording_id: int) -> Path:
    return project.cache_dir / "tracks" / model_name / f"{recording_id}.npz"


def save_tracks(path: Path, tracks: np.ndarray, frame_hop_s: float, classes: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, tracks=np.asarray(tracks, np.float16), frame_hop_s=frame_hop_s, classes=np.array(classes))
    os.replace(tmp, path)


def load_tracks(path: Path) -> tuple[np.ndarray, float, tuple[str, ...]] | None:
    """(tracks [frames, classes], frame hop, classes), or None when missing or damaged."""
    try:
        with np.load(path) as data:
            return data["tracks"].astype(np.float32), float(data["frame_hop_s"]), tuple(str(c) for c in data["classes"])
    except (OSError, KeyError, ValueError):
        return None
