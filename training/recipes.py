"""The demo model's recipe: synthetic soundscapes from a fixed seed, a light backbone, a fixed config.

    python -m training.recipes demo --out birdlab/resources/demo_model [--work DIR]

builds the synthetic project, trains on all but the last `validation` recordings, and writes
model.onnx, card.json, model.pt and recipe.json to --out. `tests/training/test_demo_recipe.py`
runs the same recipe and checks it still reaches the committed card's quality.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from birdlab.core.ml.jobs import make_job, write_job
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project

DEMO_SPECIES = ("upsweep_warbler", "downsweep_tit", "trill_frog")


@dataclass
class Recipe:
    data: SyntheticProjectSpec = field(default_factory=lambda: SyntheticProjectSpec(
        recordings=10, duration_s=30.0, species=DEMO_SPECIES, seed=0))
    validation: int = 3  # the last N recordings are held out
    config: dict = field(default_factory=lambda: {
        "epochs": 20, "batch_size": 16, "lr": 3e-3, "seed": 0, "device": "cpu", "min_epoch_samples": 0,
        "model": {"backbone": "mobilenetv3_small_050", "pretrained": False, "n_mels": 64, "hidden": 128},
        "augment": {"time_masks": 1, "freq_masks": 1},
    })


DEMO = Recipe()


def run_recipe(recipe: Recipe, work: Path, out: Path | None = None) -> dict:
    """Train the recipe in `work` (project + run); copy the model to `out`; returns the card."""
    from training.__main__ import main as training_main

    shutil.rmtree(work, ignore_errors=True)
    project = make_synthetic_project(work / "project", recipe.data)
    ids = [r.id for r in project.recordings()]
    job = make_job(project, recipe.config, validation=ids[-recipe.validation:])
    path = write_job(job, work / "run" / "job.json")
    project.close()
    if training_main(["fit", str(path)]) != 0:
        raise RuntimeError(f"the recipe's training run failed; see {work / 'run' / 'log.txt'}")
    model_dir = path.parent / "model"
    card = json.loads((model_dir / "card.json").read_text())
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("model.onnx", "card.json", "model.pt"):
            shutil.copy2(model_dir / name, out / name)
        (out / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1))
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.recipes")
    parser.add_argument("recipe", choices=["demo"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("bench-out/demo-recipe"))
    args = parser.parse_args(argv)
    card = run_recipe(DEMO, args.work, args.out)
    print(json.dumps(card["metrics"], indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
