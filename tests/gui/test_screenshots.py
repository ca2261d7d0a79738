"""The screenshot option for the loop's three views: review (detections, tracks, labels), the
Retrain dialog mid-run with its curves, and the model report. Not blank, and showing them."""

import importlib.util

import numpy as np
import pytest
from PySide6.QtGui import QImage

from birdlab.cli import main
from birdlab.gui.app import run


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shots") / "demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    return folder


def pixels(path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4)
    return arr[:, :, :3].astype(int)


def test_review_view_shows_detections_and_score_tracks(demo, tmp_path, qtbot):
    out = tmp_path / "review.png"
    assert run([str(demo)], screenshot=str(out), view_range=(0.0, 30.0)) == 0
    arr = pixels(out)
    assert arr.std() > 20
    r, g, b = arr[:, :, 0], arr[:, :, 1], arr[:, :, 2]
    cyan = (np.abs(r - 0x4C) < 30) & (np.abs(g - 0xC9) < 30) & (np.abs(b - 0xF0) < 30)  # detection boxes
    assert cyan.sum() > 80  # inferno has no cyan: these are the dash-dot boxes and their scores


def test_model_report_screenshot(demo, tmp_path, qtbot):
    out = tmp_path / "report.png"
    assert run([str(demo)], screenshot=str(out), show="report") == 0
    arr = pixels(out)
    assert arr.std() > 20
    right = arr[:, int(arr.shape[1] * 0.72):]
    blue = (right[:, :, 2] > 150) & (right[:, :, 0] < 120)  # the PR curve's fill and line
    assert blue.sum() > 200


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the train extra is not installed")
def test_retrain_dialog_mid_run_screenshot(demo, tmp_path, qtbot):
    out = tmp_path / "retrain.png"
    assert run([str(demo)], screenshot=str(out), show="retrain") == 0
    arr = pixels(out)
    assert arr.std() > 20
    r, g, b = arr[:, :, 0], arr[:, :, 1], arr[:, :, 2]
    orange = (r > 200) & (g > 140) & (g < 200) & (b < 60)  # the train-loss curve
    assert orange.sum() > 50
