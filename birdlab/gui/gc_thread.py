"""Python's cyclic garbage collector, run on the GUI thread only.

The app runs Python on worker threads (tile loading, scoring, embedding). When the collector
happens to run on one of them and frees the Python wrapper of a Qt object (a closed window's
menu, a dialog), shiboken defers the C++ deletion to the GUI thread, which runs it at whatever
bytecode it is executing. Inside a Qt call that holds an object's lock this deadlocks: the
test suite hung for good in `~QObject` of an old window's QMenu, waiting on a mutex, while a
table model answered `rowCount`. So automatic collection is switched off and a timer on the
GUI thread collects when the counts pass the collector's own thresholds: the same
collections, on the thread that owns the widgets. This is the usual cure for PyQt and
PySide apps with Python threads.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    """Switches automatic collection off while it lives; `check()` collects on this thread."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 250):
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> int:
        """Collect the oldest generation past its threshold, as the automatic collector would;
        returns the generation collected, or -1."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return generation
        return -1

    def stop(self) -> None:
        """Stop the timer, collect what is left here, and give collection back to Python."""
        self.timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
