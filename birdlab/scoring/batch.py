"""Batch scoring of many recordings: worker processes, progress, journal, resume, outputs.

Plan of a run (`run_batch`):
1. Check everything that could make the run useless before writing anything: output
   formats, shard, settings, inputs, the model file(s), the project. Any problem raises
   `BatchUsageError` or `ModelFileError` (the command exits 2, nothing written).
2. Files: every input file plus the audio files found recursively in input folders, sorted
   by absolute path; `--shard k/n` keeps files k, k+n, k+2n, ... (1-based).
3. With `resume`, files whose journal entry matches their content fingerprint and the run's
   parameter fingerprint (model files, settings, outputs) are skipped.
4. Worker processes (forkserver where available, else spawn), each with its own ONNX Runtime
   session and `threads` intra-op threads; by default workers x threads = cores. Each worker
   scores a whole file (`score_recording`) and writes its per-file outputs atomically; the
   parent writes the project, then the journal line. At most two files per worker are in
   flight, so memory does not grow with the number of files. The project gets the detections
   the app would store (the threshold lowered to the app's, see `project_settings`). A file
   that fails is named on stderr with its reason and the run goes on; a worker that dies is
   replaced and the files it had in flight are rerun one at a time, so only a file that
   crashes on its own fails.
5. The combined tables are rewritten from the journal at the end (every finished file of this
   run or an earlier one resumed, exactly once), one file's detections at a time: the parent
   keeps only where each file's journal line is, so memory does not grow with the detections.

Long because: the five steps above share one run's state (journal, sink, pool, report), and
every step must leave the same resumable journal behind; the per-file scoring it calls lives in
`scoring.recording`, the outputs in `scoring.outputs` and the project writes in `scoring.store`.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from birdlab.core.sound.audio import AudioError
from birdlab.core.ml.card import CardError, ModelCard
from birdlab.core.failures import os_reason
from birdlab.core.sound.fingerprint import fingerprint
from birdlab.core.paths import OutputRefused, check_output
from birdlab.core.progress import ProgressBar, format_duration
from birdlab.core.store.audio_files import iter_audio_files
from birdlab.scoring.bundle import available_cores
from birdlab.scoring.ensemble import COMBINE, load_scorer
from birdlab.scoring.journal import DoneFiles, DoneRef, Journal, done_entries, done_event
from birdlab.scoring.metadata import ModelFileError
from birdlab.scoring.outputs import FORMATS, FileDone, output_names, per_file_paths, write_combined, write_per_file
from birdlab.scoring.recording import EmbeddingStore, ScoreSettings, redetect, score_recording
from birdlab.scoring.store import APP_DETECTION_THRESHOLD
from birdlab.scoring.scorer import Scorer
from birdlab.scoring.tracks import WindowPlan

# with --project, the project and the journal take finished files in batches: one transaction
# per batch of FLUSH_FILES files, or of what finished in FLUSH_S seconds, whichever comes first
# (without a project, each file is journalled as it finishes)
FLUSH_FILES = 64
FLUSH_S = 2.0



class BatchUsageError(Exception):
    """The run cannot start (bad usage or input); nothing was written."""


@dataclass
class BatchConfig:
    """A batch run, as the `birdlab score` command describes it."""

    inputs: list[str]
    models: list[str]
    out: Path
    weights: list[float] | None = None
    combine: str = "mean"
    formats: tuple[str, ...] = ("csv",)
    workers: int | None = None  # default: min(cores, files)
    threads: int | None = None  # intra-op threads per worker; default: cores // workers
    resume: bool = False
    shard: tuple[int, int] | None = None  # (k, n), 1 <= k <= n
    tracks: bool = False
    project: Path | None = None
    version: str | None = None  # the project's version name for the model (default: from its card or file)
    activate: bool = False  # make that version the project's active one
    settings: ScoreSettings = field(default_factory=ScoreSettings)
    progress: bool = True
    cluster: str | None = None  # a Ray cluster to score on: "local", "auto" or "ray://host:port" (scoring/cluster.py)


@dataclass
class BatchReport:
    files: int = 0  # in this run's (shard's) list
    skipped: int = 0  # done before (resume)
    scored: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    audio_s: float = 0.0
    seconds: float = 0.0
    detections: int = 0
    workers: int = 0
    threads: int = 0
    combined: list[Path] = field(default_factory=list)
    project: str = ""  # with --project: where, as which version, and whether it is the active one
    version: str = ""
    version_active: bool = False
    cluster: str = ""  # with --cluster: its address and size, as scored on

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


@dataclass
class Outcome:
    """What a worker sends back for one file (small: no tracks)."""

    path: str
    ok: bool
    reason: str = ""
    done: FileDone | None = None
    seconds: float = 0.0
    project_boxes: tuple | None = None  # what goes into the project (see project_settings)


# ---- worker side ------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init_worker(models: list[str], weights: list[float] | None, combine: str, threads: int,
                 settings: ScoreSettings, out: str, formats: tuple[str, ...], tracks: bool,
                 project_settings: ScoreSettings | None = None, cache_root: str | None = None,
                 run_pid: int | None = None) -> None:
    """Load this worker's own session(s) once. cache_root: the project's cache/, where an
    embedding-family model's window embeddings are kept (scored into a project only).
    run_pid: the run's main process; a worker process exits when it is gone."""
    if run_pid is not None and multiprocessing.parent_process() is not None:
        _exit_with_run(run_pid)
    _STATE.update(scorer=load_scorer(models, weights, combine, threads, verify=False), settings=settings,
                  out=Path(out), formats=formats, tracks=tracks, project_settings=project_settings,
                  cache_root=cache_root)


