"""The review queue without a window: filters, the three orders read from SQL a page at a time,
reviewed detections, progress from the kept counts."""

from __future__ import annotations

import numpy as np
import pytest

from birdlab.core.model import Box, Label, Polarity, Source
from birdlab.core.store.project import Project
from birdlab.core.store.review import QueueSpec, ReviewFilter, ReviewQueue, progress, reviewed_ids


@pytest.fixture
def project(tmp_path, make_wav):
    """Two recordings, two classes, five detections of model 'm' (ids 1-5 in the order below)."""
    p = Project.create(tmp_path / "p")
    recs = [p.add_recording(make_wav(f"r{i}.wav", duration=30.0)).id for i in range(2)]
    c1, c2 = p.add_class("a").id, p.add_class("b").id
    p.model_id = p.add_model_version("m", kind="external", activate=True).id
    p.set_detections(p.model_id, recs[0], [(c1, 1.0, 2.0, 0.0, 8000.0, 0.95), (c2, 2.0, 3.0, 0.0, 8000.0, 0.57),
                                           (c1, 3.0, 4.0, 0.0, 8000.0, 0.45)])
    p.set_detections(p.model_id, recs[1], [(c1, 4.0, 5.0, 0.0, 8000.0, 0.2), (c2, 5.0, 6.0, 0.0, 8000.0, 0.75)])
    p.ids = [d.id for d in sorted(p.detections(p.model_id), key=lambda d: (d.recording_id, d.t_min))]
    p.classes_, p.recs = (c1, c2), recs
    yield p
    p.close()


def queue_ids(project, page: int = 2, **spec) -> list[int]:
    """The whole queue, read in small pages (so keyset paging is exercised), as detection numbers 1-5."""
    queue = ReviewQueue(project, QueueSpec(project.model_id, **spec), page=page)
    got = []
    while not queue.exhausted:
        got += queue.take(3)
    return [project.ids.index(d.id) + 1 for d in got]


def review(project, number: int, polarity=Polarity.POSITIVE):
    d = project.detection(project.ids[number - 1])
    return project.add_label(d.recording_id, d.class_id, d.box, polarity, Source.REVIEW, detection_id=d.id)


def test_score_order_is_highest_first_and_ties_go_by_recording_then_time(project, tmp_path):
    assert queue_ids(project) == [1, 5, 2, 3, 4]
    assert queue_ids(project, page=1) == queue_ids(project, page=100) == [1, 5, 2, 3, 4]
    c1 = project.classes_[0]
    project.set_detections(project.model_id, project.recs[1], [(c1, 9.0, 10.0, 0, 100.0, 0.5)])
    project.set_detections(project.model_id, project.recs[0], [(c1, 9.0, 10.0, 0, 100.0, 0.5),
                                                               (c1, 2.0, 3.0, 0, 100.0, 0.5)])
    tied = ReviewQueue(project, QueueSpec(project.model_id), page=1).take(10)
    assert [(d.recording_id, d.t_min) for d in tied] == [(project.recs[0], 2.0), (project.recs[0], 9.0),
                                                         (project.recs[1], 9.0)]


def test_uncertainty_order_puts_the_scores_nearest_the_threshold_first(project):
    assert queue_ids(project, order="uncertainty", threshold=0.5) == [3, 2, 5, 4, 1]
    assert queue_ids(project, order="uncertainty", threshold=0.9)[0] == 1


def test_stratified_order_visits_every_score_bin_before_repeating_one(tmp_path, make_wav):
    p = Project.create(tmp_path / "s")
    rec, cls = p.add_recording(make_wav(duration=30.0)).id, p.add_class("a").id
    model = p.add_model_version("m", kind="external", activate=True).id
    scores = [0.05, 0.1, 0.15, 0.45, 0.5, 0.55, 0.9, 0.95, 0.99]
    p.set_detections(model, rec, [(cls, float(i), i + 0.5, 0.0, 100.0, s) for i, s in enumerate(scores)])
    queue = ReviewQueue(p, QueueSpec(model, order="stratified"), page=2).take(20)
    assert {min(4, int(d.score * 5)) for d in queue[:3]} == {0, 2, 4}  # one from each occupied bin, high first
    assert queue[0].score >= 0.8 and sorted(d.score for d in queue) == scores  # each once
    with pytest.raises(ValueError, match="unknown review order 'random'"):
        QueueSpec(model, order="random")
    p.close()


