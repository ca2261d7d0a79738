"""soundevent's Acoustic Objects Exchange Format (AOEF), JSON; read and written by `soundevent`
(`soundevent.io.load/save`) and by Whombat.

Schema (from mbsantiago/soundevent, `src/soundevent/io/aoef/`, AOEF version 1.1.0):
```
{"version": "1.1.0", "created_on": "<ISO time>",
 "data": {"uuid": ..., "collection_type": "annotation_set" | "annotation_project",
          "tags": [{"id": 0, "key": "species", "value": "Parus major"}, ...],
          "recordings": [{"uuid", "path", "duration", "channels", "samplerate", ...}],
          "clips": [{"uuid", "recording": <recording uuid>, "start_time", "end_time"}],
          "sound_events": [{"uuid", "recording": <recording uuid>,
                            "geometry": {"type": "BoundingBox", "coordinates": [t0, f0, t1, f1]},
                            "features": {"name": value}}],
          "sound_event_annotations": [{"uuid", "sound_event": <uuid>, "tags": [<tag id>...],
                                       "notes": [{"uuid", "message", "is_issue", ...}]}],
          "clip_annotations": [{"uuid", "clip": <clip uuid>, "sound_events": [<sea uuid>...]}],
          # annotation_project only: "name", "description", "instructions", "tasks", ...
 }}
```
Geometry times are seconds from the start of the RECORDING (not of the clip; soundevent's
`data/geometries.py`: "time values are always relative to the start of the recording"),
frequencies in Hz. `BoundingBox` is `[start time, low freq, end time, high freq]`.

Reading
- One Annotation per sound event annotation and label tag. The label tag is the first of the
  keys `species`, `scientific_name`, `taxon`, `class`, `label`, `common_name` (case-insensitive,
  also with spaces or a `dwc:` style prefix) that the annotation has; without one,
  `default_label`.
- Geometry `BoundingBox` -> a box; `TimeInterval` `[t0, t1]` -> full band (None); other
  geometries (points, lines, polygons, time stamps) are reported as bad rows.
- Polarity: a tag with key `birdlab:polarity` (positive/negative/uncertain), else the
  `polarity` argument, else positive. Score: the sound event's feature `birdlab:score`.
- Whombat's notes and tags: the messages of the annotation's notes, one per line, are the
  label's note; its other tags (not the label tag, not the polarity) are the label's tags as
  `key:value` (a tag with key `birdlab:tag` is its value alone).
- `Annotation.recording` is the recording's `path` as written in the file.
- "line" of a RowError is the 1-based index of the sound event annotation in
  `sound_event_annotations`; the reason says "sound event annotation N: ...".

Writing: one annotation set at `out`, with the recordings, one whole-recording clip and clip
annotation per recording, one sound event (BoundingBox, or TimeInterval when both f are None)
and one sound event annotation per Annotation, tags `species` (the label) and
`birdlab:polarity` (only for negatives and uncertain ones), and the score as the sound event
feature `birdlab:score`; the label's note as one note, its tags as tags (`key:value` split at
the first colon; a word, or a key that would read as a label or polarity, under `birdlab:tag`).
"""

from __future__ import annotations

import datetime
import json
import math
import re
import uuid
from pathlib import Path
from typing import Any

from birdlab.core.atomic import atomic_write_text
from birdlab.core.formats.common import (
    Annotation,
    RecordingRef,
    RowError,
    TableError,
    box_problems,
    by_recording,
    full_band,
    read_table_text,
    rows_error,
)
from birdlab.core.model import Polarity, clean_tags
from birdlab.core.validate import Node, SchemaError, parse_json

NAME = "aoef"
DETECTIONS = False  # rows are labels (not a model's detections)
EXTENSIONS = (".json",)  # told by its name alone (no sniff)
SNIFF_PRIORITY = 10
EXPORT_FILE_SUFFIXES = None  # an export is always one file
KEEPS = ("note", "tags")  # what of a label beyond box, class and polarity it writes

AOEF_VERSION = "1.1.0"
COLLECTION_TYPES = ("annotation_set", "annotation_project")
LABEL_KEYS = ("species", "scientific_name", "taxon", "class", "label", "common_name")
POLARITY_KEY = "birdlab:polarity"
SCORE_FEATURE = "birdlab:score"
WRITE_LABEL_KEY = "species"
TAG_KEY = "birdlab:tag"  # a label's tag that is not a key:value pair


def _key(text: Any) -> str:
    """A tag key for matching: lower case, spaces/dashes as `_`, namespace prefix dropped."""
    key = re.sub(r"[\s\-]+", "_", str(text).strip().lower())
    key = key.split(":")[-1] if key != POLARITY_KEY else key
    return {"scientificname": "scientific_name", "commonname": "common_name",
            "vernacularname": "common_name", "vernacular_name": "common_name"}.get(key, key)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} {value!r} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number ({value!r})")
    return float(value)


