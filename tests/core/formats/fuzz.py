"""A seeded fuzzer of the label importers: mutated real and synthetic tables into a project.

Each case is a seed table (the fixtures of tests/fixtures/formats, and tables birdlab itself
exported from the fuzz project) with a few random mutations: bytes cut, repeated or
inserted (NUL, invalid UTF-8, a lone surrogate escape), lines swapped or repeated, numbers
replaced by absurd ones, delimiters changed, JSON values swapped for other types or nested
very deep. The importer must either import cleanly or raise a birdlab error (TableError,
ProjectError), and on error leave the project exactly as it was.

    run_fuzz(folder, iterations, seed) -> FuzzReport

The test suite runs a bounded budget (tests/core/formats/test_import_fuzz.py); a longer run:
`python benchmarks/fuzz_importers.py --iterations 20000`.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from birdlab.core.formats import format_names
from birdlab.core.formats.common import TableError
from birdlab.core.store.label_io import export_tables, import_tables
from birdlab.core.model import Box, Polarity
from birdlab.core.store.project import Project, ProjectError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "formats"
FORMATS = format_names()  # every registered format plug-in
FIXTURE_FORMATS = {  # fixture file -> format
    "XC100.Table.1.selections.txt": "raven", "bats_khz.Table.1.selections.txt": "raven",
    "site1_sequence.selections.txt": "raven", "train_tp.csv": "rfcx", "train_fp.csv": "rfcx",
    "dawn.txt": "audacity", "frogs.txt": "audacity", "kiwi.wav.data": "avianz", "old_kiwi.wav.data": "avianz",
    "frog_project.aoef.json": "aoef", "nips4b_set.aoef.json": "aoef", "XC123.BirdNET.results.csv": "birdnet",
    "XC123.BirdNET.results.r.csv": "birdnet", "XC123.BirdNET.selection.table.txt": "birdnet",
    "old.BirdNET.results.csv": "birdnet", "BirdNET_SelectionTable.txt": "birdnet",
}
ABSURD = ("NaN", "inf", "-1e308", "1e308", "-0", "0", "", "  ", "１２", "0x10", "1,5", "1e-320",
          "99999999999999999999", "nan", "-inf", "7.5", "\u00a0")
JUNK = (b"\x00", b"\xff\xfe", b"\xc3\x28", b"\\ud800", b"\t\t\t", b"\r", b"\n\n", b'"', b"'", b",", b";",
        b"\xef\xbb\xbf", b"[", b"{", b"}", b"]", b"null", b"-1", b"\xe2\x80\xa8")
EXPECTED = (TableError, ProjectError)


@dataclass
class FuzzReport:
    cases: int = 0
    imported: int = 0
    refused: int = 0
    crashes: list[str] = field(default_factory=list)  # unexpected exceptions, with the case
    changed: list[str] = field(default_factory=list)  # refused, yet the project changed


def make_fuzz_project(folder: Path) -> Project:
    """Two short recordings the fixtures and exports name, with labels and a detection model."""
    audio = folder / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    project = Project.create(folder / "project")
    rng = np.random.default_rng(0)
    for name, rate in (("XC100.wav", 22050), ("rec1.wav", 32000)):
        sf.write(audio / name, (0.01 * rng.standard_normal(rate * 20)).astype(np.float32), rate, subtype="PCM_16")
        project.add_recording(audio / name)
    cls = project.add_class("Parus major")
    for rec in project.recordings():
        project.add_label(rec.id, cls.id, Box(1.0, 2.5, 1000.0, 4000.0), Polarity.POSITIVE)
        project.add_label(rec.id, cls.id, Box(4.0, 5.0, 500.0, 2000.0), Polarity.NEGATIVE)
    model = project.add_model_version("fuzz", kind="external")
    for rec in project.recordings():
        project.set_detections(model.id, rec.id, [(cls.id, 6.0, 9.0, 0.0, 8000.0, 0.7)])
    return project


def seed_tables(project: Project, work: Path) -> list[tuple[str, Path]]:
    """(format, file) pairs: the fixtures, and every format exported from the project."""
    seeds = [(fmt, FIXTURES / name) for name, fmt in FIXTURE_FORMATS.items() if (FIXTURES / name).exists()]
    for fmt in FORMATS:
        out = work / f"export-{fmt}" / ("set.json" if fmt == "aoef" else "table.csv" if fmt == "csv" else "")
        written = export_tables(project, fmt, out, model_name="fuzz" if fmt == "birdnet" else None)
        seeds += [(fmt, path) for path in written]
    return seeds


def counts(db: Path) -> tuple:
    with sqlite3.connect(db) as conn:
        return tuple(conn.execute(f"SELECT COUNT(*), COALESCE(SUM(id), 0) FROM {t}").fetchone()
                     for t in ("classes", "labels", "detections", "model_versions", "recordings"))


# ---- mutations -----------------------------------------------------------------------------------

def _cut(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    a = rng.randrange(len(data))
    return data[:a] + data[a + rng.randint(1, 64):]


def _insert(data: bytes, rng: random.Random) -> bytes:
    a = rng.randrange(len(data) + 1)
    return data[:a] + rng.choice(JUNK) * rng.randint(1, 3) + data[a:]


def _lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    if len(lines) < 2:
        return data
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    action = rng.randrange(4)
    if action == 0:
        lines[i], lines[j] = lines[j], lines[i]
    elif action == 1:
        lines.insert(i, lines[j])  # a repeated row (e.g. a duplicate Selection number)
    elif action == 2:
        del lines[i]
    else:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]  # a row cut short
    return b"\n".join(lines)


def _number(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", errors="surrogateescape")
    import re
    spots = [m.span() for m in re.finditer(r"-?\d+(\.\d+)?", text)]
    if not spots:
        return data
    a, b = rng.choice(spots)
    return (text[:a] + rng.choice(ABSURD) + text[b:]).encode("utf-8", errors="surrogateescape")


def _delimiter(data: bytes, rng: random.Random) -> bytes:
    pairs = [(b"\t", b","), (b",", b"\t"), (b",", b";"), (b"\n", b"\r\n"), (b"\n", b"\r")]
    old, new = rng.choice(pairs)
    return data.replace(old, new, rng.choice((1, -1)))


def _json(data: bytes, rng: random.Random) -> bytes:
    """Swap one JSON value for a value of another type, or nest it very deep."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return _insert(data, rng)
    nodes: list[tuple[object, object]] = []  # (container, key)
    todo = [doc]
    while todo and len(nodes) < 5000:
        item = todo.pop()
        keys = item.keys() if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else []
        for key in keys:
            nodes.append((item, key))
            todo.append(item[key])
    if not nodes:
        return data
    container, key = rng.choice(nodes)
    choice = rng.randrange(6)
    replacement: object = [None, {}, [[[]]], "\ud800", 1e308, True][choice]
    deep = rng.random() < 0.1
    if deep:
        replacement = "<<deep>>"
    container[key] = replacement  # type: ignore[index]
    text = json.dumps(doc)
    if deep:  # nested past any sane file (and past json's own recursion limit)
        depth = rng.choice((65, 3000, 100_000))
        text = text.replace('"<<deep>>"', "[" * depth + "]" * depth, 1)
    return text.encode()


