"""birdlab: review, label, retrain and batch-score field recordings (run without a command: the app).

The command line of the design contract's section 6. Exit codes: 0 all done; 1 done but some inputs failed (each named on stderr with its
reason); 2 bad usage or bad input, nothing written.

Long because: it holds the whole argparse tree of DESIGN.md section 6 and one short handler per
command, so `birdlab --help` and the code read in the same order; each handler only parses,
calls core or scoring, and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

EXIT_OK, EXIT_PARTIAL, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad usage or bad input: nothing was written (exit code 2)."""


def _err(message: str) -> None:
    print(f"birdlab: {message}", file=sys.stderr)


def cmd_init(args: argparse.Namespace) -> int:
    from birdlab.core.sound.audio import AudioError
    from birdlab.core.formats.common import TableError
    from birdlab.core.paths import check_output
    from birdlab.core.progress import ProgressBar
    from birdlab.core.store.audio_files import iter_audio_files
    from birdlab.core.store.project import Project, ProjectError

    for folder in args.audio:
        if not Path(folder).exists():
            raise UsageError(f"{folder}: audio folder or file not found")
    if args.species and not Path(args.species).is_file():
        raise UsageError(f"{args.species}: species list not found")
    check_output(args.project, folder=True, what="project folder")
    if args.species:  # checked before the project is made: a bad list writes nothing
        from birdlab.core.store.species import read_species_list
        try:
            read_species_list(args.species)
        except TableError as exc:
            raise UsageError(f"species list not imported; nothing written:\n{exc}") from None
    try:
        project = Project.create(args.project)
    except ProjectError as exc:
        raise UsageError(str(exc)) from None
    failed = 0
    with project:
        if args.species:
            try:
                classes = project.import_species_list(args.species)
            except TableError as exc:
                raise UsageError(f"species list not imported:\n{exc}") from None
            print(f"{len(classes)} classes from {args.species}")
        files = list(iter_audio_files(args.audio))
        bar = ProgressBar(len(files), "files") if files else None
        added = 0
        for path in files:
            try:
                rec = project.add_recording(path)
                added += 1
                bar.update(1, rec.duration)
            except AudioError as exc:
                failed += 1
                bar.update(1)
                _err(f"skipped {exc}")
        if bar:
            bar.close()
        recs = project.recordings()
        hours = sum(r.duration for r in recs) / 3600
        print(f"{project.root}: {len(recs)} recordings ({hours:.2f} h), {len(project.classes())} classes")
        if failed:
            _err(f"{failed} file(s) could not be added (listed above)")
    return EXIT_PARTIAL if failed else EXIT_OK


def _open_project(folder: str):
    from birdlab.core.store.project import Project, ProjectError
    try:
        return Project.open(folder)
    except ProjectError as exc:
        raise UsageError(str(exc)) from None


def cmd_labels_import(args: argparse.Namespace) -> int:
    from birdlab.core.formats.common import TableError
    from birdlab.core.store.label_io import import_tables
    from birdlab.core.model import Polarity

    polarity = Polarity.parse(args.polarity) if args.polarity else None
    with _open_project(args.project) as project:
        try:
            result = import_tables(project, args.format, args.files, recording=args.recording,
                                   default_label=args.label, polarity=polarity, model_name=args.model,
                                   skip_invalid=args.skip_invalid, complete=args.complete)
        except TableError as exc:
            hint = ("" if args.skip_invalid else
                    "\n(to import the valid rows and skip these, run again with --skip-invalid)")
            raise UsageError(f"nothing imported; {exc}{hint}") from None
    for row in result.skipped:
        _err(f"skipped {row}")
    what = (f"{result.detections} detections into model version {result.model_version!r}"
            if result.model_version else f"{result.labels} labels")
    new = f", new classes: {', '.join(result.classes_added)}" if result.classes_added else ""
    print(f"imported {what} from {len(args.files)} file(s){new}")
    if args.complete:
        print(f"marked {result.recordings_completed} recording(s) reviewed and complete for the imported "
              f"class(es): their unboxed audio trains as negative")
    if result.skipped:
        _err(f"{len(result.skipped)} invalid row(s) skipped (listed above)")
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_labels_empty(args: argparse.Namespace) -> int:
    """Mark recordings (or every recording under a folder) reviewed and empty for classes."""
    from birdlab.core.store.project import ProjectError

    with _open_project(args.project) as project:
        classes = []
        for name in args.class_names:
            cls = project.class_by_name(name)
            if cls is None:
                known = ", ".join(c.name for c in project.classes()) or "none yet"
                raise UsageError(f"unknown class {name!r} (the project's classes: {known}); nothing marked")
            classes.append(cls)
        recordings, unknown = [], []
        for item in args.recordings:
            folder = Path(item).resolve()
            if folder.is_dir():
                found = [r for r in project.recordings() if r.abs_path.is_relative_to(folder)]
                recordings += found
                if not found:
                    unknown.append(f"{item} (a folder with no recording of the project)")
                continue
            try:
                rec = project.find_recording(item)
            except ProjectError as exc:
                raise UsageError(f"{exc}; nothing marked") from None
            if rec is None:
                unknown.append(item)
            else:
                recordings.append(rec)
        if unknown:
            raise UsageError(f"not recordings of {project.root}: {', '.join(unknown)}; nothing marked "
                             "(add them with birdlab init PROJECT --audio ...)")
        marked = project.mark_empty([r.id for r in recordings], [c.id for c in classes])
    names = ", ".join(c.name for c in classes)
    print(f"marked {len(marked)} recording(s) reviewed and empty for {names}"
          + (f" ({len(recordings) - len(marked)} already were)" if len(recordings) > len(marked) else ""))
    return EXIT_OK


