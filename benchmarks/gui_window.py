"""The app's main window opened on a project, as the GUI benchmarks time it (shared by bench_gui
and bench_scale): fresh settings, a 1500x900 window, and the seconds from `open_project` until
`ready(window)` holds (the recording painted, detections listed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def open_window(folder: str, ready: Callable, timeout_s: float) -> tuple[object, object, float]:
    """(app, window, seconds to open): the window shown, the project opened, `ready` waited for."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from birdlab.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    settings = Path(folder) / "bench-settings.ini"
    settings.unlink(missing_ok=True)
    window = MainWindow(QSettings(str(settings), QSettings.Format.IniFormat))
    window.resize(1500, 900)
    window.show()
    app.processEvents()
    t0 = time.perf_counter()
    window.open_project(folder)
    while time.perf_counter() - t0 < timeout_s:
        app.processEvents()
        if ready(window):
            break
        time.sleep(0.0005)
    return app, window, time.perf_counter() - t0