MUTATIONS = (_cut, _insert, _lines, _number, _delimiter)


def mutate(data: bytes, fmt: str, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 3)):
        if fmt in ("aoef", "avianz") and rng.random() < 0.5:
            data = _json(data, rng)
        else:
            data = rng.choice(MUTATIONS)(data, rng)
    return data


# ---- the run ---------------------------------------------------------------------------------------

def run_fuzz(folder: Path, iterations: int, seed: int = 0) -> FuzzReport:
    """`iterations` mutated imports into a fresh fuzz project under `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    report = FuzzReport()
    with make_fuzz_project(folder) as project:
        seeds = seed_tables(project, folder / "seeds")
        db = project.root / "project.sqlite"
        for i in range(iterations):
            fmt, source = seeds[i % len(seeds)]
            case = folder / "cases" / f"{i:06d}" / source.name
            case.parent.mkdir(parents=True)
            case.write_bytes(mutate(source.read_bytes(), fmt, rng))
            before = counts(db)
            report.cases += 1
            try:
                import_tables(project, fmt, [case], recording=rng.choice((None, "rec1", "XC100")),
                              default_label=rng.choice((None, "Parus major")),
                              model_name=rng.choice((None, "fuzz", "BirdNET")),
                              skip_invalid=rng.random() < 0.3)
                report.imported += 1
            except EXPECTED:
                report.refused += 1
                if counts(db) != before:
                    report.changed.append(f"{case} ({fmt}): refused, but the project changed")
            except Exception:  # noqa: BLE001 - the point of a fuzzer
                report.crashes.append(f"{case} ({fmt}):\n{traceback.format_exc(limit=4)}")
            shutil.rmtree(case.parent)
    return report
