"""The project's recordings: duration, label counts, reviewed share; filter and search."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from birdlab.core.model import Recording
from birdlab.gui.axes import format_time
from birdlab.gui.columns_model import ColumnsModel

COLUMNS = ("recording", "duration", "+", "-", "?", "reviewed", "folder")


class RecordingsModel(ColumnsModel):
    """Every recording's row (`rows`, in the project's order) and the rows shown: filtered by the
    search text and sorted here, in Python over precomputed cells. A QSortFilterProxyModel asked
    each of 50,000 rows for its cells on every reset."""

    columns = COLUMNS
    tooltips = ("file", "length", "positive labels", "negative labels", "uncertain labels",
                "share of the recording reviewed as complete", "the folder it is in (as the project stores it)")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[RecordingRow] = []
        self.row_of: dict[int, int] = {}  # recording id -> index in rows
        self.shown: list[int] = []  # indices into rows, in table order
        self.position: dict[int, int] = {}  # index in rows -> table row
        self.sort_key: tuple[int, Qt.SortOrder] = (0, Qt.SortOrder.AscendingOrder)
        self.text = ""

    def set_rows(self, rows) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.row_of = {row.recording.id: i for i, row in enumerate(self.rows)}
        self._arrange()
        self.endResetModel()

    def _arrange(self) -> None:
        text = self.text.lower()
        keep = [i for i, row in enumerate(self.rows) if not text or text in row.lowered]
        column, order = self.sort_key
        keep.sort(key=lambda i: self.rows[i].values[column], reverse=order == Qt.SortOrder.DescendingOrder)
        self.shown = keep
        self.position = {i: r for r, i in enumerate(keep)}

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self.sort_key = (column, order)
        self._arrange()
        self.layoutChanged.emit()

    def set_filter(self, text: str) -> None:
        self.beginResetModel()
        self.text = text
        self._arrange()
        self.endResetModel()

    def update_rows(self, rows) -> None:
        """New figures for some recordings: only their rows change (a label edit touches one); the
        order stays until the next sort, as in a spreadsheet."""
        for row in rows:
            i = self.row_of.get(row.recording.id)
            if i is not None:
                self.rows[i] = row
                r = self.position.get(i)
                if r is not None:
                    self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))

    def row_at(self, table_row: int) -> "RecordingRow":
        return self.rows[self.shown[table_row]]

    def table_row(self, recording_id: int) -> int | None:
        i = self.row_of.get(recording_id)
        return None if i is None else self.position.get(i)

    def row_total(self) -> int:
        return len(self.shown)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = self.row_at(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return row.shown[index.column()]
        if role == Qt.ItemDataRole.UserRole:
            return row.values[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            rec = row.recording
            info = f"{rec.path}\n{rec.sample_rate} Hz, {rec.channels} channel(s), {rec.subtype}"
            return info + ("\nFILE MISSING: add its new folder to relink it" if row.missing else "")
        if role == Qt.ItemDataRole.ForegroundRole and row.missing:
            from PySide6.QtGui import QColor
            return QColor("#ff6666")
        return None


class RecordingRow:
    """One recording's row, its cells worked out once (a table of 50,000 asks for them often)."""

    __slots__ = ("recording", "counts", "reviewed", "missing", "values", "shown", "lowered")

    def __init__(self, rec: Recording, counts: dict[str, int], reviewed: float, missing: bool):
        self.recording, self.counts, self.reviewed, self.missing = rec, counts, reviewed, missing
        name, folder = os.path.basename(rec.path), os.path.dirname(rec.path)
        self.lowered = rec.path.lower()  # the search finds folders (sites) too
        self.values = (name, rec.duration, counts.get("positive", 0), counts.get("negative", 0),
                       counts.get("uncertain", 0), reviewed, folder)
        duration = format_time(rec.duration, 1.0) if rec.duration >= 60 else f"{rec.duration:.1f} s"
        self.shown = (self.values[0], duration, *self.values[2:5], f"{100 * reviewed:.0f} %" if reviewed else "",
                      folder)

    def __getitem__(self, i: int):  # (recording, counts, reviewed share, missing), as a tuple row
        return (self.recording, self.counts, self.reviewed, self.missing)[i]


class RecordingsPanel(QWidget):
    """`recordingActivated(id)` when the user picks a recording; `markEmptyRequested(ids)` from the
    context menu of a (multi-)selection (Ctrl/Shift+click selects several)."""

    recordingActivated = Signal(int)
    markEmptyRequested = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = RecordingsModel(self)
        self.search = QLineEdit(placeholderText="search recordings")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.model.set_filter)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        # fixed widths, not ResizeToContents: that reads every row of the table on each change
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        digits = self.fontMetrics().horizontalAdvance("000") + 12
        for col, width in enumerate((150, self.fontMetrics().horizontalAdvance("00:00:00") + 10, digits, digits, digits,
                                     self.fontMetrics().horizontalAdvance("reviewed") + 14)):
            header.resizeSection(col, width)
        header.setStretchLastSection(True)
        self.setMinimumWidth(340)
        self.table.activated.connect(self._activated)
        self.table.clicked.connect(self._activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.table)

    def show_project(self, project, current: int | None = None) -> None:
        """One row per recording: its label counts, how much of it is reviewed, whether it is missing."""
        self.set_rows(self._rows(project, project.recordings()), current)

    def update_recordings(self, project, recording_ids) -> None:
        """Refresh the rows of these recordings only (after their labels or extents changed)."""
        self.model.update_rows(self._rows(project, project.recordings_by_id(recording_ids), ids=recording_ids))

    @staticmethod
    def _rows(project, recordings, ids=None) -> list:
        counts, reviewed = project.label_counts(ids), project.reviewed_seconds(ids)
        rows = []
        for rec in recordings:
            share = min(1.0, reviewed.get(rec.id, 0.0) / rec.duration) if rec.duration else 0.0
            missing = rec.abs_path is None or not os.path.exists(rec.abs_path)
            rows.append(RecordingRow(rec, counts.get(rec.id, {}), share, missing))
        return rows

    def set_rows(self, rows, current: int | None = None) -> None:
        self.model.set_rows(rows)
        if current is not None:
            self.select(current)

    def select(self, recording_id: int) -> None:
        row = self.model.table_row(recording_id)
        if row is not None:
            self.table.selectRow(row)

    def selected_ids(self) -> list[int]:
        """The selected recordings, in the table's order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model.row_at(r).recording.id for r in rows]

    def _context_menu(self, pos) -> None:
        from PySide6.QtWidgets import QMenu

        ids = self.selected_ids()
        if not ids:
            return
        menu = QMenu(self)
        menu.addAction(f"Mark {len(ids)} recording(s) empty for class(es)...",
                       lambda: self.markEmptyRequested.emit(ids))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _activated(self, index) -> None:
        self.recordingActivated.emit(self.model.row_at(index.row()).recording.id)
