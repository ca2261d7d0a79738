"""Undoable label edits (QUndoStack). Each command writes to the project at once (autosave):
`redo` makes the edit, `undo` puts the database back exactly (ids and timestamps included)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from birdlab.core.model import Box, Label, Polarity, ReviewedExtent, Source
from birdlab.core.store.project import Project


READ_ONLY = ("This project is read-only (permission denied): the edit was not made. Copy the project to a "
             "folder you can write to edit it.")


class ProjectUndoStack(QUndoStack):
    """The window's undo stack; it refuses every edit of a read-only project before the edit
    runs (a command whose redo failed would stay on the stack, undoable though never made)."""

    refused = Signal(str)

    def __init__(self, project: Callable[[], Project | None], parent=None):
        super().__init__(parent)
        self._project = project
        self._refused_macro = False

    def _read_only(self) -> bool:
        project = self._project()
        return project is not None and project.read_only

    def push(self, command: QUndoCommand) -> None:  # noqa: D102 (Qt's)
        if self._read_only():
            if not self._refused_macro:  # a refused macro says it once
                self.refused.emit(READ_ONLY)
            return
        super().push(command)

    def beginMacro(self, text: str) -> None:  # noqa: N802,D102 (Qt's): an empty macro would still count as an edit
        if self._read_only():
            self.refused.emit(READ_ONLY)
            self._refused_macro = True
            return
        super().beginMacro(text)

    def endMacro(self) -> None:  # noqa: N802,D102
        if self._refused_macro:
            self._refused_macro = False
            return
        super().endMacro()


class AddLabel(QUndoCommand):
    def __init__(self, project: Project, recording_id: int, class_id: int, box: Box,
                 polarity: Polarity = Polarity.POSITIVE, source: Source = Source.MANUAL,
                 detection_id: int | None = None):
        super().__init__(f"add {polarity.value} label")
        self.project, self.args = project, (recording_id, class_id, box, polarity, source)
        self.detection_id = detection_id
        self.label: Label | None = None

    def redo(self) -> None:
        if self.label is None:  # first time: a new id
            rec, cls, box, pol, src = self.args
            self.label = self.project.add_label(rec, cls, box, pol, src, detection_id=self.detection_id)
        else:  # redo after undo: the same label, same id
            self.project.restore_labels([self.label])

    def undo(self) -> None:
        assert self.label is not None
        self.project.delete_labels([self.label.id])


class DeleteLabels(QUndoCommand):
    def __init__(self, project: Project, label_ids: list[int]):
        super().__init__(f"delete {len(label_ids)} label(s)")
        self.project, self.ids = project, list(label_ids)
        self.deleted: list[Label] = []

    def redo(self) -> None:
        self.deleted = self.project.delete_labels(self.ids)

    def undo(self) -> None:
        self.project.restore_labels(self.deleted)


class EditLabels(QUndoCommand):
    """Change fields of one or more labels (box, class, polarity)."""

    def __init__(self, project: Project, label_ids: list[int], text: str, **fields: object):
        super().__init__(text)
        self.project, self.ids, self.fields = project, list(label_ids), fields
        self.before: list[Label] = []
        self.after: list[Label] = []

    def redo(self) -> None:
        with self.project.transaction():
            if self.after:  # redo after undo: exactly the state the edit made, timestamps included
                for label in self.after:
                    self.project.replace_label(label)
                return
            self.before = [self.project.label(i) for i in self.ids]
            self.after = [self.project.update_label(i, **self.fields) for i in self.ids]

    def undo(self) -> None:
        with self.project.transaction():
            for label in self.before:
                self.project.replace_label(label)


class AddExtent(QUndoCommand):
    """Mark a time range reviewed and complete for some classes."""

    def __init__(self, project: Project, recording_id: int, t_min: float, t_max: float, class_ids: list[int]):
        super().__init__("mark reviewed")
        self.project, self.args = project, (recording_id, t_min, t_max, class_ids)
        self.extent: ReviewedExtent | None = None

    def redo(self) -> None:
        if self.extent is None:  # first time: a new id
            self.extent = self.project.add_extent(*self.args)
        else:  # redo after undo: the same row, id and time included
            self.project.restore_extents([self.extent])

    def undo(self) -> None:
        assert self.extent is not None
        self.project.delete_extent(self.extent.id)


class MarkEmpty(QUndoCommand):
    """Mark whole recordings reviewed and empty for classes (the folder-of-negatives workflow)."""

    def __init__(self, project: Project, recording_ids: list[int], class_ids: list[int]):
        super().__init__(f"mark {len(recording_ids)} recording(s) empty")
        self.project, self.recording_ids, self.class_ids = project, recording_ids, class_ids
        self.extents: list[ReviewedExtent] = []

    def redo(self) -> None:
        if not self.extents:  # first time
            self.extents = self.project.mark_empty(self.recording_ids, self.class_ids)
        else:  # redo after undo: the same rows
            self.project.restore_extents(self.extents)

    def undo(self) -> None:
        with self.project.transaction():
            for extent in self.extents:
                self.project.delete_extent(extent.id)
