"""Single-key shortcuts (the review and labelling keys) fire whatever widget has focus.

Qt gives a focused line edit every printable key first, so after a spin box in the toolbar was
used, A, X, Q... would vanish into it, and a class box focused at start-up turned them into a
new class name. Only a text field the user means to type in keeps letters: a plain line edit
(a search box, or the class box, which takes focus only when clicked)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit

PLAIN = Qt.KeyboardModifier.NoModifier | Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier


def typing_into(widget) -> bool:
    """A text field where letters are text: a line edit that is not the inside of a spin box."""
    return isinstance(widget, QLineEdit) and not isinstance(widget.parent(), QAbstractSpinBox)


class SingleKeysToShortcuts(QObject):
    """An application event filter: letters and Space go to the shortcuts unless a text field is
    being typed in."""

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        if event.type() != QEvent.Type.ShortcutOverride:
            return False
        single = (Qt.Key.Key_A <= event.key() <= Qt.Key.Key_Z or event.key() == Qt.Key.Key_Space)
        if not single or event.modifiers() & ~PLAIN or typing_into(obj):  # obj: the focused widget
            return False
        event.ignore()  # not the widget's: Qt looks for a shortcut
        return True


def route_single_keys(parent: QObject) -> SingleKeysToShortcuts:
    """Install the filter on the application for as long as `parent` lives."""
    routing = SingleKeysToShortcuts(parent)
    QApplication.instance().installEventFilter(routing)
    return routing
