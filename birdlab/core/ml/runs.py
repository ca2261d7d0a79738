"""The parent's side of a training run: job folder, child process, model registration.

Used by `birdlab train` and by the app. The parent never imports torch: it writes
`runs/<id>/job.json`, starts `python -m training fit` as a child process, reads its JSON
lines, and on `done`/`ok` copies the exported model into `models/<version>/` and makes it
the active version. A failed or cancelled run (or a killed child) leaves the previous
model active: nothing is registered until the files are complete.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from birdlab.core.ml.jobs import TEACHER_FOLDER, JobError, JobTeacher, make_job, write_job
from birdlab.core.model import ModelVersion, TrainingRun
from birdlab.core.store.project import Project, ProjectError
from birdlab.core.ml.card import CardError, ModelCard


def version_weights(project: Project, version: ModelVersion) -> Path | None:
    """The torch weights (model.pt) beside a version's model file, when it has them."""
    model_file = project.model_file(version)
    weights = model_file.parent / "model.pt" if model_file else None
    return weights if weights is not None and weights.exists() else None


def teacher_tracks(project: Project, teacher: ModelVersion) -> tuple[dict[int, Path], tuple[str, ...]]:
    """The teacher's cached score tracks ({recording id: npz file}) and their classes (read from
    one file). One listing of the version's cache folder, not a file check per recording: the
    Retrain dialog asks this of every version of a project of tens of thousands of recordings."""
    from birdlab.core.store.track_cache import load_tracks, tracks_path

    folder = tracks_path(project, teacher.name, 0).parent
    cached = {int(p.stem): p for p in folder.glob("*.npz") if p.stem.isdigit()} if folder.is_dir() else {}
    files = {rec.id: cached[rec.id] for rec in project.recordings() if rec.id in cached}
    classes: tuple[str, ...] = ()
    for path in files.values():
        loaded = load_tracks(path)
        if loaded is not None:
            classes = loaded[2]
            break
    return files, classes


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        target.hardlink_to(source)
    except OSError:  # another file system, or no hard links there
        shutil.copyfile(source, target)


def new_run(project: Project, config: dict, *, start_from: ModelVersion | None = None,
            class_names: list[str] | None = None, teacher: ModelVersion | None = None) -> tuple[TrainingRun, Path]:
    """Snapshot the labels into runs/<stamp>/job.json and record the run; returns (run, job path).

    start_from: a version whose weights and architecture the run starts from (it becomes the
    new version's parent); settings given in `config` win over the version's.
    teacher: a version whose cached score tracks the run distils (`teacher_tracks`); they are
    linked into runs/<stamp>/teacher/, so the run folder stays self-contained.
    """
    config = dict(config)
    config["model"] = dict(config.get("model", {}))
    weights = version_weights(project, start_from) if start_from is not None else None
    if weights is not None:
        config.setdefault("parent", start_from.name)
        config["model"].setdefault("init_model", str(weights))
        card = start_from.model_card
        settings = card.start_settings() if card else {}
        for key, value in settings.items():  # its architecture, so that its weights fit
            config["model"].setdefault(key, value)
        if settings.get("name") == "embedding_head":  # an embedding-family version trains only its head
            config["mode"] = "head"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = project.runs_dir / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = project.runs_dir / f"{stamp}-{n}"
    job_teacher, tracks = None, {}
    if teacher is not None:
        tracks, teacher_classes = teacher_tracks(project, teacher)
        if not tracks:
            raise JobError(f"model version {teacher.name!r} has no score tracks in {project.root} to distil "
                           f"(score the recordings with it first)")
        have = project.classes_with()
        names = {c.id: c.name for c in project.classes()}
        label_classes = sorted(names[c] for c in have["positive"] | have["negative"])  # make_job's own choice
        class_names = class_names or [*teacher_classes, *(c for c in label_classes if c not in teacher_classes)]
        job_teacher = JobTeacher(teacher.name, TEACHER_FOLDER)
        config.setdefault("teacher", teacher.name)
        # the teacher speaks per frame: clip-level terms (every crop toward its loudest teacher
        # frame) made the student say yes more often than its teacher (r 0.88 against 0.93)
        config.setdefault("clip_weight", 0.0)
    job = make_job(project, config, class_names=class_names, teacher=job_teacher, teacher_recordings=set(tracks))
    if tracks:
        (folder / TEACHER_FOLDER).mkdir(parents=True)
        for rid, source in tracks.items():
            _link_or_copy(source, folder / TEACHER_FOLDER / f"{rid}.npz")
    path = write_job(job, folder / "job.json")
    run = project.add_training_run(folder.name, config)
    return run, path


def child_command(job_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "training", "fit", str(job_path), *extra]


