"""Label edits from the workbench: a drawn box becomes a label of the class box's class and the
current polarity; a box moved or resized; the polarity keys and the class key (L) applied to the
selection; delete; the visible range marked reviewed (R); recordings marked empty. Every edit is
one undoable command on the window's undo stack (which refuses them for a read-only project).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QComboBox

from birdlab.core.model import Box, Label, Polarity
from birdlab.core.session import Session
from birdlab.gui.commands import AddExtent, AddLabel, DeleteLabels, EditLabels, MarkEmpty
from birdlab.gui.labels_table import LabelsTable
from birdlab.gui.spectrogram_view import SpectrogramView


class LabelEdits(QObject):
    message = Signal(str, int)  # a status-bar message and how long to show it (ms)

    def __init__(self, session: Session, view: SpectrogramView, table: LabelsTable, class_box: QComboBox,
                 undo: QUndoStack, settings: QSettings, ask_classes: Callable[[str, int | None], list[int]],
                 parent=None):
        super().__init__(parent)
        self.session, self.view, self.table, self.class_box = session, view, table, class_box
        self.undo, self.settings, self.ask_classes = undo, settings, ask_classes
        table.edited.connect(self.edit_field)

    def edit_field(self, label_id: int, field: str, value: object) -> None:
        """A label's class, polarity, note or tags, edited in a labels table (one undoable edit)."""
        project = self.session.project
        if not project:
            return
        if field == "class_name":
            found = project.class_by_name(str(value))
            if found is None:
                return
            field, value = "class_id", found.id
        self.undo.push(EditLabels(project, [label_id], f"edit {field.removesuffix('_id')}", **{field: value}))

    def fill_classes(self) -> None:
        """The class box lists the project's classes; it keeps what is typed, else the last class used."""
        project = self.session.project
        current = self.class_box.currentText()
        self.class_box.blockSignals(True)
        self.class_box.clear()
        names = sorted(c.name for c in project.classes()) if project else []
        self.class_box.addItems(names)
        last = self.settings.value("last-class", "")
        self.class_box.setCurrentText(current or (last if last in names else (names[0] if names else "")))
        self.class_box.blockSignals(False)

    def current_class_id(self, create: bool = True) -> int | None:
        """The class box's class (made when new and `create`); remembered for the next session."""
        project = self.session.project
        name = self.class_box.currentText().strip()
        if not (name and project):
            return None
        existing = project.class_by_name(name)
        if existing:
            cls_id = existing.id
        elif create:
            cls_id = project.add_class(name).id
            self.message.emit(f"new class {name!r}", 4000)
        else:
            return None
        self.settings.setValue("last-class", name)
        return cls_id

    def add_box(self, t_min: float, t_max: float, f_min: float, f_max: float) -> Label | None:
        project, recording = self.session.project, self.session.recording
        if not (project and recording):
            return None
        cls_id = self.current_class_id()
        if cls_id is None:
            self.message.emit("click the class box in the toolbar and type a class name first", 5000)
            return None
        command = AddLabel(project, recording.id, cls_id, Box(t_min, t_max, f_min, f_max), self.session.polarity)
        self.undo.push(command)
        if command.label is not None:  # None when the stack refused it (a read-only project)
            self.view.select_labels([command.label.id])
            self.table.select([command.label.id])
        return command.label

    def moved(self, label_id: int, t0: float, t1: float, f0: float, f1: float) -> None:
        old = self.session.project.label(label_id)
        if (round(old.t_min, 6), round(old.t_max, 6), round(old.f_min, 3), round(old.f_max, 3)) == \
                (round(t0, 6), round(t1, 6), round(f0, 3), round(f1, 3)):
            return
        self.undo.push(EditLabels(self.session.project, [label_id], "move label", t_min=t0, t_max=t1, f_min=f0,
                                  f_max=f1))

    def set_polarity(self, polarity: Polarity) -> None:
        """The polarity of new boxes; selected labels change to it (one undo step)."""
        self.session.set_polarity(polarity)
        ids, project = self.view.selected_ids(), self.session.project
        if ids and project:
            changed = [i for i in ids if project.label(i).polarity != polarity]
            if changed:
                self.undo.push(EditLabels(project, changed, f"mark {polarity.value}", polarity=polarity))

    def apply_class(self) -> None:
        ids = self.view.selected_ids()
        cls_id = self.current_class_id()
        if ids and cls_id is not None:
            self.undo.push(EditLabels(self.session.project, ids, "change class", class_id=cls_id))

    def delete_selected(self) -> None:
        ids = self.view.selected_ids()
        if ids and self.session.project:
            self.undo.push(DeleteLabels(self.session.project, ids))

    def mark_reviewed(self) -> None:
        """Mark the visible range complete for the current class (every class when none is chosen)."""
        project, recording = self.session.project, self.session.recording
        if not (project and recording):
            return
        t0, t1 = self.view.visible_range()
        cls_id = self.current_class_id(create=False)
        classes = [cls_id] if cls_id is not None else [c.id for c in project.classes()]
        if classes:
            self.undo.push(AddExtent(project, recording.id, max(0.0, t0), min(recording.duration, t1), classes))

    def mark_empty(self, recording_ids: list[int], class_ids: list[int] | None = None) -> None:
        """Mark recordings reviewed and empty for classes (asked for, the class box's one checked), undoable."""
        project = self.session.project
        if not (project and recording_ids):
            return
        if class_ids is None:
            class_ids = self.ask_classes(f"Mark {len(recording_ids)} recording(s) empty for:",
                                         self.current_class_id(create=False))
        if class_ids:
            self.undo.push(MarkEmpty(project, list(recording_ids), list(class_ids)))
            self.message.emit(f"{len(recording_ids)} recording(s) marked empty for "
                              f"{', '.join(project.class_(c).name for c in class_ids)}", 5000)
