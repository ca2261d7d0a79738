"""The model card contract: typed reading with named errors, unknown keys kept, start settings."""

from __future__ import annotations

import json

import pytest

from birdlab.core.ml.card import CardError, ModelCard


def test_a_card_round_trips_and_keeps_what_other_writers_added(tmp_path):
    data = {"classes": ["A", "B"], "backbone": "efficientnet_lite0", "metrics": {"cmap": 0.8, "ap": {"A": 0.9,
            "B": float("nan")}}, "no_negatives": ["B"], "fingerprint": "sha256:abc", "architecture": {"hidden": 64}}
    card = ModelCard.from_dict(data)
    assert card.cmap == 0.8 and card.ap() == {"A": 0.9, "B": None} and card.extra == {"fingerprint": "sha256:abc"}
    card.write(tmp_path / "card.json")
    back = ModelCard.read(tmp_path / "card.json")
    assert back.ap() == card.ap() and back.extra == card.extra and back.no_negatives == ["B"]  # (NaN != NaN)
    assert back.architecture == {"hidden": 64} and json.loads((tmp_path / "card.json").read_text())["fingerprint"] == "sha256:abc"


def test_start_settings_come_from_the_architecture_block_or_a_legacy_config():
    new = ModelCard.from_dict({"classes": ["A"], "architecture": {"backbone": "b0", "n_mels": 64},
                               "config": {"model": {"backbone": "other", "pretrained": True}}})
    assert new.start_settings() == {"backbone": "b0", "n_mels": 64}
    legacy = ModelCard.from_dict({"classes": ["A"], "config": {"model": {"backbone": "b0", "pretrained": True,
                                                                         "init_model": "x.pt", "hidden": 32}}})
    assert legacy.start_settings() == {"backbone": "b0", "hidden": 32}  # initialisation settings left out


@pytest.mark.parametrize("data, words", [
    (None, "should be an object, not null"),
    ({"classes": []}, "$.classes: a model needs at least one class"),
    ({"classes": ["A"], "metrics": {"cmap": "good"}}, "$.metrics.cmap: should be a number"),
    ({"classes": ["A"], "history": {"epoch": 1}}, "$.history: should be a list"),
    ({"classes": ["A"], "parity_max_abs_diff": "tiny"}, "$.parity_max_abs_diff: should be a number"),
])
def test_a_broken_card_names_the_place(data, words):
    with pytest.raises(CardError, match=words.replace("$", r"\$").replace("[", r"\[")):
        ModelCard.from_dict(data, "card.json")
