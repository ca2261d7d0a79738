"""The Scorer contract, run against every implementation (a single bundle and ensembles).

Whatever the GUI or the batch runner is handed must pass all of these.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from birdlab.core.sound.features import StftSpec
from birdlab.scoring.bundle import ModelBundle
from birdlab.scoring.ensemble import Ensemble
from birdlab.scoring.recording import ScoreSettings, score_recording
from birdlab.scoring.scorer import Scorer
from tests.scoring.onnx_models import band_model, tone_file

CLASSES = ["low", "high"]
BANDS = [(900.0, 1100.0), (3900.0, 4100.0)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {
        "a": band_model(d / "a.onnx", CLASSES, BANDS, scale=0.5, bias=2.0),
        "b": band_model(d / "b.onnx", CLASSES, BANDS, scale=0.3, bias=1.0),
        "c": band_model(d / "c.onnx", CLASSES, BANDS, scale=0.4, bias=1.5, spec=StftSpec(1024, 320)),
    }


@pytest.fixture(params=["bundle", "ensemble-mean", "ensemble-geometric", "ensemble-two-specs"])
def scorer(request, models) -> Scorer:
    if request.param == "bundle":
        return ModelBundle.load(models["a"], threads=1)
    if request.param == "ensemble-mean":
        return Ensemble([ModelBundle.load(models["a"]), ModelBundle.load(models["b"])], [2, 1])
    if request.param == "ensemble-geometric":
        return Ensemble([ModelBundle.load(models["a"]), ModelBundle.load(models["b"])], combine="geometric")
    return Ensemble([ModelBundle.load(models["a"]), ModelBundle.load(models["c"])])


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return np.random.default_rng(7).normal(0, 0.05, (3, 32000)).astype(np.float32)


def test_is_a_scorer_with_consistent_attributes(scorer):
    assert isinstance(scorer, Scorer)
    assert isinstance(scorer.classes, tuple) and all(isinstance(c, str) and c for c in scorer.classes)
    assert isinstance(scorer.sample_rate, int) and scorer.sample_rate > 0
    assert 0 < scorer.frame_hop_s <= scorer.window_s
    assert scorer.out_frames == round(scorer.window_s / scorer.frame_hop_s)
    assert isinstance(scorer.class_bands, dict)
    assert scorer.input_specs and all(isinstance(s, StftSpec) for s in scorer.input_specs)
    json.dumps(scorer.describe())


def test_features_cover_the_input_specs(scorer, audio):
    feats = scorer.features(audio)
    assert set(feats) == set(scorer.input_specs)
    n = int(round(scorer.window_s * scorer.sample_rate))
    for spec, power in feats.items():
        assert power.dtype == np.float32 and power.shape == (3, spec.n_frames(n), spec.n_bins)


def test_predict_gives_probabilities_of_the_documented_shapes(scorer, audio):
    fw, cw = scorer.predict(audio)
    assert fw.dtype == np.float32 and cw.dtype == np.float32
    assert fw.shape == (3, scorer.out_frames, len(scorer.classes)) and cw.shape == (3, len(scorer.classes))
    assert np.all((fw >= 0) & (fw <= 1)) and np.all((cw >= 0) & (cw <= 1))


def test_predict_is_features_then_predict_features_and_deterministic(scorer, audio):
    fw, cw = scorer.predict(audio)
    fw2, cw2 = scorer.predict_features(scorer.features(audio))
    np.testing.assert_array_equal(fw, fw2)
    np.testing.assert_array_equal(cw, cw2)


def test_rows_of_a_batch_are_independent(scorer, audio):
    fw, cw = scorer.predict(audio)
    for i in range(len(audio)):
        one_fw, one_cw = scorer.predict(audio[i:i + 1])
        np.testing.assert_allclose(one_fw[0], fw[i], atol=1e-6)
        np.testing.assert_allclose(one_cw[0], cw[i], atol=1e-6)


def test_fingerprint_is_stable_and_tells_scorers_apart(scorer, models):
    assert isinstance(scorer.fingerprint, str) and scorer.fingerprint
    again = ModelBundle.load(models["a"], threads=2)  # the same file: the same fingerprint, threads aside
    assert again.fingerprint == ModelBundle.load(models["a"], threads=1).fingerprint
    assert again.fingerprint.startswith("sha256:") and len(again.fingerprint) > 20
    other = ModelBundle.load(models["b"])
    if not isinstance(scorer, Ensemble):
        assert scorer.fingerprint != other.fingerprint
    else:
        assert scorer.fingerprint != Ensemble(scorer.members[:1]).fingerprint


def test_scores_a_recording(scorer, tmp_path):
    path = tone_file(tmp_path / "r.wav", 5.0, 16000, [(1.0, 2.0, 1000.0)])
    scores = score_recording(path, scorer, ScoreSettings(hop_s=1.0))
    assert scores.tracks.shape == (50, 2) and scores.classes == tuple(CLASSES)
    assert scores.tracks[10:20, 0].mean() > scores.tracks[30:40, 0].mean()
