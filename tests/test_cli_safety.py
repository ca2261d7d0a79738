"""Outputs never overwrite inputs; failures of the system get plain words (issue: nothing lost).

Each test checks both the exit code 2 and that what the user had is byte for byte unchanged.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from birdlab.cli import main
from birdlab.core.model import Box, Polarity
from birdlab.core.store.project import Project

RAVEN = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
         "1\tSpectrogram 1\t1\t1.0\t2.5\t500\t4000\tA\n")


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def counts(folder) -> dict[str, int]:
    """Rows of every table, and SQLite's own integrity verdict."""
    with sqlite3.connect(folder / "project.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
def project(tmp_path, make_wav):
    """A project with one recording, one label and an ONNX-kind model version with a detection."""
    audio = tmp_path / "audio"
    make_wav("rec1.wav", duration=10.0, sample_rate=32000, folder=audio)
    folder = tmp_path / "p"
    assert main(["init", str(folder), "--audio", str(audio)]) == 0
    with Project.open(folder) as p:
        cls = p.add_class("A")
        rec = p.recordings()[0]
        p.add_label(rec.id, cls.id, Box(1.0, 2.0, 500.0, 4000.0), Polarity.POSITIVE)
        model = p.add_model_version("v1", "onnx", "models/v1/model.onnx", activate=True)
        p.set_detections(model.id, rec.id, [(cls.id, 1.0, 2.0, 0.0, 16000.0, 0.9)])
    (folder / "models" / "v1").mkdir(parents=True)
    (folder / "models" / "v1" / "card.json").write_text("{}")
    return folder


def refused(capsys, argv, *needles) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("fmt, name", [("raven", "project.sqlite"), ("aoef", "project.sqlite"),
                                        ("birdnet", "project.sqlite-wal"), ("raven", "models/v1/card.json"),
                                        ("rfcx", "runs"), ("audacity", "models")])
def test_labels_export_refuses_the_project_itself(project, capsys, fmt, name):
    before, db = counts(project), digest(project / "project.sqlite")
    refused(capsys, ["labels", "export", str(project), "--format", fmt, "--out", str(project / name)],
            "refused", str(project))
    assert digest(project / "project.sqlite") == db and counts(project) == before
    assert (project / "models" / "v1" / "card.json").read_text() == "{}"


def test_labels_export_refuses_a_recording_and_any_audio_file(project, tmp_path, make_wav, capsys):
    recording = tmp_path / "audio" / "rec1.wav"
    kept = digest(recording)
    refused(capsys, ["labels", "export", str(project), "--format", "aoef", "--out", str(recording)], "inputs")
    other = make_wav("other.wav", folder=tmp_path / "elsewhere")
    refused(capsys, ["labels", "export", str(project), "--format", "aoef", "--out", str(other)], "audio file")
    assert digest(recording) == kept


def test_export_onto_a_folder_or_under_a_file_says_so(project, tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    refused(capsys, ["labels", "export", str(project), "--format", "aoef", "--out", str(tmp_path / "adir")],
            "is a folder")
    (tmp_path / "plain").write_text("x")
    refused(capsys, ["labels", "export", str(project), "--format", "raven", "--out",
                     str(tmp_path / "plain" / "out.txt")], "is a file, not a folder")
    refused(capsys, ["init", str(tmp_path / "plain" / "proj")], "is a file, not a folder")
    refused(capsys, ["labels", "export", str(project), "--format", "aoef", "--out",
                     str(tmp_path / ("x" * 300 + ".json"))], "too long")


def test_evaluate_refuses_the_project_database_and_its_inputs(project, tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("file,t_min,t_max,class\nrec1,1,2,A\n")
    pred = tmp_path / "pred.csv"
    pred.write_text("file,t_min,t_max,class,score\nrec1,1,2,A,0.9\n")
    db = digest(project / "project.sqlite")
    for option in ("--json", "--out", "--plot"):
        refused(capsys, ["evaluate", "--truth", str(truth), "--pred", str(pred), option,
                         str(project / "project.sqlite")], "database of project")
    refused(capsys, ["evaluate", "--truth", str(truth), "--pred", str(pred), "--out", str(pred)], "inputs")
    assert digest(project / "project.sqlite") == db
    assert pred.read_text().startswith("file,t_min")


def test_evaluate_refuses_absurd_parameters_with_the_range(tmp_path, capsys):
    refused(capsys, ["evaluate", "--truth", "t.csv", "--pred", "p.csv", "--segment", "0.0001"], "[0.1, 3600]")
    refused(capsys, ["evaluate", "--truth", "t.csv", "--pred", "p.csv", "--threshold", "7"], "[0, 1]")


def test_score_refuses_outputs_in_the_project_and_onto_an_input(project, tmp_path, capsys):
    recording = tmp_path / "audio" / "rec1.wav"
    for out in (project / "models", project / "runs" / "x", project / "project.sqlite", recording):
        refused(capsys, ["score", str(recording), "--model", "m.onnx", "--out", str(out)], "refused")
    assert counts(project)["detections"] == 1


def test_birdnet_import_never_replaces_a_birdlab_versions_detections(project, tmp_path, capsys):
    table = tmp_path / "rec1.BirdNET.results.csv"
    table.write_text("Start (s),End (s),Scientific name,Common name,Confidence\n3.0,6.0,A,A,0.8\n")
    before = counts(project)
    refused(capsys, ["labels", "import", str(project), "--format", "birdnet", "--model", "v1", str(table)],
            "never replace")
    assert counts(project) == before
    assert main(["labels", "import", str(project), "--format", "birdnet", "--model", "BirdNET", str(table)]) == 0
    with Project.open(project) as p:
        assert [d.score for d in p.detections(p.model_by_name("v1").id)] == [0.9]
        assert len(p.detections(p.model_by_name("BirdNET").id)) == 1


def test_a_full_disk_during_export_is_one_line_and_leaves_no_half_file(project, tmp_path, capsys, monkeypatch):
    out = tmp_path / "labels.txt"
    out.write_text("the previous export\n")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", no_space)
    refused(capsys, ["labels", "export", str(project), "--format", "raven", "--out", str(out)], "disk full")
    assert out.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".labels")] == []


def test_a_full_disk_during_import_rolls_back_and_says_so(project, tmp_path, capsys, monkeypatch):
    table = tmp_path / "rec1.Table.1.selections.txt"
    table.write_text(RAVEN)
    before = counts(project)
    import birdlab.core.store.project as project_module
    real = project_module.Project.add_labels

    def fail_midway(self, new):
        real(self, new)  # written inside the transaction, then the disk fills
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(project_module.Project, "add_labels", fail_midway)
    refused(capsys, ["labels", "import", str(project), "--format", "raven", str(table)], "disk full")
    assert counts(project) == before


def test_a_locked_project_waits_then_names_the_holder(project, tmp_path, capsys, monkeypatch):
    table = tmp_path / "rec1.Table.1.selections.txt"
    table.write_text(RAVEN)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"db = sqlite3.connect({str(project / 'project.sqlite')!r}, isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr("birdlab.core.store.project.BUSY_TIMEOUT_S", 0.5)
        started = time.monotonic()
        refused(capsys, ["labels", "import", str(project), "--format", "raven", str(table)],
                "locked", f"pid {holder.pid}")
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()
    assert counts(project)["labels"] == 1


def test_a_read_only_project_opens_for_viewing_and_refuses_edits(project, tmp_path, capsys, monkeypatch):
    table = tmp_path / "rec1.Table.1.selections.txt"
    table.write_text(RAVEN)
    before = counts(project)
    monkeypatch.setattr("birdlab.core.store.project.writable", lambda root: False)  # as a read-only folder is
    with Project.open(project) as p:
        assert p.read_only and len(p.labels()) == 1 and p.active_model().name == "v1"
        with pytest.raises(Exception, match="read-only"):
            p.add_class("B")
    refused(capsys, ["labels", "import", str(project), "--format", "raven", str(table)], "read-only",
            "permission denied")
    assert counts(project) == before


def as_unprivileged(argv: list[str], cwd) -> subprocess.CompletedProcess:
    """`python -m birdlab ARGV` as a user whom file permissions bind: this user, or `nobody`
    when the tests run as root (root reads and writes whatever the permissions say)."""
    cmd = [sys.executable, "-m", "birdlab", *argv]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HOME": str(cwd)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


@pytest.mark.skipif(not hasattr(os, "geteuid") or (os.geteuid() == 0 and shutil.which("setpriv") is None),
                    reason="needs a user whom permissions bind (setpriv to drop root)")
def test_real_permissions_read_only_project_and_unreadable_audio(make_wav):
    base = Path(tempfile.mkdtemp(prefix="birdlab-perm-"))  # beside /tmp's other users' files, not under root's 0700
    try:
        base.chmod(0o777)
        audio = base / "audio"
        make_wav("rec1.wav", duration=5.0, folder=audio)
        make_wav("rec2.wav", duration=5.0, folder=audio)
        assert main(["init", str(base / "p"), "--audio", str(audio)]) == 0
        with Project.open(base / "p") as p:
            p.add_label(p.recordings()[0].id, p.add_class("A").id, Box(1.0, 2.0, 500.0, 4000.0), Polarity.POSITIVE)
        for path in [base, audio, *audio.iterdir()]:
            path.chmod(0o777 if path.is_dir() else 0o644)
        for path in [base / "p", *(base / "p").rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)  # a project this user cannot change
        (audio / "rec2.wav").chmod(0)
        (base / "t.txt").write_text(RAVEN)
        (base / "t.txt").chmod(0o644)
        result = as_unprivileged(["labels", "import", str(base / "p"), "--format", "raven", "--recording", "rec1",
                                  str(base / "t.txt")], base)
        assert result.returncode == 2 and "read-only (permission denied)" in result.stderr, result.stderr
        result = as_unprivileged(["labels", "export", str(base / "p"), "--format", "raven", "--out",
                                  str(base / "out.txt")], base)
        assert result.returncode == 0, result.stderr  # viewing and exporting a read-only project works
        result = as_unprivileged(["init", str(base / "q"), "--audio", str(audio)], base)
        assert result.returncode == 1 and "rec2.wav: permission denied" in result.stderr, result.stderr
    finally:
        for path in [base, *base.rglob("*")]:
            path.chmod(0o700)
        shutil.rmtree(base)


POINT_TABLE = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
               "1\tSpectrogram 1\t1\t1.0\t2.5\t500\t4000\tA\n"
               "2\tSpectrogram 1\t1\t3.0\t3.0\t500\t4000\tA\n"  # a point selection (legal in Raven)
               "3\tSpectrogram 1\t1\t4.0\t5.0\t500\t4000\tB\n")