def _process_state(pid: int) -> str | None:
    """'alive', 'gone' or a start-time token that tells a reused pid apart (Linux: /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has exited; field 22: start time
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (macOS): existence is all we can ask
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "alive"


def _exit_with_run(run_pid: int, poll_s: float = 0.5) -> None:
    """End this worker as soon as the `birdlab score` process that started the run is gone.

    A killed run (SIGKILL, or SIGTERM from the app's Cancel) cannot tell its workers. They
    would wait on their task queue for ever, and as each holds the forkserver's "alive" pipe
    and the resource tracker's pipe, those stay alive too and keep the caller's output pipes
    open (a caller waiting on them hangs). So a watchdog thread exits the worker when the
    run's process ends; the forkserver and the tracker then see their pipes close and exit.
    """
    token = _process_state(run_pid)

    def watch() -> None:
        while _process_state(run_pid) == token:
            time.sleep(poll_s)
        os._exit(1)
    if token is None:
        os._exit(1)
    import threading
    threading.Thread(target=watch, name="run-watchdog", daemon=True).start()


def project_settings(settings: ScoreSettings) -> ScoreSettings:
    """The settings of the detections a run stores in a project: the run's, with the threshold
    lowered to the app's (APP_DETECTION_THRESHOLD), so the app's threshold slider can show what
    lies between, as it does for recordings scored in the app (the same detections as there)."""
    detect = settings.detect
    low = min(detect.threshold, APP_DETECTION_THRESHOLD)
    off = None if detect.off_threshold is None else min(detect.off_threshold, low)
    return dataclasses.replace(settings, detect=dataclasses.replace(detect, threshold=low, off_threshold=off))


def _score_file(path: str, rel: str) -> Outcome:
    """Score one file and write its per-file outputs; never raises for a bad file."""
    t0 = time.perf_counter()
    scorer: Scorer = _STATE["scorer"]
    try:
        store = EmbeddingStore(Path(_STATE["cache_root"]), _safe_fingerprint(Path(path))) \
            if _STATE.get("cache_root") else None
        scores = score_recording(path, scorer, _STATE["settings"], embeddings=store)
        write_per_file(scores, per_file_paths(_STATE["out"], rel, _STATE["formats"], _STATE["tracks"]), path)
        boxes = None
        if _STATE.get("project_settings") is not None:
            boxes = tuple((b.t_min, b.t_max, b.f_min, b.f_max, b.label, b.score)
                          for b in redetect(scores, scorer.class_bands, _STATE["project_settings"]))
    except AudioError as exc:
        return Outcome(path, False, exc.reason)
    except ModelFileError as exc:
        return Outcome(path, False, f"model failed on this file: {exc}")
    except OSError as exc:
        return Outcome(path, False, f"could not write its outputs ({os_reason(exc)})")
    except Exception as exc:  # one bad file must not stop the run
        return Outcome(path, False, f"{type(exc).__name__}: {exc}")
    detections = tuple((b.t_min, b.t_max, b.f_min, b.f_max, b.label, round(b.score, 6)) for b in scores.detections)
    done = FileDone(path, round(scores.duration, 6), scores.sample_rate, detections)
    return Outcome(path, True, done=done, seconds=time.perf_counter() - t0, project_boxes=boxes)


# ---- parent side ------------------------------------------------------------------------------

def parse_shard(text: str) -> tuple[int, int]:
    """'k/n' with 1 <= k <= n."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise BatchUsageError(f"--shard {text!r}: expected k/n, e.g. 1/4") from None
    if not 1 <= k <= n:
        raise BatchUsageError(f"--shard {text!r}: need 1 <= k <= n")
    return k, n


def list_files(inputs: list[str], shard: tuple[int, int] | None = None) -> tuple[list[Path], list[Path]]:
    """(all files sorted by absolute path, this shard's files)."""
    for item in inputs:
        if not Path(item).expanduser().exists():
            raise BatchUsageError(f"{item}: input file or folder not found")
    files = sorted({Path(os.path.abspath(p)) for p in iter_audio_files(inputs)})
    if not files:
        raise BatchUsageError("no audio files in " + ", ".join(inputs))
    return files, (files[shard[0] - 1::shard[1]] if shard else files)


def default_workers(n_files: int, cores: int | None = None) -> tuple[int, int]:
    """(workers, threads each): one single-threaded worker per core while there are files for
    them (small CNNs scale better across processes than across intra-op threads)."""
    cores = cores or available_cores()
    workers = max(1, min(cores, n_files))
    return workers, max(1, cores // workers)


def params_fingerprint(scorer: Scorer, cfg: BatchConfig, settings: ScoreSettings) -> str:
    project = None
    if cfg.project:  # where, and at which settings (the app's threshold) detections go into it
        project = {"path": str(cfg.project.resolve()), "settings": project_settings(settings).to_json()}
    blob = json.dumps({"model": scorer.fingerprint, "settings": settings.to_json(), "formats": sorted(cfg.formats),
                       "tracks": cfg.tracks, "project": project}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:32]


def _mp_context() -> multiprocessing.context.BaseContext:
    """forkserver (clean children, imports preloaded once) where the main module can be
    re-imported; fork when it cannot (a script piped on stdin), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file and not os.path.isfile(main_file) and "fork" in methods:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "onnxruntime", "birdlab.scoring.batch"])
        return ctx
    return multiprocessing.get_context("spawn")


def _start_forkserver() -> None:
    ctx = _mp_context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver
        forkserver.ensure_running()


class _ProjectSink:
    """Writes results into a project (in the parent only: one SQLite writer)."""

    def __init__(self, folder: Path, version: str | None = None, activate: bool = False):
        from birdlab.core.store.project import Project, ProjectError
        try:
            self.project = Project.open(folder)
        except ProjectError as exc:
            raise BatchUsageError(str(exc)) from None
        if self.project.read_only:
            self.project.close()
            raise BatchUsageError(f"{folder}: the project is read-only (permission denied); nothing scored")
        self.class_ids: dict[str, int] = {}
        self.model_id = 0
        self.version, self.activate = version, activate
        self.version_name = ""

    def bands(self) -> dict[str, tuple[float, float]]:
        """The project's known class bands (they override the model's)."""
        return {c.name: (c.f_min, c.f_max) for c in self.project.classes()
                if c.f_min is not None and c.f_max is not None and 0 <= c.f_min < c.f_max}

    def prepare(self, scorer: Scorer, models: list[str]) -> None:
        """Classes and the model version (written only once the run is sure to start)."""
        self.class_ids = {name: self.project.add_class(name).id for name in scorer.classes}
        paths = [str(Path(m).resolve()) for m in models]
        card = ModelCard(classes=list(scorer.classes), extra={
            "fingerprint": scorer.fingerprint, "models": paths, "sample_rate": scorer.sample_rate,
            "window_s": scorer.window_s, "frame_hop_s": scorer.frame_hop_s, "scorer": scorer.describe()}).to_dict()
        self.model_id, self.version_name = self._version(scorer, models, paths, card)
        if self.activate:
            self.project.set_active_model(self.model_id)

    def _version(self, scorer: Scorer, models: list[str], paths: list[str], card: dict) -> tuple[int, str]:
        """The project's version for these model files: the one that is this file, else one made
        (named `version`, or after the model's card or file), reusing one of the same name and model."""
        if len(paths) == 1 and self.version is None:  # a version of this project: its detections
            for version in self.project.model_versions():
                file = self.project.model_file(version)
                if file is not None and file.exists() and file.resolve() == Path(paths[0]):
                    return version.id, version.name
        base = self.version or "+".join(model_name(Path(m)) for m in models)
        name, n = base, 1
        while True:
            existing = self.project.model_by_name(name)
            if existing is None:
                return self.project.add_model_version(name, "onnx", paths[0], card=card).id, name
            if existing.model_card and existing.model_card.extra.get("fingerprint") == scorer.fingerprint:
                return existing.id, name
            if self.version is not None:
                raise BatchUsageError(f"--version {name!r}: the project has a version of that name for another "
                                      f"model; choose another name")
            n += 1
            name = f"{base} ({n})"

    def write(self, path: str, boxes: tuple) -> None:
        rec = self.project.add_recording(path)
        self.project.set_detections(self.model_id, rec.id, [
            (self.class_ids[label], t0, t1, f0, f1, score) for t0, t1, f0, f1, label, score in boxes])

    def close(self) -> None:
        self.project.close()


def model_name(path: Path) -> str:
    """A readable version name for a model file: its stem, or for birdlab's `model.onnx` the
    training run (from the card beside it) or the folder it is in."""
    if path.stem != "model":
        return path.stem
    try:
        card = ModelCard.read(path.parent / "card.json")
        if card.training_run:
            return f"{card.backbone} {card.training_run}".strip()
    except CardError:
        pass  # no card (or a broken one): the folder names it
    folder = path.resolve().parent
    return folder.parent.name if folder.name == "model" else folder.name


def _check(cfg: BatchConfig) -> None:
    bad = [f for f in cfg.formats if f not in FORMATS]
    if bad:
        raise BatchUsageError(f"unknown output format(s) {', '.join(bad)} (valid: {', '.join(FORMATS)})")
    if cfg.combine not in COMBINE:
        raise BatchUsageError(f"unknown combination {cfg.combine!r} (valid: {', '.join(COMBINE)})")
    if not cfg.models:
        raise BatchUsageError("no model given (--model M.onnx)")
    if cfg.weights is not None and len(cfg.weights) != len(cfg.models):
        raise BatchUsageError(f"{len(cfg.weights)} weights for {len(cfg.models)} models")
    for name, value in (("workers", cfg.workers), ("threads", cfg.threads)):
        if value is not None and not 1 <= value <= 256:
            raise BatchUsageError(f"--{name} {value} must be in [1, 256]")
    problems = cfg.settings.problems()
    if problems:
        raise BatchUsageError("; ".join(problems))
    try:
        check_output(cfg.out, inputs=[*cfg.inputs, *cfg.models], folder=True, what="output folder")
    except OutputRefused as exc:
        raise BatchUsageError(str(exc)) from None


def run_batch(cfg: BatchConfig, err: TextIO | None = None) -> BatchReport:
    """Run a batch; returns the report (exit code 1 when some file failed).

    Raises BatchUsageError / ModelFileError before writing anything when the run cannot start.
    """
    err = err or sys.stderr
    t_start = time.perf_counter()
    _check(cfg)
    all_files, files = list_files(cfg.inputs, cfg.shard)
    names = output_names(all_files)
    if len(files) > 1 and (cfg.workers or available_cores()) > 1 and not cfg.cluster:
        _start_forkserver()  # its imports overlap the model checks below
    try:
        scorer = load_scorer(cfg.models, cfg.weights, cfg.combine, threads=1)  # checks, before any write
    except ValueError as exc:
        raise BatchUsageError(str(exc)) from None
    for member in getattr(scorer, "members", [scorer]):
        meta = getattr(member, "meta", None)
        if meta is not None and meta.license:  # named wherever a user picks such a model
            print(f"note: {member.path} runs on weights licensed {meta.license}", file=err, flush=True)
    try:
        WindowPlan.make(scorer.window_s, scorer.frame_hop_s, scorer.out_frames, cfg.settings.hop_s)
    except ValueError as exc:
        raise BatchUsageError(f"--hop: {exc}") from None
    if (cfg.version or cfg.activate) and not cfg.project:
        raise BatchUsageError("--version and --activate go with --project")
    info = _join_cluster(cfg) if cfg.cluster else None
    sink = _ProjectSink(cfg.project, cfg.version, cfg.activate) if cfg.project else None
    try:
        settings = cfg.settings
        if sink is not None:
            settings = dataclasses.replace(settings, class_bands={**sink.bands(), **settings.class_bands})
        params = params_fingerprint(scorer, cfg, settings)
        report = BatchReport(files=len(files))

        shard_tag = f"-{cfg.shard[0]}of{cfg.shard[1]}" if cfg.shard else ""
        journal_path = cfg.out / f"journal{shard_tag}.jsonl"
        try:
            cfg.out.mkdir(parents=True, exist_ok=True)
            _remove_stale_temp_files(cfg.out, min_age_s=600.0 if cfg.shard else 0.0)
            previous = done_entries(sorted(cfg.out.glob("journal*.jsonl")), params) if cfg.resume else {}
            journal = Journal(journal_path, fresh=not cfg.resume)
        except OSError as exc:
            raise BatchUsageError(f"{cfg.out}: cannot write the output folder ({exc})") from None
        journal.append({"event": "run", "params": params, "resume": cfg.resume, "models": scorer.describe(),
                        "settings": settings.to_json(), "formats": list(cfg.formats), "tracks": cfg.tracks,
                        "shard": list(cfg.shard) if cfg.shard else None, "files": len(files),
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        if sink is not None:
            sink.prepare(scorer, cfg.models)
            active = sink.project.active_model()
            report.project, report.version = str(sink.project.root), sink.version_name
            report.version_active = active is not None and active.id == sink.model_id

        finished: dict[str, DoneRef] = {}  # detections stay in the journal (memory bound)
        todo: list[Path] = []
        for path in files:
            entry = previous.get(str(path))
            if entry is not None and _same_content(path, entry[0]):
                finished[str(path)] = entry[1]
            else:
                todo.append(path)
        report.skipped = len(finished)
        if report.skipped:
            print(f"resuming: {report.skipped} of {len(files)} file(s) already done", file=err, flush=True)

        workers, threads = default_workers(len(todo))
        workers = cfg.workers or workers
        threads = cfg.threads or max(1, available_cores() // workers)
        what = "files"
        gpu_workers = 0
        if info is not None:  # an actor per GPU, then a single-threaded one per CPU left, unless told otherwise
            from birdlab.scoring.cluster import actor_plan
            threads = cfg.threads or 1
            gpu_workers, workers = actor_plan(info.cpus, info.gpus, threads, min(len(todo), cfg.workers or len(todo)))
            report.cluster = f"{info.address} ({info.nodes} node(s), {info.cpus} CPU(s)" + \
                (f", {info.gpus} GPU(s))" if info.gpus else ")")
            what = f"files on {info.nodes} node(s)"
        report.workers, report.threads = workers + gpu_workers, threads
        bar = ProgressBar(len(todo), what, stream=err) if cfg.progress and todo else None

        pending: list[Outcome] = []  # scored, not yet in the project nor the journal
        last_flush = [time.monotonic()]

        def flush() -> None:
            """The pending files into the project in one transaction, then into the journal: a run
            killed in between has neither, so a resume scores them again (nothing half-kept)."""
            batch, pending[:] = list(pending), []
            last_flush[0] = time.monotonic()
            good = [o for o in batch if o.ok and o.done is not None]
            if sink is not None and good:
                try:
                    with sink.project.transaction():
                        for o in good:
                            keep(o)
                except Exception:  # one file failed (it changed since, or the disk is full): file by file
                    batch = [keep_alone(o) if o.ok and o.done is not None else o for o in batch]
            for outcome in batch:
                record(outcome)

        def keep(o: Outcome) -> None:
            sink.write(o.path, o.project_boxes if o.project_boxes is not None else o.done.detections)

        def keep_alone(o: Outcome) -> Outcome:
            """One file in its own transaction; a failure fails that file only."""
            try:
                with sink.project.transaction():
                    keep(o)
                return o
            except Exception as exc:
                reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
                return Outcome(o.path, False, f"could not write it into the project ({reason})")

        def record(outcome: Outcome) -> None:
            if outcome.ok and outcome.done is not None:
                fp = _safe_fingerprint(Path(outcome.path))
                offset = journal.append(done_event(outcome.done, fp, params, outcome.seconds))
                finished[outcome.path] = DoneRef(outcome.path, journal.path, offset)
                report.scored += 1
                report.audio_s += outcome.done.duration
                report.detections += len(outcome.done.detections)
            else:
                journal.append({"event": "failed", "file": outcome.path, "reason": outcome.reason})
                report.failed.append((outcome.path, outcome.reason))
                print(f"birdlab: skipped {outcome.path}: {outcome.reason}", file=err, flush=True)

        def handle(outcome: Outcome) -> None:
            pending.append(outcome)
            # without a project nothing is worth batching: each file goes into the journal at once
            if sink is None or len(pending) >= FLUSH_FILES or time.monotonic() - last_flush[0] > FLUSH_S:
                flush()
            if bar is not None:
                bar.update(1, outcome.done.duration if outcome.ok and outcome.done else 0.0)

        tasks = [(str(p), names[p]) for p in todo]
        # absolute paths: a cluster's actors start in other working directories
        init = ([str(Path(m).resolve()) for m in cfg.models], cfg.weights, cfg.combine, threads, settings,
                str(cfg.out.resolve()),
                tuple(cfg.formats), cfg.tracks, project_settings(settings) if sink is not None else None,
                str(sink.project.cache_dir) if sink is not None else None, os.getpid())
        try:
            if info is not None:
                from birdlab.scoring.cluster import run_on_cluster, score_job
                sizes = {path: _size(Path(path)) for path, _ in tasks}  # bytes: the length, for the order
                run_on_cluster(tasks, score_job(init), handle, lambda path, why: handle(Outcome(path, False, why)),
                               workers, threads, sizes, lambda text: print(f"birdlab: {text}", file=err, flush=True),
                               gpu_workers)
            elif workers == 1 or len(tasks) <= 1:
                _run_inline(tasks, init, handle)
            else:
                _run_pool(tasks, init, workers, handle)
        finally:
            flush()  # what finished before a cancel or an error is kept
            if bar is not None:
                bar.close()
        # Combined tables: every file of this list that is done, once, in list order.
        done_list = DoneFiles([finished[str(p)] for p in files if str(p) in finished])
        try:
            report.combined = write_combined(cfg.out, done_list, cfg.formats, cfg.shard)
        except ValueError as exc:  # a journal was rewritten under this run (another run in the folder)
            reason = f"{exc}; run again with --resume to rebuild them"
            report.failed.append(("combined tables", reason))
            print(f"birdlab: the combined tables were not written: {reason}", file=err, flush=True)
        report.seconds = time.perf_counter() - t_start
        return report
    finally:
        if sink is not None:
            sink.close()
        if info is not None:
            from birdlab.scoring.cluster import disconnect
            disconnect()


def _join_cluster(cfg: BatchConfig):
    """Ray's cluster for the run (before anything is written: a missing Ray or an unreachable
    cluster is a usage error, exit 2)."""
    from birdlab.scoring.cluster import ClusterError, connect
    try:
        return connect(cfg.cluster, local_cpus=cfg.workers)
    except ClusterError as exc:
        raise BatchUsageError(f"{exc}; nothing was written") from None


def _size(path: Path) -> float:
    try:
        return float(path.stat().st_size)
    except OSError:
        return 0.0


def _remove_stale_temp_files(out: Path, min_age_s: float) -> None:
    """Temp files of atomic writes a killed run left behind (`.<name>.<random>.tmp`).

    Shards may share a folder, so with shards only old ones go (another shard may be writing)."""
    now = time.time()
    for path in out.rglob(".*.tmp"):
        try:
            if path.is_file() and now - path.stat().st_mtime >= min_age_s:
                path.unlink()
        except OSError:
            pass


def _same_content(path: Path, recorded: str) -> bool:
    return bool(recorded) and _safe_fingerprint(path) == recorded


def _safe_fingerprint(path: Path) -> str:
    try:
        return fingerprint(path)
    except OSError:
        return ""


def _run_inline(tasks: list[tuple[str, str]], init: tuple, handle) -> None:
    """One worker: score in this process (no process start-up, no pickling)."""
    models, weights, combine, threads, *rest = init
    _init_worker(models, weights, combine, threads, *rest)
    try:
        for path, rel in tasks:
            handle(_score_file(path, rel))
    finally:
        _STATE.clear()


def _shut_down(pool: cf.ProcessPoolExecutor, broken: bool, grace_s: float = 10.0) -> None:
    """Shut a pool down without ever hanging on a worker.

    The executor's own shutdown joins its workers with no time limit (after a worker died it
    first sends the others SIGTERM); one that does not exit (seen once in a loaded test run,
    after a worker crash) would hang the run for good. Workers hold nothing to save, so one
    still alive after `grace_s` (a second when the pool is broken) is killed, which also frees
    the executor's thread that waits for it.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the only handle on them
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + (1.0 if broken else grace_s)
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(5.0)
    if manager is not None:
        manager.join(5.0)


def _run_pool(tasks: list[tuple[str, str]], init: tuple, workers: int, handle, task=_score_file) -> None:
    """Worker processes, at most two files each in flight, the largest files first (a long file
    handed out last would leave the other cores idle while it finishes).

    When a worker dies, the pool is replaced and the files that were in flight are rerun one
    at a time (the crash may have been any of them's); one that kills a worker on its own is
    reported as failed and the run goes on.
    """
    queue = deque(sorted(tasks, key=lambda t: -_size(Path(t[0]))))  # stable: list order among equals
    suspects: deque[tuple[str, str]] = deque()
    while queue or suspects:
        pool = cf.ProcessPoolExecutor(workers, mp_context=_mp_context(), initializer=_init_worker, initargs=init)
        in_flight: dict[cf.Future, tuple[str, str, bool]] = {}
        broken = False

        def submit(source: deque, isolated: bool) -> bool:
            """Hand the next file of `source` to the pool; False when the pool broke first.

            A worker's death breaks the pool before any future says so, so `submit` can be the
            first to notice; the file never ran, so it goes back to the front of its line."""
            path, rel = source.popleft()
            try:
                in_flight[pool.submit(task, path, rel)] = (path, rel, isolated)
            except cf.process.BrokenProcessPool:
                source.appendleft((path, rel))
                return False
            return True

        try:
            while in_flight or (not broken and (queue or suspects)):
                if not broken and suspects and not in_flight:
                    broken = not submit(suspects, isolated=True)
                while not broken and not suspects and queue and len(in_flight) < 2 * workers:
                    broken = not submit(queue, isolated=False)
                if not in_flight:
                    break
                done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    path, rel, isolated = in_flight.pop(future)
                    try:
                        outcome = future.result()
                    except cf.process.BrokenProcessPool:
                        broken = True
                        if not isolated:
                            suspects.append((path, rel))
                            continue
                        outcome = Outcome(path, False, "the worker process died while scoring it")
                    handle(outcome)
        except BaseException:  # cancelled (Ctrl+C, SIGTERM): the files in flight are abandoned
            _shut_down(pool, broken=True)
            raise
        _shut_down(pool, broken)


def summary(report: BatchReport) -> str:
    rate = report.audio_s / report.seconds if report.seconds > 0 else 0.0
    text = (f"scored {report.scored} file(s), {report.audio_s / 3600:.2f} h of audio in "
            f"{format_duration(report.seconds)} ({rate:.0f}x real time, {report.workers} worker(s) x "
            f"{report.threads} thread(s)); {report.detections} detection(s)")
    if report.cluster:
        text += f"; on the Ray cluster {report.cluster}"
    if report.skipped:
        text += f"; {report.skipped} already done"
    if report.failed:
        text += f"; {len(report.failed)} file(s) failed (listed above)"
    if report.project:
        text += f"\ndetections stored in {report.project} as model version {report.version!r}"
        text += (" (the active version)" if report.version_active else
                 "; it is not the project's active version: pass --activate, or make it active in the app's "
                 "Model versions panel")
    return text