def cmd_labels_export(args: argparse.Namespace) -> int:
    from birdlab.core.store.label_io import dropped_by_export, export_tables
    from birdlab.core.model import Polarity
    from birdlab.core.store.project import ProjectError

    polarities = {Polarity.parse(p) for p in args.polarity.split(",")} if args.polarity else None
    if args.measurements and (args.format != "raven" or args.model):
        raise UsageError("--measurements is for labels in Raven tables (--format raven, no --model)")
    with _open_project(args.project) as project:
        try:
            written = export_tables(project, args.format, args.out, model_name=args.model,
                                    polarities=polarities, measurements=args.measurements)
        except ProjectError as exc:
            raise UsageError(str(exc)) from None
        dropped = "" if args.model else dropped_by_export(project, args.format, polarities)
    print(f"wrote {len(written)} file(s) to {args.out}")
    if dropped:
        print(f"note: {dropped}")
    return EXIT_OK


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{what} {text!r}: expected numbers separated by commas") from None


@contextlib.contextmanager
def _cancel_on_sigterm() -> Iterator[None]:
    """SIGTERM (the app's Cancel, `kill`) stops a run like Ctrl+C: workers are shut down,
    the journal keeps every finished file, and `--resume` goes on from there."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def cancel(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_score(args: argparse.Namespace) -> int:
    from birdlab.scoring.batch import BatchConfig, BatchUsageError, parse_shard, run_batch, summary
    from birdlab.scoring.detect import DetectSettings
    from birdlab.scoring.metadata import ModelFileError
    from birdlab.scoring.postprocess import PostSettings
    from birdlab.scoring.recording import ScoreSettings

    settings = ScoreSettings(
        hop_s=args.hop, batch_size=args.batch_size,
        detect=DetectSettings(threshold=args.threshold, off_threshold=args.off_threshold,
                              min_duration_s=args.min_duration, merge_gap_s=args.merge_gap),
        post=PostSettings(smooth_s=args.smooth, suppress_below=args.suppress_below,
                          boost_above=args.boost_above, boost_factor=args.boost_factor))
    try:
        config = BatchConfig(
            inputs=args.inputs, models=args.model, out=Path(args.out),
            weights=_floats(args.weights, "--weights") if args.weights else None, combine=args.combine,
            formats=tuple(f.strip().lower() for f in args.format.split(",") if f.strip()),
            workers=args.workers, threads=args.threads, resume=args.resume,
            shard=parse_shard(args.shard) if args.shard else None, tracks=args.tracks,
            project=Path(args.project) if args.project else None, version=args.version, activate=args.activate,
            settings=settings,
            progress=not args.quiet, cluster=args.cluster)
        with _cancel_on_sigterm():
            report = run_batch(config)
    except (BatchUsageError, ModelFileError) as exc:
        raise UsageError(str(exc)) from None
    print(summary(report))
    return report.exit_code


def cmd_gui(args: argparse.Namespace) -> int:
    from birdlab.core.paths import check_output

    for path in args.paths:
        if not Path(path).exists():
            raise UsageError(f"{path}: no such project folder or audio file")
    if args.show and not args.screenshot:
        raise UsageError("--show goes with --screenshot")
    if args.screenshot:
        check_output(args.screenshot, inputs=args.paths, what="screenshot")
    from birdlab.gui.app import run
    return run(args.paths, screenshot=args.screenshot, recording=args.recording,
               view_range=tuple(args.range) if args.range else None, show=args.show)


def _score_into(project, model, recordings, progress: bool = False) -> None:
    """Score recordings with a model version of the project and store the detections the app
    would (its lower threshold), so the app and `evaluate --project` see them."""
    from birdlab.core.sound.audio import AudioError
    from birdlab.scoring.detect import DetectSettings
    from birdlab.scoring.ensemble import load_scorer
    from birdlab.scoring.recording import ScoreSettings, score_recording
    from birdlab.scoring.store import APP_DETECTION_THRESHOLD, project_bands, store_scores

    scorer = load_scorer([str(project.model_file(model))])
    settings = ScoreSettings(detect=DetectSettings(threshold=APP_DETECTION_THRESHOLD),
                             class_bands=project_bands(project))
    for i, rec in enumerate(recordings, 1):
        if progress:
            print(f"\rscoring {i}/{len(recordings)}: {rec.name}" + " " * 10, end="", file=sys.stderr, flush=True)
        try:
            store_scores(project, model.id, rec.id, score_recording(rec.abs_path, scorer, settings))
        except AudioError as exc:
            _err(f"skipped {exc}")
    if progress and recordings:
        print(file=sys.stderr)


def _score_demo(project) -> None:
    """Score every demo recording with the demo model, so the app opens onto detections."""
    _score_into(project, project.active_model(), project.recordings())


def _score_for_evaluation(project, model_name: str | None, validation: bool) -> None:
    """Score the recordings `evaluate --project` needs when the version has no detections on
    them yet (e.g. right after `birdlab train`); a version without a model file cannot be."""
    from birdlab.core.ml.evaluate import EvaluationError, find_model, validation_recordings

    try:
        model = find_model(project, model_name)
        wanted = validation_recordings(project, model) if validation else {r.id for r in project.recordings()}
    except EvaluationError:
        return  # evaluate_project says it with the same words
    if wanted & set(project.detection_recordings(model.id)):
        return
    file = project.model_file(model)
    if file is None or not file.exists():
        raise UsageError(f"model version {model.name!r} has no detections on these recordings and no model file "
                         f"to score them with (import its detections: birdlab labels import ... --model "
                         f"{model.name!r})")
    recordings = [r for r in project.recordings() if r.id in wanted]
    print(f"model version {model.name!r} has not scored these {len(recordings)} recording(s) yet; scoring them "
          f"first", file=sys.stderr)
    _score_into(project, model, recordings, progress=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from birdlab.core.synthetic.demo import build_demo, default_demo_folder
    from birdlab.core.paths import check_output

    folder = Path(args.dir) if args.dir else default_demo_folder()
    check_output(folder, folder=True, what="demo folder")
    if args.screenshot:
        check_output(args.screenshot, what="screenshot")
    if not (folder / "project.sqlite").exists():
        print(f"building the demo project in {folder} ...", file=sys.stderr)
        try:
            project = build_demo(folder)
        except (FileNotFoundError, FileExistsError) as exc:
            raise UsageError(str(exc)) from None
        with project:
            _score_demo(project)
    if args.no_gui:
        print(f"demo project ready: {folder}")
        return EXIT_OK
    from birdlab.gui.app import run
    return run([str(folder)], screenshot=args.screenshot)


def cmd_train(args: argparse.Namespace) -> int:
    """Write a job from the project's labels, run the training child, register its model."""
    from birdlab.core.ml.jobs import JobError, no_negative_warnings
    from birdlab.core.ml.runs import TrainingRunDriver, iter_events, start_child, version_weights

    from birdlab.core.ml.starts import STARTS, LabelBand, default_start, fit_to_band, merge_config, student_n_mels

    config: dict = {"device": args.device, "model": {}}
    if args.mode:
        config["mode"] = args.mode
    if args.epochs:
        config["epochs"] = args.epochs
    if args.backbone:
        config["model"]["backbone"] = args.backbone
    if args.init_weights:
        if not Path(args.init_weights).is_file():
            raise UsageError(f"{args.init_weights}: weights file not found")
        config["model"]["init_weights"] = str(Path(args.init_weights).resolve())
    if args.no_pretrained:
        config["model"]["pretrained"] = False
    if args.n_mels is not None:
        if not 16 <= args.n_mels <= 256:
            raise UsageError(f"--n-mels {args.n_mels}: choose 16 to 256 mel bands")
        if args.mode == "head" or args.start == "birdnet":
            raise UsageError("--n-mels sets an SED model's frontend: leave out --mode head and --start birdnet")
        config["model"]["n_mels"] = args.n_mels
    with _open_project(args.project) as project:
        have = project.classes_with()
        teacher = _distillation_teacher(project, args) if args.distil_from else None
        if not (have["positive"] or have["negative"]) and teacher is None:
            raise UsageError(f"{project.root}: the project has no positive or negative labels to train on")
        active = project.active_model()
        key = "scratch" if args.from_scratch else args.start
        if teacher is not None and key is None:
            key = "imagenet"  # the student: an SED model, not the active version (it may be the teacher)
        band = LabelBand.of(project)
        if key is None:
            key = "active" if active is not None and version_weights(project, active) else default_start(band).key
        start = STARTS[key]
        if start.missing():
            raise UsageError(f"--start {key} ({start.title}) {start.missing()}")
        if start.from_active and (active is None or version_weights(project, active) is None):
            raise UsageError("--start active: there is no active version with weights to continue from")
        print(f"start: {start.key} — {start.title}" + ("" if args.start or args.from_scratch else " (default)"),
              file=sys.stderr)
        if start.license:
            print(f"licence of the pretrained weights: {start.license}", file=sys.stderr)
        student_mels = student_n_mels(project) if teacher is not None and args.n_mels is None else None
        if student_mels and not start.from_active:
            config["model"]["n_mels"] = student_mels
            print(f"the student's frontend: {student_mels} mels, the fast copy's (--n-mels 128 for the default)",
                  file=sys.stderr)
        config = merge_config(start.config, config)
        if not start.from_active:  # a version continued keeps its own audio settings
            config = fit_to_band(config, band)
        if config.get("model", {}).get("sample_rate"):
            print(f"calls up to {band.f_max_top / 1000:.0f} kHz: the model hears {config['model']['sample_rate'] / 1000:g} "
                  f"kHz audio", file=sys.stderr)
        for line in no_negative_warnings(project):
            _err(f"warning: {line}")
        try:
            driver = TrainingRunDriver.start(project, config, start_from=active if start.from_active else None,
                                             teacher=teacher)
        except JobError as exc:
            raise UsageError(str(exc)) from None
        print(f"training run {driver.job_path.parent} (log: {driver.job_path.parent / 'log.txt'})", file=sys.stderr)
        child = start_child(driver.job_path)
        epochs = 0
        try:
            for event in iter_events(child.stdout):
                driver.record(event)
                epochs = event.get("epochs", epochs)
                _show_training_event(event, epochs)
        except KeyboardInterrupt:
            child.stdin.write("cancel\n")
            child.stdin.flush()
            for event in iter_events(child.stdout):
                driver.record(event)
        outcome = driver.finish(child.wait(), force_activate=args.activate)
        if outcome.status != "ok":
            _err(f"training {outcome.status}: {outcome.error}" if outcome.status != "cancelled" else
                 "training cancelled; the previous model stays active")
            return EXIT_PARTIAL if outcome.status == "cancelled" else EXIT_BAD_INPUT
        for name in outcome.no_negatives:
            _err(f"warning: {name} had no negative evidence: its AP is n/a and the model may say yes everywhere")
        if outcome.activated:
            print(f"\nnew model version {outcome.version.name!r} is active ({outcome.cmap_text})")
        else:
            print(f"\nnew model version {outcome.version.name!r} is registered but not active ({outcome.cmap_text}): "
                  f"{outcome.why_not_active}. Make it active in the app's Model versions panel, or train with "
                  f"--activate.")
    return EXIT_OK


