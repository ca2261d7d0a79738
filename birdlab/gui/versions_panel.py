"""Model versions with their metrics; any one can be made active again."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from birdlab.core.model import ModelVersion

COLUMNS = ("", "version", "cmAP", "parent", "mode", "labels +/-", "created")


class VersionsPanel(QWidget):
    """`activateRequested(version id)` when the user asks for a version to become active;
    `distilRequested(version id)` for "a fast copy for batch scoring" of it."""

    activateRequested = Signal(int)
    distilRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.activate = QPushButton("Make active")
        self.activate.clicked.connect(self._activate)
        self.table.doubleClicked.connect(lambda _: self._activate())
        self.fast_copy = QPushButton("Fast copy for batch scoring...")
        self.fast_copy.setToolTip("Distil the selected version into a light SED model that scores folders faster")
        self.fast_copy.clicked.connect(self._distil)
        buttons = QHBoxLayout()
        buttons.addWidget(self.activate)
        buttons.addWidget(self.fast_copy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.ids: list[int] = []

    def set_versions(self, versions: list[ModelVersion]) -> None:
        names = {v.id: v.name for v in versions}
        rows = [v for v in reversed(versions) if v.kind == "onnx"]
        self.ids = [v.id for v in rows]
        self.table.setRowCount(len(rows))
        for r, v in enumerate(rows):
            card = v.model_card
            counts = card.label_counts if card else {}
            pos = sum(c.get("positive", 0) for c in counts.values())
            neg = sum(c.get("negative", 0) for c in counts.values())
            shown = "" if card is None or not card.metrics else "n/a" if card.cmap is None else f"{card.cmap:.3f}"
            values = ("●" if v.active else "", v.name, shown,
                      names.get(v.parent_id, ""), card.mode if card else "", f"{pos}/{neg}" if counts else "",
                      v.created[:16].replace("T", " "))
            tip = self._tooltip(v)
            for c, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                item.setToolTip(tip)
                self.table.setItem(r, c, item)

    @staticmethod
    def _tooltip(v: ModelVersion) -> str:
        card = v.model_card
        if card is None:
            return f"{v.name}\nno model card"
        blind = set(card.no_negatives)
        per_class = "\n".join(f"{c}: {a:.3f}" if a is not None else f"{c}: n/a (no negatives)" if c in blind
                              else f"{c}: n/a" for c, a in sorted(card.ap().items()))
        licence = f"\nlicence of its weights: {card.license}" if card.license else ""
        return f"{v.name}\nbackbone {card.backbone or '?'}{licence}\n" + (per_class or "no validation metrics")

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.ids[rows[0].row()] if rows else None

    def _activate(self) -> None:
        if self.selected_id() is not None:
            self.activateRequested.emit(self.selected_id())

    def _distil(self) -> None:
        if self.selected_id() is not None:
            self.distilRequested.emit(self.selected_id())
