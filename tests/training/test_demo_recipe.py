"""End to end on the CPU: the demo recipe (synthetic soundscapes, 3 species, positives and
negatives) trains a small backbone to per-class AP >= 0.9 on held-out recordings, exports an
ONNX model that passes parity, and still reaches the quality of the committed demo model."""

import json
from pathlib import Path

import onnx
import pytest

from training.recipes import DEMO, run_recipe

pytestmark = pytest.mark.slow
COMMITTED = Path(__file__).resolve().parents[2] / "birdlab" / "resources" / "demo_model"


def test_demo_recipe_reaches_the_committed_quality(tmp_path):
    card = run_recipe(DEMO, tmp_path / "work")
    model = tmp_path / "work" / "run" / "model" / "model.onnx"
    assert {lab.split("_")[0] for lab in card["classes"]} == {"upsweep", "downsweep", "trill"}
    assert all(n["positive"] > 0 for n in card["label_counts"].values())
    assert any(n["negative"] > 0 for n in card["label_counts"].values())
    ap = card["metrics"]["ap"]
    assert min(ap.values()) >= 0.9, ap  # every class, on the held-out recordings
    assert card["parity_max_abs_diff"] < 1e-3
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert json.loads(meta["classes"]) == card["classes"]
    committed = json.loads((COMMITTED / "card.json").read_text())
    assert card["metrics"]["cmap"] >= committed["metrics"]["cmap"] - 0.05
    for name, value in committed["metrics"]["ap"].items():
        assert ap[name] >= value - 0.08, (name, ap[name], value)
