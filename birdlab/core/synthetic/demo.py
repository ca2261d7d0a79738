"""The demo project: synthetic soundscapes, some labels, and the demo model as the active version.

`birdlab demo [DIR]` builds it and opens the app, so a new user sees a project with
recordings, labels and a model within the first minute. The model comes from
`birdlab/resources/demo_model/` (its recipe: `python -m training.recipes demo`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from birdlab.core.store.project import Project
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project

RESOURCES = Path(__file__).resolve().parents[2] / "resources"  # package data: wheels carry it
DEMO_MODEL = RESOURCES / "demo_model"


def default_demo_folder() -> Path:
    """Where `birdlab demo` builds the demo without a folder: the user's data folder, never the
    current one (a demo must not litter a repository or a home folder)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "birdlab" / "demo"


def demo_classes() -> list[str]:
    return list(json.loads((DEMO_MODEL / "card.json").read_text())["classes"])


def build_demo(folder: str | Path, recordings: int = 6, duration_s: float = 60.0) -> Project:
    """Make the demo project in `folder` (which must not hold a project yet); returns it open.

    The recordings are new soundscapes of the demo model's species (seeds the model never saw);
    a third of their calls are labelled, as if an expert had started reviewing.
    """
    folder = Path(folder)
    if (folder / "project.sqlite").exists():
        raise FileExistsError(f"{folder} already holds a project; open it with `birdlab {folder}`")
    if not (DEMO_MODEL / "model.onnx").exists():
        raise FileNotFoundError(f"the demo model is missing from {DEMO_MODEL}")
    spec = SyntheticProjectSpec(recordings=recordings, duration_s=duration_s, species=tuple(demo_classes()),
                                seed=101, label_fraction=0.3, negatives=True, complete=False)
    project = make_synthetic_project(folder, spec)
    dest = project.models_dir / "demo"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "card.json", "model.pt"):
        if (DEMO_MODEL / name).exists():
            shutil.copy2(DEMO_MODEL / name, dest / name)
    card = json.loads((dest / "card.json").read_text())
    project.add_model_version("demo", "onnx", str(dest.relative_to(project.root)), card=card, activate=True)
    return project
