"""The `birdlab` command: init and labels import/export, with exit codes 0, 1, 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from birdlab.cli import main
from birdlab.core.model import Polarity
from birdlab.core.store.project import Project


@pytest.fixture
def audio_dir(tmp_path, make_wav):
    folder = tmp_path / "audio"
    make_wav("rec1.wav", duration=20.0, sample_rate=32000, folder=folder)
    make_wav("night/rec2.wav", duration=30.0, sample_rate=48000, folder=folder)
    return folder


def test_init_adds_recordings_and_species(tmp_path, audio_dir, capsys):
    species = tmp_path / "species.txt"
    species.write_text("A\nB\n")
    assert main(["init", str(tmp_path / "p"), "--audio", str(audio_dir), "--species", str(species)]) == 0
    out = capsys.readouterr().out
    assert "2 recordings" in out and "2 classes" in out
    with Project.open(tmp_path / "p") as project:
        assert sorted(r.name for r in project.recordings()) == ["rec1.wav", "rec2.wav"]


def test_init_with_a_bad_file_exits_1_and_names_it(tmp_path, audio_dir, capsys):
    (audio_dir / "corrupt.wav").write_bytes(b"RIFF\x00\x00junk")
    assert main(["init", str(tmp_path / "p"), "--audio", str(audio_dir)]) == 1
    err = capsys.readouterr().err
    assert "corrupt.wav" in err and "not a readable audio file" in err
    with Project.open(tmp_path / "p") as project:
        assert len(project.recordings()) == 2


def test_bad_usage_exits_2(tmp_path, capsys):
    assert main(["init", str(tmp_path / "p"), "--audio", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["labels", "import", str(tmp_path / "nothing"), "--format", "raven", "x.txt"]) == 2
    assert main(["labels", "import", str(tmp_path), "--format", "nope", "x.txt"]) == 2
    assert main(["init"]) == 2  # missing argument
    assert main(["gui", str(tmp_path / "no-such-project")]) == 2
    assert "no such project folder" in capsys.readouterr().err


def test_no_command_opens_the_app(monkeypatch, tmp_path):
    import birdlab.gui.app as app
    calls = []
    monkeypatch.setattr(app, "run", lambda paths, **kw: calls.append((paths, kw)) or 0)
    assert main([]) == 0
    assert main([str(tmp_path)]) == 0
    assert calls[0][0] == [] and calls[1][0] == [str(tmp_path)]


RAVEN = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
         "1\tSpectrogram 1\t1\t1.0\t2.5\t500\t4000\tA\n"
         "2\tSpectrogram 1\t1\t3.0\t3.5\t1000\t2000\tB\n")


def project_with_table(tmp_path, audio_dir, stem: str, text: str):
    """A project of `audio_dir` at tmp_path/p and a Raven table for recording `stem` (not imported)."""
    assert main(["init", str(tmp_path / "p"), "--audio", str(audio_dir)]) == 0
    table = tmp_path / f"{stem}.Table.1.selections.txt"
    table.write_text(text)
    return table


def test_labels_import_then_export_round_trip(tmp_path, audio_dir, capsys):
    table = project_with_table(tmp_path, audio_dir, "rec1", RAVEN)
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", str(table)]) == 0
    assert "imported 2 labels" in capsys.readouterr().out
    out = tmp_path / "export.txt"
    assert main(["labels", "export", str(tmp_path / "p"), "--format", "raven", "--out", str(out)]) == 0
    assert main(["init", str(tmp_path / "q"), "--audio", str(audio_dir)]) == 0
    assert main(["labels", "import", str(tmp_path / "q"), "--format", "raven", str(out)]) == 0
    with Project.open(tmp_path / "p") as p, Project.open(tmp_path / "q") as q:
        def boxes(project):
            names = {c.id: c.name for c in project.classes()}
            return sorted((round(x.t_min, 6), round(x.t_max, 6), round(x.f_min, 3), round(x.f_max, 3),
                           names[x.class_id], x.polarity) for x in project.labels())
        assert boxes(p) == boxes(q) == [(1.0, 2.5, 500.0, 4000.0, "A", Polarity.POSITIVE),
                                       (3.0, 3.5, 1000.0, 2000.0, "B", Polarity.POSITIVE)]


def test_bad_table_writes_nothing_and_names_rows(tmp_path, audio_dir, capsys):
    assert main(["init", str(tmp_path / "p"), "--audio", str(audio_dir)]) == 0
    table = tmp_path / "rec1.Table.1.selections.txt"
    table.write_text(RAVEN + "3\tSpectrogram 1\t1\t4.0\t4.5\t500\t30000\tA\n"  # above 16 kHz Nyquist
                     "4\tSpectrogram 1\t1\t19.0\t21.0\t500\t3000\tA\n"  # past the end (20 s)
                     "5\tSpectrogram 1\t1\tabc\t2.0\t500\t3000\tA\n")  # not a number
    capsys.readouterr()
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", str(table)]) == 2
    err = capsys.readouterr().err
    assert f"{table}:4:" in err and "Nyquist" in err
    assert f"{table}:5:" in err and "past the end" in err
    assert f"{table}:6:" in err
    with Project.open(tmp_path / "p") as project:
        assert project.labels() == [] and project.classes() == []


def test_unknown_recording_is_a_row_error(tmp_path, audio_dir, capsys):
    table = project_with_table(tmp_path, audio_dir, "elsewhere", RAVEN)
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", str(table)]) == 2
    assert "'elsewhere' is not in the project" in capsys.readouterr().err
    # --recording says which recording the table belongs to.
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", str(table),
                 "--recording", "rec2"]) == 0


def test_labels_import_complete_marks_each_covered_recording_for_the_imported_classes(tmp_path, audio_dir, capsys):
    from birdlab.core.ml.jobs import no_negative_warnings

    boxed = project_with_table(tmp_path, audio_dir, "rec1", RAVEN)
    empty = tmp_path / "rec2.Table.1.selections.txt"
    empty.write_text(RAVEN.splitlines(keepends=True)[0])  # the expert found no call in rec2
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", str(boxed), str(empty)]) == 0
    with Project.open(tmp_path / "p") as project:  # without --complete: positives only, and a warning
        assert project.extents() == []
        assert "--complete" in no_negative_warnings(project)[0]
    assert main(["init", str(tmp_path / "q"), "--audio", str(audio_dir)]) == 0
    capsys.readouterr()
    assert main(["labels", "import", str(tmp_path / "q"), "--format", "raven", "--complete", str(boxed),
                 str(empty)]) == 0
    assert "marked 2 recording(s) reviewed and complete" in capsys.readouterr().out
    with Project.open(tmp_path / "q") as project:
        names = {c.id: c.name for c in project.classes()}
        marks = {(project.recording(e.recording_id).name, e.t_min, e.t_max, tuple(names[c] for c in e.class_ids))
                 for e in project.extents()}
        assert marks == {("rec1.wav", 0.0, 20.0, ("A", "B")), ("rec2.wav", 0.0, 30.0, ("A", "B"))}
        assert len(project.labels()) == 2 and no_negative_warnings(project) == []


def test_labels_import_complete_refuses_an_empty_table_of_no_recording(tmp_path, audio_dir, capsys):
    boxed = project_with_table(tmp_path, audio_dir, "rec1", RAVEN)
    stray = tmp_path / "elsewhere.Table.1.selections.txt"
    stray.write_text(RAVEN.splitlines(keepends=True)[0])
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", "--complete", str(boxed),
                 str(stray)]) == 2
    assert "no recording named 'elsewhere'" in capsys.readouterr().err
    with Project.open(tmp_path / "p") as project:
        assert project.labels() == [] and project.extents() == []


def test_console_script_runs(tmp_path, audio_dir):
    done = subprocess.run([sys.executable, "-m", "birdlab", "init", str(tmp_path / "p"), "--audio",
                           str(audio_dir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2 recordings" in done.stdout


def test_labels_empty_marks_recordings_and_folders_for_classes(tmp_path, audio_dir, capsys):
    species = tmp_path / "species.txt"
    species.write_text("A\nB\n")
    project_dir = tmp_path / "p"
    assert main(["init", str(project_dir), "--audio", str(audio_dir), "--species", str(species)]) == 0
    assert main(["labels", "empty", str(project_dir), "--class", "A", "rec1"]) == 0
    assert main(["labels", "empty", str(project_dir), "--class", "A", "--class", "B", str(audio_dir / "night")]) == 0
    assert "marked 1 recording(s) reviewed and empty for A, B" in capsys.readouterr().out
    assert main(["labels", "empty", str(project_dir), "--class", "A", "rec1"]) == 0  # already: nothing added
    with Project.open(project_dir) as project:
        names = {c.id: c.name for c in project.classes()}
        marks = {(project.recording(e.recording_id).name, e.t_min, e.t_max, tuple(names[c] for c in e.class_ids))
                 for e in project.extents()}
    assert marks == {("rec1.wav", 0.0, 20.0, ("A",)), ("rec2.wav", 0.0, 30.0, ("A", "B"))}


@pytest.mark.parametrize("argv, words", [
    (["--class", "Nope", "rec1"], "unknown class 'Nope'"),
    (["--class", "A", "rec1", "missing.wav"], "not recordings of"),
])
def test_labels_empty_with_a_bad_class_or_recording_marks_nothing(tmp_path, audio_dir, capsys, argv, words):
    species = tmp_path / "species.txt"
    species.write_text("A\n")
    assert main(["init", str(tmp_path / "p"), "--audio", str(audio_dir), "--species", str(species)]) == 0
    assert main(["labels", "empty", str(tmp_path / "p"), *argv]) == 2
    assert words in capsys.readouterr().err
    with Project.open(tmp_path / "p") as project:
        assert project.extents() == [] and [c.name for c in project.classes()] == ["A"]


def test_help_texts_cite_nothing_outside_the_repository(capsys):
    for command in ([], ["init"], ["labels", "import"], ["labels", "export"], ["labels", "empty"], ["score"],
                    ["gui"], ["demo"], ["train"], ["evaluate"]):
        assert main([*command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "usage: birdlab" in text and "DESIGN" not in text and "../shared" not in text


def test_labels_export_with_measurements_adds_raven_columns(tmp_path, audio_dir, capsys):
    import csv

    table = project_with_table(tmp_path, audio_dir, "rec1", RAVEN)
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", str(table)]) == 0
    out = tmp_path / "measured.txt"
    assert main(["labels", "export", str(tmp_path / "p"), "--format", "raven", "--measurements", "--out",
                 str(out)]) == 0
    rows = list(csv.DictReader(out.open(), delimiter="\t"))
    assert [r["Delta Time (s)"] for r in rows] == ["1.500000", "0.500000"]
    assert all(500.0 <= float(r["Peak Freq (Hz)"]) <= 4000.0 and r["SNR (dB)"] for r in rows[:1])
    assert float(rows[0]["Peak Time (s)"]) == pytest.approx(1.75, abs=0.76)  # inside the box
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", str(out)]) == 0  # still readable
    assert main(["labels", "export", str(tmp_path / "p"), "--format", "csv", "--measurements", "--out",
                 str(tmp_path / "x.csv")]) == 2


def test_labels_import_complete_names_only_the_real_problem_of_bad_rows(tmp_path, audio_dir, capsys):
    table = project_with_table(tmp_path, audio_dir, "elsewhere", RAVEN)  # rows of a recording not in it
    assert main(["labels", "import", str(tmp_path / "p"), "--format", "raven", "--complete", str(table)]) == 2
    err = capsys.readouterr().err
    assert "'elsewhere' is not in the project" in err and "needs a class" not in err
