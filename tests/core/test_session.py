"""The app's shared state without Qt: events, what is on screen, the rescore plan after a new version."""

from __future__ import annotations

import pytest

from birdlab.core.model import Polarity
from birdlab.core.store.project import Project
from birdlab.core.session import RescorePlan, Session


@pytest.fixture
def project(tmp_path, make_wav):
    audio = tmp_path / "audio"
    for i in range(3):
        make_wav(f"r{i}.wav", duration=4.0, folder=audio)
    with Project.create(tmp_path / "p") as p:
        for i in range(3):
            p.add_recording(audio / f"r{i}.wav")
        yield p


def test_changes_are_announced_once_and_only_when_they_change(project):
    session, seen = Session(), []
    session.events.connect(lambda name, value: seen.append((name, value)))
    session.set_project(project)
    session.set_threshold(0.3)
    session.set_threshold(0.3)
    session.set_polarity(Polarity.NEGATIVE)
    rec = project.recordings()[0]
    session.set_recording(rec)
    session.set_view_range(1.0, 3.0)
    assert [name for name, _ in seen] == ["project", "threshold", "polarity", "recording", "view_range"]
    with pytest.raises(ValueError, match=r"threshold 1.5 must lie in \[0, 1\]"):
        session.set_threshold(1.5)
    assert session.shows(rec.id, 1.5, 2.5) and not session.shows(rec.id, 0.5, 2.5)
    assert not session.shows(project.recordings()[1].id, 1.5, 2.5)
    session.set_project(None)
    assert session.recording is None and session.rescore.pending == [] and not session.shows(rec.id, 1.5, 2.5)


def test_a_new_version_rescores_its_parents_recordings_and_compares_them(project):
    recs = project.recordings()
    cls = project.add_class("A")
    parent = project.add_model_version("v1", "onnx", "models/v1/model.onnx", activate=True)
    for rec in recs[:2]:
        project.set_detections(parent.id, rec.id, [(cls.id, 0.5, 1.5, 0.0, 8000.0, 0.9)])
    child = project.add_model_version("v2", "onnx", "models/v2/model.onnx", parent_id=parent.id, activate=True)
    (project.root / "models" / "v2").mkdir(parents=True)
    (project.root / "models" / "v2" / "model.onnx").write_bytes(b"onnx")
    plan = RescorePlan()
    plan.start(project, child, on_screen=recs[0].id)
    assert plan.pending == [recs[1].id]  # the one on screen is scored first by the window itself
    job = plan.next_job(project, busy=False)
    assert job.recording.id == recs[1].id and job.model.id == child.id and job.model_file.name == "model.onnx"
    assert plan.next_job(project, busy=True) is None
    assert plan.scored(recs[0].id, child.id) and plan.compared == {recs[0].id}
    assert not plan.scored(recs[1].id, parent.id)  # scored with another version: no comparison
    assert plan.pending == [] and plan.next_job(project, busy=False) is None
    orphan = project.add_model_version("v3", "onnx", "models/v2/model.onnx", activate=True)
    plan.start(project, orphan, on_screen=None)
    assert plan.pending == [] and not plan.scored(recs[0].id, orphan.id)  # no parent: nothing to compare
