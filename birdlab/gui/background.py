"""Background work for the GUI: Python worker threads whose results come back on the GUI thread.

One pattern for the tile loader, the recording scorer and playback: jobs run on a
`ThreadPoolExecutor` (Python threads, not QThreadPool: PySide's Python QRunnables have crashed
on refcounts here), and a job hands its result back with `deliver(callback, *args)`, which
queues the call and wakes the GUI thread with an argument-free queued signal (PySide 6.12
crashed delivering Python objects queued from Python threads). The callback then runs on the
GUI thread. Superseding and cancelling stay with the caller (a token or a generation number
checked in the callback), so a late result of stale work is simply ignored there.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal


class Background(QObject):
    _wake = Signal()

    def __init__(self, threads: int, name: str, parent: QObject | None = None):
        """threads 0: jobs run at once on the caller's thread (tests, benchmarks); their results
        are still delivered through the event loop."""
        super().__init__(parent)
        self.pool = cf.ThreadPoolExecutor(threads, thread_name_prefix=name) if threads > 0 else None
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._futures: set[cf.Future] = set()
        self._lock = threading.Lock()
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def submit(self, job: Callable[..., None], *args) -> None:
        if self.pool is None:
            job(*args)
            return
        future = self.pool.submit(job, *args)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: cf.Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def deliver(self, callback: Callable[..., None], *args) -> None:
        """From a job: call `callback(*args)` on the GUI thread."""
        self._results.put((callback, args))
        self._wake.emit()

    def _drain(self) -> None:
        while True:
            try:
                callback, args = self._results.get_nowait()
            except queue.Empty:
                return
            callback(*args)

    def wait(self, ms: int = 5000) -> bool:
        """Wait until every job submitted so far has ended (tests, shutdown); True when they have."""
        with self._lock:
            pending = set(self._futures)
        done, not_done = cf.wait(pending, timeout=ms / 1000)
        return not not_done

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
