"""The labels of the current recording as a sortable, filterable table, kept in sync with the view,
with each box's measurements."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from birdlab.core.model import Label
from birdlab.core.sound.measure import Measurements
from birdlab.gui.label_columns import BOX_COLUMNS, MEASURED, WIDTH_SAMPLES, ChoiceDelegate, LabelColumnsModel

COLUMNS = BOX_COLUMNS + MEASURED
NOTE = COLUMNS.index("note")
TAGS = COLUMNS.index("tags")


class LabelsModel(LabelColumnsModel):
    """The labels of a recording, with their measurements as they come (`add_measurements`)."""

    columns = COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[Label] = []
        self.measurements: dict[int, Measurements] = {}

    def set_labels(self, labels: list[Label], class_names: dict[int, str]) -> None:
        self.beginResetModel()
        self.labels, self.class_names = list(labels), dict(class_names)
        self.measurements = {}  # the measurer hands back what it has for these boxes at once
        self.endResetModel()

    def add_measurements(self, found: dict[int, Measurements]) -> None:
        """Measurements made off the GUI thread, by label id."""
        self.measurements.update(found)
        if self.labels:
            first, last = COLUMNS.index(MEASURED[0]), COLUMNS.index(MEASURED[-1])
            self.dataChanged.emit(self.index(0, first), self.index(len(self.labels) - 1, last))

    def row_total(self) -> int:
        return len(self.labels)

    def label_at(self, row: int) -> Label:
        return self.labels[row]

    def measured(self, label: Label) -> Measurements | None:
        return self.measurements.get(label.id)

    def row_of(self, label_id: int) -> int:
        return next((i for i, lab in enumerate(self.labels) if lab.id == label_id), -1)


def setup_label_table(table: QTableView, columns: tuple[str, ...], class_names: Callable[[], list[str]]) -> None:
    """Sorting, row selection, widths from the font and in-place editing, as both label tables have."""
    table.setSortingEnabled(True)
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    header = table.horizontalHeader()
    # widths from the font, not ResizeToContents (which reads every row on each change): the class
    # column as wide as a long species name, the author column only what a name needs
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    fm = table.fontMetrics()
    for col, name in enumerate(columns):
        sample = WIDTH_SAMPLES.get(name)
        if sample is not None:
            header.resizeSection(col, max(fm.horizontalAdvance(sample), fm.horizontalAdvance(name)) + 18)
    header.resizeSection(columns.index("class"), fm.horizontalAdvance("Turdus philomelos_Song Thrush") + 18)
    header.setStretchLastSection(False)
    table.verticalHeader().setVisible(False)
    # class, polarity, note and tags are edited in place: F2, or a click on a selected row's cell
    # (a double click still goes to the label)
    table.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                          | QAbstractItemView.EditTrigger.SelectedClicked)
    table.setItemDelegate(ChoiceDelegate(class_names, table))


class LabelsTable(QWidget):
    """A filter box over the table. `selectionChanged(ids)` when the user selects rows;
    `activated(id)` on a double click or Enter (the view scrolls to the label)."""

    selectionChanged = Signal(list)
    activated = Signal(int)

    def __init__(self, parent=None, class_names: Callable[[], list[str]] = list):
        super().__init__(parent)
        self.model = LabelsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.filter = QLineEdit(placeholderText="filter labels (class, polarity, author, note, tags...)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        setup_label_table(self.table, COLUMNS, class_names)
        self.edited = self.model.edited
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
