"""Ensembles combine as specified: weighted arithmetic or geometric mean; members must agree."""

from __future__ import annotations

import numpy as np
import pytest

from birdlab.core.sound.features import StftSpec
from birdlab.scoring.bundle import ModelBundle
from birdlab.scoring.ensemble import Ensemble, load_scorer
from birdlab.scoring.metadata import ModelFileError
from tests.scoring.onnx_models import band_model, band_reference

CLASSES = ["low", "high"]
BANDS = [(900.0, 1100.0), (3900.0, 4100.0)]
A = dict(scale=0.5, bias=2.0)
B = dict(scale=0.3, bias=1.0, spec=StftSpec(1024, 320))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("ens")
    return band_model(d / "a.onnx", CLASSES, BANDS, **A), band_model(d / "b.onnx", CLASSES, BANDS, **B)


@pytest.fixture(scope="module")
def audio():
    rng = np.random.default_rng(1)
    t = np.arange(32000) / 16000
    tone = 0.2 * np.sin(2 * np.pi * 1000 * t) * (t > 1.0)
    return (rng.normal(0, 0.01, (2, 32000)) + tone).astype(np.float32)


def test_weighted_arithmetic_mean(pair, audio):
    ens = load_scorer(pair, weights=[3, 1])
    assert isinstance(ens, Ensemble) and ens.weights.tolist() == [0.75, 0.25]
    fa, ca = band_reference(audio, BANDS, **A)
    fb, cb = band_reference(audio, BANDS, **B)
    fw, cw = ens.predict(audio)
    np.testing.assert_allclose(fw, 0.75 * fa + 0.25 * fb, atol=1e-5)
    np.testing.assert_allclose(cw, 0.75 * ca + 0.25 * cb, atol=1e-5)
    assert np.abs(fa - fb).max() > 0.05  # the members really differ


def test_weighted_geometric_mean(pair, audio):
    ens = load_scorer(pair, weights=[1, 3], combine="geometric")
    fa, ca = band_reference(audio, BANDS, **A)
    fb, cb = band_reference(audio, BANDS, **B)
    fw, cw = ens.predict(audio)
    np.testing.assert_allclose(fw, fa ** 0.25 * fb ** 0.75, rtol=1e-5)
    np.testing.assert_allclose(cw, ca ** 0.25 * cb ** 0.75, rtol=1e-5)
    arith, _ = load_scorer(pair, weights=[1, 3]).predict(audio)
    assert np.all(fw <= arith + 1e-6) and np.abs(fw - arith).max() > 1e-3  # AM-GM, and not the same


def test_a_zero_weight_member_is_ignored_and_features_are_shared_per_spec(pair, audio):
    a, b = (ModelBundle.load(p) for p in pair)
    fw, _ = Ensemble([a, b], [1, 0]).predict(audio)
    np.testing.assert_allclose(fw, a.predict(audio)[0], atol=1e-6)
    assert len(Ensemble([a, b]).features(audio)) == 2
    assert len(Ensemble([a, ModelBundle.load(pair[0])]).features(audio)) == 1


def test_members_must_agree(tmp_path, pair):
    a = ModelBundle.load(pair[0])
    other_classes = ModelBundle.load(band_model(tmp_path / "x.onnx", ["low", "other"], BANDS, **A))
    with pytest.raises(ModelFileError, match=r"x.onnx: classes .* differ from .*a.onnx"):
        Ensemble([a, other_classes])
    other_rate = ModelBundle.load(band_model(tmp_path / "r.onnx", CLASSES, BANDS, sample_rate=22050))
    with pytest.raises(ModelFileError, match=r"r.onnx: sample_rate 22050"):
        Ensemble([a, other_rate])
    other_hop = ModelBundle.load(band_model(tmp_path / "h.onnx", CLASSES, BANDS, window_s=2.0, frame_hop_s=0.05))
    with pytest.raises(ModelFileError, match=r"h.onnx: out_frames 40"):
        Ensemble([a, other_hop])


def test_bad_weights_and_combinations(pair):
    a = ModelBundle.load(pair[0])
    for weights in ([1], [-1, 2], [0, 0], [float("nan"), 1]):
        with pytest.raises(ValueError):
            Ensemble([a, a], weights)
    with pytest.raises(ValueError, match="unknown combination"):
        Ensemble([a, a], combine="median")
    with pytest.raises(ValueError):
        Ensemble([])
    assert isinstance(load_scorer([pair[0]]), ModelBundle)
