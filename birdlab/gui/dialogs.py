"""Small modal questions of the main window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout,
                               QWidget)

from birdlab.core.store.project import Project


def ask_classes(parent: QWidget, project: Project, title: str, checked: int | None = None) -> list[int]:
    """The classes the user ticks (the `checked` one ticked to start with); [] when cancelled."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("Classes")
    listing = QListWidget()
    for cls in project.classes():
        item = QListWidgetItem(cls.name)
        item.setData(Qt.ItemDataRole.UserRole, cls.id)
        item.setCheckState(Qt.CheckState.Checked if cls.id == checked else Qt.CheckState.Unchecked)
        listing.addItem(item)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(QLabel(title))
    layout.addWidget(listing)
    layout.addWidget(buttons)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return []
    return [listing.item(i).data(Qt.ItemDataRole.UserRole) for i in range(listing.count())
            if listing.item(i).checkState() == Qt.CheckState.Checked]
