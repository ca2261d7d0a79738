"""Training job files (DESIGN.md section 5): a frozen snapshot of a project's labels.

The app (or `birdlab train`) writes `runs/<id>/job.json` with `make_job`, then starts
`python -m training fit runs/<id>/job.json` as a child process. The trainer reads it with
`read_job`. The snapshot holds everything training needs (recordings, boxes, extents,
classes, the config), so the same folder runs unchanged on a GPU server with
`--audio-root DIR` pointing at a copy of the audio.

Uncertain labels are left out of the snapshot: they are never trained on.

A distillation job (`birdlab train --distil-from VERSION`) also carries a teacher: a version's
score tracks for every recording of the project, one `<recording id>.npz` per recording in a
folder beside job.json (the project's track-cache format). The trainer uses them as soft
targets wherever the recording has no label, so the job's recordings are then all of the
project's, labelled or not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from birdlab.core.atomic import atomic_write_text
from birdlab.core.model import Polarity
from birdlab.core.paths import confine
from birdlab.core.store.project import Project, now
from birdlab.core.validate import SchemaError, load_json

JOB_FORMAT = 1


class JobError(ValueError):
    """A job file that cannot be trained on; the message names the file and the reason."""


@dataclass(frozen=True)
class JobRecording:
    id: int
    path: str  # absolute (or relative to the audio root given to the trainer)
    duration: float
    sample_rate: int
    fingerprint: str = ""


@dataclass(frozen=True)
class JobLabel:
    """A label as job.json carries it: flat fields, the file format of DESIGN.md section 5."""

    recording: int
    class_name: str
    t_min: float
    t_max: float
    f_min: float
    f_max: float
    polarity: Polarity  # positive or negative (uncertain labels are not trained on)


@dataclass(frozen=True)
class JobExtent:
    """A time range reviewed as complete for `classes`: unlabelled audio there is negative."""

    recording: int
    t_min: float
    t_max: float
    classes: tuple[str, ...]


@dataclass(frozen=True)
class JobTeacher:
    """The version whose score tracks a distillation job learns from."""

    version: str
    tracks: str  # folder of <recording id>.npz, relative to the job file's folder


TEACHER_FOLDER = "teacher"


@dataclass
class Job:
    classes: list[str]
    recordings: list[JobRecording]
    labels: list[JobLabel]
    extents: list[JobExtent] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    validation: list[int] | None = None  # recording ids held out; None: the trainer splits
    project: str | None = None  # the project folder (its cache/ holds embeddings)
    created: str = ""
    teacher: JobTeacher | None = None
    path: Path | None = None  # where the job file is (set by read_job)

    def teacher_folder(self) -> Path | None:
        if self.teacher is None or self.path is None:
            return None
        return Path(self.path).parent / self.teacher.tracks

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("path")
        return {"format": JOB_FORMAT, **data}


def make_job(project: Project, config: dict, *, class_names: list[str] | None = None,
             validation: list[int] | None = None, teacher: JobTeacher | None = None,
             teacher_recordings: set[int] | None = None) -> Job:
    """Snapshot the project's positive and negative labels and complete extents (and, for a
    distillation job, every recording the teacher has tracks of)."""
    names = {c.id: c.name for c in project.classes()}
    labels = [lab for lab in project.labels() if lab.polarity != Polarity.UNCERTAIN]
    used = sorted({names[lab.class_id] for lab in labels})
    classes = class_names or used
    wanted = set(classes)
    rec_ids = {lab.recording_id for lab in labels}
    extents = []
    for ext in project.extents():
        cls = tuple(sorted(names[c] for c in ext.class_ids if names[c] in wanted))
        if cls:
            extents.append(JobExtent(ext.recording_id, ext.t_min, ext.t_max, cls))
            rec_ids.add(ext.recording_id)
    rec_ids |= teacher_recordings or set()
    recordings = [JobRecording(r.id, str(r.abs_path), r.duration, r.sample_rate, r.fingerprint)
                  for r in project.recordings() if r.id in rec_ids]
    return Job(
        classes=list(classes),
        recordings=recordings,
        labels=[JobLabel(lab.recording_id, names[lab.class_id], lab.t_min, lab.t_max, lab.f_min, lab.f_max,
                         lab.polarity) for lab in labels if names[lab.class_id] in wanted],
        extents=extents, config=dict(config), validation=validation, project=str(project.root), created=now(),
        teacher=teacher)


def write_job(job: Job, path: str | Path) -> Path:
    """Write atomically (a half-written job file is never seen by a trainer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(job.to_json(), indent=1))
    job.path = path
    return path


