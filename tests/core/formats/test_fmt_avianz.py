from __future__ import annotations

import json
from pathlib import Path

import pytest

from birdlab.core.formats import avianz
from birdlab.core.formats.common import Annotation, TableError
from birdlab.core.model import Polarity
from tests.core.formats.fmt_helpers import (
    FIXTURES, assert_same_boxes, error_lines, expected, make_recordings, sample_boxes, read_back,
)


def test_roundtrip(tmp_path: Path) -> None:
    recs, anns = sample_boxes(scores=True)
    files = avianz.write(anns, tmp_path, recs)
    assert sorted(p.name for p in files) == ["dawn_01.wav.data", "night-02.flac.data", "pass_03.wav.data"]
    got = read_back(files, avianz.read, recs)
    assert_same_boxes(expected(anns, recs, keep_scores=False), got, t_tol=1e-9, f_tol=1e-9)
    doc = json.loads((tmp_path / "night-02.flac.data").read_text())
    assert doc[0] == {"Operator": "birdlab", "Reviewer": "", "Duration": 30.5}
    assert {lab["certainty"] for seg in doc[1:] for lab in seg[4]} == {0, 50, 100}


def test_same_box_shares_a_segment(tmp_path: Path) -> None:
    recs = make_recordings()
    key = next(iter(recs))
    anns = [Annotation(key, 1.0, 2.0, 100.0, 900.0, "A"), Annotation(key, 1.0, 2.0, 100.0, 900.0, "B",
                                                                     Polarity.NEGATIVE)]
    (path,) = avianz.write(anns, tmp_path, recs)
    doc = json.loads(path.read_text())
    assert doc[1] == [1.0, 2.0, 100.0, 900.0, [{"species": "A", "certainty": 100, "filter": "M"},
                                               {"species": "B", "certainty": 0, "filter": "M"}]]
    assert [(a.label, a.polarity) for a in avianz.read(path)] == [("A", Polarity.POSITIVE),
                                                                  ("B", Polarity.NEGATIVE)]


def test_multi_species_segment() -> None:
    got = avianz.read(FIXTURES / "kiwi.wav.data")
    assert [(a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.polarity, a.line) for a in got] == [
        (1.0, 19.0, 1200.0, 2500.0, "Kiwi (Little spotted)", Polarity.POSITIVE, 1),
        (21.0, 23.0, 800.0, 6000.0, "Morepork", Polarity.UNCERTAIN, 2),
        (35.0, 45.0, None, None, "Morepork", Polarity.POSITIVE, 3),
        (35.0, 45.0, None, None, "Tui", Polarity.NEGATIVE, 3),
        (35.0, 45.0, None, None, "Don't Know", Polarity.UNCERTAIN, 3)]
    assert all(a.recording == "" for a in got)


def test_old_plain_list_form() -> None:
    got = avianz.read(FIXTURES / "old_kiwi.wav.data")
    assert [(a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.polarity) for a in got] == [
        (2.5, 4.0, None, None, "Kiwi", Polarity.POSITIVE),
        (6.0, 7.5, None, None, "Morepork", Polarity.UNCERTAIN),  # 0.2 .. 0.8: old relative band -> full
        (6.0, 7.5, None, None, "Kiwi", Polarity.POSITIVE),
        (10.0, 12.0, 1000.0, 3000.0, "Tui", Polarity.POSITIVE)]


def test_bad_segments_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav.data"
    path.write_text(json.dumps([
        {"Operator": "a", "Reviewer": "", "Duration": 60},
        [1, 2, 0, 0, [{"species": "A", "certainty": 100}]],       # 1 good
        [1, "x", 0, 0, [{"species": "A", "certainty": 100}]],     # 2 not a number
        [5, 4, 0, 0, [{"species": "A", "certainty": 100}]],       # 3 end before start
        [1, 2, -10, 500, [{"species": "A", "certainty": 100}]],   # 4 negative frequency
        [1, 2, 0, 0, [{"species": "", "certainty": 100}]],        # 5 no species
        [1, 2, 0, 0, []],                                         # 6 no labels
        [1, 2, 0, 0],                                             # 7 not a segment
        [1, 2, 900, 500, ["A"]],                                  # 8 high below low
    ]))
    with pytest.raises(TableError) as exc:
        avianz.read(path)
    assert error_lines(exc) == [2, 3, 4, 5, 6, 7, 8]
    assert [a.line for a in exc.value.annotations] == [1]
    assert all(e.reason.startswith(f"segment {e.line}: ") for e in exc.value.errors)


def test_default_label_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav.data"
    path.write_text(json.dumps([{"Operator": "", "Reviewer": "", "Duration": 9}, [1, 2, 0, 0, []]]))
    assert [a.label for a in avianz.read(path, default_label="bird")] == ["bird"]
    path.write_text('[{"Operator": "a"}, [1, 2, 0, 0, ')
    with pytest.raises(TableError, match="not valid JSON"):
        avianz.read(path)
    path.write_text('{"Operator": "a"}')
    with pytest.raises(TableError, match="JSON list"):
        avianz.read(path)