def test_filters_by_class_score_and_recording_and_leave_reviewed_ones_out(project):
    review(project, 1)
    c1, c2 = project.classes_
    assert queue_ids(project) == [5, 2, 3, 4]
    assert queue_ids(project, filter=ReviewFilter(unreviewed_only=False)) == [1, 5, 2, 3, 4]
    assert queue_ids(project, filter=ReviewFilter(class_id=c2)) == [5, 2]
    assert queue_ids(project, filter=ReviewFilter(min_score=0.4, max_score=0.6)) == [2, 3]
    assert queue_ids(project, filter=ReviewFilter(recording_id=project.recs[1])) == [5, 4]


def test_the_latest_label_made_from_a_detection_is_its_decision():
    def made(polarity, modified):
        return Label(100, 1, 1, Box(0.0, 1.0, 0.0, 100.0), polarity, Source.REVIEW, modified=modified, detection_id=1)
    labels = [made(Polarity.POSITIVE, "2026-01-01T10:00"), made(Polarity.NEGATIVE, "2026-01-01T11:00"),
              Label(9, 1, 1, Box(0.0, 1.0, 0.0, 100.0))]  # a manual label: no detection
    assert reviewed_ids(labels) == {1: "negative"}


def test_progress_counts_reviewed_per_class_and_overall(project):
    c1, c2 = project.classes_
    review(project, 1)
    review(project, 2, Polarity.NEGATIVE)
    review(project, 2, Polarity.POSITIVE)  # a second label on one detection: still one reviewed
    assert progress(project, project.model_id) == {c1: (1, 3), c2: (1, 2), None: (2, 5)}
    other = project.add_model_version("empty", kind="external").id
    assert progress(project, other) == {None: (0, 0)}


def test_detection_counts_follow_rescoring_and_cascades(project):
    c1, c2 = project.classes_
    assert project.detection_totals(project.model_id) == {c1: 3, c2: 2}
    project.set_detections(project.model_id, project.recs[0], [(c2, 1.0, 2.0, 0.0, 10.0, 0.9)])
    assert project.detection_totals(project.model_id) == {c1: 1, c2: 2}
    project.remove_recording(project.recs[1])
    assert project.detection_totals(project.model_id) == {c2: 1}
    assert project.detection_recordings(project.model_id) == [project.recs[0]]
    project.delete_class(c2)
    assert project.detection_totals(project.model_id) == {}


def test_a_page_reads_only_its_rows_from_a_large_model(tmp_path, make_wav):
    """Reading the first page of a queue over 20,000 detections fetches a page, not the table."""
    p = Project.create(tmp_path / "big")
    rec, cls = p.add_recording(make_wav(duration=600.0, sample_rate=8000)).id, p.add_class("a").id
    model = p.add_model_version("m", kind="external", activate=True).id
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 590, 20000))
    p.set_detections(model, rec, [(cls, float(x), float(x) + 1, 0.0, 100.0, float(s))
                                  for x, s in zip(t, rng.uniform(0, 1, len(t)))])
    fetched = []
    real = p.select
    p.select = lambda sql, params=(): fetched.append(len(rows := real(sql, params))) or rows
    for order in ("score", "uncertainty", "stratified"):
        first = ReviewQueue(p, QueueSpec(model, order=order), page=50).take(20)
        assert len(first) == 20
    assert max(fetched) <= 50 and sum(fetched) <= 50 * 8
    p.close()


def test_time_order_goes_recording_by_recording_from_the_start(project, tmp_path, make_wav):
    assert queue_ids(project, order="time") == [1, 2, 3, 4, 5]
    assert queue_ids(project, page=1, order="time") == [1, 2, 3, 4, 5]
    assert queue_ids(project, order="time", filter=ReviewFilter(min_score=0.5)) == [1, 2, 5]
    p = Project.create(tmp_path / "deep")  # later pages seek in the recording index, no sort
    rec, cls = p.add_recording(make_wav(duration=600.0, sample_rate=8000)).id, p.add_class("a").id
    model = p.add_model_version("m", kind="external", activate=True).id
    p.set_detections(model, rec, [(cls, float(x), float(x) + 1, 0.0, 100.0, 0.5) for x in range(500)])
    queries, real = [], p.select
    p.select = lambda sql, params=(): queries.append((sql, params)) or real(sql, params)
    queue = ReviewQueue(p, QueueSpec(model, order="time"), page=20)
    got = queue.take(100)
    assert [d.t_min for d in got] == [float(x) for x in range(100)]
    sql, params = queries[-1]
    plan = " ".join(r[3] for r in real("EXPLAIN QUERY PLAN " + sql, params))
    assert "detections_by_recording" in plan and "TEMP B-TREE" not in plan, plan
    p.close()


