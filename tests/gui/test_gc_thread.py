"""Garbage collection on the GUI thread only (birdlab.gui.gc_thread)."""

import gc
import threading

from birdlab.gui.gc_thread import GuiThreadCollector


class _Cycle:
    def __init__(self):
        self.me = self


def test_collection_is_off_elsewhere_and_done_by_the_gui_threads_timer(qtbot):
    """While the collector lives, a worker thread's allocations trigger no collection; the GUI
    thread's timer collects the garbage they leave; stopping it gives collection back."""
    collector = GuiThreadCollector(interval_ms=10)  # (the fixture's collector already switched it off)
    assert not gc.isenabled()
    gc.collect()
    collections = []
    gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(threading.current_thread()))
    try:
        worker = threading.Thread(target=lambda: [_Cycle() for _ in range(5 * gc.get_threshold()[0])])
        worker.start()
        worker.join()
        assert collections == []  # nothing collected on the worker thread
        qtbot.waitUntil(lambda: len(collections) > 0, timeout=2000)
        assert set(collections) == {threading.main_thread()}
        assert gc.get_count()[0] < gc.get_threshold()[0]
    finally:
        gc.callbacks.pop()
        collector.stop()
    assert not gc.isenabled()  # the fixture's collector still holds it off until the test ends


def test_check_collects_the_oldest_generation_past_its_threshold(qtbot):
    collector = GuiThreadCollector(interval_ms=60_000)
    try:
        gc.collect()
        assert collector.check() == -1
        garbage = [_Cycle() for _ in range(gc.get_threshold()[0] + 10)]
        del garbage
        assert collector.check() == 0
    finally:
        collector.stop()