def _by_uuid(data: Node, name: str) -> dict[str, dict]:
    """The objects of the list `name`, by their uuid (an id: a text or an integer)."""
    return {item.obj()["uuid"].key(): item.value for item in data.list_of(name)}


def _document(path: Path) -> Node:
    """The AOEF `data` object; TableError naming the file and the JSON path on a wrong shape."""
    file = str(path)
    try:
        doc = parse_json(read_table_text(path), path)
        data = doc.get("data") if isinstance(doc.value, dict) else None
        if data is None or not isinstance(data.value, dict) or "collection_type" not in data.value:
            raise TableError([RowError(file, 0, "not an AOEF file (no 'data' object with a 'collection_type')")])
        ctype = data["collection_type"].value
        if ctype not in COLLECTION_TYPES:
            raise TableError([RowError(file, 0, f"AOEF collection type {ctype!r} holds no annotations birdlab "
                                                f"can import (supported: {', '.join(COLLECTION_TYPES)})")])
        return data
    except SchemaError as exc:
        raise TableError([RowError(file, 0, f"{exc.where}: {exc.reason}" if exc.where != "$" else exc.reason)]) \
            from None


def read(path: Path, *, default_label: str | None = None,
         polarity: Polarity | None = None) -> list[Annotation]:
    """Boxes of an AOEF annotation set or project; TableError listing every bad annotation."""
    file = str(path)
    root = _document(path)
    try:
        tags: dict[str, tuple[str, str]] = {}
        for tag in root.list_of("tags"):
            key, value = tag.obj().get("key"), tag.get("value")
            tags[tag["id"].key()] = (key.str() if key else "", value.str() if value else "")
        recordings = _by_uuid(root, "recordings")
        clips = _by_uuid(root, "clips")
        events = _by_uuid(root, "sound_events")
        # recording of each sound event annotation through its clip (for sound events without one)
        recording_of_sea: dict[str, str] = {}
        for clip_ann in root.list_of("clip_annotations"):
            clip_id = clip_ann.obj().get("clip")
            clip = clips.get(clip_id.key()) if clip_id is not None else None
            for sea_id in clip_ann.list_of("sound_events"):
                if clip is not None:
                    recording_of_sea[sea_id.key()] = str(clip.get("recording"))
        annotations = root.list_of("sound_event_annotations")
    except SchemaError as exc:
        raise TableError([RowError(file, 0, f"{exc.where}: {exc.reason}")]) from None

    errors: list[RowError] = []
    out: list[Annotation] = []
    for index, sea_node in enumerate(annotations, 1):
        problems: list[str] = []
        sea = sea_node.value
        if not isinstance(sea, dict):
            errors.append(RowError(file, index, f"sound event annotation {index}: not an object"))
            continue
        event = events.get(str(sea.get("sound_event")))
        if event is not None and not isinstance(event, dict):
            event = None
        t_min = t_max = 0.0
        f_min = f_max = None
        recording = ""
        score = None
        if event is None:
            problems.append(f"its sound event {sea.get('sound_event')!r} is not in 'sound_events'")
        else:
            rec_id = event.get("recording") or recording_of_sea.get(str(sea.get("uuid")))
            rec = recordings.get(str(rec_id))
            if rec is None:
                problems.append(f"its recording {rec_id!r} is not in 'recordings'")
            else:
                recording = rec.get("path") if isinstance(rec.get("path"), str) else ""
                if not recording:
                    problems.append(f"recording {rec_id!r} has no path")
            geometry = event.get("geometry")
            gtype = geometry.get("type") if isinstance(geometry, dict) else None
            coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
            try:
                if gtype == "BoundingBox":
                    if not isinstance(coords, list) or len(coords) != 4:
                        raise ValueError("BoundingBox coordinates must be [start time, low freq, end time, high freq]")
                    t_min, f_min, t_max, f_max = (_number(v, w) for v, w in zip(
                        coords, ("start time", "low frequency", "end time", "high frequency")))
                elif gtype == "TimeInterval":
                    if not isinstance(coords, list) or len(coords) != 2:
                        raise ValueError("TimeInterval coordinates must be [start time, end time]")
                    t_min, t_max = _number(coords[0], "start time"), _number(coords[1], "end time")
                else:
                    raise ValueError(f"geometry type {gtype!r} is not supported (only BoundingBox and "
                                     "TimeInterval can be imported as boxes)")
                problems += box_problems(t_min, t_max, f_min, f_max)
            except ValueError as exc:
                problems.append(str(exc))
            features = event.get("features")
            if isinstance(features, dict) and SCORE_FEATURE in features:
                try:
                    score = _number(features[SCORE_FEATURE], "score")
                except ValueError as exc:
                    problems.append(str(exc))

        sea_tags: list[tuple[str, str]] = []
        try:
            tag_ids = [tag.key() for tag in sea_node.list_of("tags")]
        except SchemaError as exc:
            problems.append(f"{exc.where}: {exc.reason}")
            tag_ids = []
        for tag_id in tag_ids:
            if tag_id not in tags:
                problems.append(f"tag id {tag_id!r} is not in 'tags'")
            else:
                sea_tags.append(tags[tag_id])
        pol = polarity or Polarity.POSITIVE
        for key, value in sea_tags:
            if _key(key) == POLARITY_KEY:
                try:
                    pol = Polarity.parse(value)
                except ValueError as exc:
                    problems.append(str(exc))
        labels: list[str] = []
        for wanted in LABEL_KEYS:
            labels = [value.strip() for key, value in sea_tags if _key(key) == wanted and value.strip()]
            if labels:
                break
        if not labels:
            if default_label:
                labels = [default_label]
            else:
                found = ", ".join(sorted({k for k, _ in sea_tags})) or "none"
                problems.append(f"no label tag (key {', '.join(LABEL_KEYS)}; tag keys found: {found}) "
                                "and no default label given")
        if problems:
            errors.append(RowError(file, index, f"sound event annotation {index}: " + "; ".join(problems)))
            continue
        other_tags = clean_tags(value if key == TAG_KEY else f"{key}:{value}" if key else value
                                for key, value in sea_tags if _key(key) not in (wanted, POLARITY_KEY))
        note = _notes(sea)
        for label in dict.fromkeys(labels):
            out.append(Annotation(recording=recording, t_min=t_min, t_max=t_max, f_min=f_min, f_max=f_max,
                                  label=label, polarity=pol, score=score, file=file, line=index,
                                  note=note, tags=other_tags))
    if errors:
        raise rows_error(errors, out)
    return out


