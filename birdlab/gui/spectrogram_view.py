"""The spectrogram view: tiled, any length, with an overview strip, label boxes and a play cursor.

Tiles come from `TileLoader` (worker threads, cache); the view shows the whole-file overview
tile underneath, so a zoom or scroll never shows a blank while finer tiles load. Mouse: drag
with the left button to draw a box, with the right button to zoom to a time range, with the
middle button to pan; the wheel zooms time. Keys: + and - zoom, arrows scroll (Shift: a
page), Home and End.

Long because: the view is one pyqtgraph plot whose layers (tiles, overview, label boxes, detection
boxes, cursor) share its coordinate transforms and mouse modes; the layers that hold their own state
live in `label_items`, `tile_loader` and `axes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem, QGraphicsView, QScrollBar,
                               QVBoxLayout, QWidget)

from birdlab.core.clock import start_time_from_name
from birdlab.core.model import Label
from birdlab.core.sound.spectrogram import (SpectrogramConfig, auto_levels, hz_to_mel, mel_to_hz,
                                            subtract_noise_profile)
from birdlab.core.sound.tiles import Tile, TileGrid
from birdlab.gui.captions import free_captions
from birdlab.gui.channel_strip import ChannelStrip, pool_rows
from birdlab.gui.strip_plot import quiet_axes, show_strip
from birdlab.gui.tile_image import GapImage, TileImage
from birdlab.gui.axes import FreqAxis, TimeAxis
from birdlab.gui.label_items import LabelBox
from birdlab.gui.palette import class_colour
from birdlab.gui.waveform_strip import WaveformStrip
from birdlab.gui.tile_loader import TileKey, TileLoader

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

COLORMAPS = ("inferno", "viridis", "magma", "cividis", "gray")
DETECTION_COLOUR = "#4cc9f0"  # model output: cyan, dash-dot (labels are green / red / yellow)

DRAW_ALL_DETECTIONS = 64  # a recording with more draws only the boxes near the view
MAX_DRAWN_DETECTIONS = 1500  # and at most this many (its highest scores) when zoomed far out
DRAW_ALL_LABELS = 300  # a recording with more labels gets boxes only near the view (a box costs ~2 ms)
MAX_DRAWN_LABELS = 600  # and at most this many (the selected ones first) when zoomed far out


@dataclass
class ViewSettings:
    """What the user can change about the look (kept per window)."""

    colormap: str = "inferno"
    top_db: float = -10.0
    db_range: float = 80.0
    mel: bool = False
    n_fft: int = 1024
    channel: int = -1  # -1: mix of all channels
    f_min: float | None = None  # frequency limits shown (None: 0 .. Nyquist)
    f_max: float | None = None
    clock_time: bool = True  # the time axis in time of day when the file name carries the start
    denoise: bool = False  # each frequency's median (its steady noise) taken out of what is shown
    window: str = "hann"
    overlap: float = 0.75  # of the finest zoom's frames: 0, 0.5, 0.75 or 0.875 (OVERLAPS)
    stacked_channels: bool = True  # every channel of a multi-channel file in a lane under the view


OVERLAPS = (0.0, 0.5, 0.75, 0.875)  # the finest zoom's frame overlap: the hop is n_fft / 2**k


def starting_near(starts: np.ndarray, longest: float, t0: float, t1: float) -> range:
    """Indices into sorted start times of the boxes that may overlap [t0, t1]: those starting
    before t1, from the first that could still last until t0 (none is longer than `longest`)."""
    return range(int(np.searchsorted(starts, t0 - longest, side="left")),
                 int(np.searchsorted(starts, t1, side="right")))


def overlap_halvings(overlap: float) -> int:
    """k such that a hop of n_fft / 2**k gives this overlap (the nearest of OVERLAPS)."""
    return min(range(len(OVERLAPS)), key=lambda k: abs(OVERLAPS[k] - overlap))


@lru_cache(maxsize=16)
def _lut(name: str) -> np.ndarray:
    """A 256-entry RGBA table (pyqtgraph still renders it as an indexed image: `TileImage` makes
    that 32-bit colour once)."""
    if name == "gray":
        v = np.linspace(0, 255, 256).astype(np.ubyte)
        return np.stack([v, v, v, np.full(256, 255, np.ubyte)], axis=1)
    return pg.colormap.get(name).getLookupTable(nPts=256, alpha=True)


class DrawViewBox(pg.ViewBox):
    """A ViewBox where the left drag draws a box and the right drag picks a time range to zoom to."""

    boxDrawn = Signal(float, float, float, float)  # x0, x1, y0, y1 (view coordinates)
    rangePicked = Signal(float, float)
    emptyClicked = Signal(float, bool)  # x, additive

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setMenuEnabled(False)
        self._rubber: QGraphicsRectItem | None = None

    def _rubber_rect(self, ev, full_height: bool) -> QRectF:
        p0 = self.mapSceneToView(ev.buttonDownScenePos())
        p1 = self.mapSceneToView(ev.scenePos())
        if full_height:
            (y0, y1) = self.viewRange()[1]
            return QRectF(min(p0.x(), p1.x()), y0, abs(p1.x() - p0.x()), y1 - y0)
        return QRectF(min(p0.x(), p1.x()), min(p0.y(), p1.y()), abs(p1.x() - p0.x()), abs(p1.y() - p0.y()))

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (Qt naming)
        """The wheel zooms time over the picture, frequency over the frequency axis."""
        super().wheelEvent(ev, 0 if axis is None else axis)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt naming)
        button = ev.button()
        if axis is not None:  # a drag on an axis pans that axis (the frequency axis: the band in view)
            return super().mouseDragEvent(ev, axis)
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return super().mouseDragEvent(ev, 0)  # middle drag over the picture: time only
        ev.accept()
        full = button == Qt.MouseButton.RightButton
        rect = self._rubber_rect(ev, full)
        if ev.isStart() or self._rubber is None:
            self._rubber = QGraphicsRectItem()
            pen = QPen(QColor("#ffffff" if not full else "#66ccff"))
            pen.setCosmetic(True)
            pen.setStyle(Qt.PenStyle.DashLine)
            self._rubber.setPen(pen)
            self.addItem(self._rubber, ignoreBounds=True)
        self._rubber.setRect(rect)
        if ev.isFinish():
            self.removeItem(self._rubber)
            self._rubber = None
            if rect.width() <= 0:
                return
            if full:
                self.rangePicked.emit(rect.left(), rect.right())
            elif rect.height() > 0:
                self.boxDrawn.emit(rect.left(), rect.right(), rect.top(), rect.bottom())

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
            self.emptyClicked.emit(self.mapSceneToView(ev.scenePos()).x(), additive)
        else:
            super().mouseClickEvent(ev)


class _Graphics(pg.GraphicsLayoutWidget):
    """The plots' widget; says when a frame has been painted."""
    framePainted = Signal()

    def paintEvent(self, ev):  # noqa: N802 (Qt naming)
        super().paintEvent(ev)
        self.framePainted.emit()


