"""Whole runs of `python -m training fit` on synthetic projects (CPU): cancel and resume,
DistributedDataParallel with gloo, head mode with its embedding cache."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from birdlab.core.ml.jobs import make_job, write_job
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project

pytestmark = pytest.mark.slow
TINY_MODEL = {"backbone": "mobilenetv3_small_050", "pretrained": False, "n_mels": 32, "hidden": 32}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_synthetic_project(tmp_path_factory.mktemp("fit") / "p",
                                  SyntheticProjectSpec(recordings=3, duration_s=12.0, species=2))


def _start(job_path: Path, *extra: str, module: list[str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, *(module or ["-m", "training"]), "fit", str(job_path), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_cancel_mid_epoch_leaves_a_checkpoint_and_resume_finishes(project, tmp_path):
    # 16 steps an epoch: the cancel, sent at step 2, is read long before the epoch's end even on a
    # loaded machine (with the project's few crops an epoch could end first, and the cancel then
    # landed in the next one)
    job = make_job(project, {"epochs": 2, "batch_size": 2, "min_epoch_samples": 32, "model": TINY_MODEL,
                             "checkpoint_every_s": 3600})
    path = write_job(job, tmp_path / "run" / "job.json")
    proc = _start(path)
    seen = []
    for line in proc.stdout:  # wait until training steps are running, then cancel
        event = json.loads(line)
        seen.append(event)
        if event["event"] == "progress" and event.get("phase") == "train" and event["step"] >= 2:
            proc.stdin.write("cancel\n")
            proc.stdin.flush()
            break
    out, err = proc.communicate(timeout=300)
    events = seen + _events(out)
    done = events[-1]
    assert done["event"] == "done" and done["status"] == "cancelled", err[-2000:]
    ckpt = [e for e in events if e["event"] == "artifact" and e["kind"] == "checkpoint"]
    assert ckpt and ckpt[-1]["epoch"] == 0 and ckpt[-1]["step_in_epoch"] >= 2  # saved mid-epoch
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    assert not (tmp_path / "run" / "model" / "model.onnx").exists()

    resumed = _start(path, "--resume")
    out, err = resumed.communicate(timeout=600)
    events = _events(out)
    assert events[0]["event"] == "progress" and events[0]["resumed"] is True
    assert events[-1]["status"] == "ok", err[-2000:]
    metrics = [e for e in events if e["event"] == "metric"]
    assert [m["epoch"] for m in metrics] == [1, 2]  # the cancelled epoch was finished, then the next
    steps = [e for e in events if e["event"] == "progress" and e.get("phase") == "train"]
    assert (steps[0]["epoch"], steps[0]["step"]) == (1, ckpt[-1]["step_in_epoch"] + 1)  # not from step 1
    assert (tmp_path / "run" / "model" / "model.onnx").exists()

    # The weights come from the checkpoint: mark them, resume a finished run (nothing left to
    # train), and the exported model must be exactly the marked weights.
    import torch
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["step_in_epoch"] == 0
    marked = {k: (v + 0.125 if v.is_floating_point() else v) for k, v in state["model"].items()}
    torch.save({**state, "model": marked, "history": []}, last)
    (tmp_path / "run" / "checkpoints" / "best.pt").unlink()
    again = _start(path, "--resume")
    out, err = again.communicate(timeout=600)
    assert _events(out)[-1]["status"] == "ok", err[-2000:]
    exported = torch.load(tmp_path / "run" / "model" / "model.pt", map_location="cpu", weights_only=False)
    assert all(torch.equal(exported["state_dict"][k], v) for k, v in marked.items())


def test_sigterm_cancels_cleanly(project, tmp_path):
    job = make_job(project, {"epochs": 3, "batch_size": 2, "min_epoch_samples": 0, "model": TINY_MODEL})
    path = write_job(job, tmp_path / "run" / "job.json")
    proc = _start(path)
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "progress" and event.get("phase") == "train":
            proc.terminate()
            break
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert _events(out)[-1]["status"] == "cancelled"
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_torchrun_two_processes_with_gloo(project, tmp_path):
    job = make_job(project, {"epochs": 1, "batch_size": 2, "min_epoch_samples": 0, "device": "cpu",
                             "model": TINY_MODEL, "augment": {"time_masks": 0, "freq_masks": 0}})
    path = write_job(job, tmp_path / "run" / "job.json")
    proc = _start(path, module=["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
                                "-m", "training"])
    out, err = proc.communicate(timeout=600)
    events = _events(out)
    assert proc.returncode == 0, err[-3000:]
    assert events[0]["world_size"] == 2
    assert events[-1]["event"] == "done" and events[-1]["status"] == "ok"
    assert sum(1 for e in events if e["event"] == "done") == 1  # only rank 0 reports
    assert (tmp_path / "run" / "model" / "model.onnx").exists()


def test_head_mode_trains_from_a_previous_model_and_reuses_cached_embeddings(project, tmp_path):
    full = make_job(project, {"epochs": 1, "batch_size": 4, "min_epoch_samples": 0, "model": TINY_MODEL})
    out, err = _start(write_job(full, tmp_path / "full" / "job.json")).communicate(timeout=600)
    assert _events(out)[-1]["status"] == "ok", err[-2000:]
    previous = tmp_path / "full" / "model" / "model.pt"
    config = {"mode": "head", "epochs": 5, "batch_size": 8, "model": {**TINY_MODEL, "init_model": str(previous)}}
    timings = []
    for name in ("head1", "head2"):
        start = time.monotonic()
        out, err = _start(write_job(make_job(project, config), tmp_path / name / "job.json")).communicate(timeout=600)
        timings.append(time.monotonic() - start)
        events = _events(out)
        assert events[-1]["status"] == "ok", err[-2000:]
        embeds = [e for e in events if e["event"] == "progress" and e.get("phase") == "embed"]
        card = json.loads((tmp_path / name / "model" / "card.json").read_text())
        assert card["mode"] == "head" and card["parity_max_abs_diff"] < 1e-3
        if name == "head2":
            assert not embeds or all(e["total"] == 0 for e in embeds)  # everything came from the cache
        else:
            assert embeds and embeds[-1]["done"] > 0
    assert any((project.root / "cache" / "embeddings").rglob("*.npy"))


def test_distillation_from_a_previous_version(project, tmp_path):
    teacher_job = make_job(project, {"epochs": 1, "batch_size": 4, "min_epoch_samples": 0, "model": TINY_MODEL})
    out, err = _start(write_job(teacher_job, tmp_path / "teacher" / "job.json")).communicate(timeout=600)
    assert _events(out)[-1]["status"] == "ok", err[-2000:]
    student = make_job(project, {"epochs": 1, "batch_size": 4, "min_epoch_samples": 0, "model": TINY_MODEL,
                                 "distill_from": str(tmp_path / "teacher" / "model" / "model.pt")})
    out, err = _start(write_job(student, tmp_path / "student" / "job.json")).communicate(timeout=600)
    events = _events(out)
    assert events[-1]["status"] == "ok", err[-2000:]
    assert all(np.isfinite(e["loss"]) for e in events if e["event"] == "progress" and e.get("phase") == "train")


def test_wave_branch_trains_in_full_and_head_mode(project, tmp_path):
    wave = {**TINY_MODEL, "wave_branch": True, "wave_columns": 128}
    full = make_job(project, {"epochs": 1, "batch_size": 4, "min_epoch_samples": 0, "model": wave})
    out, err = _start(write_job(full, tmp_path / "full" / "job.json")).communicate(timeout=600)
    assert _events(out)[-1]["status"] == "ok", err[-2000:]
    head = make_job(project, {"mode": "head", "epochs": 2, "batch_size": 8,
                              "model": {**wave, "init_model": str(tmp_path / "full" / "model" / "model.pt")}})
    out, err = _start(write_job(head, tmp_path / "head" / "job.json")).communicate(timeout=600)
    assert _events(out)[-1]["status"] == "ok", err[-2000:]
    card = json.loads((tmp_path / "head" / "model" / "card.json").read_text())
    assert card["config"]["model"]["wave_branch"] and card["parity_max_abs_diff"] < 1e-3
