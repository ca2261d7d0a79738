"""What a batch run writes: per-file tables and tracks, and the combined tables of the run.

Layout of the output folder (every file written atomically: temp file, fsync, rename):

    detections.csv                  all detections: file, t_min, t_max, f_min, f_max, class, score
    detections.selections.txt       one Raven table over all files (Begin File, File Offset (s))
    raven/<rel>.Table.1.selections.txt   one Raven table per recording
    audacity/<rel>.txt              one Audacity label track per recording
    tracks/<rel>.npz                score tracks, float16 [frames, classes] (with --tracks)

`<rel>` is the recording's path relative to the deepest folder holding all inputs, without
its extension (kept where two inputs would otherwise share a name), so the names do not
depend on the order, on resuming or on sharding.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from birdlab.core.atomic import atomic_open
from birdlab.core.formats import audacity, raven
from birdlab.core.formats.common import Annotation, RecordingRef
from birdlab.scoring.recording import RecordingScores, ScoredBox
from birdlab.scoring.tracks import row_chunks

FORMATS = ("csv", "raven", "audacity")
CSV_COLUMNS = ("file", "t_min", "t_max", "f_min", "f_max", "class", "score")


@dataclass(frozen=True)
class FileDone:
    """A scored file as the journal keeps it: enough to rebuild the combined tables."""

    path: str  # absolute
    duration: float
    sample_rate: int
    detections: tuple[tuple[float, float, float, float, str, float], ...]  # t_min, t_max, f_min, f_max, class, score


def output_names(files: Sequence[Path]) -> dict[Path, str]:
    """Relative output name (posix, no extension) for each file; unique, order-independent."""
    resolved = [Path(os.path.abspath(f)) for f in files]
    if not resolved:
        return {}
    root = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    stems = {p: p.relative_to(root).with_suffix("").as_posix() for p in resolved}
    seen: dict[str, int] = {}
    for stem in stems.values():
        seen[stem.lower()] = seen.get(stem.lower(), 0) + 1
    return {p: (p.relative_to(root).as_posix() if seen[stems[p].lower()] > 1 else stems[p]) for p in resolved}


def per_file_paths(out: Path, rel: str, formats: Iterable[str], tracks: bool) -> dict[str, Path]:
    paths = {}
    if "raven" in formats:
        paths["raven"] = out / "raven" / f"{rel}.Table.1.selections.txt"
    if "audacity" in formats:
        paths["audacity"] = out / "audacity" / f"{rel}.txt"
    if tracks:
        paths["tracks"] = out / "tracks" / f"{rel}.npz"
    return paths


def _annotations(key: str, boxes: Iterable[ScoredBox]) -> list[Annotation]:
    return [Annotation(recording=key, t_min=b.t_min, t_max=b.t_max, f_min=b.f_min, f_max=b.f_max,
                       label=b.label, score=round(b.score, 6)) for b in boxes]


def write_tracks_npz(path: Path, scores: RecordingScores) -> Path:
    """Tracks as float16 in an .npz, streamed row chunk by row chunk (tracks may be memory-mapped).

    Arrays: tracks [frames, classes] float16, classes (str), frame_hop_s, duration.
    """
    n, c = scores.tracks.shape
    with atomic_open(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            with archive.open("tracks.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array_header_1_0(entry, {"descr": "<f2", "fortran_order": False, "shape": (n, c)})
                for a, b in row_chunks(n, c):
                    entry.write(np.asarray(scores.tracks[a:b], dtype="<f2").tobytes())
            for name, value in (("classes", np.array(scores.classes)),
                                ("frame_hop_s", np.float64(scores.frame_hop_s)),
                                ("duration", np.float64(scores.duration))):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(value))
                archive.writestr(f"{name}.npy", buf.getvalue())
    return path


def write_per_file(scores: RecordingScores, paths: dict[str, Path], display_path: str) -> list[Path]:
    """The per-recording outputs of one scored file."""
    written = []
    anns = _annotations(display_path, scores.detections)
    ref = RecordingRef(display_path, display_path, scores.duration, scores.sample_rate, scores.channels)
    if "raven" in paths:
        written.append(raven.write_table(anns, paths["raven"], ref, with_score=True))
    if "audacity" in paths:
        written.append(audacity.write_labels(anns, paths["audacity"]))
    if "tracks" in paths:
        written.append(write_tracks_npz(paths["tracks"], scores))
    return written


def _csv_cell(text: str) -> str:
    """One CSV cell as csv.writer writes it in a row (quoted only when it must be)."""
    if not text:
        return ""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text])
    return buf.getvalue()[:-1]


class _CsvTable:
    """The combined CSV, one file's detections at a time; each path and class is quoted once,
    not once a row (a run's table can hold millions of rows)."""

    def __init__(self, handle: IO[str]):
        self.handle = handle
        self.labels: dict[str, str] = {}
        handle.write(",".join(CSV_COLUMNS) + "\n")

    def add(self, item: FileDone) -> None:
        where, labels = _csv_cell(item.path), self.labels
        lines = []
        for t_min, t_max, f_min, f_max, label, score in item.detections:
            cell = labels.get(label)
            if cell is None:
                cell = labels[label] = _csv_cell(label)
            lines.append(f"{where},{t_min:.6f},{t_max:.6f},{f_min:.1f},{f_max:.1f},{cell},{score:.6f}\n")
        self.handle.writelines(lines)


class _RavenTable:
    """The combined Raven table: each file's boxes by time, then class, as in the per-file tables."""

    def __init__(self, handle: IO[str]):
        self.table = raven.MultiFileTable(handle, with_score=True)

    def add(self, item: FileDone) -> None:
        self.table.add_detections(RecordingRef(item.path, item.path, item.duration, item.sample_rate),
                                  sorted(item.detections, key=lambda x: (x[0], x[1], x[4])))


_TABLES = {"csv": (_CsvTable, ""), "raven": (_RavenTable, "\n")}  # table, newline for atomic_open


def _write_tables(paths: dict[str, Path], done: Iterable[FileDone]) -> list[Path]:
    """Tables {format: path} in one pass over `done` (streamed, each written atomically)."""
    with contextlib.ExitStack() as stack:
        tables = [_TABLES[fmt][0](stack.enter_context(atomic_open(path, "w", newline=_TABLES[fmt][1])))
                  for fmt, path in paths.items()]
        for item in done:
            for table in tables:
                table.add(item)
    return list(paths.values())


def write_csv(path: Path, done: Iterable[FileDone]) -> Path:
    """One row per detection of every file, in the order given (streamed, atomically)."""
    return _write_tables({"csv": path}, done)[0]


def write_combined_raven(path: Path, done: Iterable[FileDone]) -> Path:
    """One Raven selection table over all files, with Begin File and File Offset (s) (streamed)."""
    return _write_tables({"raven": path}, done)[0]


def combined_names(shard: tuple[int, int] | None) -> tuple[str, str]:
    """File names of the combined CSV and Raven table (one pair per shard)."""
    suffix = f"-{shard[0]}of{shard[1]}" if shard else ""
    return f"detections{suffix}.csv", f"detections{suffix}.selections.txt"


def write_combined(out: Path, done: Iterable[FileDone], formats: Iterable[str],
                   shard: tuple[int, int] | None = None) -> list[Path]:
    """The run's combined tables, in one pass over `done`, which may be lazy (`journal.DoneFiles`
    reads each file's detections back from the journal): memory then holds one file's
    detections, however many files the run scored."""
    csv_name, raven_name = combined_names(shard)
    return _write_tables({fmt: out / name for fmt, name in (("csv", csv_name), ("raven", raven_name))
                          if fmt in formats}, done)