def _distillation_teacher(project, args: argparse.Namespace):
    """`train --distil-from VERSION`: the teacher version, with its score tracks on every recording
    of the project (the ones it has not scored yet are scored first)."""
    from birdlab.core.ml.evaluate import EvaluationError, find_model
    from birdlab.core.ml.runs import teacher_tracks

    if args.mode == "head" or args.start == "birdnet":
        raise UsageError("--distil-from trains a full SED student: leave out --mode head and --start birdnet")
    try:
        teacher = find_model(project, args.distil_from)
    except EvaluationError as exc:
        raise UsageError(str(exc)) from None
    scored = teacher_tracks(project, teacher)[0]
    missing = [r for r in project.recordings() if r.id not in scored]
    if missing:
        file = project.model_file(teacher)
        if file is None or not file.exists():
            raise UsageError(f"model version {teacher.name!r} has no model file to score the {len(missing)} "
                             f"recording(s) it has no score tracks of")
        print(f"the teacher {teacher.name!r} scores {len(missing)} recording(s) first", file=sys.stderr)
        _score_into(project, teacher, missing, progress=True)
    return teacher


def _show_training_event(event: dict, epochs: int) -> None:
    """One line of progress on stderr: steps overwrite each other, about ten epoch lines stay."""
    from birdlab.core.progress import format_duration

    if event["event"] == "progress" and event.get("phase") in ("train", "embed"):
        if event["phase"] == "train":
            what = (f"epoch {event['epoch']}/{event['epochs']} step {event['step']}/{event['steps']} "
                    f"loss {event['loss']:.4f}")
        else:
            what = f"embedding {event['done']}/{event['total']} crops"
        print(f"\r{what}  ETA {format_duration(event.get('eta_s') or 0)}   ", end="", file=sys.stderr, flush=True)
    elif event["event"] == "metric":
        cm, split = event.get("cmap"), event.get("split")
        shown = (f", validation cmAP {cm:.3f}, LWLRAP {event.get('lwlrap', 0):.3f}" if cm is not None
                 and cm == cm else ", validation cmAP n/a" if split == "val" else "")
        if event.get("parent"):
            line = f"the start, before training{shown}"
        elif event["epoch"] % max(1, epochs // 10) and event["epoch"] != epochs:
            return  # about ten lines for a long run; the log has every epoch
        else:
            line = f"epoch {event['epoch']}: train loss {event.get('train_loss') or 0:.4f}{shown}"
        print(f"\r{line}" + " " * 20, file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Per-class AP, cmAP, LWLRAP and P/R/F1 of detections against truth (files or a project)."""
    from birdlab.core.atomic import atomic_write_text
    from birdlab.core.ml.evaluate import SEGMENT_RANGE, EvaluationError, evaluate_files, evaluate_project
    from birdlab.core.paths import check_output

    if args.project and (args.truth or args.pred):
        raise UsageError("evaluate: give --project, or --truth and --pred, not both")
    if not args.project and not (args.truth and args.pred):
        raise UsageError("evaluate: give --truth T and --pred P (tables), or --project P")
    if args.model and not args.project:
        raise UsageError("evaluate: --model needs --project")
    if args.label and args.project:
        raise UsageError("evaluate: --label goes with --truth/--pred tables (a project's labels all name a class)")
    if args.validation and not args.project:
        raise UsageError("evaluate: --validation needs --project")
    if not SEGMENT_RANGE[0] <= args.segment <= SEGMENT_RANGE[1]:
        raise UsageError(f"--segment {args.segment:g}: the segment length must lie in "
                         f"[{SEGMENT_RANGE[0]:g}, {SEGMENT_RANGE[1]:g}] s")
    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError(f"--threshold {args.threshold:g}: must lie in [0, 1]")
    inputs = [*(args.truth or []), *(args.pred or [])]
    for path, option in ((args.out, "--out"), (args.json, "--json"), (args.plot, "--plot")):
        if path:
            check_output(path, inputs=inputs, what=f"{option} file")
    try:
        if args.project:
            with _open_project(args.project) as project:
                _score_for_evaluation(project, args.model, args.validation)
                report = evaluate_project(project, args.model, validation_only=args.validation,
                                          segment_s=args.segment, threshold=args.threshold, complete=args.complete)
        else:
            report = evaluate_files(args.truth, args.pred, truth_format=args.truth_format,
                                    pred_format=args.pred_format, segment_s=args.segment,
                                    threshold=args.threshold, complete=args.complete, default_label=args.label)
    except EvaluationError as exc:
        raise UsageError(f"nothing evaluated; {exc}") from None
    if report.unmatched_predictions:
        names = ", ".join(report.unmatched_predictions[:5]) + (" ..." if len(report.unmatched_predictions) > 5 else "")
        _err(f"note: {len(report.unmatched_predictions)} recording(s) with detections have no truth and take no "
             f"part (recordings are matched by file stem): {names}")
    if report.ignored_truth_classes:
        _err(f"note: labels of classes the model does not have were left out: "
             f"{', '.join(report.ignored_truth_classes)}")
    if not any(c.n_pos for c in report.classes):
        raise UsageError("nothing evaluated: no segment of any class is a known positive "
                         "(do the truth and the detections name the same recordings and classes?)")
    blind = report.no_negative_classes()
    if blind:
        _err(f"warning: {', '.join(blind)} ha{'s' if len(blind) == 1 else 've'} no negative segment, so "
             f"AP is n/a (no negatives); pass --complete if the truth lists every call, or label negatives")
    print(report.format_table())

    def write_plot(path: str) -> None:
        """Qt is imported only here, offscreen: a picture needs no screen."""
        import os
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from birdlab.gui.report_render import save_report_png
        save_report_png(report, path)

    outputs = [(args.out, report.to_csv), (args.json, lambda path: atomic_write_text(path, report.to_json())),
               (args.plot, write_plot)]
    written = 0
    for path, write in outputs:
        if not path:
            continue
        try:
            write(path)
        except (ImportError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if not written:
                raise UsageError(f"{path}: not written ({reason})") from None
            _err(f"{path}: not written ({reason})")
            return EXIT_PARTIAL
        written += 1
        print(f"wrote {path}")
    return EXIT_OK


def _index_progress(project, embedder, hop_s: float, quiet: bool):
    """A progress bar over the windows the index still lacks, and its update callback."""
    from birdlab.core.progress import ProgressBar
    from birdlab.scoring.similarity import open_index, pending
    from birdlab.scoring.window_embeddings import window_count

    total = sum(window_count(r.duration, hop_s)
                for r in pending(open_index(project.cache_dir, embedder, hop_s), project.recordings()))
    if quiet or not total:
        return None, None
    bar = ProgressBar(total, "windows")
    seen: dict[int, int] = {}

    def update(event) -> None:
        step = event.done - seen.get(event.recording.id, 0)
        seen[event.recording.id] = event.done
        bar.update(step, audio_s=step * hop_s)
    return bar, update


def _embedder(project, args: argparse.Namespace):
    """The index's embedder: BirdNET v2.4, or the backbone of an SED version (--version, else the active one)."""
    from birdlab.scoring.embedders import EmbedderUnavailable
    from birdlab.scoring.metadata import ModelFileError
    from birdlab.scoring.similarity import load_embedder

    model_file = None
    if args.embedder == "sed":
        version = project.model_by_name(args.version) if args.version else project.active_model()
        if version is None:
            raise UsageError(f"--embedder sed: no model version {args.version!r}" if args.version else
                             "--embedder sed: the project has no active model version (give --version)")
        model_file = project.model_file(version)
        if model_file is None:
            raise UsageError(f"--embedder sed: version {version.name!r} has no model file of its own")
    hop_s = args.hop
    try:
        embedder = load_embedder(args.embedder, args.threads, model_file)
    except (EmbedderUnavailable, ModelFileError) as exc:
        raise UsageError(f"{exc}; nothing written") from None
    if not 0 < hop_s <= embedder.window_s:
        raise UsageError(f"--hop {hop_s:g}: give a hop above 0 and at most the {embedder.window_s:g} s window")
    return embedder


def _refresh_index(project, embedder, hop_s: float, quiet: bool):
    from birdlab.scoring.similarity import build_index

    bar, update = _index_progress(project, embedder, hop_s, quiet)
    with _cancel_on_sigterm():
        index, report = build_index(project.cache_dir, project.recordings(), embedder, hop_s, progress=update)
    if bar:
        bar.close()
    for rid, why in report.failed.items():
        _err(f"not indexed: {why}")
    return index, report


def _embed_on_cluster(project, embedder, args: argparse.Namespace) -> dict[int, str]:
    """The windows the index lacks, embedded by a Ray cluster's actors into the project's cache."""
    from birdlab.core.progress import ProgressBar
    from birdlab.scoring.cluster import ClusterError, connect, disconnect
    from birdlab.scoring.similarity import embed_on_cluster, open_index, pending

    todo = pending(open_index(project.cache_dir, embedder, args.hop), project.recordings())
    if not todo:
        return {}
    try:
        info = connect(args.cluster)
    except ClusterError as exc:
        raise UsageError(f"{exc}; nothing written") from None
    bar = None if args.quiet else ProgressBar(len(todo), f"recordings on {info.nodes} node(s)")
    try:
        with _cancel_on_sigterm():
            model_file = Path(embedder.bundle.path) if hasattr(embedder, "bundle") else None
            return embed_on_cluster(project.cache_dir, todo, embedder, args.hop, model_file, 1,
                                    (lambda rec: bar.update(1, rec.duration)) if bar else None)
    finally:
        if bar:
            bar.close()
        disconnect()


def cmd_embed(args: argparse.Namespace) -> int:
    """Build or refresh a project's embedding index (only new or changed recordings are embedded)."""
    with _open_project(args.project) as project:
        embedder = _embedder(project, args)
        failed = _embed_on_cluster(project, embedder, args) if args.cluster else {}
        for why in failed.values():
            _err(f"not embedded: {why}")
        index, report = _refresh_index(project, embedder, args.hop, args.quiet)
    print(f"embedding index ({embedder.name}, {args.hop:g} s hop): {report.windows} windows of "
          f"{len(index.blocks)} recording(s); {len(report.added)} added, {len(report.removed)} removed, "
          f"{len(report.failed)} failed ({index.folder})")
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _query_span(project, text: str):
    """REC:T0-T1 (REC: a recording's id, name or path) -> Span."""
    from birdlab.scoring.similarity import Span

    rec_text, sep, times = text.rpartition(":")
    t0_text, dash, t1_text = times.partition("-")
    try:
        t0, t1 = float(t0_text), float(t1_text)
    except ValueError:
        t0 = t1 = float("nan")
    if not sep or not dash or not 0 <= t0 < t1:
        raise UsageError(f"--query {text!r}: give REC:T0-T1 in seconds, e.g. rec.wav:12.5-14 (T0 < T1)")
    rec = project.recording(int(rec_text)) if rec_text.isdigit() else project.find_recording(rec_text)
    if rec is None:
        raise UsageError(f"--query {text!r}: no recording {rec_text!r} in {project.root}")
    if t0 >= rec.duration:
        raise UsageError(f"--query {text!r}: {rec.name} lasts {rec.duration:.1f} s")
    return Span(rec, t0, min(t1, rec.duration))


def _search_scope(project, args: argparse.Namespace) -> list[int] | None:
    """The recordings a search may return (--recording, --folder: a site's folder, --after/--before: the
    start time in the file name), or None for all."""
    from datetime import datetime

    from birdlab.core.clock import start_time_from_name

    if not (args.recording or args.folder or args.after or args.before):
        return None
    recordings = project.recordings()
    if args.recording:
        chosen = []
        for name in args.recording:
            rec = project.find_recording(name)
            if rec is None:
                raise UsageError(f"--recording: no recording {name!r} in {project.root}")
            chosen.append(rec)
        recordings = chosen
    if args.folder:  # compared with symbolic links resolved on both sides
        folders = [Path(os.path.realpath(f)) for f in args.folder]
        recordings = [r for r in recordings
                      if any(Path(os.path.realpath(r.abs_path)).is_relative_to(f) for f in folders)]
    bounds = []
    for flag, text in (("--after", args.after), ("--before", args.before)):
        try:
            bound = datetime.fromisoformat(text) if text else None
        except ValueError:
            raise UsageError(f"{flag} {text!r}: give a date or date and time, e.g. 2024-05-01 or 2024-05-01T05:30")
        if bound is not None and bound.tzinfo is not None:
            raise UsageError(f"{flag} {text!r}: give the recorders' local time, without a time zone "
                             "(file names carry none)")
        bounds.append(bound)
    after, before = bounds
    if after or before:
        timed = [(r, start_time_from_name(r.name)) for r in recordings]
        recordings = [r for r, start in timed if start is not None and (not after or start >= after)
                      and (not before or start < before)]
    if not recordings:
        raise UsageError("no recording of the project matches --recording / --folder / --after / --before "
                         "(times come from recorder file names such as 20240501_053000.wav)")
    return [r.id for r in recordings]


def cmd_search(args: argparse.Namespace) -> int:
    """The windows of a project most like the query spans: printed, in a CSV, or queued for review."""
    import csv

    from birdlab.core.atomic import atomic_open
    from birdlab.core.paths import check_output
    from birdlab.scoring.similarity import find_similar, store_candidates

    if args.top < 1:
        raise UsageError(f"--top {args.top}: give at least 1")
    out = check_output(args.out, what="--out") if args.out else None
    with _open_project(args.project) as project:
        queries = [_query_span(project, q) for q in args.query]
        cls = None
        if args.review:
            cls = project.class_by_name(args.review)
            if cls is None:
                known = ", ".join(c.name for c in project.classes()) or "none yet"
                raise UsageError(f"--review: unknown class {args.review!r} (the project's classes: {known})")
        scope = _search_scope(project, args)
        embedder = _embedder(project, args)
        index, _ = _refresh_index(project, embedder, args.hop, args.quiet)
        hits = find_similar(index, embedder, queries, k=args.top, combine=args.combine,
                            recording_ids=scope)
        recs = {r.id: r for r in project.recordings_by_id({h.recording_id for h in hits})}
        rows = [(i + 1, recs[h.recording_id].path, f"{h.t_start:.3f}", f"{h.t_end:.3f}", f"{h.similarity:.4f}")
                for i, h in enumerate(hits)]
        if out:
            with atomic_open(out, newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["rank", "recording", "t_start", "t_end", "similarity"])
                writer.writerows(rows)
            print(f"wrote {len(rows)} window(s) to {out}")
        else:
            for row in rows:
                print("\t".join(str(v) for v in row))
        if cls is not None:
            version = store_candidates(project, hits, cls.id, queries, embedder.name, args.combine)
            print(f"{len(hits)} candidate(s) for {cls.name} queued for review as version "
                  f"{project.model_version(version).name!r} (the app's review panel lists it)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from birdlab.core.formats import format_names

    label_formats = format_names()  # the format plug-ins' registry
    parser = argparse.ArgumentParser(prog="birdlab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = sub.add_parser("init", help="make a project and add recordings")
    init.add_argument("project", help="project folder (made if missing)")
    init.add_argument("--audio", nargs="+", default=[], metavar="DIR",
                      help="audio files or folders (searched recursively)")
    init.add_argument("--species", metavar="FILE", help="species list: one name per line, or a CSV")
    init.set_defaults(func=cmd_init)

    labels = sub.add_parser("labels", help="import or export annotation tables")
    labels_sub = labels.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    imp = labels_sub.add_parser("import", help="import tables (all rows checked first; all or nothing)")
    imp.add_argument("project")
    imp.add_argument("--format", required=True, choices=label_formats)
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--recording", help="recording a single-recording table belongs to "
                                         "(default: taken from the table's file name)")
    imp.add_argument("--label", help="class for rows that name none")
    imp.add_argument("--polarity", help="polarity for every row: positive, negative or uncertain")
    imp.add_argument("--model", help="model version name for imported detections (BirdNET)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import every valid row, list each invalid one as file:line: reason, exit 1 "
                          "(default: all or nothing)")
    imp.add_argument("--complete", action="store_true",
                     help="the tables list every call of their classes (exhaustive expert boxes): mark each "
                          "recording they cover reviewed and complete for the imported classes, so its unboxed "
                          "audio trains as negative; a table without rows marks its recording empty")
    imp.set_defaults(func=cmd_labels_import)
    empty = labels_sub.add_parser("empty", help="mark recordings reviewed and empty for classes",
                                  description="Marks each recording (or every recording under a folder) as "
                                              "reviewed and complete for the classes: it holds none of their "
                                              "calls, so its audio trains as negative (the folder-of-negatives "
                                              "workflow). Everything is checked first; nothing is marked when "
                                              "a class or recording is unknown.")
    empty.add_argument("project")
    empty.add_argument("--class", dest="class_names", action="append", required=True, metavar="C",
                       help="a class of the project; repeat for several")
    empty.add_argument("recordings", nargs="+", metavar="RECORDING",
                       help="recording (path, file name or stem) or a folder of recordings")
    empty.set_defaults(func=cmd_labels_empty)
    exp = labels_sub.add_parser("export", help="export labels (or a model's detections)")
    exp.add_argument("project")
    exp.add_argument("--format", required=True, choices=label_formats)
    exp.add_argument("--out", required=True, help="file or folder, depending on the format")
    exp.add_argument("--model", help="export this model version's detections instead of labels")
    exp.add_argument("--polarity", help="only these polarities, e.g. positive,negative")
    exp.add_argument("--measurements", action="store_true",
                     help="add each label's measurements (Delta Time, Delta Freq, Peak Freq, Peak Time, SNR) as "
                          "Raven columns; reads the audio around every label")
    exp.set_defaults(func=cmd_labels_export)

    score = sub.add_parser("score", help="score recordings with a model (or an ensemble) into tables",
                           description="Score audio files and folders (recursively) with an exported "
                                       "birdlab model; writes detections to OUT. Exit code 1 when some "
                                       "file could not be scored (each named on stderr).")
    score.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    score.add_argument("--model", action="append", required=True, metavar="M.onnx",
                       help="model file; repeat for an ensemble")
    score.add_argument("--weights", metavar="W1,W2", help="ensemble weights (default equal)")
    score.add_argument("--combine", default="mean", choices=("mean", "geometric"),
                       help="ensemble: weighted arithmetic or geometric mean of probabilities")
    score.add_argument("--out", required=True, metavar="DIR", help="output folder")
    score.add_argument("--format", default="csv", metavar="F[,F]",
                       help="outputs: csv, raven, audacity (comma-separated; default csv)")
    score.add_argument("--tracks", action="store_true", help="also write score tracks (.npz, float16)")
    score.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per core)")
    score.add_argument("--threads", type=int, metavar="N",
                       help="ONNX Runtime threads per worker (default: cores / workers)")
    score.add_argument("--resume", action="store_true", help="skip files the journal in DIR lists as done")
    score.add_argument("--shard", metavar="k/n", help="score only files k, k+n, ... of the sorted list")
    score.add_argument("--cluster", metavar="ADDRESS",
                       help="score on a Ray cluster (birdlab[cluster]): local (start Ray on this machine), auto "
                            "(the cluster this machine joined with `ray start`) or ray://host:10001; the audio, "
                            "models and --out must be at the same paths on every node (docs/cluster.md)")
    score.add_argument("--project", metavar="P", help="also store recordings and detections in project P")
    score.add_argument("--version", metavar="NAME", help="with --project: the model version's name (default: "
                                                         "the model's training run from its card, or its file name)")
    score.add_argument("--activate", action="store_true", help="with --project: make that version the active one")
    score.add_argument("--hop", type=float, metavar="S",
                       help="window hop in seconds (default: the model's window, no overlap)")
    score.add_argument("--threshold", type=float, default=0.5, metavar="T", help="detection threshold")
    score.add_argument("--off-threshold", type=float, metavar="T",
                       help="hysteresis: events last while the score stays >= this (default: threshold)")
    score.add_argument("--min-duration", type=float, default=0.0, metavar="S", help="drop shorter events")
    score.add_argument("--merge-gap", type=float, default=0.0, metavar="S",
                       help="merge events of a class this close together")
    score.add_argument("--smooth", type=float, default=0.0, metavar="S",
                       help="moving average of the score tracks over S seconds")
    score.add_argument("--suppress-below", type=float, metavar="P",
                       help="per file: drop a class whose best score stays below P")
    score.add_argument("--boost-above", type=float, metavar="P",
                       help="per file: multiply a class's scores by --boost-factor where its best score >= P")
    score.add_argument("--boost-factor", type=float, default=1.5, metavar="F")
    score.add_argument("--batch-size", type=int, default=4, metavar="N", help="windows per inference call")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=cmd_score)

    gui = sub.add_parser("gui", help="the desktop app (the default command)")
    gui.add_argument("paths", nargs="*", metavar="PROJECT | AUDIO",
                     help="a project folder, or audio files (opened in a new scratch project)")
    gui.add_argument("--screenshot", metavar="PNG", help="render the window offscreen to PNG and exit")
    gui.add_argument("--recording", metavar="NAME", help="show this recording")
    gui.add_argument("--range", nargs=2, type=float, metavar=("T0", "T1"), help="show this time range (s)")
    gui.add_argument("--show", choices=("report", "retrain"),
                     help="with --screenshot: the model report docked, or the Retrain dialog mid-run")
    gui.set_defaults(func=cmd_gui)

    demo = sub.add_parser("demo", help="build the demo project (synthetic soundscapes, labels, model) and open it")
    demo.add_argument("dir", nargs="?", help="where (default: birdlab/demo in your user data folder, "
                                             "$XDG_DATA_HOME or ~/.local/share)")
    demo.add_argument("--no-gui", action="store_true", help="only build it")
    demo.add_argument("--screenshot", metavar="PNG", help="render the app offscreen to PNG and exit")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train a new model version on the project's labels",
                           description="Snapshots the labels into runs/<id>/job.json, runs `python -m "
                                       "training fit` (needs the train extra), and makes the result the "
                                       "active model version. Starts from the active version when it has "
                                       "weights. Ctrl+C cancels (the previous model stays active).")
    train.add_argument("project")
    train.add_argument("--start", choices=("birdnet", "imagenet", "active", "scratch"),
                       help="birdnet: a head on BirdNET v2.4 embeddings (quick; CC BY-NC-SA 4.0 weights); "
                            "imagenet: EfficientNet-Lite0 SED from ImageNet weights (full fine-tune, GPU when "
                            "there is one); active: continue from the active version; scratch: random weights. "
                            "Default: the active version when it has weights, else birdnet when installed, "
                            "else imagenet")
    train.add_argument("--mode", choices=("full", "head"),
                       help="full: fine-tune everything; head: quick, frozen backbone on cached embeddings "
                            "(default: the start's)")
    train.add_argument("--backbone", help="timm backbone of an SED start (default efficientnet_lite0)")
    train.add_argument("--n-mels", type=int, metavar="N",
                       help="mel bands of an SED start's frontend (default 128). 64 halves the model's work: a "
                            "distilled student at 64 mels scores at about 5.6x BirdNET's speed on 2 cores, at "
                            "some cost in AP (docs/performance.md)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--init-weights", metavar="FILE", help="a timm state-dict file for the backbone")
    train.add_argument("--no-pretrained", action="store_true",
                       help="an SED backbone from random weights instead of ImageNet's (on by default: offline "
                            "for efficientnet_lite0, from timm's hub for other backbones)")
    train.add_argument("--from-scratch", action="store_true", help="the same as --start scratch")
    train.add_argument("--distil-from", metavar="VERSION",
                       help="distil a version into a fast SED student (BirdCLEF 2023): trained on all of the "
                            "project's audio, with the version's score tracks as soft targets wherever there is "
                            "no label and the labels where there are; any version can teach, the BirdNET head "
                            "too. Pick the student with --backbone (default efficientnet_lite0 from ImageNet)")
    train.add_argument("--activate", action="store_true",
                       help="make the new version active even when its validation is undefined or worse than "
                            "the active version's (by default the user then chooses)")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate", help="per-class AP, cmAP, LWLRAP and F1 of detections against truth",
        description="Cuts recordings into fixed segments and scores them per class: a segment is positive "
                    "when a positive box overlaps it, negative when only negative boxes (or complete "
                    "truth) do, and otherwise takes no part; its score is the best detection overlapping "
                    "it. Recordings are matched by file stem. Exit code 2 (nothing written) on bad input.")
    evaluate.add_argument("--truth", nargs="+", metavar="T", help="truth tables (e.g. a Raven table, RFCX "
                          "train_tp.csv and train_fp.csv, or a CSV file,t_min,t_max,class[,polarity])")
    evaluate.add_argument("--truth-format", metavar="F",
                          help=", ".join(label_formats) + " (default: told by each file's header)")
    evaluate.add_argument("--pred", nargs="+", metavar="P", help="detections with scores (the detections.csv "
                          "of `birdlab score`, or a table with a score column)")
    evaluate.add_argument("--pred-format", metavar="F", help="format of the detections (default: told by header)")
    evaluate.add_argument("--label", metavar="CLASS", help="class of table rows that name none (e.g. a Raven "
                                                           "table of one species without a class column)")
    evaluate.add_argument("--project", metavar="P", help="evaluate a model version of project P against its labels")
    evaluate.add_argument("--model", metavar="NAME", help="with --project: the model version (default: active)")
    evaluate.add_argument("--validation", action="store_true",
                          help="with --project: only the recordings the model's training run held out")
    evaluate.add_argument("--threshold", type=float, default=0.5, metavar="T",
                          help="score threshold for precision, recall and F1 (default 0.5)")
    evaluate.add_argument("--segment", type=float, default=5.0, metavar="S", help="segment length in s (default 5)")
    evaluate.add_argument("--complete", action="store_true",
                          help="the truth is exhaustive: unlabelled audio is negative (default: masked)")
    evaluate.add_argument("--out", metavar="CSV", help="write the per-class table (and summary row) as CSV")
    evaluate.add_argument("--json", metavar="PATH", help="write the whole report (curves, histograms) as JSON")
    evaluate.add_argument("--plot", metavar="PNG", help="draw PR curves and score histograms per class")
    evaluate.set_defaults(func=cmd_evaluate)

    embed = sub.add_parser("embed", help="build or refresh the project's embedding index (for birdlab search)",
                           description="Embeds every window of every recording (BirdNET v2.4, 3 s windows at "
                                       "--hop steps) into the project's cache/index/. Recordings already "
                                       "indexed with the same audio are not embedded again.")
    embed.add_argument("project")
    embed.add_argument("--cluster", metavar="ADDRESS",
                       help="embed on a Ray cluster (birdlab[cluster]): local, auto or ray://host:10001; the "
                            "audio and the project at the same paths on every node (docs/cluster.md)")
    search = sub.add_parser("search", help="find the windows most like a box or time range",
                            description="Embeds the query spans and returns the nearest windows of the "
                                        "project (their own windows left out, one hit per call), refreshing "
                                        "the embedding index first when recordings were added.")
    search.add_argument("project")
    search.add_argument("--query", action="append", required=True, metavar="REC:T0-T1",
                        help="a recording (id, name or path) and a time range in seconds; repeat to combine")
    search.add_argument("--top", type=int, default=20, metavar="K", help="how many windows (default 20)")
    search.add_argument("--combine", choices=("max", "mean"), default="max",
                        help="several queries: a window's best similarity to any (max) or to their mean")
    search.add_argument("--recording", action="append", metavar="REC", help="search only these recordings")
    search.add_argument("--folder", action="append", metavar="DIR", help="search only recordings under DIR (a site)")
    search.add_argument("--after", metavar="TIME", help="only recordings starting at or after TIME (ISO, from "
                                                         "file names such as AudioMoth's 20240501_053000.wav)")
    search.add_argument("--before", metavar="TIME", help="only recordings starting before TIME")
    search.add_argument("--out", metavar="CSV", help="write the hits as CSV (default: print them)")
    search.add_argument("--review", metavar="CLASS",
                        help="also queue the hits for review as candidates of CLASS (accept: positive label, "
                             "reject: negative)")
    for command in (embed, search):
        command.add_argument("--embedder", default="birdnet-v2.4", choices=("birdnet-v2.4", "sed"),
                             help="birdnet-v2.4 (needs birdlab[birdnet]; the default) or sed: the backbone of an "
                                  "SED version (--version, else the active one)")
        command.add_argument("--version", metavar="NAME", help="with --embedder sed: the model version")
        command.add_argument("--hop", type=float, default=1.0, help="window hop in s (default 1)")
        command.add_argument("--threads", type=int, default=2, help="embedder threads (default 2)")
        command.add_argument("--quiet", action="store_true", help="no progress bar")
    embed.set_defaults(func=cmd_embed)
    search.set_defaults(func=cmd_search)
    return parser


