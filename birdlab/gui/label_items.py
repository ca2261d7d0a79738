"""Label boxes on the spectrogram: the class's colour, the polarity as line style and fill;
movable and resizable once selected."""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen

from birdlab.core.model import Label, Polarity

# the labels table's polarity text colours (a table cell is not an overlay: hue reads fine there)
POLARITY_STYLE: dict[Polarity, tuple[str, Qt.PenStyle]] = {
    Polarity.POSITIVE: ("#3ee06b", Qt.PenStyle.SolidLine),
    Polarity.NEGATIVE: ("#ff4d4d", Qt.PenStyle.DashLine),
    Polarity.UNCERTAIN: ("#ffc833", Qt.PenStyle.DotLine),
}
FILL_ALPHA = {Polarity.POSITIVE: 55, Polarity.NEGATIVE: 0, Polarity.UNCERTAIN: 0}  # only "it calls here" is filled


def polarity_pen(polarity: Polarity, selected: bool = False, colour: QColor | None = None) -> QPen:
    """The class's colour (or the polarity's, without a class), the polarity's line style."""
    pen = QPen(colour if colour is not None else QColor(POLARITY_STYLE[polarity][0]))
    pen.setStyle(POLARITY_STYLE[polarity][1])
    pen.setWidthF(3.0 if selected else 1.8)
    pen.setCosmetic(True)
    return pen


def polarity_fill(polarity: Polarity, colour: QColor) -> QBrush:
    fill = QColor(colour)
    fill.setAlpha(FILL_ALPHA[polarity])
    return QBrush(fill) if FILL_ALPHA[polarity] else QBrush(Qt.BrushStyle.NoBrush)


HOVER_PEN = QPen(QColor("#ffffff"))  # hover is no polarity's colour
HOVER_PEN.setWidthF(2.0)
HOVER_PEN.setCosmetic(True)


class LabelBox(pg.ROI):
    """One label. Emits `edited(label_id, t_min, t_max, y_min, y_max)` when a move or resize ends,
    `clicked(label_id, additive)` when clicked (additive: with Ctrl/Shift).

    Only a selected box moves (Raven's rule): a drag that starts inside an unselected box, or any
    drag with Alt held, is left to the view, which draws a new box there (a call nested in
    another, such as a note inside a song). A click selects."""

    edited = Signal(int, float, float, float, float)
    clicked = Signal(int, bool)

    def __init__(self, label: Label, class_name: str, hz_to_y: Callable[[float], float],
                 colour: QColor | None = None):
        y0, y1 = hz_to_y(label.f_min), hz_to_y(label.f_max)
        self.colour = colour if colour is not None else QColor(POLARITY_STYLE[label.polarity][0])
        super().__init__(pos=QPointF(label.t_min, y0), size=(label.t_max - label.t_min, y1 - y0),
                         pen=polarity_pen(label.polarity, colour=self.colour), hoverPen=HOVER_PEN, movable=True,
                         rotatable=False, resizable=True, removable=False)
        self.fill = polarity_fill(label.polarity, self.colour)
        self.setToolTip(f"{class_name} ({label.polarity.value})")
        self.label = label
        self.selected = False
        self.translatable = False  # only a selected box moves
        self._drawing = False  # this drag draws a new box instead of moving this one
        self.text = pg.TextItem(class_name, color=self.colour, anchor=(0, 1))
        self.text.setParentItem(self)
        self.text.setPos(0, y1 - y0)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.sigRegionChangeFinished.connect(self._finished)
        self.setZValue(20)

    def set_selected(self, selected: bool) -> None:
        """Selected boxes get corner handles for resizing; the others stay plain and uncluttered."""
        self.selected = selected
        self.translatable = selected
        if selected and not self.handles:
            for corner, anchor in (((1, 1), (0, 0)), ((0, 0), (1, 1)), ((1, 0), (0, 1)), ((0, 1), (1, 0))):
                self.addScaleHandle(corner, anchor)
        elif not selected:
            for handle in [h["item"] for h in self.handles]:
                self.removeHandle(handle)
        self.setPen(polarity_pen(self.label.polarity, selected, self.colour))
        self.currentPen = self.pen
        self.update()

    def paint(self, p, opt, widget):
        """pg.ROI's outline (as ROI.paint draws it), with the polarity's fill under it."""
        r = QRectF(0, 0, self.state["size"][0], self.state["size"][1]).normalized()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, self._antialias)
        p.setPen(self.currentPen)
        p.setBrush(self.fill)
        p.translate(r.left(), r.top())
        p.scale(r.width(), r.height())
        p.drawRect(0, 0, 1, 1)

    def _finished(self) -> None:
        pos, size = self.pos(), self.size()
        self.text.setPos(0, size.y())
        self.edited.emit(self.label.id, float(pos.x()), float(pos.x() + size.x()), float(pos.y()),
                         float(pos.y() + size.y()))

    def mouseDragEvent(self, ev):  # noqa: N802 (Qt naming)
        if ev.isStart():
            self._drawing = not self.selected or bool(ev.modifiers() & Qt.KeyboardModifier.AltModifier)
        if self._drawing:  # the whole drag goes to the view, which draws a box
            self.getViewBox().mouseDragEvent(ev)
            return
        super().mouseDragEvent(ev)

    def mouseClickEvent(self, ev):  # noqa: N802 (Qt naming)
        if ev.button() == Qt.MouseButton.LeftButton:
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
            self.clicked.emit(self.label.id, additive)
            ev.accept()
        else:
            super().mouseClickEvent(ev)
