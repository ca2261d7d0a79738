"""The review queue panel: detections to decide on, filters, order, progress.

Decisions are made with single keys in the main window (A accept, X reject, Q uncertain,
S skip, C relabel to the class box's class); each one becomes a label with source `review`
that points at its detection, and the queue moves on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget)

from birdlab.core.model import Detection
from birdlab.core.store.review import ORDERS, ReviewFilter, ReviewQueue
from birdlab.gui.columns_model import ColumnsModel
from birdlab.scoring.active_learning import EMBEDDING_ORDERS

COLUMNS = ("recording", "start (s)", "class", "score")


class QueueModel(ColumnsModel):
    """The queue's rows as far as they have been read: a `ReviewQueue` gives them a page at a
    time as the table scrolls (`canFetchMore`/`fetchMore`), so a queue over millions of
    detections holds only what was shown."""

    PAGE = 200
    columns = COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[Detection] = []
        self.queue: ReviewQueue | None = None
        self.class_names: dict[int, str] = {}
        self.recording_names: Callable[[list[int]], dict[int, str]] = lambda ids: {}
        self._names: dict[int, str] = {}

    def set_queue(self, queue: ReviewQueue | None, class_names: dict[int, str],
                  recording_names: Callable[[list[int]], dict[int, str]]) -> None:
        self.beginResetModel()
        self.queue, self.class_names, self.recording_names = queue, class_names, recording_names
        self._names = {}
        self.items = self._take() if queue is not None else []
        self.endResetModel()

    def _take(self) -> list[Detection]:
        """The next page, with the names of its recordings read in one go."""
        page = self.queue.take(self.PAGE)
        unknown = list({d.recording_id for d in page} - self._names.keys())
        if unknown:
            self._names.update(self.recording_names(unknown))
        return page

    def canFetchMore(self, parent=QModelIndex()) -> bool:  # noqa: N802
        return not parent.isValid() and self.queue is not None and not self.queue.exhausted

    def fetchMore(self, parent=QModelIndex()) -> None:  # noqa: N802
        if not self.canFetchMore(parent):
            return
        more = self._take()
        if more:
            self.beginInsertRows(QModelIndex(), len(self.items), len(self.items) + len(more) - 1)
            self.items += more
            self.endInsertRows()

    def row_of(self, detection_id: int) -> int:
        return next((i for i, d in enumerate(self.items) if d.id == detection_id), -1)

    def remove(self, detection_id: int) -> None:
        """A decided detection leaves the queue (its row only)."""
        row = self.row_of(detection_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.items[row]
            self.endRemoveRows()

    def row_total(self) -> int:
        return len(self.items)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        d = self.items[index.row()]
        return (self._names.get(d.recording_id, "?"), f"{d.t_min:.2f}", self.class_names.get(d.class_id, "?"),
                f"{d.score:.3f}")[index.column()]


class ReviewPanel(QWidget):
    """`filterChanged()` when a filter or the order changes; `currentChanged(detection)` when the
    user picks an item in the list."""

    filterChanged = Signal()
    currentChanged = Signal(object)
    sourceChanged = Signal(object)  # a model version id, or None for the active model

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = QueueModel(self)
        self.source_box = QComboBox()
        self.source_box.setToolTip("whose detections to review: the active model's, or the candidates of a "
                                   "similarity search (Review > Find similar)")
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_box.setMinimumContentsLength(16)
        self.source_box.currentIndexChanged.connect(lambda *_: self.sourceChanged.emit(self.source_box.currentData()))
        self.class_box = QComboBox()
        self.order_box = QComboBox()
        self.order_box.addItems(list(ORDERS) + list(EMBEDDING_ORDERS))
        self.order_box.setToolTip("score: highest first; uncertainty: nearest the threshold first; "
                                  "stratified: across the whole score range; time: file by file; "
                                  "near my positives: sounds like your positive labels (embedding index); "
                                  "diverse uncertain: near the threshold and unlike each other (embedding index)")
        self.min_score = QDoubleSpinBox(minimum=0, maximum=1, singleStep=0.05, value=0.0, decimals=2)
        self.max_score = QDoubleSpinBox(minimum=0, maximum=1, singleStep=0.05, value=1.0, decimals=2)
        self.this_recording = QCheckBox("this recording only")
        self.unreviewed = QCheckBox("unreviewed only")
        self.unreviewed.setChecked(True)
        self.autoplay = QCheckBox("play each detection")
        self.autoplay.setChecked(True)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # fixed widths, not ResizeToContents, which reads every loaded row on each change
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, sample in enumerate(("site00_00000.flac", "00000.00", "species name")):
            header.resizeSection(col, self.fontMetrics().horizontalAdvance(sample) + 16)
        header.setStretchLastSection(True)
        self.table.clicked.connect(lambda idx: self.currentChanged.emit(self.model.items[idx.row()]))
        form = QFormLayout()
        form.addRow("queue", self.source_box)
        form.addRow("class", self.class_box)
        scores = QHBoxLayout()
        scores.addWidget(self.min_score)
        scores.addWidget(QLabel("to"))
        scores.addWidget(self.max_score)
        form.addRow("score", scores)
        form.addRow("order", self.order_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for w in (self.this_recording, self.unreviewed, self.autoplay):
            layout.addWidget(w)
        layout.addWidget(QLabel("A accept · X reject · Q uncertain · S skip · C relabel to the class box"))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress_label)
        for signal in (self.class_box.currentIndexChanged, self.order_box.currentIndexChanged,
                       self.min_score.valueChanged, self.max_score.valueChanged, self.this_recording.toggled,
                       self.unreviewed.toggled):
            signal.connect(lambda *_: self.filterChanged.emit())

    def set_classes(self, class_names: dict[int, str]) -> None:
        current = self.class_box.currentData()
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("all classes", None)
        for cid, name in sorted(class_names.items(), key=lambda kv: kv[1]):
            self.class_box.addItem(name, cid)
        index = self.class_box.findData(current)
        self.class_box.setCurrentIndex(max(0, index))
        self.class_box.blockSignals(False)

    def set_sources(self, sources: list[tuple[str, int | None]], current: int | None) -> None:
        """The queue's choices (text, version id or None) with `current` selected; no signal."""
        self.source_box.blockSignals(True)
        self.source_box.clear()
        for text, model_id in sources:
            self.source_box.addItem(text, model_id)
            self.source_box.setItemData(self.source_box.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
        self.source_box.setCurrentIndex(max(0, self.source_box.findData(current)))
        self.source_box.blockSignals(False)

    def review_filter(self, recording_id: int | None) -> ReviewFilter:
        return ReviewFilter(class_id=self.class_box.currentData(), min_score=self.min_score.value(),
                            max_score=self.max_score.value(),
                            recording_id=recording_id if self.this_recording.isChecked() else None,
                            unreviewed_only=self.unreviewed.isChecked())

    @property
    def order(self) -> str:
        return self.order_box.currentText()

    def set_queue(self, queue: ReviewQueue | None, class_names: dict[int, str],
                  recording_names: Callable[[list[int]], dict[int, str]], current_id: int | None = None) -> None:
        self.model.set_queue(queue, class_names, recording_names)
        self.select(current_id, read_on=2)  # a selection a little down the queue stays

    def select(self, detection_id: int | None, read_on: int = 5) -> None:
        """Select a detection of the queue (reading on up to `read_on` pages for it), else the first."""
        row = self.model.row_of(detection_id) if detection_id is not None else -1
        pages = 0
        while row < 0 and detection_id is not None and pages < read_on and self.model.canFetchMore():
            self.model.fetchMore()
            row, pages = self.model.row_of(detection_id), pages + 1
        row = row if row >= 0 else (0 if self.model.items else -1)
        if row >= 0:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))

    def current(self) -> Detection | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.items[rows[0].row()] if rows else (self.model.items[0] if self.model.items else None)

    def next_after(self, detection_id: int) -> Detection | None:
        row = self.model.row_of(detection_id)
        if row < 0:
            return self.model.items[0] if self.model.items else None
        if row + 1 >= len(self.model.items):
            self.model.fetchMore()
        return self.model.items[row + 1] if row + 1 < len(self.model.items) else None

    def show_progress(self, progress: dict, class_names: dict[int, str]) -> None:
        done, total = progress.get(None, (0, 0))
        parts = [f"{class_names.get(c, '?')} {r}/{n}" for c, (r, n) in sorted(progress.items(), key=lambda kv: str(kv[0]))
                 if c is not None]
        self.progress_label.setText(f"reviewed {done} / {total}" + (f"  ({', '.join(parts)})" if parts else ""))
