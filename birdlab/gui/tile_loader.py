"""Spectrogram tiles computed on worker threads, cached, with superseded requests dropped."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass

from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Qt, Signal

from birdlab.core.audio import AudioError
from birdlab.core.spectrogram import SpectrogramConfig
from birdlab.core.tiles import Tile, TileGrid, compute_tile


@dataclass(frozen=True)
class TileKey:
    path: str
    level: int
    index: int
    config: SpectrogramConfig
    channel: int


def _job(loader: "TileLoader", key: TileKey, grid: TileGrid) -> None:
    """Runs on a worker thread; the result reaches the GUI thread through a queued signal."""
    if not loader.still_wanted(key):
        loader.dropped(key)
        return  # superseded: the view moved on before this started
    try:
        result: Tile | str = compute_tile(key.path, grid, key.level, key.index, key.config, key.channel)
    except (AudioError, ValueError, OSError) as exc:
        result = str(exc)
    loader.results.put((key, result))
    loader.signals.wake.emit()


class _Signals(QObject):
    # results travel through a queue and only this argument-free signal crosses threads:
    # PySide 6.12 crashed (refcounts of None) delivering Python objects queued from Python threads
    wake = Signal()


class TileLoader(QObject):
    """Request tiles; `tileReady(key, tile)` arrives on the GUI thread. An LRU cache of `capacity` tiles
    (a 513 x 512 float32 tile is 1 MB) bounds memory whatever the recording's length."""

    tileReady = Signal(object, object)
    tileFailed = Signal(object, str)

    def __init__(self, threads: int = 2, capacity: int = 48, parent: QObject | None = None):
        super().__init__(parent)
        # Python threads, not QThreadPool: PySide's Python QRunnables have crashed on refcounts here
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="tiles") if threads > 0 else None
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.signals = _Signals()
        self.signals.wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)
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
        for key in start:
            if self.pool is None:  # synchronous (tests, benchmarks of the computation itself)
                _job(self, key, grid)
            else:
                self.pool.submit(_job, self, key, grid)
        return cached

    def still_wanted(self, key: TileKey) -> bool:
        with self._lock:
            return key in self._wanted

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def dropped(self, key: TileKey) -> None:
        with self._lock:
            self._pending.discard(key)

    def _drain(self) -> None:
        while True:
            try:
                key, result = self.results.get_nowait()
            except queue.Empty:
                return
            self.dropped(key)
            if isinstance(result, str):
                self.tileFailed.emit(key, result)
                continue
            self.cache[key] = result
            self.cache.move_to_end(key)
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
            self.tileReady.emit(key, result)

    def clear(self) -> None:
        """Forget the cache and every wish (queued jobs then end at once)."""
        with self._lock:
            self._wanted = set()
        self.cache.clear()

    def shutdown(self) -> None:
        self._closed = True
        self.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
