"""AOEF and AviaNZ files that are JSON but hostile or broken: listed errors naming the file and
the place, never RecursionError, TypeError or a message without the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from birdlab.core.formats import aoef, avianz
from birdlab.core.formats.common import TableError
from tests.core.formats.fmt_helpers import make_annotations, make_recordings


@pytest.fixture
def aoef_doc(tmp_path: Path) -> dict:
    recs = make_recordings()
    out = tmp_path / "set.json"
    aoef.write(make_annotations(recs), out, recs)
    return json.loads(out.read_text())


def read_error(module, path: Path, text: str) -> str:
    path.write_text(text)
    with pytest.raises(TableError) as info:
        module.read(path)
    message = str(info.value)
    assert str(path) in message
    return message


@pytest.mark.parametrize("module, suffix", [(aoef, ".json"), (avianz, ".data")])
def test_deep_nesting_is_refused_with_the_limit(tmp_path, module, suffix):
    for depth in (100, 200_000):
        message = read_error(module, tmp_path / f"deep{suffix}", "[" * depth + "]" * depth)
        assert "nested deeper than 64 levels" in message


@pytest.mark.parametrize("change, place", [
    (lambda d: d["data"].__setitem__("recordings", {"a": 1}), "$.data.recordings: should be a list, not an object"),
    (lambda d: d["data"].__setitem__("sound_event_annotations", "x"),
     "$.data.sound_event_annotations: should be a list, not a text"),
    (lambda d: d["data"]["recordings"][0].__setitem__("uuid", ["unhashable"]),
     "$.data.recordings[0].uuid: should be an id (a text or an integer), not a list"),
    (lambda d: d["data"]["tags"][0].__setitem__("id", {"x": 1}), "$.data.tags[0].id: should be an id"),
    (lambda d: d["data"]["sound_event_annotations"][0].__setitem__("tags", [[1]]),
     "$.data.sound_event_annotations[0].tags[0]: should be an id"),
])
def test_aoef_of_the_wrong_shape_names_the_json_path(tmp_path, aoef_doc, change, place):
    change(aoef_doc)
    assert place in read_error(aoef, tmp_path / "set.json", json.dumps(aoef_doc))


def test_a_lone_surrogate_is_an_error_naming_the_file(tmp_path, aoef_doc):
    aoef_doc["data"]["tags"][0]["value"] = "Parus \ud800"
    message = read_error(aoef, tmp_path / "set.json", json.dumps(aoef_doc))
    assert "unpaired surrogate" in message and "$.data.tags[0].value" in message
