"""One feature definition: torch and numpy STFT power agree; export fails when ONNX and torch differ."""

import json

import numpy as np
import onnx
import pytest
import torch

from birdlab.core.sound.features import StftSpec, stft_power
from training.config import ModelConfig
from training.export import ExportError, check_parity, export_onnx
from training.frontend import stft_power_torch
from training.models import create_model, list_models
from training.models.sed import BackboneError

TINY = dict(backbone="mobilenetv3_small_050", pretrained=False, n_mels=32, hidden=32, window_s=1.0, sample_rate=16000)


@pytest.mark.parametrize("n_fft,hop", [(1024, 320), (512, 128), (256, 100)])
def test_torch_and_numpy_stft_power_agree(n_fft, hop):
    spec = StftSpec(n_fft, hop)
    audio = np.random.default_rng(1).standard_normal((3, 16000)).astype(np.float32) * 0.3
    ref = stft_power(audio, spec)
    got = stft_power_torch(torch.from_numpy(audio), spec).numpy()
    assert got.shape == ref.shape == (3, spec.n_frames(16000), spec.n_bins)
    assert np.allclose(got, ref, rtol=1e-4, atol=1e-4 * ref.max())


def test_registry_and_heads_give_the_contract_shapes():
    assert "sed" in list_models()
    for head in ("attention", "class_query"):
        model = create_model("sed", cfg=ModelConfig(head=head, **TINY), n_classes=4).eval()
        power = torch.rand(2, model.spec.n_frames(16000), model.spec.n_bins)
        with torch.no_grad():
            frames, clip = model(power)
        assert frames.shape == (2, 10, 4) and clip.shape == (2, 4)
        assert torch.all((clip >= 0) & (clip <= 1))


def test_unknown_backbone_and_offline_pretrained_fail_clearly():
    with pytest.raises(BackboneError, match="unknown backbone 'efficientnet_b99'"):
        create_model("sed", cfg=ModelConfig(backbone="efficientnet_b99"), n_classes=2)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("nope", cfg=ModelConfig(), n_classes=2)


def test_init_weights_file_loads_and_bad_file_is_named(tmp_path):
    import timm
    donor = timm.create_model("mobilenetv3_small_050", pretrained=False, in_chans=3, num_classes=0)
    weights = tmp_path / "backbone.pth"
    torch.save(donor.state_dict(), weights)
    model = create_model("sed", cfg=ModelConfig(init_weights=str(weights), **TINY), n_classes=2)
    stem = model.backbone.state_dict()["conv_stem.weight"]
    assert torch.allclose(stem, donor.state_dict()["conv_stem.weight"].sum(dim=1, keepdim=True), atol=1e-6)
    (tmp_path / "junk.pth").write_text("not weights")
    with pytest.raises(BackboneError, match="junk.pth"):
        create_model("sed", cfg=ModelConfig(init_weights=str(tmp_path / "junk.pth"), **TINY), n_classes=2)


def test_export_writes_metadata_and_passes_parity(tmp_path):
    torch.manual_seed(0)
    model = create_model("sed", cfg=ModelConfig(**TINY), n_classes=3)
    out = export_onnx(model, ["a", "b", "c"], tmp_path / "model.onnx", parent="v1", training_run="run-7",
                      class_bands={"a": [1000.0, 3000.0]})
    assert out["parity_max_abs_diff"] < 1e-3
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert json.loads(meta["classes"]) == ["a", "b", "c"]
    assert meta["birdlab.format"] == "1" and meta["sample_rate"] == "16000" and float(meta["window_s"]) == 1.0
    assert float(meta["frame_hop_s"]) == 0.1 and meta["parent"] == "v1" and meta["training_run"] == "run-7"
    assert StftSpec.from_json(json.loads(meta["input"])) == model.spec
    assert json.loads(meta["frontend"])["n_mels"] == 32 and meta["backbone"] == "mobilenetv3_small_050"
    assert json.loads(meta["class_bands"])["a"] == [1000.0, 3000.0]


def test_parity_check_fails_when_scorer_features_differ(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = create_model("sed", cfg=ModelConfig(**TINY), n_classes=2)
    with torch.no_grad():  # a sharper head, so feature differences show in the probabilities
        model.head.cla.weight.mul_(50.0)
    export_onnx(model, ["a", "b"], tmp_path / "m.onnx")  # the right features pass
    import training.export as export_module
    monkeypatch.setattr(export_module, "stft_power", lambda audio, spec: stft_power(audio, spec)[..., ::-1].copy())
    with pytest.raises(ExportError, match="disagree"):
        check_parity(model, tmp_path / "m.onnx")


def test_wave_branch_model_exports_and_the_scorer_feeds_it_audio(tmp_path):
    from birdlab.scoring.bundle import ModelBundle
    torch.manual_seed(0)
    cfg = ModelConfig(wave_branch=True, wave_columns=128, **TINY)
    model = create_model("sed", cfg=cfg, n_classes=2).eval()
    audio = torch.randn(2, 16000) * 0.1
    with torch.no_grad():
        frames, clip = model(stft_power_torch(audio, model.spec), audio)
    assert frames.shape == (2, 10, 2) and clip.shape == (2, 2)
    with pytest.raises(ValueError, match="raw-waveform branch"):
        model(stft_power_torch(audio, model.spec))
    out = export_onnx(model, ["a", "b"], tmp_path / "wave.onnx")
    assert out["parity_max_abs_diff"] < 1e-3
    assert json.loads(out["metadata"]["input"])["raw_audio"] is True
    bundle = ModelBundle.load(tmp_path / "wave.onnx")
    assert bundle.needs_audio
    fw, cw = bundle.predict(audio.numpy())
    with torch.no_grad():
        ref = torch.sigmoid(frames)
    assert np.abs(fw - ref.numpy()).max() < 1e-3 and np.abs(cw - clip.numpy()).max() < 1e-3


def test_band_norm_takes_each_mel_bands_mean_out_and_exports_with_parity(tmp_path):
    """With band_norm, a band's level over the window (a recorder's colouring, steady noise) is
    gone: every mel band of the image has the same mean; the ONNX file computes the same."""
    from training.frontend import LogMel

    power = torch.rand(2, 120, 513) * torch.logspace(0, 4, 513)  # a strongly coloured spectrum
    plain = LogMel(16000, 1024, 32, 20.0, 8000.0, 80.0)(power)[:, 0]  # [B, mels, frames]
    normed = LogMel(16000, 1024, 32, 20.0, 8000.0, 80.0, band_norm=True)(power)[:, 0]
    assert plain.mean(dim=2).std() > 0.5  # the colouring shows without it
    assert torch.allclose(normed.mean(dim=2), normed.mean(dim=(1, 2))[:, None], atol=1e-4)
    torch.manual_seed(0)
    model = create_model("sed", cfg=ModelConfig(band_norm=True, **TINY), n_classes=2)
    assert export_onnx(model, ["a", "b"], tmp_path / "m.onnx")["parity_max_abs_diff"] < 1e-3
