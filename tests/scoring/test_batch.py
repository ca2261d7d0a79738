"""`birdlab score`: outputs, bad files, bad usage, resume (also after SIGKILL), shards, projects."""

from __future__ import annotations

import concurrent.futures as cf
import csv
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
from birdlab.core.formats import raven
from birdlab.core.store.project import Project
from tests.scoring.onnx_models import band_model, tone_file

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["low", "high"]
BANDS = [(900.0, 1100.0), (3900.0, 4100.0)]
MODEL = dict(scale=1.0, bias=8.0)  # PCM noise -> ~0.01, a tone in the band -> ~0.97


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return band_model(tmp_path_factory.mktemp("model") / "band.onnx", CLASSES, BANDS, **MODEL)


def make_folder(root: Path, n: int = 3, duration: float = 6.0) -> dict[str, tuple[float, float]]:
    """n files (one in a subfolder), each with one 1 kHz call at a different time."""
    calls = {}
    for i in range(n):
        name = f"sub/rec{i}.wav" if i == n - 1 else f"rec{i}.wav"
        t0 = 1.0 + 0.5 * i
        tone_file(root / name, duration, 16000, [(t0, t0 + 1.0, 1000.0)], seed=i)
        calls[str((root / name).resolve())] = (t0, t0 + 1.0)
    return calls


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def journal_done(out: Path) -> list[str]:
    lines = (out / "journal.jsonl").read_text().splitlines() if (out / "journal.jsonl").exists() else []
    done = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "done":
            done.append(event["file"])
    return done


def test_scores_a_folder_into_every_format(tmp_path, model, capsys):
    calls = make_folder(tmp_path / "audio")
    out = tmp_path / "out"
    code = main(["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(out),
                 "--format", "csv,raven,audacity", "--tracks", "--workers", "1", "--hop", "1"])
    assert code == 0, capsys.readouterr().err
    assert "scored 3 file(s)" in capsys.readouterr().out
    rows = read_csv(out / "detections.csv")
    assert list(rows[0]) == ["file", "t_min", "t_max", "f_min", "f_max", "class", "score"]
    got = {r["file"]: (float(r["t_min"]), float(r["t_max"])) for r in rows}
    assert got == calls and all(r["class"] == "low" for r in rows) and len(rows) == 3
    assert all(float(r["f_min"]) == 0.0 and float(r["f_max"]) == 8000.0 for r in rows)
    # per-file outputs, named after the path below the common folder
    assert sorted(p.relative_to(out).as_posix() for p in (out / "raven").rglob("*.txt")) == [
        "raven/rec0.Table.1.selections.txt", "raven/rec1.Table.1.selections.txt",
        "raven/sub/rec2.Table.1.selections.txt"]
    table = raven.read(out / "raven" / "sub" / "rec2.Table.1.selections.txt")
    assert [(a.t_min, a.t_max, a.label) for a in table] == [(2.0, 3.0, "low")] and table[0].score > 0.8
    combined = raven.read(out / "detections.selections.txt")
    assert sorted((Path(a.recording).name, a.t_min) for a in combined) == [("rec0.wav", 1.0), ("rec1.wav", 1.5),
                                                                           ("rec2.wav", 2.0)]
    header = (out / "detections.selections.txt").read_text().splitlines()[0]
    assert "Begin File" in header and "File Offset (s)" in header
    assert (out / "audacity" / "rec1.txt").read_text().startswith("1.500000\t2.500000\tlow\n")
    with np.load(out / "tracks" / "rec0.npz") as npz:
        assert npz["tracks"].dtype == np.float16 and npz["tracks"].shape == (60, 2)
        assert list(npz["classes"]) == CLASSES and float(npz["frame_hop_s"]) == pytest.approx(0.1)
        assert npz["tracks"][15, 0] > 0.8 and npz["tracks"][40, 0] < 0.1
    assert len(journal_done(out)) == 3
    assert not list(out.rglob("*.tmp"))


