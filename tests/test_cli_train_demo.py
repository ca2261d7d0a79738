"""`birdlab demo` and `birdlab train`: a new version becomes active; a failed run changes nothing."""

import json

import pytest

from birdlab.cli import main
from birdlab.core.project import Project

pytest.importorskip("torch", reason="the training extra is not installed")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "birdlab-demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    return folder


def test_demo_project_has_recordings_labels_and_an_active_model(demo):
    with Project.open(demo) as project:
        assert len(project.recordings()) == 6
        assert any(lab.polarity.value == "positive" for lab in project.labels())
        model = project.active_model()
        assert model is not None and model.name == "demo"
        assert (demo / model.path / "model.onnx").exists()
    assert main(["demo", str(demo), "--no-gui"]) == 0  # building again just reuses it


def test_quick_retrain_makes_a_new_active_version_from_the_active_one(demo, capsys):
    assert main(["train", str(demo), "--mode", "head", "--epochs", "3"]) == 0
    with Project.open(demo) as project:
        active = project.active_model()
        assert active.name != "demo" and project.model_version(active.parent_id).name == "demo"
        assert active.card["mode"] == "head" and active.card["parity_max_abs_diff"] < 1e-3
        assert (demo / active.path / "model.onnx").exists()
        run = project.training_run(active.training_run_id)
        assert run.status == "ok" and run.model_version_id == active.id
        job = json.loads((demo / "runs" / run.folder / "job.json").read_text())
        assert job["config"]["model"]["init_model"].endswith("models/demo/model.pt")


def test_a_failed_run_leaves_the_previous_model_active(demo, capsys):
    with Project.open(demo) as project:
        before = project.active_model().id
    assert main(["train", str(demo), "--mode", "head", "--backbone", "no_such_net", "--from-scratch"]) == 2
    assert "unknown backbone" in capsys.readouterr().err
    with Project.open(demo) as project:
        assert project.active_model().id == before
        assert project.training_runs()[-1].status == "failed"


def test_the_demo_model_is_package_data():
    """A wheel carries only what pyproject's package-data names: every demo model file must match it."""
    import fnmatch
    import tomllib
    from pathlib import Path

    from birdlab.core.demo import DEMO_MODEL

    package = Path(__file__).resolve().parents[1] / "birdlab"
    assert DEMO_MODEL.parent.parent == package
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["birdlab"]
    files = [p.relative_to(package).as_posix() for p in DEMO_MODEL.iterdir()]
    assert {"model.onnx", "model.pt", "card.json"} <= {Path(f).name for f in files}
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