class SpectrogramView(QWidget):
    boxDrawn = Signal(float, float, float, float)  # t_min, t_max, f_min, f_max (s, Hz)
    labelEdited = Signal(int, float, float, float, float)
    selectionChanged = Signal(list)  # label ids
    rangeChanged = Signal(float, float)
    cursorMoved = Signal(float)  # a click sets the play position
    painted = Signal()  # every tile of the current view is on screen
    thresholdChanged = Signal(float)  # the threshold line in the score strip was dragged

    def __init__(self, loader: TileLoader | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.loader = loader or TileLoader(parent=self, start_after_ms=30)
        self.settings = ViewSettings()
        self.path: str | None = None
        self.grid: TileGrid | None = None
        self.sample_rate = 0
        self.duration = 0.0
        self.channels = 1
        self.boxes: dict[int, LabelBox] = {}  # the drawn ones: all, or those near the view (DRAW_ALL_LABELS)
        self._labels: dict[int, Label] = {}  # every label of the recording, by id
        self._label_starts = np.empty(0)
        self._label_order: list[int] = []  # ids by start time
        self._label_longest = 0.0
        self._selected: set[int] = set()
        self.class_names: dict[int, str] = {}
        self._tile_items: dict[TileKey, pg.ImageItem] = {}
        self._wanted: list[TileKey] = []
        self._overview_key: TileKey | None = None
        self._syncing = False

        self.graphics = _Graphics()
        self.graphics.setBackground("#101014")
        # no antialiasing anywhere here: Qt need not widen every item's repaint area for it
        self.graphics.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.view = DrawViewBox()
        self.time_axis, self.freq_axis = TimeAxis("bottom"), FreqAxis("left")
        self.plot = self.graphics.addPlot(row=0, col=0, viewBox=self.view,
                                          axisItems={"bottom": self.time_axis, "left": self.freq_axis})
        self.plot.setLabel("left", "kHz")
        self.plot.setLabel("bottom", "time (s)")
        self.view.setMouseEnabled(x=True, y=True)  # y only from the frequency axis (DrawViewBox)
        self.waveform = WaveformStrip(self.graphics, row=1, x_link=self.plot)
        self.tracks_plot = self.graphics.addPlot(row=2, col=0)
        self.tracks_plot.setMouseEnabled(x=False, y=False)
        self.tracks_plot.setMenuEnabled(False)
        self.tracks_plot.setYRange(0, 1, padding=0.02)
        self.tracks_plot.hideAxis("bottom")
        self.tracks_plot.getAxis("left").setWidth(self.plot.getAxis("left").width())
        self.tracks_plot.setLabel("left", "score")
        self.threshold_line = pg.InfiniteLine(0.5, angle=0, movable=True, pen=pg.mkPen("#ffffff", width=1,
                                                                                        style=Qt.PenStyle.DashLine))
        self.threshold_line.setBounds((0.0, 1.0))
        self.tracks_plot.addItem(self.threshold_line)
        self.threshold_line.sigPositionChanged.connect(lambda line: self.thresholdChanged.emit(float(line.value())))
        self.track_curves: dict[str, pg.PlotDataItem] = {}
        self.tracks_legend = self.tracks_plot.addLegend(offset=(-8, 4), labelTextColor="#dddddd",
                                                        brush=pg.mkBrush(0, 0, 0, 150))
        self.captions_on = True
        self._caption_timer = QTimer(self)
        self._caption_timer.setSingleShot(True)
        self._caption_timer.setInterval(30)
        self._caption_timer.timeout.connect(self._layout_captions)
        show_strip(self.tracks_plot, self.plot, False)
        self.detection_items: list[tuple[object, QGraphicsRectItem, QGraphicsSimpleTextItem]] = []  # drawn ones
        self._detections: list = []  # all of the recording's, by start time
        self._det_starts = np.empty(0)
        self._det_longest = 0.0
        self._drawn_detections: dict[int, tuple] = {}  # index in _detections -> (det, rect, text)
        self._spare_detection_items: list[tuple] = []  # hidden (rect, text) pairs, ready for re-use
        # the parent of every detection box, in view coordinates: a QObject-based group, so that
        # PySide learns when Qt deletes it and its boxes (plain QGraphicsItems would not tell it)
        self._detection_layer = pg.ItemGroup()
        self._detection_names: dict[int, str] = {}
        self._tracks_args: tuple | None = None
        self.threshold = 0.5
        self.overview = self.graphics.addPlot(row=3, col=0)
        self.overview.hideAxis("left")
        self.overview.hideAxis("bottom")
        self.overview.setMouseEnabled(x=False, y=False)
        self.overview.setMenuEnabled(False)
        self.channel_strip = ChannelStrip(self.graphics, row=4, x_link=self.plot)
        for strip in (self.plot, self.waveform.plot, self.tracks_plot, self.overview, self.channel_strip.plot):
            quiet_axes(strip)
        for row, stretch in enumerate((6, 1, 2, 1, 2)):  # spectrogram, waveform, score tracks, overview, channels
            self.graphics.ci.layout.setRowStretchFactor(row, stretch)
        self.overview_image = TileImage()
        self.overview.addItem(self.overview_image)
        self.background_image = GapImage()
        self.background_image.setZValue(-10)
        self.view.addItem(self.background_image)
        self.region = pg.LinearRegionItem(brush=pg.mkBrush(255, 255, 255, 40))
        self.region.setZValue(10)
        self.overview.addItem(self.region)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffffff", width=1.5))
        self.cursor.setZValue(30)
        self.view.addItem(self.cursor, ignoreBounds=True)
        self._detection_layer.setZValue(15)
        self.view.addItem(self._detection_layer, ignoreBounds=True)
        # the detection under review: a white frame with a light fill over its box
        self.review_highlight = QGraphicsRectItem()
        pen = QPen(QColor("#ffffff"))
        pen.setWidthF(3.0)
        pen.setCosmetic(True)
        self.review_highlight.setPen(pen)
        self.review_highlight.setBrush(QColor(255, 255, 255, 40))
        self.review_highlight.setZValue(16)
        self.review_highlight.setVisible(False)
        self.view.addItem(self.review_highlight, ignoreBounds=True)
        self._highlighted = None
        self.extent_items: list[pg.LinearRegionItem] = []
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.setRange(0, 0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.scrollbar)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(0)
        self._update_timer.timeout.connect(self._update_tiles)
        self.view.sigXRangeChanged.connect(self._range_changed)
        # captions sit in screen pixels: a frequency zoom or a resized view moves them apart or together
        self.view.sigYRangeChanged.connect(self._captions_later)
        self.view.sigResized.connect(self._captions_later)
        self.view.boxDrawn.connect(self._box_drawn)
        self.view.rangePicked.connect(lambda a, b: self.set_visible_range(a, b))
        self.view.emptyClicked.connect(self._empty_clicked)
        self.region.sigRegionChanged.connect(self._region_moved)
        self.scrollbar.valueChanged.connect(self._scrolled)
        self.loader.tileReady.connect(self._tile_ready)
        # paint first, then compute: the tiles and the waveform of a new range follow the frame.
        # Queued, so they run once the frame is on screen, not inside its paint event.
        self._waveform_due = False
        after_frame = Qt.ConnectionType.QueuedConnection
        self.graphics.framePainted.connect(self.loader.start_queued, after_frame)
        self.graphics.framePainted.connect(self._update_waveform_if_due, after_frame)
        self.graphics.framePainted.connect(self._prepare_tiles, after_frame)

    # ---- coordinates ------------------------------------------------------------------------
    def hz_to_y(self, hz: float) -> float:
        return float(hz_to_mel(hz)) if self.settings.mel else float(hz)

    def y_to_hz(self, y: float) -> float:
        return float(mel_to_hz(y)) if self.settings.mel else float(y)

    @property
    def nyquist(self) -> float:
        return self.sample_rate / 2.0

    def spectrogram_config(self) -> SpectrogramConfig:
        s = self.settings
        return SpectrogramConfig(n_fft=s.n_fft, hop=max(1, s.n_fft >> overlap_halvings(s.overlap)), window=s.window,
                                 mel=s.mel, n_mels=128, f_min=0.0, f_max=None, top_db=s.top_db,
                                 db_range=s.db_range)

    # ---- recording --------------------------------------------------------------------------
    def set_recording(self, path: str, sample_rate: int, frames: int, channels: int,
                      initial_s: float = 30.0, start_range: tuple[float, float] | None = None) -> None:
        """Show a recording from its start (`initial_s` of it), or at `start_range`."""
        self.loader.clear()
        self.highlight_detection(None)
        for item in self._tile_items.values():
            self.view.removeItem(item)
        self._tile_items.clear()
        self.path, self.sample_rate, self.channels = str(path), int(sample_rate), int(channels)
        self.duration = frames / sample_rate
        self.grid = TileGrid(sample_rate, frames, self.settings.n_fft,
                             overlap_halvings=overlap_halvings(self.settings.overlap))
        self.set_labels([], {})
        self.set_detections([], {})
        self.set_tracks(None)
        self.channel_strip.set_channels(self.channels)
        self.channel_strip.set_visible(self.settings.stacked_channels and self.channels > 1)
        self.view.setLimits(xMin=0, xMax=self.duration, minXRange=min(0.02, self.duration),
                            yMin=self.hz_to_y(0), yMax=self.hz_to_y(self.nyquist))
        self.overview.setXRange(0, self.duration, padding=0)
        self._apply_freq_limits()
        self._apply_clock()
        self._request_overview()
        self.set_visible_range(*(start_range or (0.0, min(self.duration, initial_s))))
        self._update_tiles()

    def _apply_clock(self) -> None:
        start = start_time_from_name(self.path) if self.settings.clock_time and self.path else None
        if start != self.time_axis.clock_start:
            self.time_axis.clock_start = start
            self.time_axis.picture = None  # redraw the ticks
            self.time_axis.update()

    def fit_band(self, f_min: float, f_max: float, margin: float = 0.1) -> None:
        """Show this band (with a margin) over the full height: frequency zoom."""
        pad = (f_max - f_min) * margin
        lo, hi = max(0.0, f_min - pad), min(self.nyquist, f_max + pad)
        self.view.setYRange(self.hz_to_y(lo), self.hz_to_y(hi), padding=0)

    def fit_band_to_selection(self) -> None:
        """The selected labels' band fills the height (all frequencies again when none is selected)."""
        boxes = [self._labels[i] for i in self.selected_ids()]
        if boxes:
            self.fit_band(min(b.f_min for b in boxes), max(b.f_max for b in boxes))
        else:
            self.show_all_frequencies()

    def show_all_frequencies(self) -> None:
        """The toolbar's frequency limits again (0 to Nyquist by default)."""
        self._apply_freq_limits()

    def _apply_freq_limits(self) -> None:
        lo = self.settings.f_min or 0.0
        hi = min(self.settings.f_max or self.nyquist, self.nyquist)
        self.view.setLimits(yMin=self.hz_to_y(0), yMax=self.hz_to_y(self.nyquist))
        self.view.setYRange(self.hz_to_y(lo), self.hz_to_y(hi), padding=0)
        self.overview.setYRange(self.hz_to_y(lo), self.hz_to_y(hi), padding=0)
        self.freq_axis.to_hz = self.y_to_hz
        self.freq_axis.khz = hi >= 2000
        self.plot.setLabel("left", "kHz" if self.freq_axis.khz else "Hz")

    def apply_settings(self, settings: ViewSettings) -> None:
        """New look: colormap and dB range re-colour; n_fft, mel or channel recompute the tiles."""
        old = self.settings
        self.settings = replace(settings)
        if self.path is None:
            return
        self._apply_clock()
        recompute = (old.n_fft, old.mel, old.channel, old.top_db, old.db_range, old.window, old.overlap) != \
            (settings.n_fft, settings.mel, settings.channel, settings.top_db, settings.db_range, settings.window,
             settings.overlap)
        if recompute:
            t0, t1 = self.visible_range()
            labels = list(self._labels.values())
            names = dict(self.class_names)
            detections, detection_names = list(self._detections), dict(self._detection_names)
            tracks = self._tracks_args
            self.set_recording(self.path, self.sample_rate, self.grid.frames, self.channels)
            self.set_visible_range(t0, t1)
            self.set_labels(labels, names)
            self.set_detections(detections, detection_names)
            if tracks is not None:
                self.set_tracks(*tracks)
        elif old.denoise != settings.denoise:  # the same tiles, shown with or without the noise profile
            for item in (*self._tile_items.values(), self.overview_image, self.background_image):
                if getattr(item, "tile", None) is not None:
                    self._place(item, item.tile)
            self.channel_strip.want([])  # drawn again below
            self._apply_freq_limits()
        else:
            lut = _lut(settings.colormap)
            for item in (*self._tile_items.values(), self.overview_image, self.background_image,
                         *self.channel_strip.items.values()):
                item.setLookupTable(lut)
            self._apply_freq_limits()
        if old.stacked_channels != settings.stacked_channels:
            self.channel_strip.set_visible(settings.stacked_channels and self.channels > 1)
        self._update_timer.start()

    # ---- range -------------------------------------------------------------------------------
    def visible_range(self) -> tuple[float, float]:
        (t0, t1), _ = self.view.viewRange()
        return float(t0), float(t1)

    def set_visible_range(self, t0: float, t1: float) -> None:
        if self.duration <= 0:
            return
        span = max(min(t1 - t0, self.duration), 0.02)
        t0 = min(max(0.0, t0), max(0.0, self.duration - span))
        self.view.setXRange(t0, t0 + span, padding=0)

    def zoom(self, factor: float, centre: float | None = None) -> None:
        """factor < 1 zooms in."""
        t0, t1 = self.visible_range()
        c = (t0 + t1) / 2 if centre is None else centre
        half = (t1 - t0) * factor / 2
        self.set_visible_range(c - half, c + half)

    def scroll(self, pages: float) -> None:
        t0, t1 = self.visible_range()
        shift = (t1 - t0) * pages
        self.set_visible_range(t0 + shift, t1 + shift)

    def _range_changed(self, *_):
        if self.duration <= 0:
            return
        self._captions_later()
        t0, t1 = self.visible_range()
        self._syncing = True
        try:
            self.region.setRegion((t0, t1))
            span = t1 - t0
            steps = 1000
            self.scrollbar.setRange(0, steps if self.duration > span * 1.0001 else 0)
            self.scrollbar.setPageStep(max(1, min(steps, int(steps * span / self.duration))))
            free = max(self.duration - span, 1e-9)
            self.scrollbar.setValue(int(round(steps * t0 / free)))
        finally:
            self._syncing = False
        self._sync_detections()
        if len(self._labels) > DRAW_ALL_LABELS:
            self._sync_labels()
        self.rangeChanged.emit(t0, t1)
        self._update_timer.start()

    def _region_moved(self) -> None:
        if self._syncing:
            return
        a, b = self.region.getRegion()
        self.set_visible_range(a, b)

    def _scrolled(self, value: int) -> None:
        if self._syncing:
            return
        t0, t1 = self.visible_range()
        span = t1 - t0
        start = value / 1000 * max(self.duration - span, 0)
        self.set_visible_range(start, start + span)

    # ---- tiles ----------------------------------------------------------------------------------
    def _key(self, level: int, index: int) -> TileKey:
        return TileKey(self.path, level, index, self.spectrogram_config(), self.settings.channel)

    def _request_overview(self) -> None:
        """The whole-file overview: shown at once when cached, else asked for by `_update_tiles`
        after the tiles on screen (what the user looks at first)."""
        self._overview_key = self._key(self.grid.top_level, 0)
        tile = self.loader.cache.get(self._overview_key)
        if tile is not None:
            self._tile_ready(self._overview_key, tile)

    def current_keys(self) -> list[TileKey]:
        if self.grid is None:
            return []
        t0, t1 = self.visible_range()
        width = max(200, int(self.view.width()) or self.width())
        level = self.grid.level_for(t1 - t0, width)
        span = self.grid.tile_s(level)
        return [self._key(level, i) for i in self.grid.tiles_for(t0 - span * 0.5, t1 + span * 0.5, level)]

    def _update_tiles(self) -> None:
        if self.grid is None:
            return
        keys = self.current_keys()
        self._wanted = keys
        wanted = set(keys)
        for key, item in self._tile_items.items():
            item.setVisible(key in wanted)
        # forget items far from the view (the loader's cache keeps the data)
        for key in [k for k in self._tile_items if k not in wanted]:
            if len(self._tile_items) > 48:
                self.view.removeItem(self._tile_items.pop(key))
        first = self._on_screen(keys)  # then the overview and the margins
        keys_in_order = first + [k for k in keys if k not in first]
        request = keys_in_order + ([self._overview_key] if self._overview_key not in self.loader.cache else [])
        lanes = self._update_lanes(keys)  # after the view's own: the view paints first
        for tile in self.loader.request(request + lanes, self.grid):  # (lanes: only those not cached)
            self._show_tile(self._key(tile.level, tile.index), tile)
        if not any(key in self._tile_items for key in keys):
            self.loader.start_queued()  # no frame to paint first: nothing of this range is shown yet
        self._waveform_due = True  # the strip is in view coordinates: it moves with the frame already
        self._check_painted()

    def _update_lanes(self, keys: list[TileKey]) -> list[TileKey]:
        """Stacked channels: each channel's tiles one level coarser than the view's; shows those
        cached and returns the others, to ask the loader for."""
        if not (keys and self.channel_strip.active):
            self.channel_strip.want([])
            return []
        level = min(keys[0].level + 1, self.grid.top_level)
        t0, t1 = self.visible_range()
        indices = self.grid.tiles_for(t0, t1, level)
        lanes = [replace(self._key(level, i), channel=c) for c in range(self.channels) for i in indices]
        self.channel_strip.want(lanes)
        missing = []
        for key in lanes:
            tile = self.loader.cache.get(key)
            if tile is None:
                missing.append(key)
            else:
                self.channel_strip.place(key, tile, self._image_of)
        return missing

    def _image_of(self, tile: Tile) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
        """A tile's picture as the view shows it: values (denoised or not), dB levels, colours."""
        cfg = self.spectrogram_config()
        floor = cfg.top_db - cfg.db_range
        values = subtract_noise_profile(tile.values, floor) if self.settings.denoise else tile.values
        return values, (floor, cfg.top_db), _lut(self.settings.colormap)

    def _tile_ready(self, key: TileKey, tile: Tile) -> None:
        if key in self.channel_strip.wanted and key.path == self.path:
            self.channel_strip.place(key, tile, self._image_of)
        if key.path != self.path or key.config != self.spectrogram_config() or key.channel != self.settings.channel:
            return
        if key == self._overview_key:
            for item in (self.overview_image, self.background_image):
                self._place(item, tile)
        if key in self._wanted:
            self._show_tile(key, tile)
            self._waveform_due = True
            self._check_painted()

    def _place(self, item: pg.ImageItem, tile: Tile) -> None:
        values, levels, lut = self._image_of(tile)
        if item is self.overview_image:  # a strip a few dozen pixels high: a one-bin tone must still show
            values = pool_rows(values)
        item.setImage(values, levels=levels, autoLevels=False, lut=lut)
        item.tile = tile
        if self.settings.mel:
            y0, y1 = self.hz_to_y(0.0), self.hz_to_y(self.nyquist)
        else:
            half_bin = self.sample_rate / self.settings.n_fft / 2
            y0, y1 = -half_bin, self.nyquist + half_bin
        item.setRect(QRectF(tile.t0, y0, tile.t1 - tile.t0, y1 - y0))

    def auto_levels(self) -> tuple[float, float]:
        """(top_db, db_range) for what is on screen now (the tiles in view, as shown)."""
        cfg = self.spectrogram_config()
        shown = [item for key, item in self._tile_items.items() if key in self._wanted and item.isVisible()]
        values = [item.image for item in shown if item.image is not None]
        return auto_levels(values) if values else (cfg.top_db, cfg.db_range)

    def _show_tile(self, key: TileKey, tile: Tile) -> None:
        item = self._tile_items.get(key)
        if item is None:
            item = TileImage()
            self.view.addItem(item, ignoreBounds=True)
            self._tile_items[key] = item
        if getattr(item, "tile", None) is not tile:  # new, or a pooled tile replacing its quick preview
            self._place(item, tile)
        item.setVisible(True)

    def _prepare_tiles(self) -> None:
        """Colour the tiles that are not yet (those just in, beside the view or of the next
        zoom level): each is coloured once, between frames, not in the frame that shows it."""
        for item in self._tile_items.values():
            item.prepare()

    def _update_waveform_if_due(self) -> None:
        if self._waveform_due:
            self._waveform_due = False
            self._update_waveform()

    def _update_waveform(self) -> None:
        shown = [self._tile_items[k].tile for k in self._wanted
                 if k in self._tile_items and getattr(self._tile_items[k], "tile", None) is not None]
        self.waveform.show(shown, self.visible_range(), int(self.view.width()))

    def _on_screen(self, keys: list[TileKey]) -> list[TileKey]:
        """The keys whose tiles overlap the visible range (the others are the margins, fetched
        ahead for scrolling)."""
        if self.grid is None:
            return []
        t0, t1 = self.visible_range()
        return [k for k in keys if (r := self.grid.tile_range(k.level, k.index))[0] < t1 and r[1] > t0]

    def _check_painted(self) -> None:
        shown = self._on_screen(self._wanted)
        done = bool(shown) and all(k in self._tile_items and self._tile_items[k].isVisible() for k in shown)
        # the overview underneath only fills gaps: hiding it when the tiles are all in saves a
        # full-view image draw on every repaint, and it draws only where a tile is missing
        self.background_image.setVisible(not done)
        if not done:
            self.background_image.set_gaps(self._gap_columns(shown))
        if done:
            self.painted.emit()

    def _gap_columns(self, on_screen: list[TileKey]) -> list[tuple[float, float]] | None:
        """The overview's pixel columns under those of the tiles on screen that are not shown
        (None: all of it)."""
        tile = getattr(self.background_image, "tile", None)
        if tile is None or self.grid is None or tile.t1 <= tile.t0:
            return None
        per_s = self.background_image.image.shape[1] / (tile.t1 - tile.t0)
        gaps: list[tuple[float, float]] = []
        for key in on_screen:
            item = self._tile_items.get(key)
            if item is not None and item.isVisible():
                continue
            t0, t1 = self.grid.tile_range(key.level, key.index)
            x0, x1 = np.floor((t0 - tile.t0) * per_s), np.ceil((t1 - tile.t0) * per_s)
            if gaps and x0 <= gaps[-1][1]:
                gaps[-1] = (gaps[-1][0], max(gaps[-1][1], float(x1)))
            else:
                gaps.append((float(x0), float(x1)))
        return gaps

    def is_painted(self) -> bool:
        """Every tile on screen is in (the margins beside the view may still be computing)."""
        shown = self._on_screen(self._wanted)
        return bool(shown) and all(k in self._tile_items for k in shown)

    # ---- labels ---------------------------------------------------------------------------------
    def set_labels(self, labels: list[Label], class_names: dict[int, str]) -> None:
        """Show these labels. Boxes of unchanged labels are kept (a box being dragged survives a
        refresh caused by some other change); changed ones are rebuilt, gone ones removed. Past
        DRAW_ALL_LABELS, only the labels near the view get boxes, made as the view moves."""
        names_changed = class_names != self.class_names
        self.class_names = dict(class_names)
        self._labels = {label.id: label for label in labels}
        self._label_order = [label.id for label in sorted(labels, key=lambda lab: lab.t_min)]
        self._label_starts = np.array([self._labels[i].t_min for i in self._label_order], dtype=np.float64)
        self._label_longest = max((lab.t_max - lab.t_min for lab in labels), default=0.0)
        self._selected &= self._labels.keys()
        if names_changed:
            for label_id in list(self.boxes):
                self.view.removeItem(self.boxes.pop(label_id))
        self._sync_labels()

    def _sync_labels(self) -> None:
        """Boxes for the labels within a quarter view of the visible range (all of them when the
        recording has few) and the selected ones; others dropped."""
        if len(self._labels) <= DRAW_ALL_LABELS:
            wanted = set(self._labels)
        else:
            t0, t1 = self.visible_range()
            margin = 0.25 * (t1 - t0)
            candidates = starting_near(self._label_starts, self._label_longest, t0 - margin, t1 + margin)
            near = [i for i in self._label_order[candidates.start:candidates.stop]
                    if self._labels[i].t_max >= t0 - margin]
            wanted = set(self._selected) | set(near[:MAX_DRAWN_LABELS])
        for label_id in [i for i in self.boxes if i not in wanted or self.boxes[i].label != self._labels[i]]:
            self.view.removeItem(self.boxes.pop(label_id))
        for label_id in wanted - self.boxes.keys():
            label = self._labels[label_id]
            box = LabelBox(label, self.class_names.get(label.class_id, "?"), self.hz_to_y,
                           class_colour(label.class_id))
            box.edited.connect(self._box_edited)
            box.clicked.connect(self._box_clicked)
            self.view.addItem(box)
            self.boxes[label_id] = box
            if label_id in self._selected:
                box.set_selected(True)
        self._captions_later()

    # ---- model output ---------------------------------------------------------------------------
    def set_detections(self, detections: list, class_names: dict[int, str]) -> None:
        """Show a model's detections (anything with t_min, t_max, f_min, f_max, class_id, score):
        cyan dash-dot boxes with the score, unlike the solid/dashed/dotted label boxes.

        Past DRAW_ALL_DETECTIONS, only those near the visible range get graphics items (drawn as
        the view moves): an hour of audio can hold tens of thousands of detections, and a box
        costs about a millisecond."""
        self._clear_detection_items()
        self._detections = sorted(detections, key=lambda d: d.t_min)
        self._det_starts = np.array([d.t_min for d in self._detections], dtype=np.float64)
        self._det_longest = max((d.t_max - d.t_min for d in self._detections), default=0.0)
        self._detection_names = dict(class_names)
        self._sync_detections()
        self.highlight_detection(self._highlighted)

    def highlight_detection(self, det) -> None:
        """Frame the detection under review (None: no frame)."""
        self._highlighted = det
        if det is not None:
            y0, y1 = self.hz_to_y(det.f_min), self.hz_to_y(det.f_max)
            self.review_highlight.setRect(QRectF(det.t_min, y0, det.t_max - det.t_min, y1 - y0))
        self.review_highlight.setVisible(det is not None)

    def _clear_detection_items(self) -> None:
        for _, rect, text in self._drawn_detections.values():
            self._spare_item(rect, text)
        self._drawn_detections = {}
        self.detection_items = []

    def _spare_item(self, rect, text) -> None:
        """A box no longer needed is hidden and kept for the next one (review jumps from
        recording to recording: re-using boxes costs a third of making them)."""
        rect.setVisible(False)
        text.setVisible(False)
        self._spare_detection_items.append((rect, text))

    def _sync_detections(self) -> None:
        """Items for the detections within a quarter view of the visible range (all of them when
        the recording has few); others dropped."""
        if not self._detections:
            return
        t0, t1 = self.visible_range()
        few = len(self._detections) <= DRAW_ALL_DETECTIONS  # all drawn, and hidden below the threshold
        margin = self.duration + 1.0 if few else 0.25 * (t1 - t0)
        wanted = [i for i in starting_near(self._det_starts, self._det_longest, t0 - margin, t1 + margin)
                  if self._detections[i].t_max >= t0 - margin
                  and (few or self._detections[i].score >= self.threshold)]  # many: only those shown
        if len(wanted) > MAX_DRAWN_DETECTIONS:  # zoomed far out: the highest scores, the rest is a blur anyway
            wanted = sorted(wanted, key=lambda i: -self._detections[i].score)[:MAX_DRAWN_DETECTIONS]
        wanted = set(wanted)
        for i in [i for i in self._drawn_detections if i not in wanted]:
            _, rect, text = self._drawn_detections.pop(i)
            self._spare_item(rect, text)
        for i in sorted(wanted - self._drawn_detections.keys()):
            self._drawn_detections[i] = self._detection_item(self._detections[i])
        self.detection_items = [self._drawn_detections[i] for i in sorted(self._drawn_detections)]
        self._captions_later()

    def _new_detection_item(self) -> tuple:
        rect = QGraphicsRectItem()
        pen = QPen(QColor(DETECTION_COLOUR))
        pen.setStyle(Qt.PenStyle.DashDotLine)
        pen.setCosmetic(True)
        pen.setWidthF(1.3)
        rect.setPen(pen)
        rect.setZValue(15)
        # a plain text item in screen pixels: pyqtgraph's TextItem recomputes its transform on
        # every view change, which made thousands of boxes slow
        text = QGraphicsSimpleTextItem()
        text.setBrush(QColor(DETECTION_COLOUR))
        text.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        text.setZValue(15)
        rect.setParentItem(self._detection_layer)  # a child of one layer: far cheaper than ViewBox.addItem
        text.setParentItem(self._detection_layer)
        return rect, text

    def _detection_item(self, det) -> tuple:
        rect, text = self._spare_detection_items.pop() if self._spare_detection_items else self._new_detection_item()
        y0, y1 = self.hz_to_y(det.f_min), self.hz_to_y(det.f_max)
        rect.setRect(QRectF(det.t_min, y0, det.t_max - det.t_min, y1 - y0))
        colour = class_colour(det.class_id)
        pen = rect.pen()
        pen.setColor(colour)
        rect.setPen(pen)
        text.setBrush(colour)
        caption = f"{self._detection_names.get(det.class_id, '?')} {det.score:.2f}"
        text.setText(caption)
        rect.setToolTip(caption)
        text.setPos(det.t_min, y0)
        visible = det.score >= self.threshold
        rect.setVisible(visible)
        text.setVisible(visible)
        return det, rect, text

    def set_threshold(self, threshold: float) -> None:
        """Show only detections scoring at least `threshold` (live, no rescoring)."""
        self.threshold = float(threshold)
        if abs(self.threshold_line.value() - self.threshold) > 1e-9:
            self.threshold_line.setValue(self.threshold)
        if len(self._detections) > DRAW_ALL_DETECTIONS:
            self._sync_detections()  # items exist for shown detections only: make and drop them
        for det, rect, text in self.detection_items:
            visible = det.score >= self.threshold
            rect.setVisible(visible)
            text.setVisible(visible)
        self._captions_later()

    def shown_detections(self) -> list:
        """The recording's detections at or above the threshold (drawn when scrolled to)."""
        return [det for det in self._detections if det.score >= self.threshold]

    def set_tracks(self, tracks: np.ndarray | None, frame_hop_s: float = 0.1, classes: tuple[str, ...] = (),
                   visible: set[str] | None = None) -> None:
        """Per-class score tracks under the spectrogram, time-aligned with it; None hides the strip."""
        for curve in self.track_curves.values():
            self.tracks_plot.removeItem(curve)
        self.track_curves = {}
        self.tracks_legend.clear()
        self._tracks_args = None if tracks is None else (tracks, frame_hop_s, classes, visible)
        if tracks is None or not len(classes):
            show_strip(self.tracks_plot, self.plot, False)
            return
        times = (np.arange(tracks.shape[0]) + 0.5) * frame_hop_s
        ids = {name: class_id for names in (self._detection_names, self.class_names) for class_id, name in names.items()}
        for i, name in enumerate(classes):
            colour = class_colour(ids.get(name), name)
            curve = self.tracks_plot.plot(times, tracks[:, i], pen=pg.mkPen(colour, width=1.5), name=name)
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            curve.setVisible(visible is None or name in visible)
            self.track_curves[name] = curve
        show_strip(self.tracks_plot, self.plot, True)

    def show_track_classes(self, visible: set[str] | None) -> None:
        for name, curve in self.track_curves.items():
            curve.setVisible(visible is None or name in visible)

    # ---- captions ------------------------------------------------------------------------------
    def set_captions(self, on: bool) -> None:
        """Captions on (those that fit without overlapping) or off (every box still says what it is
        on hover)."""
        self.captions_on = bool(on)
        self._layout_captions()

    def _captions_later(self, *_) -> None:
        self._caption_timer.start()  # once per burst of changes, after they are drawn

    def _layout_captions(self) -> None:
        """Show the captions that do not cover one shown before: selected labels, labels, then
        detections by score; the rest wait for hover (their boxes carry the same text as a tooltip)."""
        labels = sorted(self.boxes.values(), key=lambda b: not b.selected)
        detections = sorted(((det, text) for det, rect, text in self.detection_items if rect.isVisible()),
                            key=lambda pair: -pair[0].score)
        items = [box.text for box in labels] + [text for _, text in detections]
        if not self.captions_on:
            for item in items:
                item.setVisible(False)
            return
        rects = [box.text.sceneBoundingRect() for box in labels]
        # a detection caption ignores the view's scaling: its scene rect is its place plus its pixel size
        rects += [QRectF(text.scenePos(), text.boundingRect().size()) for _, text in detections]
        for item, free in zip(items, free_captions(rects)):
            item.setVisible(free)

    def set_extents(self, extents: list[tuple[float, float]]) -> None:
        for item in self.extent_items:
            self.view.removeItem(item)
        self.extent_items = []
        for t0, t1 in extents:
            item = pg.LinearRegionItem((t0, t1), movable=False, brush=pg.mkBrush(80, 200, 255, 28),
                                       pen=pg.mkPen(80, 200, 255, 90))
            item.setZValue(5)
            self.view.addItem(item, ignoreBounds=True)
            self.extent_items.append(item)

    def selected_ids(self) -> list[int]:
        return [i for i in self._label_order if i in self._selected]

    def reveal_labels(self, ids: list[int]) -> None:
        """Select these labels; one alone is also brought into view (a table row chosen)."""
        self.select_labels(ids)
        if len(ids) == 1:
            self.show_label(ids[0])

    def select_labels(self, ids: list[int], emit: bool = False) -> None:
        self._selected = set(ids) & self._labels.keys()
        if not self._selected <= self.boxes.keys():
            self._sync_labels()  # a selected label far from the view gets its box
        for i, box in self.boxes.items():
            if box.selected != (i in self._selected):
                box.set_selected(i in self._selected)
        if emit:
            self.selectionChanged.emit(self.selected_ids())

    def show_label(self, label_id: int) -> None:
        """Scroll (and zoom out if needed) so the label is in view."""
        lab = self._labels.get(label_id)
        if lab is None:
            return
        t0, t1 = self.visible_range()
        if lab.t_min >= t0 and lab.t_max <= t1:
            return
        span = max(t1 - t0, (lab.t_max - lab.t_min) * 1.5)
        centre = (lab.t_min + lab.t_max) / 2
        self.set_visible_range(centre - span / 2, centre + span / 2)

    def _box_drawn(self, x0: float, x1: float, y0: float, y1: float) -> None:
        t0, t1 = max(0.0, x0), min(self.duration, x1)
        f0, f1 = max(0.0, self.y_to_hz(y0)), min(self.nyquist, self.y_to_hz(y1))
        if t1 > t0 and f1 > f0:
            self.boxDrawn.emit(t0, t1, f0, f1)

    def _box_edited(self, label_id: int, t0: float, t1: float, y0: float, y1: float) -> None:
        t0, t1 = max(0.0, t0), min(self.duration, t1)
        f0, f1 = max(0.0, self.y_to_hz(y0)), min(self.nyquist, self.y_to_hz(y1))
        if t1 > t0 and f1 > f0:
            self.labelEdited.emit(label_id, t0, t1, f0, f1)

    def _box_clicked(self, label_id: int, additive: bool) -> None:
        ids = set(self.selected_ids())
        if additive:
            ids ^= {label_id}
        else:
            ids = {label_id}
        self.select_labels(sorted(ids), emit=True)

    def _empty_clicked(self, x: float, additive: bool) -> None:
        if not additive and self.selected_ids():
            self.select_labels([], emit=True)
        self.set_cursor(x)
        self.cursorMoved.emit(x)

    def set_cursor(self, t: float) -> None:
        self.cursor.setValue(t)

    # ---- keys -------------------------------------------------------------------------------------
    def keyPressEvent(self, ev):  # noqa: N802
        key, shift = ev.key(), bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(0.5)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom(2.0)
        elif key == Qt.Key.Key_Right:
            self.scroll(1.0 if shift else 0.1)
        elif key == Qt.Key.Key_Left:
            self.scroll(-1.0 if shift else -0.1)
        elif key == Qt.Key.Key_Home:
            t0, t1 = self.visible_range()
            self.set_visible_range(0, t1 - t0)
        elif key == Qt.Key.Key_End:
            t0, t1 = self.visible_range()
            self.set_visible_range(self.duration - (t1 - t0), self.duration)
        else:
            super().keyPressEvent(ev)
            return
        ev.accept()


__all__ = ["SpectrogramView", "ViewSettings", "COLORMAPS"]
