"""An EvaluationReport as a picture: a PNG drawn with QPainter, and a dockable panel.

`render_report` paints on a QImage, so `birdlab evaluate --plot` needs no window (it works with
QT_QPA_PLATFORM=offscreen). `ReportPanel` shows the same curves interactively with pyqtgraph,
for the main window to dock. Both draw the PR curve as the steps whose area is the AP
(`birdlab.core.ml.metrics.average_precision`), and the score histograms as each group's share of its
segments, so a few positives stay visible next to many negatives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QBoxLayout, QComboBox, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from birdlab.core.atomic import atomic_write_bytes
from birdlab.core.ml.eval_report import ClassResult, EvaluationReport

PANEL_W, PANEL_H = 360, 250  # one plot of the PNG (a class gets two side by side)
HEADER_H = 64
POS_COLOUR, NEG_COLOUR, CURVE_COLOUR = QColor(46, 160, 67), QColor(214, 39, 40), QColor(31, 119, 180)


def ensure_app() -> QGuiApplication:
    """A Qt application for fonts (QApplication, so widgets and pytest-qt can share it)."""
    app = QGuiApplication.instance()
    return app if app is not None else QApplication([])


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda step: abs(math.log(step / raw)))
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def pr_steps(result: ClassResult) -> tuple[np.ndarray, np.ndarray]:
    """The PR curve as a step line from recall 0: each precision holds over the recall it adds, so
    the area under the line is the AP (points that add no recall, only false positives, are skipped)."""
    r, p = result.pr_recall, result.pr_precision
    adds = np.diff(np.r_[0.0, r]) > 0
    r, p = r[adds], p[adds]
    if len(r) == 0:
        return np.empty(0), np.empty(0)
    xs = np.r_[0.0, np.repeat(r, 2)[:-1]]
    ys = np.repeat(p, 2)
    return xs, ys


def shares(result: ClassResult) -> tuple[np.ndarray, np.ndarray]:
    """Each group's histogram as a share of its segments (zeros for an empty group)."""
    pos = result.hist_pos / max(1, int(result.hist_pos.sum()))
    neg = result.hist_neg / max(1, int(result.hist_neg.sum()))
    return pos.astype(float), neg.astype(float)


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.3f}"


class _Axes:
    """A plot area in a rectangle: data ranges, the mapping to pixels, frame, ticks and labels."""

    def __init__(self, painter: QPainter, rect: QRectF, x: tuple[float, float], y: tuple[float, float]):
        self.p, self.x, self.y = painter, x, y
        self.area = QRectF(rect.left() + 54, rect.top() + 36, rect.width() - 66, rect.height() - 74)

    def at(self, x: float, y: float) -> QPointF:
        a = self.area
        fx = (x - self.x[0]) / (self.x[1] - self.x[0])
        fy = (y - self.y[0]) / (self.y[1] - self.y[0])
        return QPointF(a.left() + fx * a.width(), a.bottom() - fy * a.height())

    def frame(self, title: str, subtitle: str, xlabel: str, ylabel: str) -> None:
        p, a = self.p, self.area
        p.setPen(QPen(QColor(40, 40, 40), 1))
        p.drawRect(a)
        small = QFont(p.font())
        small.setPointSizeF(7.5)
        p.setFont(small)
        for tx in nice_ticks(*self.x):
            pt = self.at(tx, self.y[0])
            p.drawLine(pt, pt + QPointF(0, 4))
            p.drawText(QRectF(pt.x() - 20, pt.y() + 5, 40, 14), Qt.AlignmentFlag.AlignHCenter, f"{tx:g}")
        for ty in nice_ticks(*self.y):
            pt = self.at(self.x[0], ty)
            p.drawLine(pt, pt - QPointF(4, 0))
            p.drawText(QRectF(pt.x() - 40, pt.y() - 7, 34, 14), Qt.AlignmentFlag.AlignRight, f"{ty:g}")
        p.drawText(QRectF(a.left(), a.bottom() + 18, a.width(), 14), Qt.AlignmentFlag.AlignHCenter, xlabel)
        p.save()
        p.translate(a.left() - 52, a.center().y())
        p.rotate(-90)  # the label reads upwards; its local y axis points right
        p.drawText(QRectF(-a.height() / 2, 0, a.height(), 14), Qt.AlignmentFlag.AlignHCenter, ylabel)
        p.restore()
        bold = QFont(p.font())
        bold.setPointSizeF(9)
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QRectF(a.left() - 48, a.top() - 34, a.width() + 54, 16), Qt.AlignmentFlag.AlignLeft, title)
        p.setFont(small)
        p.drawText(QRectF(a.left() - 48, a.top() - 17, a.width() + 54, 14), Qt.AlignmentFlag.AlignLeft, subtitle)


