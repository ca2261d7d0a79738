"""Project change notifications as Qt signals, delivered on the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal

from birdlab.core.events import Change
from birdlab.core.store.project import Project


class ProjectBridge(QObject):
    """Re-emits the store's `ChangeHub` callbacks (which may come from any thread) as a queued signal."""

    changed = Signal(str, str, tuple, tuple)  # table, action, ids, recordings (of labels and extents)
    _relay = Signal(object)

    def __init__(self, project: Project, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self._relay.connect(self._emit, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = project.changes.subscribe(self._relay.emit)

    def _emit(self, change: Change) -> None:
        self.changed.emit(change.table, change.action, tuple(change.ids), tuple(change.recordings))

    def close(self) -> None:
        self._unsubscribe()
