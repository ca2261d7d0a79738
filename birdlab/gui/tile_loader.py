"""Spectrogram tiles computed on worker threads, cached, with superseded requests dropped."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


from PySide6.QtCore import QObject, QTimer, Signal

from birdlab.core.sound.audio import AudioError
from birdlab.core.sound.spectrogram import SpectrogramConfig
from birdlab.core.sound.tiles import Tile, TileGrid, compute_tile
from birdlab.gui.background import Background


@dataclass(frozen=True)
class TileKey:
    path: str
    level: int
    index: int
    config: SpectrogramConfig
    channel: int


QUICK_PREVIEW_S = 300.0  # a tile covering more audio first arrives with sampled columns


def _job(loader: "TileLoader", key: TileKey, grid: TileGrid, preview_first: bool = True) -> None:
    """Runs on a worker thread; the result reaches the GUI thread through a queued signal.

    Far out a pooled tile reads all its audio (seconds for hours): sampled columns are shown
    first, and the pooled tile is queued again behind the tiles asked for meanwhile (the key
    stays pending, so `busy`, until it arrives)."""
    if not loader.still_wanted(key):
        loader.dropped(key)
        return  # superseded: the view moved on before this started
    try:
        if preview_first and grid.hop(key.level) > grid.n_fft and grid.tile_s(key.level) > QUICK_PREVIEW_S:
            preview = compute_tile(key.path, grid, key.level, key.index, key.config, key.channel, pooled=False)
            loader.background.deliver(loader._preview, key, preview)
            try:
                loader.background.submit(_job, loader, key, grid, False)
            except RuntimeError:  # the loader shut down meanwhile
                loader.dropped(key)
            return
        result: Tile | str = compute_tile(key.path, grid, key.level, key.index, key.config, key.channel)
    except (AudioError, ValueError, OSError) as exc:
        result = str(exc)
    loader.background.deliver(loader._arrived, key, result)

class TileLoader(QObject):
    """Request tiles; `tileReady(key, tile)` arrives on the GUI thread. An LRU cache of `capacity` tiles
    (a 513 x 512 float32 tile is 1 MB) bounds memory whatever the recording's length.

    With `start_after_ms`, new jobs wait for `start_queued()` (the view calls it once the frame
    that asked for them is painted) or at most that long: on two cores, tiles computing while
    the GUI thread paints the frame made the repaint after a zoom half as slow again (CPU and
    GIL shared), and the frame is what the user waits for; the sharp tiles follow it anyway."""

    tileReady = Signal(object, object)
    tileFailed = Signal(object, str)

    def __init__(self, threads: int = 2, capacity: int = 48, parent: QObject | None = None,
                 start_after_ms: int = 0):
        super().__init__(parent)
        self.background = Background(threads, "tiles", self)
        self._queued: list[tuple[TileKey, TileGrid]] = []
        self._start_timer: QTimer | None = None
        if start_after_ms > 0:
            self._start_timer = QTimer(self)
            self._start_timer.setSingleShot(True)
            self._start_timer.setInterval(start_after_ms)
            self._start_timer.timeout.connect(self.start_queued)
        self.cache: OrderedDict[TileKey, Tile] = OrderedDict()
        self.capacity = capacity
        self._lock = threading.Lock()
        self._wanted: set[TileKey] = set()
        self._pending: set[TileKey] = set()
        self._closed = False

    def request(self, keys: list[TileKey], grid: TileGrid) -> list[Tile]:
        """Ask for these tiles (replacing earlier wishes); returns those already cached."""
        if self._closed:
            return []
        with self._lock:
            self._wanted = set(keys)
        cached, start = [], []
        for key in keys:
            tile = self.cache.get(key)
            if tile is not None:
                self.cache.move_to_end(key)
                cached.append(tile)
                continue
            with self._lock:
                if key in self._pending:
                    continue
                self._pending.add(key)
            start.append(key)
        self._queued.extend((key, grid) for key in start)
        if self._start_timer is None:
            self.start_queued()
        elif self._queued and not self._start_timer.isActive():
            self._start_timer.start()
        return cached

    def start_queued(self) -> None:
        """Start the jobs of the tiles asked for so far (the frame that wanted them is painted)."""
        queued, self._queued = self._queued, []
        for key, grid in queued:
            self.background.submit(_job, self, key, grid)

    def still_wanted(self, key: TileKey) -> bool:
        with self._lock:
            return key in self._wanted

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def pending(self, keys) -> bool:
        """Whether any of these tiles is still being computed (or refined from its preview)."""
        with self._lock:
            return not self._pending.isdisjoint(keys)

    def dropped(self, key: TileKey) -> None:
        with self._lock:
            self._pending.discard(key)

    def _arrived(self, key: TileKey, result: Tile | str) -> None:
        """On the GUI thread: a tile (or why it failed) into the cache and out to the view."""
        self.dropped(key)
        if isinstance(result, str):
            self.tileFailed.emit(key, result)
            return
        self.cache[key] = result
        self.cache.move_to_end(key)
        while len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        self.tileReady.emit(key, result)

    def _preview(self, key: TileKey, tile: Tile) -> None:
        """On the GUI thread: sampled columns to show while the pooled tile is computed (never cached)."""
        with self._lock:
            wanted = key in self._pending
        if wanted and not self._closed:
            self.tileReady.emit(key, tile)

    def clear(self) -> None:
        """Forget the cache and every wish (queued jobs then end at once)."""
        with self._lock:
            self._wanted = set()
        self.cache.clear()

    def shutdown(self) -> None:
        self._closed = True
        self._queued = []
        self.clear()
        self.background.shutdown()
