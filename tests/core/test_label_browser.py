"""The labels browser's queries: filter words over every text column, any sort, pages that add up."""

from __future__ import annotations

import pytest

from birdlab.core.model import Box, Polarity
from birdlab.core.store.label_browser import SORTS, LabelQuery, count_labels, label_page
from birdlab.core.store.project import Project


@pytest.fixture
def project(tmp_path, make_wav):
    with Project.create(tmp_path / "p") as p:
        a = p.add_recording(make_wav("siteA/night/rec.wav", duration=60.0, folder=tmp_path / "audio"))
        b = p.add_recording(make_wav("siteB/night/rec.wav", duration=60.0, folder=tmp_path / "audio"))
        wren, tit = p.add_class("Troglodytes troglodytes"), p.add_class("Parus_major")
        for i in range(30):
            rec = a if i % 3 else b
            p.add_label(rec.id, (wren if i % 2 else tit).id, Box(i * 1.5, i * 1.5 + 0.2 + (i % 5) * 0.1, 500.0 + i,
                                                                 4000.0 - i),
                        Polarity.NEGATIVE if i % 7 == 0 else Polarity.POSITIVE,
                        note="under 50% rain" if i == 4 else "", tags=["calltype:song"] if i % 4 == 0 else [])
        yield p


def test_pages_add_up_to_every_label_once_in_every_sort(project):
    everything = {label.id for label in project.labels()}
    for sort in SORTS:
        for descending in (False, True):
            query = LabelQuery(sort=sort, descending=descending)
            rows = [row for offset in range(0, 40, 7) for row in label_page(project, query, offset, 7)]
            assert [r.label.id for r in rows if r.label.id in everything] == [r.label.id for r in rows]
            assert len(rows) == len(everything) == count_labels(project, query) == 30, sort
            assert {r.label.id for r in rows} == everything


def test_sorts_follow_the_column(project):
    durations = [r.label.t_max - r.label.t_min for r in label_page(project, LabelQuery(sort="duration (s)"), 0, 30)]
    assert durations == sorted(durations)
    names = [r.class_name for r in label_page(project, LabelQuery(sort="class", descending=True), 0, 30)]
    assert names == sorted(names, reverse=True)
    by_recording = label_page(project, LabelQuery(), 0, 30)
    assert [(r.label.recording_id, r.label.t_min) for r in by_recording] == \
        sorted((r.label.recording_id, r.label.t_min) for r in by_recording)
    with pytest.raises(ValueError, match="cannot sort labels by 'colour'"):
        label_page(project, LabelQuery(sort="colour"), 0, 10)


def test_every_word_must_match_some_column(project):
    def found(text):
        return {r.label.id for r in label_page(project, LabelQuery(text=text), 0, 100)}

    site_b = {label.id for label in project.labels() if label.recording_id == 2}
    assert found("siteB") == site_b  # the recording's folder
    assert found("SITEB troglodytes") == {i for i in site_b if project.label(i).class_id == 1}  # both words
    assert found("negative") == {label.id for label in project.labels() if label.polarity is Polarity.NEGATIVE}
    assert len(found("calltype:song")) == 8  # tags
    assert len(found("rain")) == 1  # notes
    assert len(found("50%")) == 1 and found("5%") == set()  # % is a character, not a wildcard
    assert len(found("parus_major")) == 15 and found("parusxmajor") == set()  # so is _
    assert count_labels(project, LabelQuery(text="siteB")) == len(site_b)
    rows = label_page(project, LabelQuery(text="siteB"), 0, 1)
    assert rows[0].recording_path.endswith("siteB/night/rec.wav")
