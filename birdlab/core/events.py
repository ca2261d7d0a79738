"""Change notifications from the project store, without Qt.

The GUI subscribes a callback that re-emits each change as a Qt signal (queued to the GUI
thread); the core never imports Qt. Callbacks run after the change is committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """Rows of one table that were added, updated or removed."""

    table: str  # recordings, classes, labels, extents, models, detections, runs
    action: str  # added, updated, removed
    ids: tuple[int, ...]
    recordings: tuple[int, ...] = ()  # labels and extents: the recordings they lie on


Callback = Callable[[Change], None]


class ChangeHub:
    """A list of subscribers; a failing subscriber is logged and does not stop the others."""

    def __init__(self) -> None:
        self._subscribers: list[Callback] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    def emit(self, change: Change) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(change)
            except Exception:  # a broken view must not break the store
                log.exception("change subscriber failed on %s", change)