def _draw_pr(p: QPainter, rect: QRectF, result: ClassResult, threshold: float) -> None:
    ax = _Axes(p, rect, (0.0, 1.0), (0.0, 1.05))
    ax.frame(f"{result.name}: AP {_fmt(result.ap)}",
             f"{result.n_pos} positive, {result.n_neg} negative segments", "recall", "precision")
    xs, ys = pr_steps(result)
    if len(xs) == 0:
        p.setPen(QColor(120, 120, 120))
        p.drawText(ax.area, Qt.AlignmentFlag.AlignCenter, "no positive segments:\nAP undefined")
        return
    path = QPainterPath(ax.at(xs[0], ys[0]))
    for x, y in zip(xs[1:], ys[1:]):
        path.lineTo(ax.at(x, y))
    area = QPainterPath(path)
    area.lineTo(ax.at(xs[-1], 0.0))
    area.lineTo(ax.at(0.0, 0.0))
    area.closeSubpath()
    fill = QColor(CURVE_COLOUR)
    fill.setAlpha(45)
    p.fillPath(area, fill)
    p.setPen(QPen(CURVE_COLOUR, 2))
    p.drawPath(path)
    if math.isfinite(result.precision) and math.isfinite(result.recall):
        p.setPen(QPen(QColor(0, 0, 0), 1))
        p.setBrush(QColor(255, 200, 0))
        p.drawEllipse(ax.at(result.recall, result.precision), 4, 4)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawText(QRectF(ax.area.left() + 4, ax.area.bottom() - 16, ax.area.width() - 8, 14),
                   Qt.AlignmentFlag.AlignLeft, f"at {threshold:g}: P {_fmt(result.precision)} "
                                               f"R {_fmt(result.recall)} F1 {_fmt(result.f1)}")


def _draw_hist(p: QPainter, rect: QRectF, result: ClassResult, edges: np.ndarray, threshold: float) -> None:
    pos, neg = shares(result)
    top = max(0.05, float(max(pos.max(initial=0), neg.max(initial=0))) * 1.1)
    ax = _Axes(p, rect, (float(edges[0]), float(edges[-1])), (0.0, top))
    ax.frame(f"{result.name}: scores", "positive vs negative segments; dashed: threshold", "score",
             "share of segments")
    for values, colour in ((neg, NEG_COLOUR), (pos, POS_COLOUR)):
        fill = QColor(colour)
        fill.setAlpha(110)
        p.setPen(QPen(colour, 1))
        p.setBrush(fill)
        for lo, hi, v in zip(edges[:-1], edges[1:], values):
            if v > 0:
                p.drawRect(QRectF(ax.at(lo, v), ax.at(hi, 0.0)))
    p.setBrush(Qt.BrushStyle.NoBrush)
    if edges[0] <= threshold <= edges[-1]:
        p.setPen(QPen(QColor(60, 60, 60), 1, Qt.PenStyle.DashLine))
        p.drawLine(ax.at(threshold, 0.0), ax.at(threshold, top))
    for i, (text, colour) in enumerate(((f"positive ({result.n_pos})", POS_COLOUR),
                                        (f"negative ({result.n_neg})", NEG_COLOUR))):
        y = ax.area.top() + 6 + 14 * i
        p.fillRect(QRectF(ax.area.left() + 6, y + 2, 10, 8), colour)
        p.setPen(QColor(30, 30, 30))
        p.drawText(QRectF(ax.area.left() + 20, y - 1, 160, 14), Qt.AlignmentFlag.AlignLeft, text)


