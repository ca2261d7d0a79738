"""Job files: the snapshot of a project, and bad jobs failing at once with a clear message."""

import json

import pytest

from birdlab.core.ml.jobs import JobError, make_job, read_job, write_job
from birdlab.core.model import Box, Polarity
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project
from training.__main__ import main as training_main


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs") / "p"
    return make_synthetic_project(root, SyntheticProjectSpec(recordings=2, duration_s=8.0, species=2))


def _events(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_snapshot_holds_labels_extents_and_leaves_uncertain_out(project, tmp_path):
    rec = project.recordings()[0]
    cls = project.classes()[0]
    uncertain = project.add_label(rec.id, cls.id, Box(0.1, 0.5, 100, 2000), polarity=Polarity.UNCERTAIN)
    job = make_job(project, {"epochs": 1})
    path = write_job(job, tmp_path / "job.json")
    back = read_job(path)
    assert back.classes == job.classes and len(back.labels) == len(job.labels)
    assert all(lab.polarity in ("positive", "negative") for lab in back.labels)
    assert len(back.labels) == sum(1 for lab in project.labels() if lab.polarity != Polarity.UNCERTAIN)
    assert {e.recording for e in back.extents} == {r.id for r in project.recordings()}
    project.delete_labels([uncertain.id])


def test_audio_root_relocates_recordings(project, tmp_path):
    import shutil
    job = make_job(project, {})
    path = write_job(job, tmp_path / "job.json")
    copy = tmp_path / "elsewhere"
    shutil.copytree(project.root / "audio", copy / "audio")
    moved = read_job(path, audio_root=copy)
    assert all(str(r.path).startswith(str(copy)) for r in moved.recordings)


def _fit(job_path, capsys):
    code = training_main(["fit", str(job_path)])
    done = [e for e in _events(capsys) if e["event"] == "done"]
    assert len(done) == 1
    return code, done[0]


def test_missing_audio_fails_at_once(project, tmp_path, capsys):
    job = make_job(project, {"model": {"backbone": "mobilenetv3_small_050"}})
    data = job.to_json()
    data["recordings"][0]["path"] = str(tmp_path / "gone.wav")
    (tmp_path / "job.json").write_text(json.dumps(data))
    code, done = _fit(tmp_path / "job.json", capsys)
    assert code == 1 and done["status"] == "failed"
    assert "not found" in done["error"] and "gone.wav" in done["error"]


@pytest.mark.parametrize("change,message", [
    (lambda d: [x.__setitem__("polarity", "negative") for x in d["labels"]], "no positive labels"),
    (lambda d: d["labels"].clear(), "no labels"),
    (lambda d: d.__setitem__("classes", []), "no classes"),
    (lambda d: d["config"].__setitem__("model", {"backbone": "resnet_does_not_exist"}), "unknown backbone"),
    (lambda d: d["config"].__setitem__("epoch", 3), "unknown setting(s) in config: epoch"),
    (lambda d: d["labels"][0].__setitem__("class_name", "dodo"), "class 'dodo' is not in the job's classes"),
])
def test_bad_jobs_fail_with_a_clear_done_message(project, tmp_path, capsys, change, message):
    data = make_job(project, {"model": {"backbone": "mobilenetv3_small_050"}}).to_json()
    change(data)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data))
    code, done = _fit(path, capsys)
    assert code == 1 and done["status"] == "failed"
    assert message in done["error"]
    assert str(path) in done["error"] or "backbone" in message  # the job file is named


def test_not_json_names_the_file(tmp_path):
    bad = tmp_path / "job.json"
    bad.write_text("{oops")
    with pytest.raises(JobError, match="job.json: not valid JSON"):
        read_job(bad)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.__setitem__("recordings", {"not": "a list"}), "$.recordings: should be a list, not an object"),
    (lambda d: d["labels"].__setitem__(0, "not an object"), "$.labels[0]: should be an object, not a text"),
    (lambda d: d["labels"][0].__setitem__("t_min", "early"), "$.labels[0].t_min: should be a number"),
    (lambda d: d["recordings"][0].__setitem__("id", [1]), "$.recordings[0].id: should be an integer"),
    (lambda d: d["classes"].__setitem__(0, "caf\ud800"), "$.classes[0]: holds an unpaired surrogate"),
    (lambda d: d.__setitem__("config", None), None),  # null config: the defaults
    (lambda d: d.__setitem__("config", []), "$.config: should be an object"),
])
def test_job_files_of_the_wrong_shape_name_the_json_path(project, tmp_path, change, message):
    data = make_job(project, {}).to_json()
    change(data)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data))
    if message is None:
        assert read_job(path).config == {}
        return
    with pytest.raises(JobError) as info:
        read_job(path)
    assert str(path) in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("setting, message", [
    ({"epochs": "ten"}, "config.epochs should be int, not str"),
    ({"lr": True}, "config.lr should be float, not bool"),
    ({"model": {"pretrained": "yes"}}, "config.model.pretrained should be bool, not str"),
])
def test_config_fields_of_the_wrong_type_are_named(setting, message):
    from training.config import config_from_dict
    with pytest.raises(ValueError, match=message):
        config_from_dict(setting)


def test_deeply_nested_json_is_refused_without_a_recursion_error(tmp_path):
    path = tmp_path / "job.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(JobError, match="nested deeper than 64 levels"):
        read_job(path)


def test_the_audio_root_is_a_path_jail(project, tmp_path):
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    root = tmp_path / "root" / "copy"
    root.mkdir(parents=True)
    data = make_job(project, {}).to_json()
    data["project"] = None
    data["recordings"][0]["path"] = "../../secret.wav"  # climbs out of root/copy to tmp_path
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data))
    with pytest.raises(JobError, match=r"\$\.recordings\[0\]\.path: '\.\./\.\./secret\.wav' leads outside the "
                                       r"audio root .*copy \(a path jail\)"):
        read_job(path, audio_root=root)
    data["project"] = str(root)  # without an audio root, relative paths stay inside the project
    path.write_text(json.dumps(data))
    with pytest.raises(JobError, match="leads outside the project folder"):
        read_job(path)


def test_a_full_disk_during_training_ends_the_run_with_plain_words(project, tmp_path, capsys, monkeypatch):
    import errno

    import torch

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(torch, "save", no_space)
    job = make_job(project, {"epochs": 1, "model": {"backbone": "mobilenetv3_small_050", "pretrained": False}})
    code, done = _fit(write_job(job, tmp_path / "job.json"), capsys)
    assert code == 1 and done["status"] == "failed"
    assert "disk full" in done["error"] and "Errno" not in done["error"]