COMMANDS = ("init", "labels", "score", "gui", "demo", "train", "evaluate", "embed", "search")


def _show_warnings() -> None:
    """birdlab's warnings (a truncated file, NaN samples) as one stderr line each."""
    import logging
    logger = logging.getLogger("birdlab")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("birdlab: warning: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def _project_db(args: argparse.Namespace) -> Path | None:
    """The database of the project a command works on, for messages."""
    project = getattr(args, "project", None)
    return Path(project) / "project.sqlite" if project else None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]  # `birdlab [PROJECT | AUDIO...]` opens the app
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    _show_warnings()
    for stream in (sys.stdout, sys.stderr):  # a non-UTF-8 file name prints with U+FFFD, never crashes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    import sqlite3

    from birdlab.core.failures import os_reason, sqlite_reason
    from birdlab.core.paths import OutputRefused
    from birdlab.core.store.project import ProjectError
    try:
        return args.func(args)
    except (UsageError, OutputRefused, ProjectError) as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except ValueError as exc:  # e.g. an unknown polarity
        _err(str(exc))
        return EXIT_BAD_INPUT
    except sqlite3.Error as exc:  # a locked, read-only or full project; SQLite rolled back
        _err(sqlite_reason(exc, _project_db(args)))
        return EXIT_BAD_INPUT
    except OSError as exc:  # disk full, permission denied, ...: atomic writes left the old files
        _err(f"{os_reason(exc)}; nothing half-written was left")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