def test_bad_files_are_reported_and_skipped(tmp_path, model, capsys):
    audio = tmp_path / "audio"
    tone_file(audio / "good.wav", 4.0, 16000, [(1.0, 2.0, 1000.0)])
    tone_file(audio / "low_rate.wav", 4.0, 8000, [(1.0, 2.0, 1000.0)])
    tone_file(audio / "high_rate.wav", 4.0, 96000, [(1.0, 2.0, 1000.0)])
    (audio / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt junk that is not a header")
    (audio / "empty.wav").write_bytes(b"")
    (audio / "notes.wav").write_text("these are field notes, not audio\n")
    (audio / "readme.txt").write_text("ignored: not an audio file name\n")
    out = tmp_path / "out"
    code = main(["score", str(audio), "--model", str(model), "--out", str(out), "--workers", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "corrupt.wav: not a readable audio file" in err
    assert "empty.wav: file is empty (0 bytes)" in err
    assert "notes.wav: not a readable audio file" in err
    assert "readme.txt" not in err
    rows = read_csv(out / "detections.csv")
    assert sorted(Path(r["file"]).name for r in rows) == ["good.wav", "high_rate.wav", "low_rate.wav"]
    assert all(abs(float(r["t_min"]) - 1.0) <= 0.11 and abs(float(r["t_max"]) - 2.0) <= 0.11 for r in rows)
    failed = [json.loads(x) for x in (out / "journal.jsonl").read_text().splitlines() if '"failed"' in x]
    assert sorted(Path(f["file"]).name for f in failed) == ["corrupt.wav", "empty.wav", "notes.wav"]


def test_bad_usage_exits_2_and_writes_nothing(tmp_path, model, capsys):
    make_folder(tmp_path / "audio", n=1)
    out = tmp_path / "out"
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_text("not a model")
    no_meta = band_model(tmp_path / "nometa.onnx", CLASSES, BANDS, metadata={"classes": None})
    cases = [
        (["--model", str(bad_model)], "bad.onnx: not a usable ONNX model"),
        (["--model", str(no_meta)], "nometa.onnx: metadata lacks 'classes'"),
        (["--model", str(tmp_path / "missing.onnx")], "missing.onnx: model file not found"),
        (["--model", str(model), "--format", "csv,xls"], "unknown output format"),
        (["--model", str(model), "--shard", "3/2"], "--shard '3/2'"),
        (["--model", str(model), "--threshold", "7"], "threshold 7.0 must be in [0, 1]"),
        (["--model", str(model), "--hop", "9"], "longer than the model's window"),
        (["--model", str(model), "--model", str(no_meta)], "nometa.onnx"),
    ]
    for extra, words in cases:
        assert main(["score", str(tmp_path / "audio"), "--out", str(out), *extra]) == 2, extra
        assert words in capsys.readouterr().err, extra
        assert not out.exists(), extra
    assert main(["score", str(tmp_path / "nowhere"), "--model", str(model), "--out", str(out)]) == 2
    assert "nowhere: input file or folder not found" in capsys.readouterr().err
    (tmp_path / "empty_dir").mkdir()
    assert main(["score", str(tmp_path / "empty_dir"), "--model", str(model), "--out", str(out)]) == 2
    assert "no audio files" in capsys.readouterr().err
    assert not out.exists()


def test_resume_skips_done_files_unless_settings_change(tmp_path, model, capsys):
    make_folder(tmp_path / "audio")
    out = tmp_path / "out"
    args = ["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(out), "--workers", "1"]
    assert main(args) == 0
    first = (out / "detections.csv").read_text()
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    captured = capsys.readouterr()
    assert "3 of 3 file(s) already done" in captured.err and "scored 0 file(s)" in captured.out
    assert (out / "detections.csv").read_text() == first
    assert main(args + ["--resume", "--threshold", "0.95"]) == 0  # other parameters: all rescored
    assert "scored 3 file(s)" in capsys.readouterr().out
    # a changed file is rescored too
    assert main(args + ["--resume"]) == 0
    capsys.readouterr()
    tone_file(tmp_path / "audio" / "rec0.wav", 6.0, 16000, [(4.0, 5.0, 1000.0)])
    assert main(args + ["--resume"]) == 0
    assert "scored 1 file(s)" in capsys.readouterr().out
    rows = read_csv(out / "detections.csv")
    assert len(rows) == 3 and [(r["t_min"], r["t_max"]) for r in rows if r["file"].endswith("rec0.wav")] == [
        ("4.000000", "5.000000")]


def test_shards_split_the_sorted_list(tmp_path, model, capsys):
    calls = make_folder(tmp_path / "audio", n=5, duration=4.0)
    out = tmp_path / "out"
    seen = []
    for k in (1, 2):
        assert main(["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(out), "--shard",
                     f"{k}/2", "--format", "csv,raven", "--workers", "1"]) == 0
        seen.append([r["file"] for r in read_csv(out / f"detections-{k}of2.csv")])
        assert (out / f"journal-{k}of2.jsonl").exists() and (out / f"detections-{k}of2.selections.txt").exists()
    files = sorted(calls)
    assert seen == [files[0::2], files[1::2]]


def test_project_gets_recordings_model_and_detections(tmp_path, model, capsys):
    make_folder(tmp_path / "audio", n=2)
    with Project.create(tmp_path / "proj") as project:
        project.add_class("low", f_min=800.0, f_max=1200.0)
    args = ["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(tmp_path / "out"),
            "--project", str(tmp_path / "proj"), "--workers", "1"]
    assert main(args) == 0
    assert main(args) == 0  # again: same model version, detections replaced, not doubled
    with Project.open(tmp_path / "proj") as project:
        assert sorted(r.name for r in project.recordings()) == ["rec0.wav", "rec1.wav"]
        versions = project.model_versions()
        assert [(v.name, v.kind, v.path) for v in versions] == [("band", "onnx", str(model.resolve()))]
        assert versions[0].card["classes"] == CLASSES
        dets = project.detections(versions[0].id)
        assert len(dets) == 2 and {project.class_(d.class_id).name for d in dets} == {"low"}
        assert all((d.f_min, d.f_max) == (800.0, 1200.0) for d in dets)  # the project's class band
    rows = read_csv(tmp_path / "out" / "detections.csv")
    assert {(r["f_min"], r["f_max"]) for r in rows} == {("800.0", "1200.0")}
    assert main(["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(tmp_path / "o2"),
                 "--project", str(tmp_path / "no_project")]) == 2
    assert "not a birdlab project" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def test_project_keeps_detections_down_to_the_apps_threshold(tmp_path, capsys):
    """The tables follow --threshold; the project gets what the app would store (from 0.2 up), so
    the app's threshold slider works the same on recordings scored by a batch."""
    from birdlab.scoring.detect import DetectSettings
    from birdlab.scoring.ensemble import load_scorer
    from birdlab.scoring.recording import ScoreSettings, score_recording
    from birdlab.scoring.store import APP_DETECTION_THRESHOLD

    faint = band_model(tmp_path / "faint.onnx", CLASSES, BANDS, scale=1.0, bias=3.3)  # the call scores 0.2-0.45
    make_folder(tmp_path / "audio", n=2)
    Project.create(tmp_path / "proj").close()
    assert main(["score", str(tmp_path / "audio"), "--model", str(faint), "--out", str(tmp_path / "out"),
                 "--project", str(tmp_path / "proj"), "--workers", "2"]) == 0
    assert read_csv(tmp_path / "out" / "detections.csv") == []  # nothing reaches 0.5
    app = ScoreSettings(detect=DetectSettings(threshold=APP_DETECTION_THRESHOLD))
    scorer = load_scorer([str(faint)])
    with Project.open(tmp_path / "proj") as project:
        version = project.model_versions()[0]
        for rec in project.recordings():
            stored = [(d.t_min, d.t_max, project.class_(d.class_id).name, round(d.score, 6))
                      for d in project.detections(version.id, rec.id)]
            expected = [(b.t_min, b.t_max, b.label, round(b.score, 6))
                        for b in score_recording(rec.abs_path, scorer, app).detections]
            assert stored == expected and stored and all(0.2 <= d[3] < 0.5 for d in stored)


def test_combined_tables_that_cannot_be_read_back_fail_the_run_clearly(tmp_path, model, monkeypatch, capsys):
    from birdlab.scoring import batch

    def journal_rewritten(*args, **kwargs):
        raise ValueError("journal.jsonl: the line at byte 0 (/x.wav) changed during the run")

    monkeypatch.setattr(batch, "write_combined", journal_rewritten)
    make_folder(tmp_path / "audio", n=1)
    assert main(["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "the combined tables were not written: journal.jsonl: the line at byte 0" in err
    assert "--resume to rebuild them" in err


def test_sigkill_mid_run_then_resume_scores_every_file_once(tmp_path):
    n = 8
    calls = make_folder(tmp_path / "audio", n=n, duration=20.0)
    slow = band_model(tmp_path / "slow.onnx", CLASSES, BANDS, **MODEL, slow=100)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "birdlab", "score", str(tmp_path / "audio"), "--model", str(slow),
           "--out", str(out), "--format", "csv,raven", "--workers", "2", "--threads", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not journal_done(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = journal_done(out)
    assert 1 <= len(done_at_kill) < n
    assert not (out / "detections.csv").exists()

    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(set(done_at_kill))} of {n} file(s) already done" in resumed.stderr
    rows = read_csv(out / "detections.csv")
    assert sorted(r["file"] for r in rows) == sorted(calls)  # every file exactly once
    assert {r["file"]: (float(r["t_min"]), float(r["t_max"])) for r in rows} == calls
    combined = raven.read(out / "detections.selections.txt")
    assert sorted(a.recording for a in combined) == sorted(calls)
    assert len(list((out / "raven").rglob("*.selections.txt"))) == n
    done = journal_done(out)
    assert sorted(set(done)) == sorted(calls) and len(done) == n  # killed files were not journaled twice
    assert not list(out.rglob("*.tmp"))


def test_tracks_of_a_long_file_stay_bounded(tmp_path, model, monkeypatch):
    """Tracks past the memory limit are memory-mapped and still written correctly."""
    from birdlab.scoring.batch import BatchConfig, run_batch
    from birdlab.scoring.recording import ScoreSettings

    path = tone_file(tmp_path / "audio" / "long.wav", 30.0, 16000, [(20.0, 21.0, 1000.0)])
    out = tmp_path / "out"
    report = run_batch(BatchConfig(inputs=[str(path)], models=[str(model)], out=out, tracks=True, workers=1,
                                   settings=ScoreSettings(max_track_bytes=100), progress=False))
    assert report.exit_code == 0 and report.scored == 1
    with np.load(out / "tracks" / "long.npz") as npz:
        assert npz["tracks"].shape == (300, 2) and npz["tracks"][205, 0] > 0.8
    assert [(r["t_min"], r["t_max"]) for r in read_csv(out / "detections.csv")] == [("20.000000", "21.000000")]
    assert sf.info(str(path)).duration == 30.0


def test_a_dying_worker_is_replaced_and_only_its_file_fails(tmp_path, model):
    from birdlab.scoring.batch import _run_pool
    from birdlab.scoring.recording import ScoreSettings
    from tests.scoring.fakes import crash_on_request

    tasks = [(f"/x/ok{i}.wav", f"ok{i}") for i in range(3)] + [("/x/crash1.wav", "crash1")] + [
        (f"/x/ok{i}.wav", f"ok{i}") for i in range(3, 6)] + [("/x/crash2.wav", "crash2"), ("/x/ok6.wav", "ok6")]
    init = ([str(model)], None, "mean", 1, ScoreSettings(), str(tmp_path), ("csv",), False)
    seen = []
    _run_pool(tasks, init, 2, seen.append, task=crash_on_request)
    ok = sorted(o.path for o in seen if o.ok)
    failed = [(o.path, o.reason) for o in seen if not o.ok]
    assert sorted(failed) == [("/x/crash1.wav", "the worker process died while scoring it"),
                              ("/x/crash2.wav", "the worker process died while scoring it")]
    assert ok == sorted(f"/x/ok{i}.wav" for i in range(7))  # innocent files in flight were rerun
    assert len(seen) == len(tasks)


class PoolThatBreaksOnCrash:
    """An in-process stand-in for ProcessPoolExecutor that breaks as a real one does.

    A crash* file "kills its worker": its future fails with BrokenProcessPool and every later
    submit raises it, before the loop has seen any future fail (the race a loaded CI hit)."""

    def __init__(self, *args, **kwargs):
        self.broken = False

    def submit(self, fn, path, rel):
        if self.broken:
            raise cf.process.BrokenProcessPool("A child process terminated abruptly")
        future = cf.Future()
        if Path(path).name.startswith("crash"):
            self.broken = True
            future.set_exception(cf.process.BrokenProcessPool("A child process terminated abruptly"))
        else:
            future.set_result(fn(path, rel))
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        pass


def test_a_pool_that_breaks_at_submit_reruns_the_file_instead_of_failing_the_run(monkeypatch):
    from birdlab.scoring import batch
    from tests.scoring.fakes import crash_on_request

    monkeypatch.setattr(batch.cf, "ProcessPoolExecutor", PoolThatBreaksOnCrash)
    tasks = [("/x/ok0.wav", "ok0"), ("/x/crash1.wav", "crash1")] + [(f"/x/ok{i}.wav", f"ok{i}") for i in range(1, 6)]
    seen = []
    batch._run_pool(tasks, (), 2, seen.append, task=crash_on_request)
    assert [(o.path, o.reason) for o in seen if not o.ok] == [("/x/crash1.wav", "the worker process died while scoring it")]
    assert sorted(o.path for o in seen if o.ok) == sorted(f"/x/ok{i}.wav" for i in range(6))
    assert len(seen) == len(tasks)


def test_the_pool_hands_out_the_largest_files_first(tmp_path, monkeypatch):
    """A long file handed out last would keep one core busy while the others idle."""
    from birdlab.scoring import batch
    from tests.scoring.fakes import crash_on_request

    submitted = []

    class RecordingPool(PoolThatBreaksOnCrash):
        def submit(self, fn, path, rel):
            submitted.append(rel)
            return super().submit(fn, path, rel)

    sizes = {"a": 10, "b": 300, "c": 20, "d": 300, "e": 5000}
    for name, size in sizes.items():
        (tmp_path / f"ok_{name}.wav").write_bytes(b"x" * size)
    monkeypatch.setattr(batch.cf, "ProcessPoolExecutor", RecordingPool)
    batch._run_pool([(str(tmp_path / f"ok_{n}.wav"), n) for n in sizes], (), 2, lambda o: None,
                    task=crash_on_request)
    assert submitted == ["e", "b", "d", "c", "a"]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children of children included), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie has exited; only its parent's wait is missing
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_run_takes_every_worker_down_with_it(tmp_path, sig):
    """Only the main process is killed (as the app's Cancel or `kill PID` does): the workers,
    the forkserver and the resource tracker must follow within seconds, and the caller's pipe closes."""
    make_folder(tmp_path / "audio", n=8, duration=20.0)
    slow = band_model(tmp_path / "slow.onnx", CLASSES, BANDS, **MODEL, slow=100)
    cmd = [sys.executable, "-m", "birdlab", "score", str(tmp_path / "audio"), "--model", str(slow),
           "--out", str(tmp_path / "out"), "--workers", "2", "--threads", "1", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(descendants(proc.pid)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # forkserver, resource tracker, workers
    below = descendants(proc.pid)
    assert proc.poll() is None and len(below) >= 3, proc.stderr.read().decode() if proc.poll() is not None else below
    os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in below if alive(p)], "processes outlived the killed run"
    proc.stderr.read()  # EOF: no straggler holds the caller's pipe open
    if sig == signal.SIGTERM:
        assert proc.returncode == 130


@pytest.mark.parametrize("activation, reason", [("nan", "NaN or infinite"), ("identity", "outside [0, 1]")])
def test_a_model_whose_outputs_are_not_probabilities_is_refused(tmp_path, capsys, activation, reason):
    """Refused up front (its check run fails: exit 2, nothing written); a model that only goes
    wrong on some audio fails each such file, named with the model, the file and the time."""
    from birdlab.scoring.ensemble import load_scorer
    from birdlab.scoring.metadata import ModelFileError
    from birdlab.scoring.recording import score_recording

    make_folder(tmp_path / "audio", n=2)
    broken = band_model(tmp_path / "broken.onnx", CLASSES, BANDS, **MODEL, activation=activation)
    assert main(["score", str(tmp_path / "audio"), "--model", str(broken), "--out", str(tmp_path / "out"),
                 "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert reason in err and "broken.onnx" in err
    assert not (tmp_path / "out").exists()
    scorer = load_scorer([str(broken)], verify=False)
    with pytest.raises(ModelFileError, match=rf"broken.onnx: its output .*{reason[:8]}.*rec0.wav at 0.0 s"):
        score_recording(tmp_path / "audio" / "rec0.wav", scorer)


def test_an_outside_model_is_named_after_its_card_or_version_and_can_be_made_active(tmp_path, model, capsys):
    make_folder(tmp_path / "audio", n=1)
    run_model = tmp_path / "runs" / "20261201-0930" / "model" / "model.onnx"
    run_model.parent.mkdir(parents=True)
    run_model.write_bytes(model.read_bytes())
    (run_model.parent / "card.json").write_text('{"classes": ["low", "high"], "backbone": "efficientnet_lite0", '
                                               '"training_run": "20261201-0930"}')
    Project.create(tmp_path / "proj").close()
    base = ["score", str(tmp_path / "audio"), "--out", str(tmp_path / "out"), "--project", str(tmp_path / "proj"),
            "--workers", "1", "--quiet"]
    assert main(base + ["--model", str(run_model)]) == 0
    out = capsys.readouterr().out
    assert "as model version 'efficientnet_lite0 20261201-0930'" in out and "pass --activate" in out
    assert main(base + ["--model", str(model), "--version", "band model", "--activate"]) == 0
    assert "as model version 'band model' (the active version)" in capsys.readouterr().out
    with Project.open(tmp_path / "proj") as project:
        assert project.active_model().name == "band model"
        assert {v.name for v in project.model_versions()} == {"efficientnet_lite0 20261201-0930", "band model"}
    assert main(["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(tmp_path / "o2"),
                 "--activate"]) == 2
    assert "go with --project" in capsys.readouterr().err


def test_a_file_the_project_cannot_take_fails_alone_and_the_others_are_kept(tmp_path, model, capsys, monkeypatch):
    """Files go into the project in batches of one transaction; when one of them cannot be written,
    the batch is written again file by file, so only that file fails (and is not in the journal)."""
    from birdlab.core.sound.audio import AudioError
    from birdlab.scoring import batch

    make_folder(tmp_path / "audio", n=3)
    Project.create(tmp_path / "proj").close()
    real = batch._ProjectSink.write

    def write(self, path, boxes):
        if Path(path).name == "rec1.wav":
            raise AudioError(path, "the file changed since it was scored")
        return real(self, path, boxes)

    monkeypatch.setattr(batch._ProjectSink, "write", write)
    assert main(["score", str(tmp_path / "audio"), "--model", str(model), "--out", str(tmp_path / "o"),
                 "--project", str(tmp_path / "proj"), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "rec1.wav" in err and "could not write it into the project" in err
    with Project.open(tmp_path / "proj") as project:
        assert sorted(r.name for r in project.recordings()) == ["rec0.wav", "rec2.wav"]
        assert {project.recording(d.recording_id).name for d in project.detections(project.model_versions()[0].id)} \
            == {"rec0.wav", "rec2.wav"}
    assert sorted(Path(p).name for p in journal_done(tmp_path / "o")) == ["rec0.wav", "rec2.wav"]