def _notes(sea: dict) -> str:
    """The messages of a sound event annotation's notes, one per line."""
    notes = sea.get("notes")
    if not isinstance(notes, list):
        return ""
    return "\n".join(n["message"].strip() for n in notes
                     if isinstance(n, dict) and isinstance(n.get("message"), str) and n["message"].strip())


def _tag_pair(tag: str) -> tuple[str, str]:
    """A label's tag as an AOEF key and value."""
    key, sep, value = tag.partition(":")
    if sep and key.strip() and value.strip() and _key(key) not in (*LABEL_KEYS, "tag") and key != POLARITY_KEY:
        return key.strip(), value.strip()
    return TAG_KEY, tag


def write(annotations: list[Annotation], out: Path,
          recordings: dict[str, RecordingRef]) -> list[Path]:
    """Write one AOEF annotation set (JSON) at `out`."""
    out = Path(out)
    groups = by_recording(annotations, recordings)
    now = datetime.datetime.now().isoformat()
    tag_ids: dict[tuple[str, str], int] = {}

    def tag(key: str, value: str) -> int:
        return tag_ids.setdefault((key, value), len(tag_ids))

    recs, clips, events, seas, clip_anns = [], [], [], [], []
    for key, rows in groups.items():
        ref = recordings[key]
        rec_id, clip_id = str(uuid.uuid4()), str(uuid.uuid4())
        recs.append({"uuid": rec_id, "path": ref.path, "duration": ref.duration,
                     "channels": ref.channels, "samplerate": ref.sample_rate})
        clips.append({"uuid": clip_id, "recording": rec_id, "start_time": 0.0, "end_time": ref.duration})
        sea_ids = []
        for a in rows:
            if a.f_min is None and a.f_max is None:
                geometry = {"type": "TimeInterval", "coordinates": [a.t_min, a.t_max]}
            else:
                f_lo, f_hi = full_band(a, ref)
                geometry = {"type": "BoundingBox", "coordinates": [a.t_min, f_lo, a.t_max, f_hi]}
            event: dict[str, Any] = {"uuid": str(uuid.uuid4()), "recording": rec_id, "geometry": geometry}
            if a.score is not None:
                event["features"] = {SCORE_FEATURE: a.score}
            events.append(event)
            tag_list = [tag(WRITE_LABEL_KEY, a.label)]
            if a.polarity is not Polarity.POSITIVE:
                tag_list.append(tag(POLARITY_KEY, a.polarity.value))
            tag_list += [tag(*_tag_pair(t)) for t in a.tags]
            sea_id = str(uuid.uuid4())
            sea = {"uuid": sea_id, "sound_event": event["uuid"], "tags": tag_list, "created_on": now}
            if a.note:
                sea["notes"] = [{"uuid": str(uuid.uuid4()), "message": a.note, "is_issue": False, "created_on": now}]
            seas.append(sea)
            sea_ids.append(sea_id)
        clip_anns.append({"uuid": str(uuid.uuid4()), "clip": clip_id, "sound_events": sea_ids, "created_on": now})

    doc = {
        "version": AOEF_VERSION,
        "created_on": now,
        "data": {
            "uuid": str(uuid.uuid4()),
            "collection_type": "annotation_set",
            "tags": [{"id": i, "key": k, "value": v} for (k, v), i in tag_ids.items()],
            "recordings": recs,
            "clips": clips,
            "sound_events": events,
            "sound_event_annotations": seas,
            "clip_annotations": clip_anns,
            "created_on": now,
        },
    }
    atomic_write_text(out, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    return [out]
