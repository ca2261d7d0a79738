"""The training-run driver without a child process: events in, an outcome out (the CLI and the
app only adapt it to a blocking pipe or a QProcess)."""

from __future__ import annotations

import json
import shutil

import pytest

from birdlab.cli import main
from birdlab.core.store.project import Project
from birdlab.core.ml.runs import TrainingRunDriver


@pytest.fixture
def demo(tmp_path):
    folder = tmp_path / "demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    with Project.open(folder) as project:
        yield project


def finished_model(project, driver, **card_changes) -> str:
    """A model folder in the run as a finished child leaves it (the demo model's files)."""
    model_dir = driver.job_path.parent / "model"
    shutil.copytree(project.model_file(project.active_model()).parent, model_dir)
    card = json.loads((model_dir / "card.json").read_text())
    card.update(card_changes)
    (model_dir / "card.json").write_text(json.dumps(card))
    return str(model_dir)


def test_events_arrive_in_chunks_and_an_ok_run_is_registered(demo):
    driver = TrainingRunDriver.start(demo, {"epochs": 1})
    assert demo.training_run(driver.run.id).status == "running"
    model_dir = finished_model(demo, driver, metrics={"cmap": 0.9}, parent="")
    text = (json.dumps({"event": "progress", "phase": "train", "epoch": 1}) + "\nnot json\n"
            + json.dumps({"event": "done", "status": "ok", "model_dir": model_dir}))
    events = driver.feed(text[:30]) + driver.feed(text[30:])  # a line split across chunks
    assert [e["event"] for e in events] == ["progress"]  # the last line has no newline yet
    outcome = driver.finish(0)  # the rest of the buffer is read at the end
    assert outcome.status == "ok" and outcome.version is not None
    assert demo.training_run(driver.run.id).status == "ok"
    assert "0.900" in outcome.cmap_text


def test_a_version_that_may_not_activate_itself_waits_unless_forced(demo):
    before = demo.active_model()
    for force in (False, True):
        driver = TrainingRunDriver.start(demo, {"epochs": 1})
        driver.record({"event": "done", "status": "ok",
                       "model_dir": finished_model(demo, driver, metrics={"cmap": None}, parent="")})
        outcome = driver.finish(0, force_activate=force)
        assert outcome.activated is force and (outcome.why_not_active != "") is (not force)
    assert demo.active_model().id != before.id  # the forced one


@pytest.mark.parametrize("done, status, words", [
    ({"event": "done", "status": "cancelled"}, "cancelled", "without finishing"),
    ({"event": "done", "status": "failed", "error": "no labels"}, "failed", "no labels"),
    (None, "failed", "ended with code -9 without finishing"),
])
def test_a_run_that_did_not_finish_leaves_the_active_model(demo, done, status, words):
    before = demo.active_model()
    driver = TrainingRunDriver.start(demo, {"epochs": 1})
    if done:
        driver.record(done)
    outcome = driver.finish(-9)
    assert outcome.status == status and words in outcome.error and outcome.version is None
    assert demo.training_run(driver.run.id).status == status
    assert demo.active_model().id == before.id


def test_a_broken_card_fails_the_run_with_its_reason(demo):
    driver = TrainingRunDriver.start(demo, {"epochs": 1})
    model_dir = finished_model(demo, driver)
    (driver.job_path.parent / "model" / "card.json").write_text("null")
    driver.record({"event": "done", "status": "ok", "model_dir": model_dir})
    outcome = driver.finish(0)
    assert outcome.status == "failed" and "not registered" in outcome.error and "null" in outcome.error
