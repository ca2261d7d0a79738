"""GUI tests run offscreen (no display needed)."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def window(qtbot, demo_dir, tmp_path):
    """The main window on the test module's `demo_dir` project (auto-play off, first view painted)."""
    from tests.gui.windows import new_window, open_demo

    win = new_window(qtbot, tmp_path, (1400, 900))
    open_demo(qtbot, win, demo_dir)
    yield win
    win.close()
