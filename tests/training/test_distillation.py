"""Distillation (`birdlab train --distil-from VERSION`): a student learns a teacher version's
score tracks on all of the project's audio, and the labels where there are any."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from birdlab.core.ml.jobs import TEACHER_FOLDER, read_job
from birdlab.core.ml.runs import new_run
from birdlab.core.model import Polarity
from birdlab.core.store.track_cache import load_tracks, save_tracks, tracks_path
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project

ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = {"backbone": "mobilenetv3_small_050", "pretrained": False, "n_mels": 32, "hidden": 32}
HOP = 0.1


def _teacher_tracks(project, recording, classes: list[str]) -> np.ndarray:
    """A teacher that knows every call, as smooth in time as a model's tracks are (a CNN's
    frames are a third of a second apart before the head upsamples them): 0.9 on the frames
    the positive labels cover and 0.05 elsewhere, smoothed over 0.25 s."""
    from scipy.ndimage import gaussian_filter1d

    names = {c.id: c.name for c in project.classes()}
    frames = int(np.ceil(recording.duration / HOP))
    tracks = np.full((frames, len(classes)), 0.05, np.float32)
    centres = (np.arange(frames) + 0.5) * HOP
    for label in project.labels(recording.id, polarity=Polarity.POSITIVE):
        inside = (centres >= label.t_min) & (centres < label.t_max)
        tracks[inside, classes.index(names[label.class_id])] = 0.9
    return gaussian_filter1d(tracks, sigma=0.25 / HOP, axis=0, mode="nearest")


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """A project whose first recording keeps its labels and whose others have none: a teacher
    version ('teacher', tracks only, no model file) has scored them all. Recordings of whole
    5 s windows, so that scoring sees no zero-padded window training never saw."""
    project = make_synthetic_project(tmp_path_factory.mktemp("distil") / "p", SyntheticProjectSpec(
        recordings=3, duration_s=15.0, species=("whistle_thrush", "trill_frog"), negatives=False, complete=False))
    classes = sorted(c.name for c in project.classes())
    teacher = project.add_model_version("teacher", kind="onnx")
    recordings = project.recordings()
    for rec in recordings:
        save_tracks(tracks_path(project, teacher.name, rec.id), _teacher_tracks(project, rec, classes), HOP,
                    tuple(classes))
    project.delete_labels([lab.id for rec in recordings[1:] for lab in project.labels(rec.id)])
    return project, teacher


def test_a_distillation_job_carries_the_teachers_tracks_for_every_recording(taught):
    project, teacher = taught
    run, path = new_run(project, {"model": TINY_MODEL}, teacher=teacher)
    job = read_job(path)
    assert job.teacher is not None and job.teacher.version == "teacher"
    assert {r.id for r in job.recordings} == {r.id for r in project.recordings()}  # unlabelled ones too
    copied = sorted(p.name for p in (path.parent / TEACHER_FOLDER).iterdir())
    assert copied == sorted(f"{r.id}.npz" for r in project.recordings())
    assert json.loads(path.read_text())["config"]["teacher"] == "teacher"


def test_teacher_scores_fill_the_unlabelled_frames_and_labels_win(taught):
    from training.data import JobData

    project, teacher = taught
    _, path = new_run(project, {"model": TINY_MODEL}, teacher=teacher)
    job = read_job(path)
    data = JobData(job, 32000, 5.0, HOP)
    labelled, unlabelled = project.recordings()[0], project.recordings()[2]
    plain_t, plain_m = data.targets(unlabelled.id, 2.0)
    assert not plain_m.any()  # no labels there: nothing to learn without the teacher
    t, m = data.targets(unlabelled.id, 2.0, teacher=True)
    assert m.all()
    tracks, hop, classes = load_tracks(tracks_path(project, "teacher", unlabelled.id))
    rows = np.floor((2.0 + (np.arange(50) + 0.5) * HOP) / hop).astype(int)
    for j, name in enumerate(classes):
        np.testing.assert_allclose(t[job.classes.index(name)], tracks[rows, j], atol=1e-3)
    label = project.labels(labelled.id)[0]
    start = max(0.0, label.t_min - 1.0)
    lt, lm = data.targets(labelled.id, start)
    tt, tm = data.targets(labelled.id, start, teacher=True)
    assert np.array_equal(tt[lm > 0], lt[lm > 0])  # the labels' own frames keep the labels' targets
    assert tm.all()


def test_distillation_refuses_head_mode(taught, tmp_path):
    project, teacher = taught
    _, path = new_run(project, {"mode": "head", "model": TINY_MODEL}, teacher=teacher)
    out = _fit(path, timeout=300)
    done = [e for e in out if e["event"] == "done"][-1]
    assert done["status"] == "failed" and "distillation" in done["error"]


def _fit(path: Path, timeout: float) -> list[dict]:
    # one torch thread: on a busy machine, threads that spin for cores other work holds made this
    # test take over 300 s (44 s alone)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "training", "fit", str(path)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert events, proc.stderr[-3000:]
    return events


@pytest.mark.slow
def test_the_students_tracks_follow_the_teachers_on_the_training_audio(taught):
    from birdlab.scoring.ensemble import load_scorer
    from birdlab.scoring.recording import score_recording

    project, teacher = taught
    # 2.5 s windows: half the work of 5 s ones
    model = {**TINY_MODEL, "n_mels": 64, "hidden": 64, "window_s": 2.5}
    _, path = new_run(project, {"model": model, "crop_s": 2.5, "epochs": 30, "batch_size": 8, "min_epoch_samples": 64,
                                "lr": 1e-2,
                                "augment": {"time_masks": 0, "freq_masks": 0, "noise_p": 0.0, "gain_db": 0.0}},
                      teacher=teacher)
    events = _fit(path, timeout=900)
    done = events[-1]
    assert done["event"] == "done" and done["status"] == "ok", done
    scorer = load_scorer([str(path.parent / "model" / "model.onnx")])
    student, taught_by = [], []
    for rec in project.recordings():
        scores = score_recording(rec.abs_path, scorer)
        tracks, hop, classes = load_tracks(tracks_path(project, "teacher", rec.id))
        n = min(len(tracks), len(scores.tracks))
        order = [scores.classes.index(name) for name in classes]
        student.append(scores.tracks[:n][:, order])
        taught_by.append(tracks[:n])
    r = np.corrcoef(np.concatenate(student).ravel(), np.concatenate(taught_by).ravel())[0, 1]
    assert r > 0.9, f"the student's tracks follow the teacher's with r = {r:.3f}"
