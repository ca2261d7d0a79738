"""The labels of the current recording as a sortable, filterable table, kept in sync with the view."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from birdlab.core.model import Label
from birdlab.gui.columns_model import ColumnsModel
from birdlab.gui.label_items import POLARITY_STYLE

COLUMNS = ("start (s)", "end (s)", "low (Hz)", "high (Hz)", "class", "polarity", "source", "author", "note")
NOTE = COLUMNS.index("note")


class LabelsModel(ColumnsModel):
    """The labels of a recording; the note is edited in place (F2, or a click on a selected row's
    note), and `noteEdited(label_id, text)` asks for the change (an undoable edit, not here)."""

    columns = COLUMNS
    noteEdited = Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[Label] = []
        self.class_names: dict[int, str] = {}

    def set_labels(self, labels: list[Label], class_names: dict[int, str]) -> None:
        self.beginResetModel()
        self.labels, self.class_names = list(labels), dict(class_names)
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.labels)

    def value(self, label: Label, column: int):
        return (label.t_min, label.t_max, label.f_min, label.f_max, self.class_names.get(label.class_id, "?"),
                label.polarity.value, label.source.value, label.author, label.note)[column]

    def flags(self, index):
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if index.column() == NOTE else base

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802 (Qt naming)
        if role != Qt.ItemDataRole.EditRole or index.column() != NOTE:
            return False
        label = self.labels[index.row()]
        text = str(value).strip()
        if text != label.note:
            self.noteEdited.emit(label.id, text)
        return True

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        label = self.labels[index.row()]
        value = self.value(label, index.column())
        if role == Qt.ItemDataRole.EditRole and index.column() == NOTE:
            return label.note
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() < 2:
                return f"{value:.3f}"
            if index.column() < 4:
                return f"{value:.0f}"
            return value
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return value
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 5:
            return QColor(POLARITY_STYLE[label.polarity][0])
        return None

    def row_of(self, label_id: int) -> int:
        return next((i for i, lab in enumerate(self.labels) if lab.id == label_id), -1)


class LabelsTable(QWidget):
    """A filter box over the table. `selectionChanged(ids)` when the user selects rows;
    `activated(id)` on a double click or Enter (the view scrolls to the label)."""

    selectionChanged = Signal(list)
    activated = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = LabelsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.filter = QLineEdit(placeholderText="filter labels (class, polarity, author...)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.table.horizontalHeader()
        # widths from the font, not ResizeToContents (which reads every row on each change); the
        # class column takes the room that is left, the author column only what a name needs
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        fm = self.fontMetrics()
        for col, sample in enumerate(("00000.000", "00000.000", "000000", "000000", None, "uncertain", "review",
                                      "someone@site", "a note about the call")):
            if sample is not None:
                header.resizeSection(col, max(fm.horizontalAdvance(sample), fm.horizontalAdvance(COLUMNS[col])) + 18)
        header.setSectionResizeMode(COLUMNS.index("class"), QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.verticalHeader().setVisible(False)
        # only the note is editable: F2, or a click on the note of a selected row (a double click
        # still goes to the label)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.SelectedClicked)
        self.noteEdited = self.model.noteEdited
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda idx: self.activated.emit(self.id_at(idx.row())))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        self._updating = False

    def id_at(self, proxy_row: int) -> int:
        source = self.proxy.mapToSource(self.proxy.index(proxy_row, 0))
        return self.model.labels[source.row()].id

    def set_labels(self, labels: list[Label], class_names: dict[int, str], selected: list[int] = ()) -> None:
        self._updating = True
        try:
            self.model.set_labels(labels, class_names)
            self.select(list(selected))
        finally:
            self._updating = False

    def selected_ids(self) -> list[int]:
        return sorted({self.id_at(i.row()) for i in self.table.selectionModel().selectedRows()})

    def select(self, ids: list[int]) -> None:
        """Select these labels' rows (without emitting selectionChanged)."""
        was, self._updating = self._updating, True
        try:
            sm = self.table.selectionModel()
            sm.clearSelection()
            for label_id in ids:
                row = self.model.row_of(label_id)
                if row < 0:
                    continue
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                if index.isValid():
                    sm.select(index, sm.SelectionFlag.Select | sm.SelectionFlag.Rows)
                    self.table.scrollTo(index)
        finally:
            self._updating = was

    def _selection_changed(self, *_):
        if not self._updating:
            self.selectionChanged.emit(self.selected_ids())
