"""The project-wide labels browser: every label of every recording, filtered and sorted in SQL and
read a page at a time as the table scrolls (core/store/label_browser.py), so it opens at once on a
project of a million labels. Class, polarity, note and tags are edited in place; a double click
or Enter jumps to the box."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from birdlab.core.model import Label
from birdlab.core.store.label_browser import SORTS, LabelQuery, LabelRow, count_labels, label_page
from birdlab.core.store.project import Project
from birdlab.gui.label_columns import BOX_COLUMNS, LabelColumnsModel
from birdlab.gui.labels_table import setup_label_table

COLUMNS = ("recording",) + BOX_COLUMNS
PAGE = 500  # rows read from the project at a time
KEEP_AT_MOST = 4 * PAGE  # rows read again after an edit, to keep the place


class AllLabelsModel(LabelColumnsModel):
    columns = COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.project: Project | None = None
        self.query = LabelQuery()
        self.rows: list[LabelRow] = []
        self.total = 0

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.reload()

    def set_text(self, text: str) -> None:
        self.query = replace(self.query, text=text)
        self.reload()

    def reload(self, keep_rows: bool = False) -> None:
        """Read the count and the first page again (or as many rows as are loaded, to keep the
        place after an edit)."""
        # at most a few pages again: an edit deep in a long scroll does not re-read tens of thousands
        wanted = min(max(PAGE, len(self.rows)), KEEP_AT_MOST) if keep_rows else PAGE
        self.beginResetModel()
        if self.project is None:
            self.rows, self.total, self.class_names = [], 0, {}
        else:
            self.class_names = {c.id: c.name for c in self.project.classes()}
            self.total = count_labels(self.project, self.query)
            self.rows = label_page(self.project, self.query, 0, wanted)
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def canFetchMore(self, parent=QModelIndex()) -> bool:  # noqa: N802 (Qt naming)
        return not parent.isValid() and len(self.rows) < self.total

    def fetchMore(self, parent=QModelIndex()) -> None:  # noqa: N802
        if self.project is None or parent.isValid():
            return
        more = label_page(self.project, self.query, len(self.rows), PAGE)
        if more:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(more) - 1)
            self.rows += more
            self.endInsertRows()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        name = self.columns[column]
        if name in SORTS:
            self.query = replace(self.query, sort=name, descending=order == Qt.SortOrder.DescendingOrder)
            self.reload()

    def label_at(self, row: int) -> Label:
        return self.rows[row].label

    def own_value(self, row: int, column: str) -> object:
        return self.rows[row].recording_path  # "recording": its folder shows which site and night


class LabelsBrowser(QWidget):
    """`jumpRequested(recording_id, label_id)` on a double click or Enter; `edited` as the
    recording's labels table."""

    jumpRequested = Signal(int, int)

    def __init__(self, parent=None, class_names=list):
        super().__init__(parent)
        self.model = AllLabelsModel(self)
        self.edited = self.model.edited
        self.filter = QLineEdit(placeholderText="filter all labels (recording, class, polarity, note, tags...)")
        self.filter.setClearButtonEnabled(True)
        self._debounce = QTimer(self, singleShot=True, interval=250)  # a query per pause, not per key
        self._debounce.timeout.connect(lambda: self.model.set_text(self.filter.text()))
        self.filter.textChanged.connect(self._debounce.start)
        self.count = QLabel()
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_label_table(self.table, COLUMNS, class_names)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.activated.connect(lambda index: self._jump(index.row()))  # Enter, or a double click
        self.model.modelReset.connect(self._show_count)
        self.stale = False
        self._refresh_soon = QTimer(self, singleShot=True, interval=50)  # one read for a burst of changes
        self._refresh_soon.timeout.connect(self._refresh_now)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table)

    def set_project(self, project: Project | None) -> None:
        self.model.set_project(project)

    def refresh(self) -> None:
        """Labels changed: read again soon when shown, else when next shown."""
        self._refresh_soon.start()

    def _refresh_now(self) -> None:
        if self.isVisible():
            self.model.reload(keep_rows=True)
            self.stale = False
        else:
            self.stale = True

    def showEvent(self, event):  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self.stale:
            self._refresh_now()

    def _show_count(self) -> None:
        self.count.setText(f"{self.model.total:,} label(s)")

    def _jump(self, row: int) -> None:
        if 0 <= row < len(self.model.rows):
            label = self.model.rows[row].label
            self.jumpRequested.emit(label.recording_id, label.id)
