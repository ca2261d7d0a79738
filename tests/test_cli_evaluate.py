"""`birdlab evaluate`: the table, the CSV/JSON/PNG outputs and the exit codes 0, 1, 2."""

from __future__ import annotations

import json
import sys

import pytest

from birdlab.cli import main
from tests.core.test_evaluate import TRUTH, project, write_pred_csv  # noqa: F401 (the project fixture)


@pytest.fixture
def tables(tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text("file,t_min,t_max,class,polarity\n"
                     + "".join(f"r,{a.t_min},{a.t_max},{a.label},{a.polarity.value}\n" for a in TRUTH))
    return truth, write_pred_csv(tmp_path / "detections.csv")


def test_files_print_the_table_and_write_csv_json_png(tmp_path, tables, capsys):
    truth, pred = tables
    out, js, png = tmp_path / "o" / "eval.csv", tmp_path / "eval.json", tmp_path / "eval.png"
    code = main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--out", str(out), "--json", str(js),
                 "--plot", str(png), "--threshold", "0.8"])
    assert code == 0
    text = capsys.readouterr().out
    assert "cmAP 0.917  LWLRAP 0.833" in text
    assert "P/R/F1 at score >= 0.8" in text
    lines = out.read_text().splitlines()
    assert lines[1].startswith("A,2,2,0.833333,0.5,0.5,0.5,1,1,1,")  # at 0.8: .92 (pos) and .83 (neg)
    assert json.loads(js.read_text())["cmap"] == pytest.approx(11 / 12)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_segment_and_complete_options_change_the_numbers(tmp_path, tables, capsys):
    truth, pred = tables
    out = tmp_path / "eval.csv"
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--segment", "20", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[1].startswith("A,1,0,,")  # one 20 s segment: positive wins; AP n/a
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--out", str(out)]) == 0
    assert out.read_text().splitlines()[2].startswith("B,1,1,1,")  # B's unlabelled segments masked
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--complete", "--truth-format", "csv",
                 "--pred-format", "csv", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[2].startswith("B,1,3,0.5,")  # now negatives, one scored .99


def test_truth_without_negatives_gets_a_warning(tmp_path, tables, capsys):
    truth, pred = tables
    truth.write_text("file,t_min,t_max,class\nr,1,2,A\nr,11,12,A\n")  # calls only: AP 1.0 means nothing
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred)]) == 0
    assert "warning: A has no negative segment, so AP is n/a (no negatives)" in capsys.readouterr().err
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--complete", "--truth-format", "csv",
                 "--pred-format", "csv"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_bad_row_exits_2_names_file_and_row_and_writes_nothing(tmp_path, tables, capsys):
    truth, pred = tables
    pred.write_text(pred.read_text() + "/data/site/r.wav,20,21,0,1,A,oops\n")
    out, png = tmp_path / "eval.csv", tmp_path / "eval.png"
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--out", str(out), "--plot", str(png)]) == 2
    err = capsys.readouterr().err
    assert f"{pred}:9: score 'oops' is not a number" in err
    assert not out.exists() and not png.exists()


@pytest.mark.parametrize("argv, message", [
    ([], "give --truth T and --pred P"),
    (["--truth", "t.csv"], "give --truth T and --pred P"),
    (["--truth", "t.csv", "--pred", "p.csv", "--project", "x"], "not both"),
    (["--truth", "t.csv", "--pred", "p.csv", "--model", "m"], "--model needs --project"),
    (["--truth", "{truth}", "--pred", "{pred}", "--truth-format", "nope"], "unknown annotation format 'nope'"),
    (["--truth", "{truth}", "--pred", "{pred}", "--segment", "-1"], "segment length"),
    (["--truth", "{truth}", "--pred", "{tmp}/missing.csv"], "missing.csv: prediction file not found"),
])
def test_bad_usage_exits_2(tmp_path, tables, capsys, argv, message):
    truth, pred = tables
    argv = [a.format(truth=truth, pred=pred, tmp=tmp_path) for a in argv]
    assert main(["evaluate", *argv]) == 2
    assert message in capsys.readouterr().err


def test_truth_and_detections_of_different_recordings_exit_2(tmp_path, tables, capsys):
    _, pred = tables
    truth = tmp_path / "other.csv"
    truth.write_text("file,t_min,t_max,class\nelsewhere,1,2,A\n")
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no recording of the detections appears in the truth" in capsys.readouterr().err
    truth.write_text("file,t_min,t_max,class,polarity\nr,1,2,A,negative\n")
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no segment of any class is a known positive" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_a_plot_that_cannot_be_drawn_exits_1_after_the_csv(tmp_path, tables, capsys, monkeypatch):
    truth, pred = tables
    monkeypatch.setitem(sys.modules, "birdlab.gui.report_render", None)  # as without PySide6
    out, png = tmp_path / "eval.csv", tmp_path / "eval.png"
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--out", str(out), "--plot", str(png)]) == 1
    assert out.exists() and not png.exists()
    assert f"{png}: not written" in capsys.readouterr().err


def test_project_mode(project, tmp_path, capsys):  # noqa: F811 (the fixture)
    out = tmp_path / "p.csv"
    assert main(["evaluate", "--project", str(project.root), "--model", "m1", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[1].startswith("A,3,2,")
    assert "left out: Z" in capsys.readouterr().err
    assert main(["evaluate", "--project", str(project.root), "--model", "nope"]) == 2
    assert "no model version named 'nope'" in capsys.readouterr().err
    assert main(["evaluate", "--project", str(project.root), "--validation"]) == 2
    assert "was not trained in this project" in capsys.readouterr().err


def test_evaluate_project_scores_what_it_needs_itself(tmp_path, capsys):
    """Right after training (or an import of audio), the version has no detections yet: evaluate
    scores the recordings it needs first instead of failing with 'score the recordings first'."""
    from birdlab.core.store.project import Project
    folder = tmp_path / "demo"
    assert main(["demo", str(folder), "--no-gui"]) == 0
    with Project.open(folder) as demo:
        model = demo.active_model()
        for rec in demo.recordings():
            demo.set_detections(model.id, rec.id, [])
    capsys.readouterr()
    assert main(["evaluate", "--project", str(folder), "--label", "x"]) == 2  # --label is for tables
    assert main(["evaluate", "--project", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "has not scored these 6 recording(s) yet; scoring them first" in captured.err
    assert "cmAP" in captured.out
    with Project.open(folder) as demo:
        assert demo.detections(demo.active_model().id)


def test_evaluate_label_gives_tables_without_a_class_column_their_class(tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("file,t_min,t_max\nrec1,1,2\nrec1,20,21\n")
    pred = tmp_path / "pred.csv"
    pred.write_text("file,t_min,t_max,score\nrec1,1,2,0.9\nrec1,10,11,0.8\nrec1,20,21,0.7\n")
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--complete"]) == 2
    assert "--label" in capsys.readouterr().err
    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--complete", "--label", "Parus"]) == 0
    assert "Parus" in capsys.readouterr().out
