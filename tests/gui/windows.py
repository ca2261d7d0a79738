"""Main windows for GUI tests: isolated settings, shown, and the demo project opened."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from birdlab.gui.main_window import MainWindow


def new_window(qtbot, tmp_path: Path, size: tuple[int, int] | None = None) -> MainWindow:
    """A shown main window with its own settings file, so tests never read or keep preferences."""
    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    if size is not None:
        win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    return win


def open_demo(qtbot, win: MainWindow, folder: Path) -> None:
    """Open a demo project with auto-play off (tests have no audio device) and wait for the paint."""
    win.open_project(folder)
    win.review.autoplay.setChecked(False)
    qtbot.waitUntil(lambda: win.view.is_painted(), timeout=10000)
