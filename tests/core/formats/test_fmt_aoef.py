from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from birdlab.core.formats import aoef
from birdlab.core.formats.common import TableError
from birdlab.core.model import Polarity
from tests.core.formats.fmt_helpers import (
    FIXTURES, assert_same_boxes, error_lines, expected, sample_boxes,
)


def test_roundtrip(tmp_path: Path) -> None:
    recs, anns = sample_boxes(scores=True)
    out = tmp_path / "set.json"
    assert aoef.write(anns, out, recs) == [out]
    got = aoef.read(out)
    assert_same_boxes(expected(anns, recs), got, t_tol=1e-12, f_tol=1e-9)


def test_written_file_follows_the_schema(tmp_path: Path) -> None:
    """The structure soundevent's AOEFObject / AnnotationSetObject expects (io/aoef/*.py)."""
    recs, anns = sample_boxes()
    out = tmp_path / "set.json"
    aoef.write(anns, out, recs)
    doc = json.loads(out.read_text())
    assert doc["version"] == "1.1.0" and "created_on" in doc
    data = doc["data"]
    assert data["collection_type"] == "annotation_set"
    uuid.UUID(data["uuid"])
    rec_ids = {r["uuid"] for r in data["recordings"]}
    assert {r["path"] for r in data["recordings"]} == set(recs)
    for r in data["recordings"]:
        assert set(r) == {"uuid", "path", "duration", "channels", "samplerate"}
        assert isinstance(r["samplerate"], int) and isinstance(r["channels"], int)
    clip_ids = {c["uuid"] for c in data["clips"]}
    assert all(c["recording"] in rec_ids and c["start_time"] == 0.0 for c in data["clips"])
    event_ids = {e["uuid"] for e in data["sound_events"]}
    assert all(e["recording"] in rec_ids for e in data["sound_events"])
    types = {e["geometry"]["type"] for e in data["sound_events"]}
    assert types == {"BoundingBox", "TimeInterval"}
    for e in data["sound_events"]:
        c = e["geometry"]["coordinates"]
        if e["geometry"]["type"] == "BoundingBox":
            assert len(c) == 4 and c[0] <= c[2] and c[1] <= c[3]
    tag_ids = {t["id"] for t in data["tags"]}
    assert all(set(t) == {"id", "key", "value"} and isinstance(t["id"], int) for t in data["tags"])
    sea_ids = set()
    for sea in data["sound_event_annotations"]:
        assert sea["sound_event"] in event_ids and set(sea["tags"]) <= tag_ids
        sea_ids.add(sea["uuid"])
    assert {s for ca in data["clip_annotations"] for s in ca["sound_events"]} == sea_ids
    assert all(ca["clip"] in clip_ids for ca in data["clip_annotations"])
    assert {t["key"] for t in data["tags"]} == {"species", "birdlab:polarity"}
    assert {t["value"] for t in data["tags"] if t["key"] == "birdlab:polarity"} == {"negative", "uncertain"}


def test_annotation_set_fixture() -> None:
    got = aoef.read(FIXTURES / "nips4b_set.aoef.json")
    assert [(a.recording, a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.polarity, a.score, a.line)
            for a in got] == [
        ("train/nips4b_birds_trainfile079.wav", 0.512, 1.75, 2250.5, 8100.0, "Sylvia undata", Polarity.POSITIVE,
         None, 1),
        # two species tags on one annotation -> two boxes; TimeInterval -> full band
        ("train/nips4b_birds_trainfile079.wav", 2.0, 3.25, None, None, "Prunella modularis", Polarity.POSITIVE,
         None, 2),
        ("train/nips4b_birds_trainfile079.wav", 2.0, 3.25, None, None, "Cyanistes caeruleus", Polarity.POSITIVE,
         None, 2),
        # times stay relative to the recording although its clip starts at 2 s
        ("train/nips4b_birds_trainfile237.wav", 2.5, 3.0, 3000.0, 6000.0, "Cyanistes caeruleus",
         Polarity.NEGATIVE, None, 3),
        ("train/nips4b_birds_trainfile237.wav", 4.0, 4.5, 4000.0, 9000.0, "Sylvia undata", Polarity.POSITIVE,
         0.75, 4)]


def test_annotation_project_fixture() -> None:
    got = aoef.read(FIXTURES / "frog_project.aoef.json", polarity=Polarity.NEGATIVE)
    assert [(a.recording, a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.polarity) for a in got] == [
        ("night/pond_0100.flac", 121.5, 122.25, 1500.0, 3200.0, "Hyla arborea", Polarity.NEGATIVE),  # default
        ("night/pond_0100.flac", 150.0, 150.6, 1400.0, 3000.0, "Hyla arborea", Polarity.UNCERTAIN)]  # tagged


def _bad_doc() -> dict:
    doc = json.loads((FIXTURES / "nips4b_set.aoef.json").read_text())
    data = doc["data"]
    events = data["sound_events"]
    events[0]["geometry"] = {"type": "Point", "coordinates": [0.5, 3000.0]}  # annotation 1
    events[1]["geometry"] = {"type": "TimeInterval", "coordinates": [3.25, 2.0]}  # annotation 2: reversed
    data["sound_event_annotations"][2]["tags"] = [1]  # annotation 3: only a sound_type tag, no label
    events[3]["geometry"] = {"type": "BoundingBox", "coordinates": [4.0, -1.0, 4.5, "x"]}  # annotation 4
    return doc


def test_bad_annotations_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_bad_doc()))
    with pytest.raises(TableError) as exc:
        aoef.read(path)
    assert error_lines(exc) == [1, 2, 3, 4]
    assert exc.value.annotations == []
    reasons = [e.reason for e in exc.value.errors]
    assert reasons[0].startswith("sound event annotation 1: ") and "'Point'" in reasons[0]
    assert "not after" in reasons[1]
    assert "no label tag" in reasons[2] and "sound_type" in reasons[2]
    assert "'x' is not a number" in reasons[3]


def test_not_an_annotation_collection(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"version": "1.1.0", "data": {"uuid": str(uuid.uuid4()),
                                                             "collection_type": "recording_set"}}))
    with pytest.raises(TableError, match="recording_set"):
        aoef.read(path)
    path.write_text("[1, 2]")
    with pytest.raises(TableError, match="not an AOEF file"):
        aoef.read(path)