def read_job(path: str | Path, audio_root: str | Path | None = None) -> Job:
    """Read and check a job file; JobError naming the file and the JSON path on any problem.

    audio_root: recordings are looked up there by their path relative to the project (or
    their file name) instead of their stored absolute path (for a copy on a GPU server). It is
    a path jail: a recording path that climbs out of it (`../..`) is refused, as is a relative
    path that climbs out of the job's project folder.
    """
    path = Path(path)
    try:
        return _read_job(path, audio_root)
    except SchemaError as exc:
        raise JobError(str(exc)) from None


def _read_job(path: Path, audio_root: str | Path | None) -> Job:
    if not path.exists():
        raise JobError(f"{path}: job file not found")
    doc = load_json(path, "job file").obj()
    if doc.get("format") is None or doc["format"].value != JOB_FORMAT:
        raise JobError(f"{path}: not a birdlab job file of format {JOB_FORMAT}")
    classes = doc["classes"].strings()
    if not classes:
        raise JobError(f"{path}: the job has no classes")
    project_node = doc.get("project")
    project = project_node.str() if project_node is not None else None
    recordings = []
    for r in doc["recordings"].items():
        rec = JobRecording(r["id"].int(), r["path"].path(), r["duration"].float(lo=0.0),
                           r["sample_rate"].int(lo=1), r.get("fingerprint").str() if r.get("fingerprint") else "")
        where = r["path"]
        if audio_root is not None:
            located = _relocate(rec.path, Path(audio_root), project)
            try:
                confine(located, audio_root, "recording path")
            except ValueError:
                raise where.fail(f"{rec.path!r} leads outside the audio root {audio_root} (a path jail)") from None
            rec = dataclasses.replace(rec, path=str(located))
        elif not Path(rec.path).is_absolute():
            if not project:
                raise where.fail("a relative recording path needs the job's 'project' folder")
            try:
                rec = dataclasses.replace(rec, path=str(confine(rec.path, project, "recording path")))
            except ValueError:
                raise where.fail(f"{rec.path!r} leads outside the project folder {project} (a path jail)") from None
        recordings.append(rec)
    by_id = {r.id: r for r in recordings}
    labels = []
    for lab in doc["labels"].items():
        item = JobLabel(lab["recording"].int(), lab["class_name"].str(),
                        *(lab[k].float() for k in ("t_min", "t_max", "f_min", "f_max")),
                        _trained_polarity(lab["polarity"]))
        if item.recording not in by_id:
            raise lab.fail(f"recording {item.recording} is not in the job's recordings")
        if item.class_name not in classes:
            raise lab.fail(f"class {item.class_name!r} is not in the job's classes")
        if not item.t_min < item.t_max:
            raise lab.fail(f"t_max {item.t_max} is not after t_min {item.t_min}")
        labels.append(item)
    extents = [JobExtent(ext["recording"].int(), ext["t_min"].float(), ext["t_max"].float(),
                         tuple(ext["classes"].strings())) for ext in doc.list_of("extents")]
    config_node = doc.get("config")
    config = config_node.obj().value if config_node is not None else {}
    validation_node = doc.get("validation")
    validation = [v.int() for v in validation_node.items()] if validation_node is not None else None
    created = doc.get("created")
    teacher = None
    teacher_node = doc.get("teacher")
    if teacher_node is not None and teacher_node.value is not None:
        node = teacher_node.obj()
        tracks = node["tracks"]
        try:
            confine(tracks.str(), path.parent, "teacher tracks folder")
        except ValueError:
            raise tracks.fail(f"{tracks.str()!r} leads outside the job's folder (a path jail)") from None
        teacher = JobTeacher(node["version"].str(), tracks.str())
    return Job(classes=classes, recordings=recordings, labels=labels, extents=extents, config=config,
               validation=validation, project=project, created=created.str() if created else "", teacher=teacher,
               path=path)


