"""Import annotation tables into a project, and export its labels or detections.

An import reads every file and checks every row (format, recording known, box inside the
recording's duration and below its Nyquist frequency) before it writes anything; then it
writes all rows in one transaction. Any bad row: nothing is written, and every bad row is
reported as file:line with its reason.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from birdlab.core.formats import FORMATS, get_format, writes_one_file
from birdlab.core.formats.common import Annotation, RecordingRef, RowError, TableError, table_stem
from birdlab.core.failures import os_reason
from birdlab.core.paths import check_output, shown
from birdlab.core.sound.measure import measure_box
from birdlab.core.validate import is_text
from birdlab.core.model import Box, Polarity, Recording, Source
from birdlab.core.store.project import Project, ProjectError, RecordingFinder, new_label


@dataclass
class ImportResult:
    labels: int = 0
    detections: int = 0
    classes_added: list[str] = field(default_factory=list)
    model_version: str = ""
    skipped: list[RowError] = field(default_factory=list)  # with skip_invalid: the rows left out
    recordings_completed: int = 0  # with complete: recordings newly marked reviewed-complete


def _resolve_recordings(project: Project, annotations: list[Annotation], table: Path,
                        recording: str | None, errors: list[RowError],
                        cache: dict[str, Recording | None],
                        finder: RecordingFinder) -> list[tuple[Annotation, Recording, Box]]:
    """Match each row to a recording and a full box; bad rows go to `errors`."""
    out = []
    for ann in annotations:
        bad_text = next((what for what, text in (("label", ann.label), ("recording", ann.recording))
                         if not is_text(text)), None)
        if bad_text:
            errors.append(RowError(ann.file or str(table), ann.line,
                                   f"the {bad_text} holds an unpaired surrogate, which is not text"))
            continue
        key = ann.recording or recording or table_stem(table)
        if key not in cache:
            try:
                cache[key] = finder.find(key)
            except ProjectError as exc:
                errors.append(RowError(ann.file or str(table), ann.line, str(exc)))
                continue
        rec = cache[key]
        if rec is None:
            errors.append(RowError(ann.file or str(table), ann.line,
                                   f"recording {key!r} is not in the project (add it with "
                                   f"`birdlab init PROJECT --audio DIR`)"))
            continue
        if ann.score is not None and not 0.0 <= ann.score <= 1.0:
            errors.append(RowError(ann.file or str(table), ann.line,
                                   f"score {ann.score:g} lies outside [0, 1] (a confidence is a probability)"))
            continue
        box = Box(ann.t_min, ann.t_max, 0.0 if ann.f_min is None else ann.f_min,
                  rec.nyquist if ann.f_max is None else ann.f_max)
        problems = box.problems(rec.duration, rec.nyquist)
        if problems:
            errors.append(RowError(ann.file or str(table), ann.line, f"{rec.name}: " + "; ".join(problems)))
            continue
        out.append((ann, rec, box))
    return out


def import_tables(project: Project, format_name: str, files: list[str | Path], *,
                  recording: str | None = None, default_label: str | None = None,
                  polarity: Polarity | None = None, model_name: str | None = None,
                  author: str | None = None, skip_invalid: bool = False, complete: bool = False) -> ImportResult:
    """Import tables of one format; raises TableError (and writes nothing) if any row is bad,
    or with `skip_invalid` imports every valid row and lists the others in `result.skipped`.

    recording: the recording a single-recording table belongs to, when its file name does
    not say (default: the table's stem, e.g. `rec.Table.1.selections.txt` -> `rec`).
    Formats of detections (BirdNET-Analyzer) go into the detections of an external model
    version named `model_name` (default: the format's name).

    complete: the tables list every call of their classes (an expert's exhaustive boxes), so
    each recording a table covers is marked reviewed-complete, as a whole, for every class of
    the import: its unboxed audio then trains as negative. A table with no rows covers the
    recording its name (or `recording`) gives, which then holds none of the calls.
    """
    fmt = get_format(format_name)
    errors: list[RowError] = []
    rows: list[tuple[Annotation, Recording, Box]] = []
    cache: dict[str, Recording | None] = {}
    empty_tables: list[Recording] = []  # with complete: recordings of tables without rows
    finder = RecordingFinder(project.recordings())
    for file in map(Path, files):
        problem = _unreadable(file)
        if problem:
            errors.append(RowError(shown(file), 0, problem))
            continue
        errors_before = len(errors)
        try:
            annotations = fmt.read(file, default_label=default_label, polarity=polarity)
        except TableError as exc:
            errors.extend(exc.errors)
            # the rows that parsed are still checked against their recordings, so that one
            # run reports every problem of the import
            annotations = getattr(exc, "annotations", [])
        rows += _resolve_recordings(project, annotations, file, recording, errors, cache, finder)
        if complete and not annotations and len(errors) == errors_before:
            try:
                covered = finder.find(recording or table_stem(file))
            except ProjectError as exc:
                errors.append(RowError(shown(file), 0, str(exc)))
                continue
            if covered is None:
                errors.append(RowError(shown(file), 0, f"the table has no rows and no recording named "
                                       f"{recording or table_stem(file)!r} is in the project, so --complete "
                                       f"cannot mark one empty (name it with --recording)"))
            else:
                empty_tables.append(covered)
    complete_classes = sorted({ann.label for ann, _, _ in rows} | ({default_label} if default_label else set()))
    if complete and not complete_classes and not errors:  # rows that failed name their own problem
        errors.append(RowError(shown(Path(files[0])) if files else "", 0,
                               "--complete needs a class, and the tables name none: pass --label"))
    if complete and getattr(fmt, "DETECTIONS", False):
        raise TableError([RowError(shown(Path(files[0])) if files else "", 0,
                                   f"--complete is for labels; {fmt.NAME} tables are a model's detections")])
    errors.sort(key=lambda e: (e.file, e.line))
    if errors and not (skip_invalid and rows):
        raise TableError(errors)

    result = ImportResult(skipped=errors)
    detections = getattr(fmt, "DETECTIONS", False)
    if detections:  # checked before any write: imports create or extend an external version only
        existing = project.model_by_name(model_name or f"{fmt.NAME} import")
        if existing is not None and existing.kind != "external":
            raise ProjectError(f"model version {existing.name!r} is a {existing.kind} model of the project; "
                               f"imported detections never replace its own: give --model a new name")
    with project.transaction():
        known = {c.name for c in project.classes()}
        class_ids = {}
        for ann, _, _ in rows:
            if ann.label not in class_ids:
                class_ids[ann.label] = project.add_class(ann.label).id
                if ann.label not in known:
                    result.classes_added.append(ann.label)
        if detections:
            name = model_name or f"{fmt.NAME} import"
            model = project.model_by_name(name) or project.add_model_version(name, kind="external")
            by_recording: dict[int, list] = defaultdict(list)
            for ann, rec, box in rows:
                by_recording[rec.id].append((class_ids[ann.label], box.t_min, box.t_max, box.f_min, box.f_max,
                                             1.0 if ann.score is None else ann.score))
            for rec_id, boxes in by_recording.items():
                result.detections += project.set_detections(model.id, rec_id, boxes)
            result.model_version = name
        else:
            new = [new_label(rec.id, class_ids[ann.label], box, ann.polarity, Source.IMPORT, author or "",
                             note=ann.note, tags=ann.tags) for ann, rec, box in rows]
            result.labels = len(project.add_labels(new))
        if complete:
            for name in complete_classes:
                class_ids.setdefault(name, project.add_class(name).id)
            covered = {rec.id: rec for _, rec, _ in rows} | {rec.id: rec for rec in empty_tables}
            marked = project.mark_empty(covered, [class_ids[name] for name in complete_classes])
            result.recordings_completed = len(marked)
    return result


def _export_streamed(fmt, project: Project, model_id: int, recordings: dict, detections, out) -> list[Path] | None:
    """A model's detections into one CSV or one multi-file Raven table, a recording at a time
    (an archive's millions of rows never sit in memory); None for the formats written whole."""
    from birdlab.core.formats import birdlab_csv, raven

    ids = project.detection_recordings(model_id)
    inputs = [r.abs_path for r in recordings.values()]
    if fmt is birdlab_csv:
        check_output(out, inputs=inputs, what="export")
        rows = (a for rec_id in ids for a in detections(rec_id))
        return [birdlab_csv.write_stream(rows, Path(out), with_score=True)]
    if fmt is raven and Path(out).suffix.lower() == ".txt":
        check_output(out, inputs=inputs, what="export")
        scored = set(ids)  # every recording, in the table's order: Raven's timeline runs through all of them
        return [raven.write_multi_file(Path(out), ((_ref(rec), detections(rec.id) if rec.id in scored else [])
                                                   for rec in recordings.values()), with_score=True)]
    return None


def _unreadable(file: Path) -> str | None:
    """Why a table cannot be read at all, in words (a pipe such as <(cat T) is readable)."""
    try:
        st = file.stat()
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return os_reason(exc)
    if file.is_dir():
        return "is a folder, not a table"
    if not os.access(file, os.R_OK):
        return "permission denied (the file is not readable by this user)"
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        return "the file is empty (0 bytes)"
    return None


def _ref(rec: Recording) -> RecordingRef:
    return RecordingRef(key=str(rec.abs_path), path=str(rec.abs_path), duration=rec.duration,
                        sample_rate=rec.sample_rate, channels=rec.channels)


def dropped_by_export(project: Project, format_name: str, polarities: set[Polarity] | None = None) -> str:
    """What an export of the project's labels in this format leaves out (notes, tags), in words;
    empty when it keeps everything. Counted in SQL: a million-label export reads its labels once."""
    fmt = get_format(format_name)
    if fmt.DETECTIONS:
        return ""  # it exports a model's detections, which have no notes or tags
    keeps = getattr(fmt, "KEEPS", ())
    chosen, params = "", []
    if polarities:
        chosen = f" AND polarity IN ({','.join('?' * len(polarities))})"
        params = [Polarity(p).value for p in polarities]

    def count(condition: str) -> int:
        return project.select(f"SELECT COUNT(*) FROM labels WHERE {condition}{chosen}", params)[0][0]

    notes = 0 if "note" in keeps else count("note != ''")
    kept_tag = "1" if "tags" in keeps else "value LIKE 'calltype:%'" if "calltype" in keeps else "0"
    tags = count(f"EXISTS (SELECT 1 FROM json_each(labels.tags) WHERE NOT ({kept_tag}))")
    lost = [f"{n} label(s)' {what}" for n, what in ((notes, "notes"), (tags, "tags")) if n]
    keepers = ", ".join(name for name, module in FORMATS.items()
                        if {"note", "tags"} <= set(getattr(module, "KEEPS", ())))
    return f"the {format_name} format has no place for {' and '.join(lost)}: not written ({keepers} keep them)" \
        if lost else ""


def export_tables(project: Project, format_name: str, out: str | Path, *,
                  model_name: str | None = None, polarities: set[Polarity] | None = None,
                  measurements: bool = False) -> list[Path]:
    """Export the project's labels (or a model's detections, for detection formats or when
    `model_name` is given) in a format; returns the files written (atomically).

    measurements: each label's measurements (`core/sound/measure.py`) as extra columns, where the
    format keeps them (Raven); it reads the audio around every label."""
    fmt = get_format(format_name)
    recordings = {r.id: r for r in project.recordings()}
    names = {c.id: c.name for c in project.classes()}
    annotations: list[Annotation] = []
    if getattr(fmt, "DETECTIONS", False) or model_name:
        model = project.model_by_name(model_name) if model_name else project.active_model()
        if model is None:
            raise ProjectError(f"no model version {model_name!r} in the project" if model_name
                               else "no active model version to export detections of")

        def detections(rec_id: int) -> list[Annotation]:
            path = str(recordings[rec_id].abs_path)
            return [Annotation(path, d.t_min, d.t_max, d.f_min, d.f_max, names[d.class_id], Polarity.POSITIVE,
                               d.score) for d in project.detections(model.id, rec_id)]

        streamed = _export_streamed(fmt, project, model.id, recordings, detections, out)
        if streamed is not None:
            return streamed
        for rec_id in project.detection_recordings(model.id):
            annotations += detections(rec_id)
    else:
        for label in project.labels():
            if polarities and label.polarity not in polarities:
                continue
            rec = recordings[label.recording_id]
            extra = measure_box(rec.abs_path, label.box, rec.duration).raven_columns() if measurements else {}
            annotations.append(Annotation(str(rec.abs_path), label.t_min, label.t_max, label.f_min,
                                          label.f_max, names[label.class_id], label.polarity, extra=extra,
                                          note=label.note, tags=label.tags))
    refs = {str(r.abs_path): _ref(r) for r in recordings.values()}
    check_output(out, inputs=[r.abs_path for r in recordings.values()], folder=not writes_one_file(fmt, out),
                 what="export")
    return fmt.write(annotations, Path(out), refs)
