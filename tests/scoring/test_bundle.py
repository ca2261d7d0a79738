"""Loading a model file: every problem is a ModelFileError naming the file and the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from birdlab.core.sound.features import StftSpec
from birdlab.scoring.bundle import ModelBundle
from birdlab.scoring.metadata import ModelFileError, parse_metadata
from tests.scoring.onnx_models import band_model, band_reference, default_metadata

CLASSES = ["a", "b"]
BANDS = [(900.0, 1100.0), (3900.0, 4100.0)]


def load_error(path) -> str:
    with pytest.raises(ModelFileError) as info:
        ModelBundle.load(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(str(path))
    return info.value.reason


def test_a_good_model_loads_and_matches_its_numpy_twin(tmp_path):
    path = band_model(tmp_path / "m.onnx", CLASSES, BANDS, scale=0.5, bias=2.0,
                      metadata={"class_bands": json.dumps({"a": [900, 1100]})})
    bundle = ModelBundle.load(path, threads=1)
    assert bundle.classes == ("a", "b") and bundle.sample_rate == 16000
    assert bundle.window_s == 2.0 and bundle.frame_hop_s == 0.1 and bundle.out_frames == 20
    assert bundle.spec == StftSpec(512, 160) and bundle.meta.in_frames == 197
    assert bundle.class_bands == {"a": (900.0, 1100.0)}
    assert bundle.threads == 1 and bundle.fingerprint.startswith("sha256:")
    audio = np.random.default_rng(0).normal(0, 0.1, (3, 32000)).astype(np.float32)
    fw, cw = bundle.predict(audio)
    want_fw, want_cw = band_reference(audio, BANDS, scale=0.5, bias=2.0)
    np.testing.assert_allclose(fw, want_fw, atol=1e-5)
    np.testing.assert_allclose(cw, want_cw, atol=1e-5)


def test_missing_empty_and_non_onnx_files(tmp_path):
    assert "not found" in load_error(tmp_path / "nope.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert "empty" in load_error(tmp_path / "empty.onnx")
    (tmp_path / "text.onnx").write_text("this is not a model\n" * 10)
    assert "not a usable ONNX model" in load_error(tmp_path / "text.onnx")
    (tmp_path / "folder.onnx").mkdir()
    assert "not a file" in load_error(tmp_path / "folder.onnx")


@pytest.mark.parametrize("key", ["classes", "sample_rate", "window_s", "frame_hop_s", "input", "frontend",
                                 "backbone", "parent", "created", "training_run"])
def test_each_missing_key_is_named(tmp_path, key):
    path = band_model(tmp_path / "m.onnx", CLASSES, BANDS, metadata={key: None})
    reason = load_error(path)
    assert "lacks" in reason and repr(key) in reason


@pytest.mark.parametrize("override, words", [
    ({"birdlab.format": None}, "not a birdlab model"),
    ({"birdlab.format": "2"}, "unsupported model format version '2'"),
    ({"classes": "[a, b"}, "'classes' is not valid JSON"),
    ({"classes": '{"a": 1}'}, "'classes' must be a JSON list"),
    ({"classes": '["a", "a"]'}, "repeats 'a'"),
    ({"classes": "[]"}, "empty"),
    ({"sample_rate": "16k"}, "'sample_rate' = '16k' is not an integer"),
    ({"window_s": "-2"}, "'window_s' = '-2' must be positive"),
    ({"frame_hop_s": "3"}, "longer than window_s"),
    ({"input": '{"kind": "waveform"}'}, "input kind 'waveform' is not supported"),
    ({"input": '{"kind": "stft_power", "hop": 160}'}, "lacks 'n_fft'"),
    ({"frontend": "mel"}, "'frontend' is not valid JSON"),
    ({"class_bands": '{"zz": [1, 2]}'}, "'zz', which is not a class"),
    ({"class_bands": '{"a": [2000, 1000]}'}, "f_min < f_max"),
])
def test_bad_metadata_is_explained(tmp_path, override, words):
    path = band_model(tmp_path / "m.onnx", CLASSES, BANDS, metadata=override)
    assert words in load_error(path)


def test_graph_checks(tmp_path):
    assert "expected ['power']" in load_error(band_model(tmp_path / "in.onnx", CLASSES, BANDS, input_name="audio"))
    # the graph says 3 classes, the metadata 2
    assert "axis 2 is 3, expected 2" in load_error(band_model(tmp_path / "c.onnx", CLASSES, BANDS, out_classes=3))
    # metadata window says 3 s while the graph takes 2 s windows
    wrong = band_model(tmp_path / "w.onnx", CLASSES, BANDS, metadata={"window_s": "3.0"})
    assert "input 'power' axis 1 is 197, expected 297" in load_error(wrong)
    # declared symbolic dims: ONNX Runtime's shape inference still finds the size
    dyn = band_model(tmp_path / "d.onnx", CLASSES, BANDS, out_classes=3, static_dims=False)
    assert "expected 2" in load_error(dyn)


class WrongShapeSession:
    """Stands in for a session whose outputs cannot be known before running."""

    def __init__(self, real):
        self.real = real

    def run(self, names, feeds):
        fw, cw = self.real.run(names, feeds)
        return fw[:, :, :1], cw


def test_output_shapes_are_checked_on_every_run(tmp_path):
    bundle = ModelBundle.load(band_model(tmp_path / "m.onnx", CLASSES, BANDS))
    bundle.session = WrongShapeSession(bundle.session)
    with pytest.raises(ModelFileError, match=r"m.onnx: output 'framewise' has shape \[2, 20, 1\], "
                                             r"expected \[2, 20, 2\]"):
        bundle.predict(np.zeros((2, 32000), np.float32))


def test_parse_metadata_without_a_session():
    props = default_metadata(["x"], 32000, 5.0, 0.1, StftSpec())
    meta = parse_metadata("m.onnx", props)
    assert meta.window_samples == 160000 and meta.in_frames == 497 and meta.out_frames == 50
    with pytest.raises(ModelFileError, match="m.onnx: metadata 'input': .*shorter|unsupported"):
        parse_metadata("m.onnx", {**props, "input": json.dumps({"kind": "stft_power", "n_fft": 1024, "hop": 320,
                                                                 "window": "hamming"})})


def test_predict_checks_its_input(tmp_path):
    bundle = ModelBundle.load(band_model(tmp_path / "m.onnx", CLASSES, BANDS))
    with pytest.raises(ValueError, match=r"expected audio \[batch, 32000\]"):
        bundle.predict(np.zeros((1, 100), np.float32))
    with pytest.raises(ValueError, match=r"input must be \[batch, 197, 257\]"):
        bundle.predict_power(np.zeros((1, 10, 257), np.float32))


def test_metadata_props_round_trip_through_the_one_definition():
    """Exports write `ModelMetadata.to_props()`; the scorer reads them with `parse_metadata`: one
    definition of the keys, and reading what was written gives the same description back."""
    import dataclasses

    from birdlab.core.sound.features import StftSpec
    from birdlab.scoring.metadata import ModelMetadata, parse_metadata

    meta = ModelMetadata(classes=("a", "b"), sample_rate=32000, window_s=5.0, frame_hop_s=0.1,
                         spec=StftSpec(1024, 320), frontend={"kind": "logmel", "n_mels": 64}, backbone="b0",
                         parent="v1", created="2026-12-01T10:00:00+00:00", training_run="run-1",
                         class_bands={"a": (500.0, 4000.0)}, raw_audio=True, default_hop_s=2.5,
                         license="CC BY 4.0", overlap="geometric", head="attention")
    back = parse_metadata("m.onnx", meta.to_props())
    assert dataclasses.replace(back, raw={}) == meta
