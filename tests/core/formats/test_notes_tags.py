"""A label's note and tags through the formats that have a place for them (AOEF: Whombat's notes
and tags; Raven and birdlab's CSV: columns; AviaNZ: the call type), and through the project."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from birdlab.cli import main
from birdlab.core.formats import aoef, avianz, birdlab_csv, raven
from birdlab.core.model import Box, Polarity
from birdlab.core.store.project import Project
from tests.core.formats.fmt_helpers import FIXTURES, sample_boxes

NOTES = ("heard twice\nsecond one faint", "", "alarm, after the hawk", "")
TAGS = (("calltype:song", "flight"), (), ("quality:3",), ("ä b", "x:y:z"))


def _with_notes_and_tags():
    recs, anns = sample_boxes()
    return recs, [replace(a, note=NOTES[i % 4], tags=TAGS[i % 4]) for i, a in enumerate(anns)]


def _key(a):
    return (Path(a.recording).name, round(a.t_min, 3), a.label)


@pytest.mark.parametrize("fmt,out_name", [(aoef, "set.json"), (birdlab_csv, "labels.csv"),
                                          (raven, "all.txt"), (raven, "tables")])
def test_notes_and_tags_round_trip(tmp_path, fmt, out_name):
    recs, anns = _with_notes_and_tags()
    files = fmt.write(anns, tmp_path / out_name, recs)
    got = [a for f in files for a in fmt.read(f)]
    single_line = fmt is raven  # a Raven cell holds one line
    want = {_key(a): (a.note.replace("\n", " ") if single_line else a.note, a.tags) for a in anns}
    if out_name == "tables":  # one table per recording: the rows name no recording
        assert sorted((round(a.t_min, 3), a.label, a.note, a.tags) for a in got) == \
            sorted((k[1], k[2], *v) for k, v in want.items())
    else:
        assert {_key(a): (a.note, a.tags) for a in got} == want


def test_without_notes_or_tags_no_columns_are_added(tmp_path):
    recs, anns = sample_boxes()
    [table] = raven.write(anns, tmp_path / "all.txt", recs)
    header = table.read_text().splitlines()[0].split("\t")
    assert "Note" not in header and "Tags" not in header
    [csv] = birdlab_csv.write(anns, tmp_path / "l.csv", recs)
    assert "note" not in csv.read_text().splitlines()[0]


def test_whombat_notes_and_key_value_tags_are_read(tmp_path):
    doc = json.loads((FIXTURES / "nips4b_set.aoef.json").read_text())
    data = doc["data"]
    data["tags"].append({"id": 90, "key": "quality", "value": "good"})
    sea = data["sound_event_annotations"][0]
    sea["tags"].append(90)
    sea["notes"] = [{"uuid": "7d1f3a9e-0000-4000-8000-000000000001", "message": "overlaps a wren",
                     "is_issue": False, "created_on": "2024-05-01T10:00:00"},
                    {"uuid": "7d1f3a9e-0000-4000-8000-000000000002", "message": "check the band",
                     "is_issue": True}]
    path = tmp_path / "whombat.json"
    path.write_text(json.dumps(doc))
    first = aoef.read(path)[0]
    assert first.label == "Sylvia undata"
    assert first.note == "overlaps a wren\ncheck the band"
    assert "quality:good" in first.tags
    assert not any(t.startswith(("species:", "birdlab:polarity")) for t in first.tags)


def test_tags_that_look_like_a_label_or_polarity_stay_tags_in_aoef(tmp_path):
    recs, anns = sample_boxes()
    one = replace(anns[0], tags=("species:Other bird", "birdlab:polarity:negative", "plain"))
    aoef.write([one], tmp_path / "s.json", recs)
    [back] = aoef.read(tmp_path / "s.json")  # still one label, of its own class and polarity
    assert (back.label, back.polarity, back.tags) == (one.label, one.polarity, one.tags)


def test_avianz_keeps_the_call_type_as_a_tag(tmp_path):
    recs, anns = sample_boxes()
    first = next(iter(recs))
    mine = [replace(a, tags=("calltype:duet", "flight")) if i == 0 else a
            for i, a in enumerate(a for a in anns if a.recording == first)]
    [path] = avianz.write(mine, tmp_path / "out", recs)
    segments = json.loads(path.read_text())[1:]
    calltypes = [lab.get("calltype") for seg in segments for lab in seg[4]]
    assert calltypes.count("duet") == 1 and calltypes.count(None) == len(mine) - 1
    back = avianz.read(path)
    assert sorted(a.tags for a in back) == sorted([("calltype:duet",)] + [()] * (len(mine) - 1))


def _labelled_project(tmp_path, make_wav) -> Path:
    wav = make_wav("rec.wav", duration=10.0, sample_rate=32000, folder=tmp_path / "audio")
    with Project.create(tmp_path / "p") as p:
        rec = p.add_recording(wav)
        a = p.add_class("A")
        p.add_label(rec.id, a.id, Box(1.0, 2.0, 500.0, 4000.0), note="faint", tags=["calltype:song", "dawn"])
        p.add_label(rec.id, a.id, Box(3.0, 4.0, 500.0, 4000.0), Polarity.NEGATIVE, tags=["wind"])
    return tmp_path / "p"


@pytest.mark.parametrize("fmt,out", [("aoef", "set.json"), ("raven", "all.txt"), ("csv", "l.csv")])
def test_notes_and_tags_survive_export_and_import_between_projects(tmp_path, make_wav, capsys, fmt, out):
    project = _labelled_project(tmp_path, make_wav)
    assert main(["labels", "export", str(project), "--format", fmt, "--out", str(tmp_path / out)]) == 0
    assert "note:" not in capsys.readouterr().out  # nothing left out
    assert main(["init", str(tmp_path / "q"), "--audio", str(tmp_path / "audio")]) == 0
    assert main(["labels", "import", str(tmp_path / "q"), "--format", fmt, str(tmp_path / out)]) == 0
    with Project.open(tmp_path / "q") as q:
        assert [(x.t_min, x.note, x.tags, x.polarity) for x in q.labels()] == [
            (1.0, "faint", ("calltype:song", "dawn"), Polarity.POSITIVE), (3.0, "", ("wind",), Polarity.NEGATIVE)]


def test_an_export_that_drops_notes_or_tags_says_so(tmp_path, make_wav, capsys):
    project = _labelled_project(tmp_path, make_wav)
    assert main(["labels", "export", str(project), "--format", "audacity", "--out", str(tmp_path / "aud")]) == 0
    out = capsys.readouterr().out
    assert "no place for 1 label(s)' notes and 2 label(s)' tags" in out
    assert main(["labels", "export", str(project), "--format", "avianz", "--out", str(tmp_path / "avz")]) == 0
    out = capsys.readouterr().out  # the call type goes; the note and the other tags do not
    assert "no place for 1 label(s)' notes and 2 label(s)' tags" in out
    assert main(["labels", "export", str(project), "--format", "avianz", "--out", str(tmp_path / "avz2"),
                 "--polarity", "positive"]) == 0
    assert "1 label(s)' notes and 1 label(s)' tags" in capsys.readouterr().out
