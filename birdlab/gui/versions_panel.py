"""Model versions with their metrics; any one can be made active again."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from birdlab.core.model import ModelVersion

COLUMNS = ("", "version", "cmAP", "parent", "mode", "labels +/-", "created")


class VersionsPanel(QWidget):
    """`activateRequested(version id)` when the user asks for a version to become active."""

    activateRequested = Signal(int)

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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.activate)
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

    def _activate(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.activateRequested.emit(self.ids[rows[0].row()])