def render_report(report: EvaluationReport, *, width: int = 1440,
                  classes: Sequence[str] | None = None) -> QImage:
    """The report as an image `width` pixels wide: a header (cmAP, LWLRAP, settings) and, per
    class, its PR curve beside its score histograms; as many classes per row as fit."""
    ensure_app()
    shown = [report.result(c) for c in classes] if classes is not None else list(report.classes)
    per_row = max(1, width // (2 * PANEL_W))
    cell_w = width / per_row
    rows = max(1, math.ceil(len(shown) / per_row))
    image = QImage(width, HEADER_H + rows * PANEL_H, QImage.Format.Format_ARGB32)
    image.fill(QColor(255, 255, 255))
    p = QPainter(image)
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        title = QFont(p.font())
        title.setPointSizeF(13)
        title.setBold(True)
        p.setFont(title)
        p.setPen(QColor(20, 20, 20))
        p.drawText(QRectF(12, 8, width - 24, 24), Qt.AlignmentFlag.AlignLeft,
                   f"cmAP {_fmt(report.cmap)}    LWLRAP {_fmt(report.lwlrap)}    "
                   f"micro P {_fmt(report.precision)}  R {_fmt(report.recall)}  F1 {_fmt(report.f1)}")
        small = QFont(p.font())
        small.setPointSizeF(8)
        small.setBold(False)
        p.setFont(small)
        p.drawText(QRectF(12, 34, width - 24, 24), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap,
                   f"{len(report.classes)} classes, {report.n_segments} segments of {report.segment_s:g} s in "
                   f"{report.n_recordings} recording(s); threshold {report.threshold:g}; "
                   f"{'truth complete' if report.complete else 'unlabelled audio masked'}. "
                   f"Truth: {report.truth_source or '-'}. Predictions: {report.pred_source or '-'}.")
        if not shown:
            p.drawText(QRectF(0, HEADER_H, width, PANEL_H), Qt.AlignmentFlag.AlignCenter, "no classes to show")
        for i, result in enumerate(shown):
            x, y = (i % per_row) * cell_w, HEADER_H + (i // per_row) * PANEL_H
            half = cell_w / 2
            p.setFont(small)
            _draw_pr(p, QRectF(x, y, half, PANEL_H), result, report.threshold)
            p.setFont(small)
            _draw_hist(p, QRectF(x + half, y, half, PANEL_H), result, report.hist_edges, report.threshold)
    finally:
        p.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("Qt could not encode the image as PNG")
    buffer.close()
    return bytes(data.data())


def save_report_png(report: EvaluationReport, path: str | Path, *, width: int = 1440) -> Path:
    """Render and write the PNG atomically (a killed process leaves no half picture)."""
    atomic_write_bytes(path, png_bytes(render_report(report, width=width)))
    return Path(path)


SIDE_BY_SIDE_PX = 760  # narrower than this, the two plots are stacked


class ReportPanel(QWidget):
    """The report in the app: summary, per-class table, PR curve and histograms of the chosen class,
    and export buttons. `set_report` replaces what is shown."""

    exported = Signal(str)  # the path written

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.report: EvaluationReport | None = None
        self.summary = QLabel("no evaluation yet")
        self.summary.setWordWrap(True)
        self.class_box = QComboBox()
        self.class_box.currentTextChanged.connect(self.show_class)
        self.png_button = QPushButton("Export PNG…")
        self.csv_button = QPushButton("Export CSV…")
        self.png_button.clicked.connect(self._ask_png)
        self.csv_button.clicked.connect(self._ask_csv)
        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels(["class", "n+", "n−", "AP", "P", "R", "F1"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._row_chosen)
        self.pr_plot = pg.PlotWidget(background="w")
        self.pr_plot.setLabel("bottom", "recall")
        self.pr_plot.setLabel("left", "precision")
        self.pr_plot.setRange(xRange=(0, 1), yRange=(0, 1.05), padding=0.02)
        self.hist_plot = pg.PlotWidget(background="w")
        self.hist_plot.setLabel("bottom", "score")
        self.hist_plot.setLabel("left", "share of segments")
        self.hist_plot.addLegend(offset=(10, 10))
        for plot in (self.pr_plot, self.hist_plot):
            plot.getAxis("left").enableAutoSIPrefix(False)  # shares, not "x0.001" units
        self.pr_curve = self.pr_plot.plot([], [], pen=pg.mkPen(CURVE_COLOUR, width=2),
                                          fillLevel=0, brush=pg.mkBrush(31, 119, 180, 45))
        self.operating_point = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(255, 200, 0), pen=pg.mkPen("k"))
        self.pr_plot.addItem(self.operating_point)
        self.neg_hist = self.hist_plot.plot([0, 1], [0], stepMode="center", fillLevel=0, name="negative",
                                            pen=pg.mkPen(NEG_COLOUR), brush=pg.mkBrush(214, 39, 40, 110))
        self.pos_hist = self.hist_plot.plot([0, 1], [0], stepMode="center", fillLevel=0, name="positive",
                                            pen=pg.mkPen(POS_COLOUR), brush=pg.mkBrush(46, 160, 67, 110))
        self.threshold_line = pg.InfiniteLine(0.5, angle=90, pen=pg.mkPen((60, 60, 60), style=Qt.PenStyle.DashLine))
        self.hist_plot.addItem(self.threshold_line)

        top = QHBoxLayout()
        top.addWidget(QLabel("class"))
        top.addWidget(self.class_box, 1)
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)
        self.plots = plots = QBoxLayout(QBoxLayout.Direction.TopToBottom)  # side by side when wide (resizeEvent)
        plots.addWidget(self.pr_plot)
        plots.addWidget(self.hist_plot)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(plots, 2)
        for widget in (self.class_box, self.png_button, self.csv_button):
            widget.setEnabled(False)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """Docked (narrow), the PR curve sits above the histogram; floated wide, beside it."""
        wide = event.size().width() >= SIDE_BY_SIDE_PX
        self.plots.setDirection(QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom)
        super().resizeEvent(event)

    def set_report(self, report: EvaluationReport) -> None:
        self.report = report
        self.summary.setText(
            f"<b>cmAP {_fmt(report.cmap)} &nbsp; LWLRAP {_fmt(report.lwlrap)}</b> &nbsp; micro P "
            f"{_fmt(report.precision)} R {_fmt(report.recall)} F1 {_fmt(report.f1)} at {report.threshold:g}; "
            f"{report.n_segments} segments of {report.segment_s:g} s in {report.n_recordings} recording(s)"
            + self._no_negatives_note(report))
        rows = report.rows()
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [row["class"], str(row["n_pos"]), str(row["n_neg"]),
                     *(_fmt(float(row[k])) for k in ("ap", "precision", "recall", "f1"))]
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.blockSignals(False)
        self.threshold_line.setValue(report.threshold)
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItems([c.name for c in report.classes])
        self.class_box.blockSignals(False)
        self.class_box.setEnabled(bool(report.classes))
        self.png_button.setEnabled(True)
        self.csv_button.setEnabled(True)
        if report.classes:
            self.show_class(report.classes[0].name)

    @staticmethod
    def _no_negatives_note(report: EvaluationReport) -> str:
        blind = report.no_negative_classes()
        if not blind:
            return ""
        return (f"<br><span style='color:#b35900'>AP n/a (no negatives) for {', '.join(blind)}: "
                "no negative is labelled. Reject detections (X) or mark a checked range reviewed (R) "
                "to give them negatives.</span>")

    def current_class(self) -> str:
        return self.class_box.currentText()

    def show_class(self, name: str) -> None:
        """Plot one class's PR curve and histograms (a name not in the report is ignored)."""
        if self.report is None or not name:
            return
        try:
            result = self.report.result(name)
        except KeyError:
            return
        if self.class_box.currentText() != name:
            self.class_box.setCurrentText(name)
        xs, ys = pr_steps(result)
        self.pr_curve.setData(xs, ys)
        if math.isfinite(result.precision) and math.isfinite(result.recall):
            self.operating_point.setData([result.recall], [result.precision])
        else:
            self.operating_point.setData([], [])
        self.pr_plot.setTitle(f"{result.name}: AP {_fmt(result.ap)}")
        pos, neg = shares(result)
        self.pos_hist.setData(self.report.hist_edges, pos)
        self.neg_hist.setData(self.report.hist_edges, neg)
        self.hist_plot.setTitle(f"{result.n_pos} positive, {result.n_neg} negative segments")

    def _row_chosen(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if self.report is not None and len(rows) == 1:
            row = rows.pop()
            if row < len(self.report.classes):
                self.show_class(self.report.classes[row].name)

    def export_png(self, path: str | Path) -> Path:
        if self.report is None:
            raise RuntimeError("no report to export")
        out = save_report_png(self.report, path)
        self.exported.emit(str(out))
        return out

    def export_csv(self, path: str | Path) -> Path:
        if self.report is None:
            raise RuntimeError("no report to export")
        out = self.report.to_csv(path)
        self.exported.emit(str(out))
        return out

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export report as PNG", "evaluation.png", "PNG images (*.png)")
        self._export(self.export_png, path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export report as CSV", "evaluation.csv", "CSV tables (*.csv)")
        self._export(self.export_csv, path)

    def _export(self, write, path: str) -> None:
        """Write to the chosen path; a failure (full disk, no permission) is shown, not raised."""
        if not path:
            return
        try:
            write(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"{path}: {exc.strerror or exc}")
