"""The embedding map dock: the project's windows (or the review queue's) in 2-D, coloured by class,
filled for positives, crosses for negatives, small grey dots for unlabelled windows.

A click on a point shows its window and plays it; the lasso (drag with Lasso on) selects points,
and "Review selection" queues their windows for review as candidates of the class box's class.
The points and their projection come from `scoring/embedding_map.py`: PCA at once, t-SNE on a
worker thread, which replaces it when done.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import (QComboBox, QGraphicsPathItem, QHBoxLayout, QLabel, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from birdlab.core.model import Detection
from birdlab.core.session import Session
from birdlab.gui.background import Background
from birdlab.gui.palette import class_colour
from birdlab.scoring.embedding_index import Hit
from birdlab.scoring.embedding_map import (UNLABELLED, MapPoints, inside, pca_2d, project_sample, queue_sample,
                                           tsne_2d)
from birdlab.scoring.similarity import latest_index

PROJECT, QUEUE = "project sample", "review queue"
GREY = QColor(170, 170, 170, 110)


class LassoViewBox(pg.ViewBox):
    """A view box whose left drag draws a lasso while `lasso` is on (it pans otherwise)."""

    lassoFinished = Signal(object)  # the polygon [m, 2] in view coordinates

    def __init__(self):
        super().__init__()
        self.lasso = False
        self._path: list[QPointF] = []
        self.outline = QGraphicsPathItem()
        self.outline.setPen(QPen(QColor("white"), 0, Qt.PenStyle.DashLine))
        self.outline.setZValue(20)
        self.addItem(self.outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph naming)
        if not self.lasso or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():  # from where the button went down, not where the drag was recognised
            self._path = [self.mapSceneToView(ev.buttonDownScenePos())]
        self._path.append(self.mapSceneToView(ev.scenePos()))
        path = QPainterPath(self._path[0])
        for point in self._path[1:]:
            path.lineTo(point)
        self.outline.setPath(path)
        if ev.isFinish():
            polygon = np.array([[p.x(), p.y()] for p in self._path])
            self._path = []
            if len(polygon) >= 3:
                self.lassoFinished.emit(polygon)


class EmbeddingMapPanel(QWidget):
    jumpRequested = Signal(int, float, float)  # recording id, window start and end (s)
    reviewRequested = Signal(object, str, str)  # hits (windows with their similarity), what they are, embedder
    message = Signal(str, int)

    def __init__(self, session: Session, queue_items: Callable[[], list[Detection]],
                 class_names: Callable[[], dict[int, str]], parent=None, threads: int = 1):
        super().__init__(parent)
        self.session, self.queue_items, self.class_names = session, queue_items, class_names
        self._background = Background(threads, "map", self)
        self._token: object | None = None
        self.points: MapPoints | None = None
        self._map_project = None  # the project the points are of
        self.xy = np.zeros((0, 2), np.float32)
        self.selected = np.zeros(0, bool)
        self.embedder = ""
        self.source = QComboBox()
        self.source.addItems([PROJECT, QUEUE])
        self.source.setToolTip("project sample: every labelled window and random others; review queue: the "
                               "windows of the queue's detections")
        self.draw_button = QPushButton("Draw map")
        self.draw_button.clicked.connect(self.draw)
        self.lasso_button = QToolButton(text="Lasso", checkable=True,
                                        toolTip="drag around points to select them (off: drag pans)")
        self.review_button = QPushButton("Review selection")
        self.review_button.setEnabled(False)
        self.review_button.clicked.connect(self.review_selection)
        self.status = QLabel("Draw the map of the embedding index (Review > Build the embedding index first).")
        self.status.setWordWrap(True)
        self.view_box = LassoViewBox()
        self.view_box.setAspectLocked(True)
        self.view_box.lassoFinished.connect(self.select_inside)
        self.lasso_button.toggled.connect(lambda on: setattr(self.view_box, "lasso", on))
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.scatter = pg.ScatterPlotItem(hoverable=True)
        self.scatter.sigClicked.connect(self._clicked)
        self.plot.addItem(self.scatter)
        self.legend = pg.LegendItem(offset=(5, 5), labelTextColor="w")
        self.legend.setParentItem(self.view_box)
        row = QHBoxLayout()
        for w in (self.source, self.draw_button, self.lasso_button, self.review_button):
            row.addWidget(w)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)

    # ---- drawing --------------------------------------------------------------------------------

    def draw(self) -> None:
        """Sample the points (GUI thread: a few SQL reads and rows of the memory map), show their PCA
        at once, and start t-SNE on the worker."""
        project = self.session.project
        index = latest_index(project.cache_dir) if project else None
        if index is None:
            self.status.setText("No embedding index yet: Review > Build the embedding index (or Find similar, M).")
            return
        if self.source.currentText() == QUEUE:
            points = queue_sample(project, index, self.queue_items())
        else:
            points = project_sample(project, index)
        self.points, self.embedder, self._map_project = points, index.embedder, project
        self.selected = np.zeros(len(points), bool)
        self.review_button.setEnabled(False)
        self._show(pca_2d(points.vectors))
        if len(points) < 5:
            self.status.setText(f"{len(points)} window(s): too few for t-SNE.")
            return
        self.status.setText(f"{len(points):,} windows ({index.embedder}): PCA; t-SNE running...")
        token = self._token = object()
        self._background.submit(self._project, token, points.vectors)

    def _project(self, token: object, vectors: np.ndarray) -> None:
        try:
            xy = tsne_2d(vectors)
        except Exception as exc:  # noqa: BLE001 - a missing package or a numerical failure: PCA stays
            self._background.deliver(self._failed, token, f"{type(exc).__name__}: {exc}")
            return
        self._background.deliver(self._projected, token, xy)

    def _projected(self, token: object, xy: np.ndarray) -> None:
        if token is self._token and self.points is not None and len(xy) == len(self.points):
            self._show(xy)
            self.status.setText(f"{len(self.points):,} windows ({self.embedder}), t-SNE: a click plays a window")
            self.status.setToolTip("Lasso, then Review selection: the selected windows go to the review queue")

    def _failed(self, token: object, reason: str) -> None:
        if token is self._token:
            self.status.setText(f"PCA only: {reason}")

    def _show(self, xy: np.ndarray) -> None:
        points = self.points
        assert points is not None
        self.xy = xy
        names = self.class_names()
        spots = []
        for i in range(len(points)):
            kind, cid = points.kinds[i], int(points.class_ids[i])
            colour = class_colour(cid) if cid >= 0 else GREY
            if kind == UNLABELLED:
                brush, pen, symbol, size = (GREY if cid < 0 else QColor(colour.red(), colour.green(), colour.blue(), 90),
                                            pg.mkPen(None), "o", 5)
            elif kind == "negative":
                brush, pen, symbol, size = colour, pg.mkPen(colour), "x", 10
            else:
                brush, pen, symbol, size = colour, pg.mkPen("k", width=0.5), "o", 9
            if self.selected.size and self.selected[i]:
                pen = pg.mkPen("w", width=2)
            spots.append({"pos": (float(xy[i, 0]), float(xy[i, 1])), "brush": brush, "pen": pen, "symbol": symbol,
                          "size": size, "data": i})
        self.scatter.setData(spots)
        self.legend.clear()
        shown = sorted({int(c) for c in points.class_ids if c >= 0})
        for cid in shown:
            self.legend.addItem(pg.ScatterPlotItem(brush=class_colour(cid), symbol="o", size=9),
                                names.get(cid, str(cid)))
        self.legend.addItem(pg.ScatterPlotItem(brush=GREY, pen=pg.mkPen("w"), symbol="x", size=9), "negative (x)")
        self.legend.addItem(pg.ScatterPlotItem(brush=GREY, symbol="o", size=5), "unlabelled")
        self.view_box.autoRange()

    # ---- using it -------------------------------------------------------------------------------

    def _clicked(self, _item, spots, _event=None) -> None:
        if self.points is None or not len(spots):
            return
        i = int(spots[0].data())
        self.jumpRequested.emit(int(self.points.recording_ids[i]), float(self.points.t_start[i]),
                                float(self.points.t_end[i]))

    def select_inside(self, polygon: np.ndarray) -> None:
        """The lasso's points become the selection (shown with a white ring)."""
        if self.points is None:
            return
        self.selected = inside(self.xy, polygon)
        n = int(self.selected.sum())
        self.review_button.setEnabled(n > 0)
        self.review_button.setText(f"Review selection ({n})")
        self.view_box.outline.setPath(QPainterPath())
        self._show(self.xy)

    def review_selection(self) -> None:
        """The selected windows, most typical of the selection first (cosine to its mean), to review."""
        points = self.points
        if points is None or not self.selected.any():
            return
        if self.session.project is not self._map_project:  # another project was opened: these ids are not its
            self.status.setText("The map is of another project: draw it again.")
            return
        chosen = np.flatnonzero(self.selected)
        centre = points.vectors[chosen].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        similarity = points.vectors[chosen] @ centre
        hits = [Hit(int(points.recording_ids[i]), float(points.t_start[i]), float(points.t_end[i]), float(s))
                for i, s in sorted(zip(chosen, similarity), key=lambda pair: -pair[1])]
        self.reviewRequested.emit(hits, f"map selection of {len(hits)} windows", self.embedder)

    def shutdown(self) -> None:
        self._token = None
        self._background.shutdown()