def test_skip_invalid_imports_the_valid_rows_and_lists_the_rest(project, tmp_path, capsys):
    table = tmp_path / "rec1.Table.1.selections.txt"
    table.write_text(POINT_TABLE)
    before = counts(project)
    err = refused(capsys, ["labels", "import", str(project), "--format", "raven", str(table)],
                  f"{table}:3:", "--skip-invalid")
    assert "nothing imported" in err and counts(project) == before
    assert main(["labels", "import", str(project), "--format", "raven", "--skip-invalid", str(table)]) == 1
    captured = capsys.readouterr()
    assert f"skipped {table}:3:" in captured.err and "1 invalid row(s) skipped" in captured.err
    assert "imported 2 labels" in captured.out
    assert counts(project)["labels"] == before["labels"] + 2


def test_duplicate_selection_numbers_with_different_boxes_are_a_listed_error(project, tmp_path, capsys):
    table = tmp_path / "rec1.Table.1.selections.txt"
    table.write_text(RAVEN + "1\tSpectrogram 1\t1\t6.0\t7.0\t500\t4000\tA\n"
                     "2\tWaveform 1\t1\t8.0\t9.0\t0\t0\tA\n2\tSpectrogram 1\t1\t8.0\t9.0\t300\t900\tA\n")
    refused(capsys, ["labels", "import", str(project), "--format", "raven", str(table)],
            f"{table}:2: Selection 1 is on lines 2 and 3 with different boxes")
    assert counts(project)["labels"] == 1


