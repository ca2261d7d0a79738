"""The project's recordings: duration, label counts, reviewed share; filter and search."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from birdlab.core.model import Recording
from birdlab.gui.axes import format_time

COLUMNS = ("recording", "duration", "+", "-", "?", "reviewed")


class RecordingsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[RecordingRow] = []
        self.row_of: dict[int, int] = {}  # recording id -> row

    def set_rows(self, rows) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.row_of = {row.recording.id: i for i, row in enumerate(self.rows)}
        self.endResetModel()

    def update_rows(self, rows) -> None:
        """New figures for some recordings: only their rows change (a label edit touches one)."""
        for row in rows:
            i = self.row_of.get(row.recording.id)
            if i is not None:
                self.rows[i] = row
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal:
            return ("file", "length", "positive labels", "negative labels", "uncertain labels",
                    "share of the recording reviewed as complete")[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = self.rows[index.row()]
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

    __slots__ = ("recording", "counts", "reviewed", "missing", "values", "shown")

    def __init__(self, rec: Recording, counts: dict[str, int], reviewed: float, missing: bool):
        self.recording, self.counts, self.reviewed, self.missing = rec, counts, reviewed, missing
        self.values = (rec.name, rec.duration, counts.get("positive", 0), counts.get("negative", 0),
                       counts.get("uncertain", 0), reviewed)
        duration = format_time(rec.duration, 1.0) if rec.duration >= 60 else f"{rec.duration:.1f} s"
        self.shown = (self.values[0], duration, *self.values[2:5], f"{100 * reviewed:.0f} %" if reviewed else "")

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
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(0)
        self.search = QLineEdit(placeholderText="search recordings")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
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
        digits = self.fontMetrics().horizontalAdvance("00000") + 12
        for col, width in enumerate((150, self.fontMetrics().horizontalAdvance("00:00:00") + 12, digits, digits, digits)):
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
            missing = rec.abs_path is None or not Path(rec.abs_path).exists()
            rows.append(RecordingRow(rec, counts.get(rec.id, {}), share, missing))
        return rows

    def set_rows(self, rows, current: int | None = None) -> None:
        self.model.set_rows(rows)
        if current is not None:
            self.select(current)

    def select(self, recording_id: int) -> None:
        row = self.model.row_of.get(recording_id)
        if row is not None:
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            self.table.selectRow(index.row())

    def selected_ids(self) -> list[int]:
        """The selected recordings, in the table's order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model.rows[self.proxy.mapToSource(self.proxy.index(r, 0)).row()].recording.id for r in rows]

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
        source = self.proxy.mapToSource(index)
        self.recordingActivated.emit(self.model.rows[source.row()].recording.id)
