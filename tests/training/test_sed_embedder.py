"""An SED model's backbone as the index's embedder: the export's `embedding` output, and search with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from birdlab.cli import main
from birdlab.core.synthetic.demo import DEMO_MODEL
from birdlab.scoring.embedders import EmbedderUnavailable
from birdlab.scoring.sed_embedder import SedEmbedder
from tests.scoring.test_active_learning import make_project
from training.config import ModelConfig
from training.export import export_onnx
from training.models import create_model
from training.models.sed import ExportWrapper

TINY = dict(backbone="mobilenetv3_small_050", pretrained=False, n_mels=32, hidden=32, window_s=1.0, sample_rate=8000,
            f_max=4000.0)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("sed", cfg=ModelConfig(**TINY), n_classes=1).eval()
    path = tmp_path_factory.mktemp("sed") / "model.onnx"
    export_onnx(model, ["tone"], path)
    return model, path


def test_the_sed_embedder_gives_the_backbone_features_of_the_exported_model(tiny_model):
    model, path = tiny_model
    embedder = SedEmbedder(path)
    assert (embedder.sample_rate, embedder.window_s) == (8000, 1.0)
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 8000
    audio = (0.05 * rng.standard_normal((3, 8000)) + 0.3 * np.sin(2 * np.pi * np.array([[500], [1500], [3000]]) * t))
    got = embedder.embed(audio.astype(np.float32))
    from training.frontend import stft_power_torch
    with torch.no_grad():
        audio_t = torch.from_numpy(audio.astype(np.float32))
        want = ExportWrapper(model)(stft_power_torch(audio_t, model.spec))[2].numpy()
    assert got.shape == (3, embedder.dim) and embedder.dim == want.shape[1]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * float(np.abs(want).max()))


def test_a_model_exported_before_the_embedding_output_is_named_with_what_to_do():
    with pytest.raises(EmbedderUnavailable, match="no 'embedding' output"):
        SedEmbedder(DEMO_MODEL / "model.onnx")


def test_search_with_the_active_versions_backbone(tiny_model, tmp_path, capsys):
    _, path = tiny_model
    project, cls, model, recs = make_project(tmp_path)
    version = project.add_model_version("tiny", kind="onnx", path=str(path), activate=True)
    project.close()
    assert main(["embed", str(tmp_path / "p"), "--embedder", "sed", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(sed, 1 s hop): 21 windows of 3 recording(s); 3 added" in out
    assert main(["search", str(tmp_path / "p"), "--embedder", "sed", "--query", "r1.wav:1.0-1.5", "--top", "3",
                 "--quiet"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert [r[0] for r in rows] == ["1", "2", "3"] and all(-1 <= float(r[4]) <= 1 for r in rows)
    assert main(["embed", str(tmp_path / "p"), "--embedder", "sed", "--version", "nope"]) == 2
    assert "no model version 'nope'" in capsys.readouterr().err
    del version
