"""Segment-level evaluation: hand-made truth and detections whose AP, LWLRAP and F1 are known exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from birdlab.core.ml.eval_report import SUMMARY_CLASS, EvaluationError, EvaluationReport
from birdlab.core.ml.eval_tables import guess_format, read_tables, recording_key
from birdlab.core.ml.evaluate import (CompleteExtent, evaluate, evaluate_files, evaluate_project, pr_curve,
                                   validation_recordings)
from birdlab.core.formats import raven, rfcx
from birdlab.core.formats.common import Annotation, RecordingRef
from birdlab.core.ml.jobs import make_job, write_job
from birdlab.core.model import Box, Polarity
from birdlab.core.store.project import Project, new_label
from birdlab.scoring.outputs import CSV_COLUMNS, FileDone, write_csv

POS, NEG, UNC = Polarity.POSITIVE, Polarity.NEGATIVE, Polarity.UNCERTAIN


def lab(rec: str, t0: float, t1: float, cls: str, pol: Polarity = POS) -> Annotation:
    return Annotation(rec, t0, t1, None, None, cls, pol)


def det(rec: str, t0: float, t1: float, cls: str, score: float) -> Annotation:
    return Annotation(rec, t0, t1, None, None, cls, score=score)


# Recording "r", 5 s segments 0..3. Class A: P N P N with scores .92 .83 .71 .12, ranked P N P N:
# AP = (1/1 + 2/3) / 2 = 5/6. Class B: N P then two unlabelled (masked) segments: AP = 1.
# LWLRAP over rows with a positive: seg0 (A .92 vs B .2) 1, seg1 (B .6 vs A .83) 1/2, seg2 (A; B masked) 1.
TRUTH = [lab("r", 1, 2, "A"), lab("r", 6, 7, "A", NEG), lab("r", 11, 12, "A"), lab("r", 16, 17, "A", NEG),
         lab("r", 1, 2, "B", NEG), lab("r", 6, 7, "B")]
PRED = [det("r", 0, 5, "A", .92), det("r", 5, 10, "A", .83), det("r", 10, 15, "A", .71), det("r", 15, 20, "A", .12),
        det("r", 0.5, 1.5, "B", .2), det("r", 5, 10, "B", .6), det("r", 10, 15, "B", .99)]


def test_ap_cmap_lwlrap_and_f1_are_known_exactly():
    report = evaluate(TRUTH, PRED, threshold=0.5)
    a, b = report.result("A"), report.result("B")
    assert a.ap == pytest.approx(5 / 6) and b.ap == pytest.approx(1.0)
    assert report.cmap == pytest.approx(11 / 12)
    assert report.lwlrap == pytest.approx(5 / 6)
    assert (a.n_pos, a.n_neg, b.n_pos, b.n_neg) == (2, 2, 1, 1)
    assert (a.tp, a.fp, a.fn) == (2, 1, 0)
    assert a.precision == pytest.approx(2 / 3) and a.recall == 1.0 and a.f1 == pytest.approx(0.8)
    assert report.precision == pytest.approx(3 / 4) and report.f1 == pytest.approx(6 / 7)
    assert (report.n_recordings, report.n_segments) == (1, 4)


def test_masked_segments_take_no_part_unless_truth_is_complete():
    noise = [det("r", 20, 25, "A", .99), det("r", 22, 23, "B", .97)]  # unlabelled audio after 20 s
    masked = evaluate(TRUTH, PRED + noise)
    assert masked.result("A").ap == pytest.approx(5 / 6)
    assert masked.lwlrap == pytest.approx(5 / 6)
    assert masked.result("A").n_neg == 2
    # complete truth: the .99 segment is a negative ranked first, B's .99 at seg2 outranks A there
    complete = evaluate(TRUTH, PRED + noise, complete=True)
    assert complete.result("A").ap == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert complete.result("A").n_neg == 3
    assert complete.lwlrap == pytest.approx((1 + 1 / 2 + 1 / 2) / 3)
    # an uncertain box masks its segment even in complete truth (positives still win)
    unsure = evaluate(TRUTH + [lab("r", 21, 22, "A", UNC), lab("r", 1, 2, "A", UNC)], PRED + noise, complete=True)
    assert unsure.result("A").n_neg == 2 and unsure.result("A").n_pos == 2


def test_classes_without_negatives_are_named():
    calls_only = [t for t in TRUTH if t.polarity is POS]  # a truth table that lists only calls
    report = evaluate(calls_only, PRED)
    assert np.isnan(report.result("A").ap) and report.no_negative_classes() == ["A", "B"]
    assert "n/a" in report.format_table().splitlines()[2]  # never 1.000 without negatives
    assert evaluate(TRUTH, PRED).no_negative_classes() == []
    assert evaluate(calls_only, PRED, complete=True).no_negative_classes() == []


def test_complete_extents_make_only_their_classes_negative():
    extent = CompleteExtent("r", 20.0, 25.0, frozenset({"A"}))
    report = evaluate(TRUTH, PRED + [det("r", 20, 25, "A", .99), det("r", 20, 25, "B", .99)], extents=[extent])
    assert report.result("A").n_neg == 3 and report.result("A").ap == pytest.approx(0.5)
    assert report.result("B").n_neg == 1 and report.result("B").ap == 1.0


def test_segment_edges_and_length():
    truth = [lab("s", 4.0, 5.0, "A"), lab("s", 9.5, 10.5, "A", NEG)]  # touches seg1 only at 5 s; crosses 10 s
    report = evaluate(truth, [det("s", 5.0, 6.0, "A", .9)], segment_s=5.0)
    a = report.result("A")
    assert (a.n_pos, a.n_neg) == (1, 2)
    # the .9 detection touches the positive segment only at its edge: it scores negative segment 1, and the
    # positive ties at 0 with negative segment 2, so AP = 1/3 (a detection overlapping it would give 1)
    assert a.ap == pytest.approx(1 / 3)
    assert (a.tp, a.fp) == (0, 1)
    rounded = evaluate(truth, [det("s", 0.0, 5.0000004, "A", .9)], segment_s=5.0).result("A")
    assert (rounded.ap, rounded.fp) == (1.0, 0)  # float noise at an edge (< 1 us) does not reach segment 1
    wide = evaluate(truth, [det("s", 5.0, 6.0, "A", .9)], segment_s=20.0).result("A")
    assert (wide.n_pos, wide.n_neg, wide.tp) == (1, 0, 1)  # one segment: positive wins over negative
    with pytest.raises(ValueError, match="segment"):
        evaluate(truth, [], segment_s=0)


def test_pr_curve_steps_sum_to_ap_and_histograms_count_segments():
    a = evaluate(TRUTH, PRED).result("A")
    assert a.pr_thresholds.tolist() == [.92, .83, .71, .12]
    assert a.pr_precision.tolist() == pytest.approx([1, 1 / 2, 2 / 3, 1 / 2])
    assert a.pr_recall.tolist() == pytest.approx([.5, .5, 1, 1])
    assert np.sum(np.diff(np.r_[0, a.pr_recall]) * a.pr_precision) == pytest.approx(a.ap)
    edges = evaluate(TRUTH, PRED).hist_edges
    assert len(edges) == 21 and edges[0] == 0 and edges[-1] == 1
    assert a.hist_pos.sum() == 2 and a.hist_neg.sum() == 2
    assert a.hist_pos[14] == 1 and a.hist_pos[18] == 1  # .71 and .92
    assert a.hist_neg[2] == 1 and a.hist_neg[16] == 1  # .12 and .83
    thresholds, precision, recall = pr_curve(np.array([0, 1, 1]), np.array([.5, .5, .1]))
    assert thresholds.tolist() == [.5, .1] and precision.tolist() == [.5, 2 / 3]  # a tie is one step


def test_csv_and_json(tmp_path):
    report = evaluate(TRUTH + [lab("r", 1, 2, "C", NEG)], PRED)
    path = report.to_csv(tmp_path / "out" / "eval.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "class,n_pos,n_neg,ap,precision,recall,f1,tp,fp,fn,lwlrap"
    assert lines[1] == "A,2,2,0.833333,0.666667,1,0.8,2,1,0,"
    assert lines[3] == "C,0,1,,,,,0,0,0,"  # undefined numbers are empty cells
    assert lines[4] == f"{SUMMARY_CLASS},3,4,0.916667,0.75,1,0.857143,3,1,0,0.833333"
    data = json.loads(report.to_json())
    assert data["cmap"] == pytest.approx(11 / 12) and data["classes"][2]["ap"] is None
    again = EvaluationReport.from_dict(data)
    assert again.csv_text() == report.csv_text()
    assert again.result("A").pr_precision.tolist() == report.result("A").pr_precision.tolist()
    assert math.isnan(again.result("C").ap)


def test_format_table_lists_classes_and_summary():
    text = evaluate(TRUTH, PRED).format_table()
    assert "A " in text and "0.833" in text and "cmAP 0.917" in text and "LWLRAP 0.833" in text


# ---- files --------------------------------------------------------------------------------------


def write_pred_csv(path, file="/data/site/r.wav", rows=PRED):
    done = FileDone(file, 20.0, 32000, tuple((a.t_min, a.t_max, 0.0, 16000.0, a.label, a.score) for a in rows))
    return write_csv(path, [done])


def test_truth_from_raven_rfcx_or_csv_gives_the_same_numbers(tmp_path):
    pred = write_pred_csv(tmp_path / "detections.csv")
    assert pred.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    ref = RecordingRef("r", "/elsewhere/r.wav", 20.0, 32000)
    table = raven.write_table(TRUTH, tmp_path / "r.Table.1.selections.txt", ref)
    rfcx_files = rfcx.write(TRUTH, tmp_path / "rfcx", {"r": ref})
    truth_csv = tmp_path / "truth.csv"
    truth_csv.write_text("file,t_min,t_max,class,polarity\n"
                         + "".join(f"r.flac,{a.t_min},{a.t_max},{a.label},{a.polarity.value}\n" for a in TRUTH))
    assert guess_format(table) == "raven" and guess_format(rfcx_files[0]) == "rfcx"
    assert guess_format(truth_csv) == "csv" and guess_format(pred) == "csv"
    for truth in ([table], rfcx_files, [truth_csv]):
        report = evaluate_files(truth, [pred])
        assert report.result("A").ap == pytest.approx(5 / 6), truth
        assert report.cmap == pytest.approx(11 / 12) and report.lwlrap == pytest.approx(5 / 6)


def test_truth_csv_without_polarity_is_all_positive(tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text("recording,t_min,t_max,label\nr,1,2,A\nr,11,12,A\n")
    a = evaluate_files([truth], [write_pred_csv(tmp_path / "d.csv")]).result("A")
    assert (a.n_pos, a.n_neg) == (2, 0)


def test_bad_rows_name_the_file_and_row(tmp_path):
    pred = tmp_path / "detections.csv"
    pred.write_text("file,t_min,t_max,f_min,f_max,class,score\nr.wav,0,5,0,8000,A,0.9\nr.wav,5,6,0,8000,A,high\n"
                    "r.wav,8,7,0,8000,A,0.1\n")
    with pytest.raises(EvaluationError) as err:
        read_tables([pred], None, predictions=True)
    assert f"{pred}:3: score 'high' is not a number" in str(err.value)
    assert f"{pred}:4: end time 7 s is not after start time 8 s" in str(err.value)
    truth = tmp_path / "truth.csv"
    truth.write_text("file,t_min,t_max,class,polarity\nr,1,2,A,maybe-not\n")
    with pytest.raises(EvaluationError, match=rf"{truth}:2: unknown polarity 'maybe-not'"):
        read_tables([truth], "csv", predictions=False)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("file,t_min,t_max,class\nr,1,2,A\n")
    with pytest.raises(EvaluationError, match=rf"{nocol}:1: missing column 'score'"):
        read_tables([nocol], "csv", predictions=True)
    tp = tmp_path / "train_tp.csv"
    tp.write_text("recording_id,species_id,songtype_id,t_min,f_min,t_max,f_max\nr,3,1,x,0,2,1000\n")
    with pytest.raises(EvaluationError, match=rf"{tp}:2: t_min 'x' is not a number"):
        read_tables([tp], None, predictions=False)
    unscored = tmp_path / "u.Table.1.selections.txt"
    raven.write_table([lab("u", 1, 2, "A")], unscored, RecordingRef("u", "u.wav", 10, 32000))
    with pytest.raises(EvaluationError, match=rf"{unscored}:1: missing column 'score'"):
        read_tables([unscored], None, predictions=True)
    partly = tmp_path / "partly.csv"
    partly.write_text("file,t_min,t_max,class,score\nr,1,2,A,0.5\nr,3,4,A,\n")
    with pytest.raises(EvaluationError, match=rf"{partly}:3: detection has no score"):
        read_tables([partly], None, predictions=True)
    with pytest.raises(EvaluationError, match="missing.csv: prediction file not found"):
        read_tables([tmp_path / "missing.csv"], None, predictions=True)
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(EvaluationError, match=rf"{odd}: cannot tell the table's format"):
        read_tables([odd], None, predictions=False)


def test_two_recordings_with_one_stem_are_refused(tmp_path):
    pred = tmp_path / "d.csv"
    pred.write_text("file,t_min,t_max,f_min,f_max,class,score\n/a/r.wav,0,5,0,1,A,0.9\n/b/r.wav,0,5,0,1,A,0.8\n")
    with pytest.raises(EvaluationError, match=rf"{pred}:3: .*'/a/r.wav'.*'/b/r.wav'"):
        read_tables([pred], None, predictions=True)
    assert recording_key(Annotation("C:\\data\\r.WAV", 0, 1, None, None, "A")) == "r"
    assert recording_key(Annotation("", 0, 1, None, None, "A", file="/t/XC1.Table.1.selections.txt")) == "XC1"
    assert recording_key(Annotation("rec.2024", 0, 1, None, None, "A")) == "rec.2024"


def test_complete_truth_takes_recording_lengths_from_the_audio(tmp_path, make_wav):
    wav = make_wav("r.wav", duration=20.0, sample_rate=8000)
    pred = write_pred_csv(tmp_path / "d.csv", file=str(wav), rows=[det("r", 0, 2, "A", .9)])
    truth = tmp_path / "truth.csv"
    truth.write_text("file,t_min,t_max,class\nr,1,2,A\n")
    report = evaluate_files([truth], [pred], complete=True)
    assert report.n_segments == 4 and report.result("A").n_neg == 3  # 20 s of audio, boxes end at 2 s
    assert evaluate_files([truth], [pred]).n_segments == 1
    truth.write_text("file,t_min,t_max,class\nr,1,2,A\nr,25,26,A\n")
    with pytest.raises(EvaluationError, match=rf"{truth}:3: box starts at 25 s, after the end of the recording"):
        evaluate_files([truth], [pred], complete=True)


def test_unmatched_predictions_are_listed():
    report = evaluate(TRUTH, PRED + [det("other", 0, 5, "A", .99)])
    assert report.unmatched_predictions == ["other"]
    assert report.result("A").ap == pytest.approx(5 / 6)


# ---- projects -----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, make_wav):
    """Two 20 s recordings: r (labels of TRUTH) and q (one positive A at 0-2 s, detected at .1)."""
    p = Project.create(tmp_path / "proj")
    r = p.add_recording(make_wav("r.wav", duration=20.0, sample_rate=8000))
    q = p.add_recording(make_wav("q.wav", duration=20.0, sample_rate=8000))
    ids = {name: p.add_class(name).id for name in ("A", "B", "Z")}
    p.add_labels([new_label(r.id, ids[a.label], Box(a.t_min, a.t_max, 0, 4000), a.polarity) for a in TRUTH]
                 + [new_label(q.id, ids["A"], Box(0, 2, 0, 4000)), new_label(q.id, ids["Z"], Box(0, 2, 0, 4000))])
    model = p.add_model_version("m1", card={"classes": ["A", "B"]}, activate=True)
    p.set_detections(model.id, r.id, [(ids[d.label], d.t_min, d.t_max, 0, 4000, d.score) for d in PRED])
    p.set_detections(model.id, q.id, [(ids["A"], 0, 2, 0, 4000, .1)])
    yield p
    p.close()


def test_project_evaluation_uses_labels_extents_and_the_models_classes(project):
    report = evaluate_project(project)
    # A: positives .92 .71 .1, negatives .83 .12: AP = (1 + 2/3 + 3/5) / 3
    assert report.result("A").ap == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert [c.name for c in report.classes] == ["A", "B"] and report.ignored_truth_classes == ["Z"]
    q = next(r for r in project.recordings() if r.name == "q.wav")
    project.add_extent(q.id, 0.0, 20.0, [project.class_by_name("A").id])
    assert evaluate_project(project, "m1").result("A").n_neg == 2 + 3  # q's other segments are negative now
    with pytest.raises(EvaluationError, match="no model version named 'nope'.*'m1'"):
        evaluate_project(project, "nope")


def test_validation_recordings_come_from_the_training_run(project):
    r = next(x for x in project.recordings() if x.name == "r.wav")
    run = project.add_training_run("run1", {})
    write_job(make_job(project, {}, validation=[r.id]), project.runs_dir / "run1" / "job.json")
    model = project.add_model_version("m2", card={"classes": ["A", "B"]}, training_run_id=run.id)
    project.set_detections(model.id, r.id, [(project.class_by_name("A").id, 0, 5, 0, 4000, .92)])
    assert validation_recordings(project, model) == {r.id}
    report = evaluate_project(project, "m2", validation_only=True)
    assert report.n_recordings == 1 and report.result("A").n_pos == 2
    with pytest.raises(EvaluationError, match="'m1' was not trained in this project"):
        evaluate_project(project, "m1", validation_only=True)


def test_the_seeded_split_is_the_trainers(project, make_wav, tmp_path):
    data = pytest.importorskip("training.data")
    a = project.class_by_name("A").id
    for i in range(6):
        rec = project.add_recording(make_wav(f"x{i}.wav", duration=3.0, sample_rate=8000, folder=tmp_path / "more"))
        project.add_label(rec.id, a, Box(0, 1, 0, 4000))
    run = project.add_training_run("run2", {})
    job = make_job(project, {"seed": 3, "val_fraction": 0.5})
    write_job(job, project.runs_dir / "run2" / "job.json")
    model = project.add_model_version("m3", training_run_id=run.id)
    assert validation_recordings(project, model) == data.split_recordings(job, 0.5, 3)[1]
