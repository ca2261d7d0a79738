"""GUI tests run offscreen (no display needed)."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread(qapp):
    """Garbage collection on the GUI thread, as the app has it (birdlab.gui.gc_thread): a window
    of an earlier test freed by a worker thread's collection once deadlocked the suite."""
    from birdlab.gui.gc_thread import GuiThreadCollector

    collector = GuiThreadCollector()
    yield
    collector.stop()


@pytest.fixture
def window(qtbot, demo_dir, tmp_path):
    """The main window on the test module's `demo_dir` project (auto-play off, first view painted)."""
    from tests.gui.windows import new_window, open_demo

    win = new_window(qtbot, tmp_path, (1400, 900))
    open_demo(qtbot, win, demo_dir)
    yield win
    win.close()
