"""Find more like this: a project's embedding index, queries from boxes, and candidates to review.

`build_index` embeds what is new (the embedder's windows at `hop_s`, cached per recording) and
refreshes the index; `find_similar` embeds the query spans afresh (windows centred on each box)
and returns the nearest windows elsewhere; `store_candidates` writes them as the detections of
a search version (kind `external`, its card saying which query made it), so the review queue,
its keys and its labels work on them unchanged: accepting a candidate makes a positive label,
rejecting it a negative one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from birdlab.core.model import Recording
from birdlab.core.store.project import Project
from birdlab.scoring.embedders import BIRDNET, EmbedderUnavailable, get_embedder, EmbeddingSpec
from birdlab.scoring.sed_embedder import SED_EMBEDDER
from birdlab.scoring.embedding_index import EmbeddingIndex, Hit, RefreshReport, index_folder
from birdlab.scoring.window_embeddings import EmbedProgress, WindowEmbedder, embed_recording, embed_span, embedding_cache

DEFAULT_HOP_S = 1.0
SEARCH_SOURCE = "similarity search"
EMBEDDERS = (BIRDNET, SED_EMBEDDER)


@dataclass(frozen=True)
class Span:
    """A query: a box or a selected time range of a recording (band optional)."""

    recording: Recording
    t0: float
    t1: float
    f_min: float | None = None
    f_max: float | None = None


def load_embedder(name: str = BIRDNET, threads: int = 1, model_file: Path | None = None) -> WindowEmbedder:
    """The window embedder by name: BirdNET v2.4, or `sed` (an SED model file's backbone embedding);
    EmbedderUnavailable says what is missing."""
    if name == SED_EMBEDDER:
        if model_file is None:
            raise EmbedderUnavailable("the sed embedder needs an SED model version (the active one by default)")
        from birdlab.scoring.sed_embedder import SedEmbedder
        return SedEmbedder(model_file, threads)
    if name != BIRDNET:
        raise EmbedderUnavailable(f"unknown embedder {name!r} (known: {', '.join(EMBEDDERS)})")
    return get_embedder(EmbeddingSpec(BIRDNET, 1024), threads)  # type: ignore[return-value]


def open_index(cache_root: Path, embedder: WindowEmbedder, hop_s: float = DEFAULT_HOP_S) -> EmbeddingIndex:
    """The index of a project's cache/ for this embedder and hop (empty when never built)."""
    folder = index_folder(cache_root, embedder.name, embedder.sha256, hop_s)
    return EmbeddingIndex(folder, embedder.dim, hop_s, embedder.window_s, embedder.name)


def latest_index(cache_root: Path) -> EmbeddingIndex | None:
    """The index built or refreshed last in a project's cache/ (any embedder), or None; for the review
    orders that read embeddings without computing any."""
    manifests = sorted(Path(cache_root).glob("index/*/h*/manifest.json"), key=lambda p: p.stat().st_mtime)
    for manifest in reversed(manifests):
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
            index = EmbeddingIndex(manifest.parent, int(doc["dim"]), float(doc["hop_s"]), float(doc["window_s"]),
                                   str(doc.get("embedder", "")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if index.size:
            return index
    return None


def pending(index: EmbeddingIndex, recordings: Iterable[Recording]) -> list[Recording]:
    """The recordings a refresh would embed: not in the index, or their audio changed."""
    return [r for r in recordings if index.blocks.get(r.id, {}).get("fingerprint") != r.fingerprint]


def build_index(cache_root: Path, recordings: Iterable[Recording], embedder: WindowEmbedder,
                hop_s: float = DEFAULT_HOP_S, progress: Callable[[EmbedProgress], None] | None = None,
                cancelled: Callable[[], bool] = lambda: False) -> tuple[EmbeddingIndex, RefreshReport]:
    """Embed the recordings the index lacks (or whose audio changed) and bring it up to date with
    `recordings` (a project's, read by the caller: no database access here)."""
    index = open_index(cache_root, embedder, hop_s)
    cache = embedding_cache(cache_root, embedder, hop_s)
    report = index.refresh(recordings, lambda rec: embed_recording(rec, embedder, cache, progress, cancelled),
                           cancelled)
    return index, report


# ---- the same embedding on a Ray cluster's actors (birdlab embed --cluster) ----------------------

_WORKER: dict = {}


def _init_embed_worker(name: str, model_file: str | None, cache_root: str, hop_s: float, threads: int) -> None:
    """An actor's embedder and cache (scoring/cluster.py runs it once per actor)."""
    embedder = load_embedder(name, threads, Path(model_file) if model_file else None)
    _WORKER.update(embedder=embedder, cache=embedding_cache(Path(cache_root), embedder, hop_s))


def _embed_task(path: str, recording: Recording) -> tuple[str, int, str]:
    """Embed one recording into the (shared) cache; (path, windows, "") or (path, 0, why it failed)."""
    from birdlab.core.sound.audio import AudioError
    try:
        windows = embed_recording(recording, _WORKER["embedder"], _WORKER["cache"])
    except AudioError as exc:
        return path, 0, str(exc)
    except Exception as exc:  # one bad file must not stop the others
        return path, 0, f"{type(exc).__name__}: {exc}"
    return path, 0 if windows is None else len(windows), ""


def embed_on_cluster(cache_root: Path, recordings: list[Recording], embedder: WindowEmbedder, hop_s: float,
                     model_file: Path | None, threads: int, progress: Callable[[Recording], None] | None = None
                     ) -> dict[int, str]:
    """Embed the recordings' windows into the cache on the connected Ray cluster (the cache folder and
    the audio at the same paths on every node); returns {recording id: why it failed}. The index is
    then refreshed here from the cache, without embedding anything."""
    from birdlab.scoring.cluster import WorkerJob, ray_module, run_on_cluster

    ray = ray_module()
    by_path = {str(r.abs_path or r.path): r for r in recordings}
    failures: dict[int, str] = {}
    job = WorkerJob("birdlab.scoring.similarity", "_init_embed_worker",
                    (embedder.name, str(model_file) if model_file else None, str(cache_root), hop_s, threads),
                    "_embed_task")

    def handle(result: tuple[str, int, str]) -> None:
        path, _, reason = result
        if reason:
            failures[by_path[path].id] = reason
        if progress:
            progress(by_path[path])

    workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    run_on_cluster([(path, rec) for path, rec in by_path.items()], job, handle,
                   lambda path, why: handle((path, 0, why)), workers, threads,
                   {path: rec.duration for path, rec in by_path.items()})
    return failures


def find_similar(index: EmbeddingIndex, embedder: WindowEmbedder, queries: list[Span], k: int = 20,
                 combine: str = "max", recording_ids: Iterable[int] | None = None) -> list[Hit]:
    """The k windows most like the query spans, their own windows left out (no database access:
    the app runs it on a worker thread)."""
    if not queries:
        raise ValueError("no query: give a box, a detection or a time range")
    vectors = np.stack([embed_span(q.recording, q.t0, q.t1, embedder) for q in queries])
    exclude = [(q.recording.id, q.t0, q.t1) for q in queries]
    return index.search(vectors, k, combine=combine, recording_ids=recording_ids, exclude=exclude)


def describe(queries: list[Span]) -> str:
    parts = [f"{q.recording.name} {q.t0:.1f}-{q.t1:.1f} s" for q in queries[:3]]
    return "; ".join(parts) + (f" (+{len(queries) - 3})" if len(queries) > 3 else "")


_names_lock = threading.Lock()


def store_candidates(project: Project, hits: list[Hit], class_id: int, queries: list[Span], embedder_name: str,
                     combine: str = "max", what: str = "") -> int:
    """The hits as a new search version's detections (score = similarity, clipped to [0, 1]; the
    box spans the window and the queries' band). `what` names where they came from when there is no
    query span (the map's lasso). Returns the version's id; it is never made active."""
    bands = [(q.f_min, q.f_max) for q in queries if q.f_min is not None and q.f_max is not None]
    f_lo = min((b[0] for b in bands), default=0.0)
    f_hi = max((b[1] for b in bands), default=None)
    card = {"source": SEARCH_SOURCE, "embedder": embedder_name, "combine": combine,
            "class": project.class_(class_id).name,
            "queries": [[q.recording.id, q.t0, q.t1] for q in queries], "query": what or describe(queries)}
    with _names_lock:
        n = 1 + sum(1 for v in project.model_versions() if v.card.get("source") == SEARCH_SOURCE)
        stamp = datetime.now(timezone.utc).strftime("%H%M%S")
        version = project.add_model_version(f"similar-{n}-{stamp}", kind="external", card=card)
    by_rec: dict[int, list[Hit]] = {}
    for hit in hits:
        by_rec.setdefault(hit.recording_id, []).append(hit)
    recordings = {r.id: r for r in project.recordings_by_id(by_rec)}
    for rid, rec_hits in by_rec.items():
        nyquist = recordings[rid].nyquist
        top = min(f_hi, nyquist) if f_hi is not None else nyquist
        project.set_detections(version.id, rid, [
            (class_id, h.t_start, h.t_end, min(f_lo, top), top, float(np.clip(h.similarity, 0.0, 1.0)))
            for h in rec_hits])
    return version.id


def is_search_version(version) -> bool:
    return version.kind == "external" and version.card.get("source") == SEARCH_SOURCE
