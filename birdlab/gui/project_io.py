"""Opening projects and audio files from the app: the folder and file choosers, and a new
(scratch) project made of plain audio files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog

from birdlab.core.store.project import Project

AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff *.w64 *.rf64)"


def choose_project(win) -> None:
    folder = QFileDialog.getExistingDirectory(win, "Open a birdlab project folder")
    if folder:
        win.open_project(folder)


def choose_audio(win) -> None:
    files, _ = QFileDialog.getOpenFileNames(win, "Open audio files", "", AUDIO_FILTER)
    if files:
        win.open_audio(files)


def new_audio_project(files: list[str], folder: str | Path | None, warn: Callable[[str], None]) -> Project:
    """A project holding `files` (a scratch one in the app's data folder when no folder is given);
    files that cannot be read are named through `warn`."""
    if folder is None:
        base = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
        folder = base / "scratch" / datetime.now().strftime("%Y%m%d-%H%M%S")
    project = Project.create(folder)
    _, failed = project.add_audio(files)
    if failed:
        warn("Some files could not be opened:\n" + "\n".join(str(e) for e in failed[:20]))
    return project
