"""The demo model: the committed one still holds its quality, and its recipe still trains.

The full recipe (20 epochs, about a minute unloaded and two under load) runs in
`benchmarks/bench_demo_recipe.py`, which checks it reaches the committed card. Here:
1. the committed model, scored on the recipe's held-out recordings (regenerated from the seed),
   reaches per-class segment AP >= 0.85 against their complete truth (inference only, seconds);
2. a two-epoch run of the same recipe code on fewer recordings trains, exports an ONNX model
   that passes parity and describes itself (about 10 s).
"""

import json
from dataclasses import replace

import onnx
import pytest

from birdlab.core.synthetic.demo import DEMO_MODEL
from birdlab.core.ml.evaluate import evaluate_project
from birdlab.core.synthetic.synth_project import make_synthetic_project
from birdlab.scoring.detect import DetectSettings
from birdlab.scoring.ensemble import load_scorer
from birdlab.scoring.recording import ScoreSettings, score_recording
from birdlab.scoring.store import APP_DETECTION_THRESHOLD, project_bands, store_scores
from training.recipes import DEMO, Recipe, run_recipe

SPECIES = {"upsweep", "downsweep", "trill"}


def test_the_committed_demo_model_holds_its_quality_on_the_recipes_held_out_recordings(tmp_path):
    project = make_synthetic_project(tmp_path / "project", DEMO.data)
    with project:
        recordings = project.recordings()
        for rec in recordings[:-DEMO.validation]:  # the recipe trained on these
            project.remove_recording(rec.id)
        card = json.loads((DEMO_MODEL / "card.json").read_text())
        version = project.add_model_version("demo", "onnx", str(DEMO_MODEL / "model.onnx"), card=card)
        scorer = load_scorer([str(DEMO_MODEL / "model.onnx")])
        settings = ScoreSettings(detect=DetectSettings(threshold=APP_DETECTION_THRESHOLD),
                                 class_bands=project_bands(project))
        for rec in recordings[-DEMO.validation:]:
            store_scores(project, version.id, rec.id, score_recording(rec.abs_path, scorer, settings))
        report = evaluate_project(project, "demo", segment_s=5.0)
    ap = {c.name: c.ap for c in report.classes}
    assert {name.split("_")[0] for name in ap} == SPECIES
    assert min(ap.values()) >= 0.85, ap  # measured 0.91, 1.0, 1.0 (cmAP 0.97)
    assert report.cmap >= 0.93, report.cmap


@pytest.mark.slow
def test_the_demo_recipe_trains_and_exports_a_self_describing_model(tmp_path):
    short = Recipe(data=replace(DEMO.data, recordings=4, duration_s=20.0), validation=1,
                   config={**DEMO.config, "epochs": 2})
    card = run_recipe(short, tmp_path / "work")
    assert {lab.split("_")[0] for lab in card["classes"]} == SPECIES
    assert all(n["positive"] > 0 for n in card["label_counts"].values())
    assert any(n["negative"] > 0 for n in card["label_counts"].values())
    assert card["parity_max_abs_diff"] < 1e-3
    assert card["architecture"]["backbone"] == "mobilenetv3_small_050" and card["architecture"]["n_mels"] == 64
    assert "pretrained" not in card["architecture"]  # how a run starts is not the model's shape
    assert card["metrics"]["cmap"] > 0.4  # two epochs on 3 recordings: learning, not converged
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "work" / "run" / "model" / "model.onnx")).metadata_props}
    assert json.loads(meta["classes"]) == card["classes"]