def _trained_polarity(node) -> Polarity:
    """A job label's polarity, kept as the enum: only positive and negative are trained on."""
    text = node.str()
    if text not in (Polarity.POSITIVE.value, Polarity.NEGATIVE.value):
        raise node.fail(f"polarity {text!r} (only positive or negative are trained on)")
    return Polarity(text)


def _relocate(stored: str, audio_root: Path, project: str | None) -> Path:
    """Where a recording is under `audio_root`: by its path relative to the project, else by name."""
    stored_path = Path(stored)
    if project:
        try:
            candidate = audio_root / stored_path.relative_to(project)
            if candidate.exists():
                return candidate
        except ValueError:
            pass
    if not stored_path.is_absolute():
        candidate = audio_root / stored_path  # as given: the jail refuses it if it climbs out
        if candidate.exists() or ".." in stored_path.parts:
            return candidate
    for candidate in (audio_root / stored_path.name, *audio_root.rglob(stored_path.name)):
        if candidate.exists():
            return candidate
    return audio_root / stored_path.name  # missing: the trainer reports it


def split_recordings(job: Job, val_fraction: float, seed: int) -> tuple[set[int], set[int]]:
    """(train, validation) recording ids: the job's choice, else a seeded split by recording.

    Never by crop (crops of one recording are correlated). Only recordings with labels or
    extents are split; with fewer than two, nothing is held out.
    """
    ids = sorted({lab.recording for lab in job.labels} | {e.recording for e in job.extents})
    if job.validation is not None:
        val = set(job.validation) & set(ids)
        return set(ids) - val, val
    if len(ids) < 2 or val_fraction <= 0:
        return set(ids), set()
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(len(ids) * val_fraction)))
    val = set(int(i) for i in rng.choice(ids, size=n_val, replace=False))
    return set(ids) - val, val


def classes_without_negatives(job: Job) -> list[str]:
    """Classes with positives but no negative evidence (a negative label or a reviewed-complete
    extent for the class): a model learns nothing but 'yes' for them, and their validation AP
    is undefined. Tables that list only calls (Raven, Audacity) give exactly this."""
    positive = {lab.class_name for lab in job.labels if lab.polarity is Polarity.POSITIVE}
    negative = {lab.class_name for lab in job.labels if lab.polarity is Polarity.NEGATIVE}
    negative |= {name for ext in job.extents for name in ext.classes}
    return sorted(positive - negative)


def no_negative_warnings(project: Project) -> list[str]:
    """The warning `birdlab train` and the Retrain dialog show before a run, one line per problem."""
    have = project.classes_with()
    names = {c.id: c.name for c in project.classes()}
    blind = sorted(names[c] for c in have["positive"] - have["negative"] - have["extent"])
    if not blind:
        return []
    return [f"{', '.join(blind)} ha{'s' if len(blind) == 1 else 've'} positive labels but no negative evidence "
            "(no negative label, no range marked reviewed or empty for it): the model can only learn to say "
            "yes, and its validation AP is n/a. Reject some detections (X), mark checked ranges reviewed (R), "
            "or mark recordings without the species empty (birdlab labels empty); tables that list every "
            "call import with --complete."]