def test_imported_scores_outside_0_1_and_empty_files_are_errors(project, tmp_path, capsys):
    table = tmp_path / "rec1.BirdNET.results.csv"
    table.write_text("Start (s),End (s),Scientific name,Common name,Confidence\n"
                     "0.0,3.0,A,A,7.5\n3.0,6.0,A,A,-3\n6.0,9.0,A,A,0.5\n")
    refused(capsys, ["labels", "import", str(project), "--format", "birdnet", str(table)],
            f"{table}:2: score 7.5 lies outside [0, 1]", f"{table}:3: score -3")
    empty = tmp_path / "rec1.txt"
    empty.write_text("")
    refused(capsys, ["labels", "import", str(project), "--format", "audacity", str(empty)], "empty")


def test_a_table_through_a_pipe_imports(project, tmp_path, capsys):
    read_end, write_end = os.pipe()
    os.write(write_end, RAVEN.encode())
    os.close(write_end)
    try:
        assert main(["labels", "import", str(project), "--format", "raven", "--recording", "rec1",
                     f"/dev/fd/{read_end}"]) == 0
    finally:
        os.close(read_end)
    assert counts(project)["labels"] == 2


@pytest.fixture
def full_disk(tmp_path):
    """A 3 MB tmpfs (root only), to be filled by the test: a real ENOSPC, not an injected one."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder, leave: int) -> None:
    """Fill the file system of `folder` until about `leave` bytes are free."""
    with open(folder / "filler", "ab", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(folder / "filler", max(0, (folder / "filler").stat().st_size - leave))


def test_a_really_full_disk_in_import_export_and_score_leaves_the_project_intact(full_disk, tmp_path, make_wav,
                                                                                   capsys):
    audio = tmp_path / "audio"
    make_wav("rec1.wav", duration=60.0, sample_rate=32000, folder=audio)
    project = full_disk / "p"
    assert main(["init", str(project), "--audio", str(audio)]) == 0
    table = tmp_path / "rec1.Table.1.selections.txt"
    rows = [f"{i}\tSpectrogram 1\t1\t{i * 0.01:.2f}\t{i * 0.01 + 0.5:.2f}\t500\t4000\tA long class name {i}"
            for i in range(1, 5000)]
    table.write_text(RAVEN.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    capsys.readouterr()
    before = counts(project)
    fill(full_disk, leave=16 * 1024)
    refused(capsys, ["labels", "import", str(project), "--format", "raven", str(table)], "disk full")
    assert counts(project) == before
    fill(full_disk, leave=0)
    refused(capsys, ["labels", "export", str(project), "--format", "aoef", "--out", str(full_disk / "x.json")],
            "disk full")
    assert not [p for p in full_disk.iterdir() if p.name.endswith(".tmp")]
    from tests.scoring.onnx_models import band_model
    model = band_model(tmp_path / "m.onnx", ["A"], [(900.0, 1100.0)], scale=1.0, bias=8.0)
    code = main(["score", str(audio), "--model", str(model), "--out", str(full_disk / "out"), "--project",
                 str(project), "--workers", "1", "--quiet"])
    assert code in (1, 2) and "disk full" in capsys.readouterr().err
    assert counts(project)["labels"] == before["labels"]  # and SQLite's integrity check passed
    (full_disk / "filler").unlink()
    assert main(["labels", "import", str(project), "--format", "raven", str(table)]) == 0  # room again: it works
    assert counts(project)["labels"] == 4999


@pytest.mark.skipif(sys.platform != "linux", reason="Linux file names are bytes")
def test_a_non_utf8_file_name_goes_through_init_score_export_and_a_job(tmp_path, make_wav, capsys):
    from birdlab.core.synthetic.demo import DEMO_MODEL
    from birdlab.core.ml.jobs import make_job, read_job, write_job
    audio = tmp_path / "audio"
    source = make_wav("plain.wav", duration=3.0, sample_rate=32000, folder=audio)
    raw = os.path.join(os.fsencode(audio), b"caf\xe9.wav")  # Latin-1 bytes: not UTF-8
    os.rename(os.fsencode(source), raw)
    assert main(["init", str(tmp_path / "p"), "--audio", str(audio)]) == 0
    assert main(["score", str(audio), "--model", str(DEMO_MODEL / "model.onnx"), "--out", str(tmp_path / "out"),
                 "--project", str(tmp_path / "p"), "--workers", "1", "--quiet"]) == 0
    assert b"caf\xe9.wav" in (tmp_path / "out" / "detections.csv").read_bytes()  # the OS's own bytes
    with Project.open(tmp_path / "p") as p:
        rec = p.recordings()[0]
        assert os.fsencode(rec.abs_path) == raw and rec.duration == pytest.approx(3.0)
        cls = p.classes()[0]
        p.add_label(rec.id, cls.id, Box(0.5, 1.5, 100.0, 8000.0), Polarity.POSITIVE)
        job = read_job(write_job(make_job(p, {}), tmp_path / "job.json"))
        assert os.fsencode(job.recordings[0].path) == raw
    assert main(["labels", "export", str(tmp_path / "p"), "--format", "raven", "--out", str(tmp_path / "t.txt")]) == 0
    shown = capsys.readouterr()
    assert "\udce9" not in shown.out + shown.err


def test_a_bad_species_list_writes_nothing_not_even_the_project(tmp_path, make_wav, capsys):
    species = tmp_path / "species.csv"
    species.write_text("notes,remark\nx,y\n")  # no name column
    refused(capsys, ["init", str(tmp_path / "p"), "--audio", str(make_wav("a.wav")), "--species", str(species)],
            "nothing written")
    assert not (tmp_path / "p").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="builds a path past PATH_MAX with directory file descriptors")
def test_a_path_past_the_os_limit_is_skipped_with_its_reason(tmp_path, make_wav, capsys):
    audio = tmp_path / "audio"
    make_wav("ok.wav", duration=2.0, folder=audio)
    fd = os.open(audio, os.O_RDONLY)
    try:
        for _ in range(18):  # 18 x 250 characters: past 4096
            os.mkdir("d" * 250, dir_fd=fd)
            deeper = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        data = (audio / "ok.wav").read_bytes()
        out = os.open("deep.wav", os.O_WRONLY | os.O_CREAT, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)
    assert main(["init", str(tmp_path / "p"), "--audio", str(audio)]) == 1
    err = capsys.readouterr().err
    assert "file name too long" in err and "..." in err and len(err) < 1200  # the path is shortened
    with Project.open(tmp_path / "p") as p:
        assert [r.name for r in p.recordings()] == ["ok.wav"]