def test_a_deep_page_seeks_through_the_index_instead_of_reading_what_came_before(tmp_path, make_wav):
    """Every page's query bounds the ordering key from both sides in the index (no full sort, no
    scan from the top), whatever the order and filter: page 1,000 costs what page 1 does."""
    p = Project.create(tmp_path / "deep")
    rec, cls = p.add_recording(make_wav(duration=600.0, sample_rate=8000)).id, p.add_class("a").id
    model = p.add_model_version("m", kind="external", activate=True).id
    rng = np.random.default_rng(0)
    p.set_detections(model, rec, [(cls, float(x), float(x) + 1, 0.0, 100.0, float(s))
                                  for x, s in zip(np.sort(rng.uniform(0, 590, 3000)), rng.uniform(0, 1, 3000))])
    queries = []
    real = p.select
    p.select = lambda sql, params=(): queries.append((sql, params)) or real(sql, params)
    specs = [QueueSpec(model), QueueSpec(model, ReviewFilter(class_id=cls, min_score=0.1, max_score=0.9)),
             QueueSpec(model, order="uncertainty", threshold=0.4),
             QueueSpec(model, ReviewFilter(max_score=0.3), order="uncertainty", threshold=0.4),
             QueueSpec(model, order="stratified"), QueueSpec(model, ReviewFilter(min_score=0.5), order="stratified")]
    for spec in specs:
        queries.clear()
        queue = ReviewQueue(p, spec, page=20)
        everything = []
        while not queue.exhausted:
            everything += queue.take(50)
        ids = [d.id for d in everything]
        assert len(ids) == len(set(ids)) and len(ids) > 100  # every row once
        f = spec.filter
        assert all(f.min_score <= d.score <= f.max_score for d in everything)
        assert len(ids) == sum(1 for d in p.detections(model) if f.min_score <= d.score <= f.max_score)
        later = [(sql, params) for sql, params in queries if "OR (recording_id" in sql or "4294967291 > ?" in sql]
        assert later
        for sql, params in later:  # pages after the first
            plan = " ".join(r[3] for r in real("EXPLAIN QUERY PLAN " + sql, params))
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
            if spec.order == "stratified":
                assert "<expr>=? AND <expr>>?" in plan, plan
            else:
                assert "score>? AND score<?" in plan, plan
    p.close()


# ---- decisions (Qt-free: the rule the review keys apply) ---------------------------------

def test_a_decision_is_one_label_on_the_detections_own_box_and_class():
    from birdlab.core.model import Detection
    from birdlab.core.store.review import DecisionLabel, decision_labels

    det = Detection.from_values(7, 1, 3, 2, 10.0, 11.5, 1200.0, 3400.0, 0.8)
    for polarity in Polarity:
        assert decision_labels(det, polarity) == [DecisionLabel(3, 2, Box(10.0, 11.5, 1200.0, 3400.0), polarity, 7)]


def test_relabel_is_a_negative_for_the_detected_class_and_a_positive_for_the_other():
    from birdlab.core.model import Detection
    from birdlab.core.store.review import DecisionLabel, relabel_labels

    det = Detection.from_values(7, 1, 3, 2, 10.0, 11.5, 1200.0, 3400.0, 0.8)
    box = Box(10.0, 11.5, 1200.0, 3400.0)
    assert relabel_labels(det, 5) == [DecisionLabel(3, 2, box, Polarity.NEGATIVE, 7),
                                      DecisionLabel(3, 5, box, Polarity.POSITIVE, 7)]
    assert relabel_labels(det, 2) == []  # the same class: nothing to relabel


def test_a_detection_is_shown_with_context_centred_on_it():
    from birdlab.core.model import Detection
    from birdlab.core.store.review import context_range

    short = Detection.from_values(1, 1, 1, 1, 10.0, 11.0, 0.0, 1.0, 0.5)
    long = Detection.from_values(2, 1, 1, 1, 10.0, 14.0, 0.0, 1.0, 0.5)
    assert context_range(short) == (8.5, 12.5)  # at least 4 s
    assert context_range(long) == (6.0, 18.0)  # three times its length
