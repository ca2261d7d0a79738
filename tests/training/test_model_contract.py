"""The model interface (`training.models.interface.FrameModel`), run against every family."""

from __future__ import annotations

import pytest
import torch

from training.config import ModelConfig
from training.embedding_head import EmbeddingHeadModel, HeadExport
from training.models import create_model
from training.models.interface import FrameModel
from training.models.sed import ExportWrapper

TINY = dict(backbone="mobilenetv3_small_050", pretrained=False, n_mels=32, hidden=32, window_s=1.0, sample_rate=16000)


def sed_family():
    model = create_model("sed", cfg=ModelConfig(**TINY), n_classes=3).eval()
    n = int(model.cfg.window_s * model.cfg.sample_rate)
    power = torch.rand(2, model.spec.n_frames(n), model.spec.n_bins)
    return model, (power,), ExportWrapper(model)


def embedding_family():
    model = EmbeddingHeadModel(ModelConfig(window_s=3.0, frame_hop_s=1.0), 3, 16).eval()
    return model, (torch.randn(2, 16),), HeadExport(model)


FAMILIES = {"sed": sed_family, "embedding head": embedding_family}


@pytest.fixture(params=sorted(FAMILIES))
def family(request):
    torch.manual_seed(0)
    return FAMILIES[request.param]()


def test_every_family_implements_the_interface(family):
    model, _, _ = family
    assert isinstance(model, FrameModel)


def test_features_then_head_give_framewise_logits_and_clipwise_probabilities(family):
    model, inputs, _ = family
    with torch.no_grad():
        frames, clip = model.forward_head(model.forward_features(*inputs))
    assert frames.shape == (2, model.out_frames, model.n_classes)
    assert clip.shape == (2, model.n_classes)
    assert float(clip.min()) >= 0.0 and float(clip.max()) <= 1.0


def test_the_head_and_the_frozen_parts_share_no_parameter(family):
    model, _, _ = family
    head = {id(p) for p in model.head.parameters()}
    frozen = {id(p) for part in model.frozen_parts() for p in part.parameters()}
    assert head and not head & frozen
    every = {id(p) for p in model.parameters()}
    assert head | frozen <= every


def test_the_export_wrapper_gives_the_sigmoid_of_the_heads_frames(family):
    model, inputs, export = family
    with torch.no_grad():
        frames, clip = model.forward_head(model.forward_features(*inputs))
        exported_frames, exported_clip = export(*inputs)[:2]
    torch.testing.assert_close(exported_frames, torch.sigmoid(frames))
    torch.testing.assert_close(exported_clip, clip)


def test_the_sed_export_also_gives_the_backbone_features_averaged_over_time():
    model, inputs, export = sed_family()
    with torch.no_grad():
        features = model.forward_features(*inputs)
        embedding = export(*inputs)[2]
    assert embedding.shape == (2, features.shape[1])
    torch.testing.assert_close(embedding, features.mean(dim=-1))
