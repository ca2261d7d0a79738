"""The columns a label shows in a table, and their editing: shared by the labels table of the
recording on screen and the project-wide labels browser.

Class, polarity, note and tags are edited in place (F2, or a click on a selected row's cell;
the class and polarity from a list). A model does not change the project itself: it emits
`edited(label_id, field, value)` and the window makes that one undoable edit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate

from birdlab.core.model import Label, Polarity, parse_tags, tags_text
from birdlab.core.sound.measure import Measurements
from birdlab.gui.columns_model import ColumnsModel
from birdlab.gui.label_items import POLARITY_STYLE

BOX_COLUMNS = ("start (s)", "end (s)", "low (Hz)", "high (Hz)", "class", "polarity", "source", "author", "note",
               "tags", "duration (s)", "band (Hz)")
MEASURED = ("peak (Hz)", "peak time (s)", "SNR (dB)")  # read from the audio, filled in as they come
EDITABLE = ("class", "polarity", "note", "tags")
TOOLTIPS = {
    "tags": "words or key:value pairs, separated by ';' (F2 to edit)",
    "note": "a free note (F2 to edit)",
    "class": "F2 to change the class",
    "polarity": "F2 to change the polarity",
    "band (Hz)": "high minus low frequency",
    "peak (Hz)": "frequency of the loudest cell inside the box",
    "peak time (s)": "time of the loudest cell inside the box",
    "SNR (dB)": "mean power in the box's band during the box against the same band around it",
}
# digits each numeric column shows
DECIMALS = {"start (s)": 3, "end (s)": 3, "low (Hz)": 0, "high (Hz)": 0, "duration (s)": 3, "band (Hz)": 0,
            "peak (Hz)": 0, "peak time (s)": 3, "SNR (dB)": 1}
WIDTH_SAMPLES = {"start (s)": "00000.000", "end (s)": "00000.000", "low (Hz)": "000000", "high (Hz)": "000000",
                 "polarity": "uncertain", "source": "review", "author": "someone@site",
                 "note": "a note about the call", "tags": "calltype:song; flight", "duration (s)": "000.000",
                 "band (Hz)": "000000", "peak (Hz)": "000000", "peak time (s)": "00000.000", "SNR (dB)": "-00.0",
                 "recording": "site/20240601_053000.wav"}


def label_value(label: Label, column: str, class_names: dict[int, str],
                measured: Measurements | None = None) -> object:
    """The value a column shows (and sorts by); None for a measurement not yet made."""
    if column in MEASURED:
        if measured is None:
            return None
        return {"peak (Hz)": measured.peak_hz, "peak time (s)": measured.peak_time_s,
                "SNR (dB)": measured.snr_db}[column]
    return {
        "start (s)": label.t_min, "end (s)": label.t_max, "low (Hz)": label.f_min, "high (Hz)": label.f_max,
        "class": class_names.get(label.class_id, "?"), "polarity": label.polarity.value,
        "source": label.source.value, "author": label.author, "note": label.note, "tags": tags_text(label.tags),
        "duration (s)": label.t_max - label.t_min, "band (Hz)": label.f_max - label.f_min,
    }[column]


def display_text(column: str, value: object) -> str:
    if value is None:
        return ""
    if column in DECIMALS:
        number = float(value)  # type: ignore[arg-type]
        return "" if math.isnan(number) else f"{number:.{DECIMALS[column]}f}"  # nan: no audio to compare with
    return str(value)


class LabelColumnsModel(ColumnsModel):
    """Rows of labels under `columns`; a subclass says which label is on a row (`label_at`) and
    may add columns of its own (`own_value`)."""

    edited = Signal(int, str, object)  # label id, field (class_name, polarity, note, tags), new value

    def __init__(self, parent=None):
        super().__init__(parent)
        self.class_names: dict[int, str] = {}
        self.tooltips = tuple(TOOLTIPS.get(c, "") for c in self.columns)

    def label_at(self, row: int) -> Label:
        raise NotImplementedError

    def measured(self, label: Label) -> Measurements | None:
        return None

    def own_value(self, row: int, column: str) -> object:
        raise KeyError(column)

    def value_at(self, row: int, column: str) -> object:
        if column not in BOX_COLUMNS and column not in MEASURED:
            return self.own_value(row, column)
        label = self.label_at(row)
        return label_value(label, column, self.class_names, self.measured(label))

    def flags(self, index):
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if self.columns[index.column()] in EDITABLE else base

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        column = self.columns[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole, Qt.ItemDataRole.UserRole):
            value = self.value_at(index.row(), column)
            if role == Qt.ItemDataRole.UserRole:  # sort key (a measurement not made yet sorts first)
                return -float("inf") if value is None and column in MEASURED else value
            return value if role == Qt.ItemDataRole.EditRole else display_text(column, value)
        if role == Qt.ItemDataRole.ForegroundRole and column == "polarity":
            return QColor(POLARITY_STYLE[self.label_at(index.row()).polarity][0])
        if role == Qt.ItemDataRole.ToolTipRole and column in ("note", "tags"):
            return self.value_at(index.row(), column) or None
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802 (Qt naming)
        column = self.columns[index.column()]
        if role != Qt.ItemDataRole.EditRole or column not in EDITABLE:
            return False
        label = self.label_at(index.row())
        text = str(value).strip()
        if column == "note" and text != label.note:
            self.edited.emit(label.id, "note", text)
        elif column == "tags" and parse_tags(text) != label.tags:
            self.edited.emit(label.id, "tags", parse_tags(text))
        elif column == "polarity" and text != label.polarity.value:
            self.edited.emit(label.id, "polarity", Polarity.parse(text))
        elif column == "class" and text and text != self.class_names.get(label.class_id):
            self.edited.emit(label.id, "class_name", text)
        return True


class ChoiceDelegate(QStyledItemDelegate):
    """Class and polarity are chosen from a list (a typo cannot make a new class here)."""

    def __init__(self, class_names: Callable[[], list[str]], parent=None):
        super().__init__(parent)
        self.class_names = class_names

    def createEditor(self, parent, option, index):  # noqa: N802 (Qt naming)
        column = index.model().headerData(index.column(), Qt.Orientation.Horizontal)
        if column not in ("class", "polarity"):
            return super().createEditor(parent, option, index)
        box = QComboBox(parent)
        box.addItems(sorted(self.class_names()) if column == "class" else [p.value for p in Polarity])
        return box

    def setEditorData(self, editor, index):  # noqa: N802
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))
        else:
            super().setEditorData(editor, index)

    def setModelData(self, editor, model, index):  # noqa: N802
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
        else:
            super().setModelData(editor, model, index)
