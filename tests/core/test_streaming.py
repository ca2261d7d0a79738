"""A model's detections export a recording at a time, to the same bytes the whole-list writers give."""

from __future__ import annotations

from pathlib import Path

from birdlab.core.formats import birdlab_csv, raven
from birdlab.core.formats.common import Annotation
from birdlab.core.store.label_io import _ref, export_tables
from birdlab.core.model import Polarity
from birdlab.core.store.project import Project


def test_streamed_csv_and_raven_exports_equal_the_whole_list_writers(tmp_path, make_wav, monkeypatch):
    project = Project.create(tmp_path / "p")
    recs = [project.add_recording(make_wav(f"r{i}.wav", duration=10.0)) for i in range(3)]
    a, b = project.add_class("a").id, project.add_class("b").id
    model = project.add_model_version("m", kind="external", activate=True)
    project.set_detections(model.id, recs[0].id, [(a, 1.0, 2.0, 100.0, 900.0, 0.9), (b, 0.5, 1.5, 0.0, 500.0, 0.4)])
    project.set_detections(model.id, recs[2].id, [(b, 3.0, 4.0, 200.0, 700.0, 0.7)])  # r1 has none
    reads = []
    real = project.detections
    monkeypatch.setattr(project, "detections", lambda m, r=None, **kw: reads.append(r) or real(m, r, **kw))

    csv_out = export_tables(project, "csv", tmp_path / "out.csv", model_name="m")
    txt_out = export_tables(project, "raven", tmp_path / "out.txt", model_name="m")
    assert None not in reads  # never every detection at once: one recording per read

    names = {a: "a", b: "b"}
    whole = [Annotation(str(rec.abs_path), d.t_min, d.t_max, d.f_min, d.f_max, names[d.class_id], Polarity.POSITIVE,
                        d.score) for rec in recs for d in real(model.id, rec.id)]
    birdlab_csv.write(whole, tmp_path / "whole.csv")
    raven.write(whole, tmp_path / "whole.txt", {str(r.abs_path): _ref(r) for r in project.recordings()})
    assert Path(csv_out[0]).read_text() == (tmp_path / "whole.csv").read_text()
    assert Path(txt_out[0]).read_text() == (tmp_path / "whole.txt").read_text()
    assert len((tmp_path / "whole.csv").read_text().splitlines()) == 4
    project.close()


def test_evaluating_a_project_reads_detections_a_recording_at_a_time(tmp_path, make_wav, monkeypatch):
    from birdlab.core.ml.evaluate import evaluate, evaluate_project
    from birdlab.core.model import Box

    project = Project.create(tmp_path / "p")
    recs = [project.add_recording(make_wav(f"r{i}.wav", duration=10.0)) for i in range(2)]
    a = project.add_class("a").id
    model = project.add_model_version("m", kind="external", activate=True)
    project.set_detections(model.id, recs[0].id, [(a, 1.0, 2.0, 0.0, 900.0, 0.9), (a, 6.0, 7.0, 0.0, 900.0, 0.3)])
    project.set_detections(model.id, recs[1].id, [(a, 3.0, 4.0, 0.0, 700.0, 0.6)])
    project.add_label(recs[0].id, a, Box(1.0, 2.0, 0.0, 900.0))
    for rec in recs:
        project.add_extent(rec.id, 0.0, rec.duration, [a])
    unlabelled = project.add_recording(make_wav("r9.wav", duration=10.0))  # scored, but no truth on it
    project.set_detections(model.id, unlabelled.id, [(a, 1.0, 2.0, 0.0, 700.0, 0.99)])
    reads = []
    real = project.detections
    monkeypatch.setattr(project, "detections", lambda m, r=None, **kw: reads.append(r) or real(m, r, **kw))
    report = evaluate_project(project, "m")
    assert None not in reads and sorted(reads) == [recs[0].id, recs[1].id]  # not the one without truth
    # the same numbers as the whole-list evaluation
    truth = [Annotation(recs[0].path, 1.0, 2.0, 0.0, 900.0, "a", Polarity.POSITIVE)]
    preds = [Annotation(rec.path, d.t_min, d.t_max, d.f_min, d.f_max, "a", score=d.score)
             for rec in recs for d in real(model.id, rec.id)]
    from birdlab.core.ml.evaluate import CompleteExtent
    whole = evaluate(truth, preds, extents=[CompleteExtent(r.path, 0.0, r.duration, frozenset({"a"})) for r in recs],
                     durations={r.path: r.duration for r in recs}, classes=["a"])
    assert report.classes[0].ap == whole.classes[0].ap and report.n_segments == whole.n_segments == 4
    assert report.classes[0].n_pos == 1 and report.classes[0].n_neg == 3
    project.close()
