"""Start the desktop app: `birdlab [gui] [PROJECT | AUDIO...] [--screenshot PNG]`.

The window appears before anything heavy is imported (onnxruntime loads when a model is
first used; torch never loads in this process).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def run(paths: list[str], screenshot: str | None = None, recording: str | None = None,
        view_range: tuple[float, float] | None = None, size: tuple[int, int] = (1500, 900),
        show: str | None = None) -> int:
    from birdlab.gui.display import choose_platform
    problem = choose_platform(screenshot=bool(screenshot))
    if problem:
        print(f"birdlab: {problem}", file=sys.stderr)
        return 2
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("birdlab")
    app.setOrganizationName("birdlab")
    from birdlab.gui.gc_thread import GuiThreadCollector
    GuiThreadCollector(app)  # Python's garbage collection on this thread only (see the module)
    from birdlab.gui.main_window import MainWindow

    # a screenshot starts from the default layout, not from whatever a user left
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "screenshot.ini"), QSettings.Format.IniFormat) \
        if screenshot else None
    window = MainWindow(settings)
    window.interactive = not screenshot
    window.resize(*size)
    window.show()
    app.processEvents()
    if paths:
        first = Path(paths[0])
        if len(paths) == 1 and first.is_dir() and (first / "project.sqlite").exists():
            window.open_project(first)
        else:
            window.open_audio([str(p) for p in paths])
    if recording and window.project:
        rec = window.project.find_recording(recording)
        if rec is None:
            print(f"birdlab: recording {recording!r} is not in the project", file=sys.stderr)
            return 2
        window.show_recording(rec.id)
    if view_range:
        window.view.set_visible_range(*view_range)
    if screenshot:
        if window.problems:  # already named on stderr
            _wait(app, lambda: window.scorer.busy_with is None and not window.view.loader.busy, timeout_s=5.0)
            window.close()
            return 2
        return _screenshot(app, window, screenshot, show)
    return app.exec()


def _wait(app, condition, timeout_s: float) -> None:
    """Pump events until `condition()` or the timeout. Objects deleted later are deleted too:
    `processEvents` leaves them to an event loop, and a screenshot would show them (a dock tab
    bar Qt replaced, drawn over the Review panel)."""
    from PySide6.QtCore import QEvent

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition():
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _screenshot(app, window, path: str, show: str | None = None, timeout_s: float = 20.0) -> int:
    """Wait until the spectrogram is painted and the recording scored (or the timeout), save the
    window (or, with show="retrain", the Retrain dialog mid-run) as PNG, exit.

    show: "report" docks the model report first; "retrain" starts a quick retrain and grabs the
    dialog once its curves have a few points, then cancels the run.
    """
    _wait(app, lambda: window.recording is None or (window.view.is_painted() and not window.view.loader.busy
                                                     and window.scorer.busy_with is None), timeout_s)
    widget = window
    if show == "report":
        window.show_report()
        _wait(app, lambda: False, 0.2)
    elif show == "retrain":
        dialog = window.open_retrain()
        dialog.epochs.setValue(30)
        dialog.start()
        _wait(app, lambda: len(dialog.loss_points) >= 3 or dialog.final_event, 120.0)
        widget = dialog
    elif show:
        print(f"birdlab: --show {show!r}: use report or retrain", file=sys.stderr)
        return 2
    ok = widget.grab().save(path)
    if widget is not window:
        widget.stop_child()
        widget.close()
    window.close()
    if not ok:
        print(f"birdlab: could not write the screenshot {path}", file=sys.stderr)
        return 2
    print(f"screenshot written to {path}")
    return 0