def start_child(job_path: Path, *extra: str) -> subprocess.Popen:
    """The training child: JSON lines on stdout, `cancel` on stdin, its stderr kept in the run folder."""
    stderr = open(job_path.parent / "stderr.txt", "ab")
    try:
        return subprocess.Popen(child_command(job_path, *extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, bufsize=1)
    finally:
        stderr.close()


def iter_events(stream: IO[str] | Iterable[str]) -> Iterator[dict]:
    """The child's events; lines that are not JSON objects are skipped (they are not protocol)."""
    for line in stream:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "event" in event:
            yield event


def should_activate(project: Project, card: ModelCard) -> tuple[bool, str]:
    """Whether a finished run's version may become active on its own, and why not.

    Only when its validation metrics are defined and it is no worse than the active version
    on the same validation crops (the card's `parent_metrics`, scored before training, when
    the run started from the active version). Otherwise the user chooses.
    """
    if card.cmap is None:
        return False, ("its validation metrics are undefined (no held-out recording with both positives and "
                       "negatives)")
    active = project.active_model()
    if active is None:
        return True, ""
    if card.parent != active.name or card.parent_cmap is None:
        return False, f"it was not compared with the active version {active.name!r} on the same crops"
    if card.cmap < card.parent_cmap:
        return False, (f"its validation cmAP {card.cmap:.3f} is below the {card.parent_cmap:.3f} of the active "
                       f"version {active.name!r} on the same crops")
    return True, ""


def read_card(path: str | Path) -> ModelCard:
    """A model card (card.json), checked: ProjectError naming the file, the JSON path and the problem."""
    try:
        return ModelCard.read(path)
    except CardError as exc:
        raise ProjectError(str(exc)) from None


def register_model(project: Project, run: TrainingRun, model_dir: Path, name: str | None = None,
                   activate: bool = True) -> ModelVersion:
    """Copy a run's exported model into models/<name>/ (complete before it is listed) and record it."""
    card = read_card(model_dir / "card.json")
    if not (model_dir / "model.onnx").exists():
        raise ProjectError(f"{model_dir}: the run exported no model.onnx")
    name = name or f"v{len(project.model_versions()) + 1}-{run.folder}"
    dest = project.models_dir / name
    tmp = project.models_dir / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for file in ("model.onnx", "card.json", "model.pt"):
        if (model_dir / file).exists():
            shutil.copy2(model_dir / file, tmp / file)
    tmp.rename(dest)
    parent = project.model_by_name(card.parent) if card.parent else None
    with project.transaction():
        version = project.add_model_version(name, "onnx", str(dest.relative_to(project.root)),
                                            parent_id=parent.id if parent else None, training_run_id=run.id,
                                            card=card.to_dict(), activate=activate)
        project.finish_training_run(run.id, "ok", version.id)
    return version


@dataclass
class RunOutcome:
    """How a training run ended, as the CLI and the app report it."""

    status: str  # ok, cancelled or failed
    version: ModelVersion | None = None  # the registered version (status ok)
    activated: bool = False
    why_not_active: str = ""  # when registered but not made active
    error: str = ""  # why it failed (the child's words, or its exit code)
    no_negatives: list[str] = field(default_factory=list)  # classes without negative evidence

    @property
    def cmap_text(self) -> str:
        card = self.version.model_card if self.version else None
        return card.cmap_text() if card else "validation cmAP n/a"


class TrainingRunDriver:
    """One training run's lifecycle, for the CLI (blocking) and the app (a QProcess adapter):
    the run folder and its database row, the child's JSON-lines events, and at the end the
    status, registration of the new version and whether it becomes active.

        driver = TrainingRunDriver.start(project, config, start_from=version)
        ... feed(line) / record(event) for each event of the child (started with driver.command) ...
        outcome = driver.finish(returncode, force_activate=False)
    """

    def __init__(self, project: Project, run: TrainingRun, job_path: Path):
        self.project, self.run, self.job_path = project, run, job_path
        self.final: dict = {}
        self._buffer = ""

    @classmethod
    def start(cls, project: Project, config: dict, start_from: ModelVersion | None = None,
              teacher: ModelVersion | None = None) -> "TrainingRunDriver":
        """Write the job (JobError when it cannot be) and mark the run running."""
        run, job_path = new_run(project, config, start_from=start_from, teacher=teacher)
        project.finish_training_run(run.id, "running")
        return cls(project, run, job_path)

    @property
    def command(self) -> list[str]:
        return child_command(self.job_path)

    def feed(self, text: str) -> list[dict]:
        """Events in a chunk of the child's stdout (partial lines are kept for the next chunk)."""
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        events = list(iter_events(lines))
        for event in events:
            self.record(event)
        return events

    def record(self, event: dict) -> None:
        if event.get("event") == "done":
            self.final = event

    def finish(self, returncode: int, force_activate: bool = False) -> RunOutcome:
        """The run's end: register an ok run's model (active when `should_activate` says so, or
        forced), else record cancelled/failed; the previous model stays active in both."""
        if self._buffer.strip():
            self.feed("\n")
        status = self.final.get("status", "failed")
        if status != "ok":
            self.project.finish_training_run(self.run.id, "cancelled" if status == "cancelled" else "failed")
            error = self.final.get("error") or f"the training process ended with code {returncode} without finishing"
            return RunOutcome("cancelled" if status == "cancelled" else "failed", error=error)
        model_dir = Path(self.final["model_dir"])
        try:
            card = read_card(model_dir / "card.json")
            activate, why_not = should_activate(self.project, card)
            version = register_model(self.project, self.run, model_dir, activate=activate or force_activate)
        except ProjectError as exc:  # a broken card or a read-only project: said, nothing half-registered
            if not self.project.read_only:
                self.project.finish_training_run(self.run.id, "failed")
            return RunOutcome("failed", error=f"the run finished, but its model was not registered: {exc}")
        return RunOutcome("ok", version, version.active, "" if version.active else why_not,
                          no_negatives=list(card.no_negatives))
