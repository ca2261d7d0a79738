"""The project's embedding index: every window of every recording, searchable by similarity.

Kept in `cache/index/<embedder>-<sha8>/h<hop ms>/` (disposable, like all of cache/):
- `vectors.f16`: the windows' L2-normalised embeddings, float16 [n, dim], appended recording by
  recording, each recording's windows one contiguous block in window order, so a row needs no
  id table: the manifest's block starts give its recording, its offset the window;
- `manifest.json` (written atomically after the vectors): per recording its fingerprint, first
  row and window count, and the rows the approximate index holds. Rows past the manifest's
  count (an interrupted append) are cut off by the next writer (one at a time, under a lock);
  readers never change a file;
- `ann.faiss`, from `ANN_MIN` windows up: faiss IVF-PQ (product-quantised codes, 64 bytes a
  window at 1024 dimensions; `benchmarks/bench_ann.py` measured it against usearch: it is the
  only one whose memory fits 36 M windows on a desktop). Its candidates are re-ranked with the
  exact vectors, read from `vectors.f16` by memory map.

Similarity is the cosine of the windows' embeddings centred on the project's mean window
(`sum.npz` keeps the sum of all rows and their count, updated block by block): what every window of an archive
shares (its recorder's background) then counts for nothing. Measured with BirdNET v2.4 at a
1 s hop: Noisy Pitta precision at 20 from 0.911 to 0.913, synthetic species at 10 by +0.03-0.07.

A refresh embeds only the recordings that are new or changed (by fingerprint); recordings that
left the project are cut out of the vectors, and the approximate index re-adds its rows with
the quantiser it already trained (training again only when the index grew fourfold).

Long because: the files, the writer's lock, the approximate index and the search all read and
change one index's state (its blocks, the rows' sum, the faiss index); split, they would pass
that state around.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from birdlab.core.atomic import atomic_write_text
from birdlab.core.model import Recording
from birdlab.core.sound.audio import AudioError

INDEX_FORMAT = 1
ANN_MIN = 200_000  # windows; below, a query reads every vector (exact, tens of milliseconds)
ANN_PROBES = 16
RERANK = 512  # candidates of the quantised index re-ranked exactly (recall of the top 20 at 1 M: 0.81 at 136, 1.0)
EXACT_BLOCK = 32_768  # rows converted to float32 at a time by an exact search


class EmbeddingIndexError(RuntimeError):
    """The index cannot be built or searched (a missing library, a mismatched embedder)."""


def faiss_module():
    try:
        import faiss
    except ImportError:
        raise EmbeddingIndexError("the embedding index needs faiss: pip install faiss-cpu") from None
    return faiss


@dataclass(frozen=True)
class Hit:
    """One window found by a search."""

    recording_id: int
    t_start: float
    t_end: float
    similarity: float  # cosine similarity to the query (the best one, or the mean's)


@dataclass
class RefreshReport:
    added: list[int]  # recording ids embedded (or taken from the embedding cache) and added
    removed: list[int]  # recording ids cut out (left the project, or their audio changed)
    failed: dict[int, str]  # recording id -> why it could not be embedded
    windows: int  # rows in the index after the refresh
    cancelled: bool = False


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def index_folder(cache_root: Path, embedder_name: str, embedder_sha256: str, hop_s: float) -> Path:
    tag = f"{embedder_name}-{embedder_sha256[:8]}" if embedder_sha256 else embedder_name
    return Path(cache_root) / "index" / tag / f"h{int(round(hop_s * 1000))}"


class EmbeddingIndex:
    """Window embeddings of a project's recordings, with exact and approximate search."""

    def __init__(self, folder: Path, dim: int, hop_s: float, window_s: float, embedder: str = ""):
        self.folder = Path(folder)
        self.dim, self.hop_s, self.window_s, self.embedder = dim, hop_s, window_s, embedder
        self.blocks: dict[int, dict] = {}  # recording id -> {"fingerprint", "start", "count", "duration"}
        self._size = 0  # rows, kept with `blocks` (by _set_blocks, or _append)
        self._block_layout: tuple[np.ndarray, np.ndarray] | None = None
        self.ann_rows = 0  # rows [0, ann_rows) are in ann.faiss
        self.ann_trained_on = 0
        self._ann = None
        self._vectors: np.memmap | None = None
        self._load()

    # ---- files ------------------------------------------------------------------------------

    @property
    def vectors_path(self) -> Path:
        return self.folder / "vectors.f16"

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    @property
    def ann_path(self) -> Path:
        return self.folder / "ann.faiss"

    @property
    def sum_path(self) -> Path:
        return self.folder / "sum.npz"

    @property
    def size(self) -> int:
        return self._size

    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        """(block starts ascending, their recording ids), derived from `blocks` once per change, not
        per search: an archive has tens of thousands of recordings."""
        if self._block_layout is None:
            order = sorted((b["start"], rid) for rid, b in self.blocks.items())
            self._block_layout = (np.array([s for s, _ in order], np.int64), np.array([r for _, r in order], np.int64))
        return self._block_layout

    def _set_blocks(self, blocks: dict[int, dict]) -> None:
        self.blocks = blocks
        self._size = sum(b["count"] for b in blocks.values())
        self._block_layout = None

    def _load(self) -> None:
        try:
            doc = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if doc.get("format") != INDEX_FORMAT or doc.get("dim") != self.dim or doc.get("hop_s") != self.hop_s:
                raise ValueError("another layout")
            self._set_blocks({int(k): {"fingerprint": str(v["fingerprint"]), "start": int(v["start"]),
                                       "count": int(v["count"]), "duration": float(v["duration"])}
                              for k, v in doc["recordings"].items()})
            self.ann_rows = int(doc.get("ann_rows", 0))
            self.ann_trained_on = int(doc.get("ann_trained_on", 0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self._set_blocks({})
            self.ann_rows, self.ann_trained_on = 0, 0
        n = self.size
        have = self.vectors_path.stat().st_size if self.vectors_path.exists() else 0
        if have < n * self.dim * 2:  # rows lost, or a writer between its two steps: empty, to this reader
            self._set_blocks({})
            self.ann_rows, self.ann_trained_on, n = 0, 0, 0
        if self.ann_rows and not self.ann_path.exists():
            self.ann_rows = self.ann_trained_on = 0
        self._sum = np.zeros(self.dim, np.float64)
        try:
            with np.load(self.sum_path) as saved:
                if saved["sum"].shape != (self.dim,) or int(saved["rows"]) != n:
                    raise ValueError("not the sum of these rows")
                self._sum = saved["sum"].astype(np.float64)
        except (OSError, ValueError, KeyError):
            if n:
                self._sum = np.asarray(self.vectors(), np.float64).sum(axis=0)

    def mean(self) -> np.ndarray:
        """The project's mean window (of the normalised rows), float32 [dim]."""
        return (self._sum / max(1, self.size)).astype(np.float32)

    def _save_sum(self) -> None:
        tmp = self.sum_path.with_name("sum.tmp.npz")
        np.savez(tmp, sum=self._sum, rows=self.size)
        os.replace(tmp, self.sum_path)

    def _save_manifest(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = {"format": INDEX_FORMAT, "embedder": self.embedder, "dim": self.dim, "hop_s": self.hop_s,
               "window_s": self.window_s, "ann_rows": self.ann_rows, "ann_trained_on": self.ann_trained_on,
               "recordings": {str(k): v for k, v in sorted(self.blocks.items(), key=lambda kv: kv[1]["start"])}}
        atomic_write_text(self.manifest_path, json.dumps(doc))

    def vectors(self) -> np.ndarray:
        """All rows, float16 [n, dim], memory-mapped (read only what a search touches)."""
        n = self.size
        if n == 0:
            return np.zeros((0, self.dim), np.float16)
        if self._vectors is None or self._vectors.shape[0] != n:
            self._vectors = np.memmap(self.vectors_path, np.float16, "r", shape=(n, self.dim))
        return self._vectors

    # ---- refresh ----------------------------------------------------------------------------

    def refresh(self, recordings: Iterable[Recording], embed: Callable[[Recording], np.ndarray | None],
                cancelled: Callable[[], bool] = lambda: False) -> RefreshReport:
        """Bring the index up to the project's recordings: `embed(recording)` gives a recording's
        windows (float16 [n, dim]; None when cancelled) and is called only for new or changed ones."""
        with self._writing():
            return self._refresh(list(recordings), embed, cancelled)

    @contextlib.contextmanager
    def _writing(self):
        """One writer at a time (the app's worker, a `birdlab embed`): an exclusive lock, then the
        files as they are now, with rows past the manifest (an append it never recorded) cut off.
        Readers never change the files."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "write.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._load()
                needed = self.size * self.dim * 2
                if self.vectors_path.exists() and self.vectors_path.stat().st_size > needed:
                    with open(self.vectors_path, "r+b") as f:
                        f.truncate(needed)
                self._vectors = None
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _refresh(self, recordings: list[Recording], embed, cancelled) -> RefreshReport:
        wanted = {r.id: r for r in recordings}
        removed = [rid for rid, b in self.blocks.items()
                   if rid not in wanted or wanted[rid].fingerprint != b["fingerprint"]]
        if removed:
            self._cut(removed)
        report = RefreshReport([], removed, {}, self.size)
        todo = [r for r in recordings if r.id not in self.blocks]
        for rec in todo:
            if cancelled():
                report.cancelled = True
                break
            try:
                windows = embed(rec)
            except AudioError as exc:
                report.failed[rec.id] = str(exc)
                continue
            if windows is None:
                report.cancelled = True
                break
            self._append(rec, windows)
            report.added.append(rec.id)
        self._update_ann()
        report.windows = self.size
        return report

    def _append(self, rec: Recording, windows: np.ndarray) -> None:
        windows = normalise(np.asarray(windows, np.float32)).astype(np.float16)
        if windows.shape[1:] != (self.dim,):
            raise EmbeddingIndexError(f"{rec.path}: embeddings of {windows.shape[1:]} dimensions, the index holds {self.dim}")
        self.folder.mkdir(parents=True, exist_ok=True)
        start = self.size
        with open(self.vectors_path, "ab") as f:
            f.write(np.ascontiguousarray(windows).tobytes())
            f.flush()
            os.fsync(f.fileno())
        self.blocks[rec.id] = {"fingerprint": rec.fingerprint, "start": start, "count": len(windows),
                               "duration": float(rec.duration)}
        self._size += len(windows)
        self._block_layout = None
        self._vectors = None
        self._sum += windows.astype(np.float64).sum(axis=0)
        self._save_sum()
        self._save_manifest()

    def _cut(self, recording_ids: list[int]) -> None:
        """Rewrite the vectors without these recordings' blocks; the approximate index is re-filled."""
        old = self.vectors()
        gone = set(recording_ids)
        keep = sorted((b["start"], rid) for rid, b in self.blocks.items() if rid not in gone)
        tmp = self.vectors_path.with_name("vectors.f16.tmp")
        new_blocks: dict[int, dict] = {}
        row = 0
        with open(tmp, "wb") as f:
            for rid in recording_ids:
                b = self.blocks[rid]
                self._sum -= np.asarray(old[b["start"]:b["start"] + b["count"]], np.float64).sum(axis=0)
            for start, rid in keep:
                b = self.blocks[rid]
                f.write(np.ascontiguousarray(old[start:start + b["count"]]).tobytes())
                new_blocks[rid] = {**b, "start": row}
                row += b["count"]
            f.flush()
            os.fsync(f.fileno())
        self._vectors = None
        del old
        os.replace(tmp, self.vectors_path)
        self._set_blocks(new_blocks)
        if not new_blocks:
            self._sum[:] = 0.0
        self._save_sum()
        self.ann_rows = 0  # the ids moved: the codes are added again from the vectors
        self._save_manifest()

    # ---- the approximate index ----------------------------------------------------------------

    def _update_ann(self) -> None:
        n = self.size
        if n < ANN_MIN:
            if self.ann_path.exists():
                self.ann_path.unlink()
            self._ann, self.ann_rows, self.ann_trained_on = None, 0, 0
            self._save_manifest()
            return
        if self.ann_rows == n and self.ann_path.exists():
            return
        faiss = faiss_module()
        ann = self._read_ann() if self.ann_trained_on and n < 4 * self.ann_trained_on else None
        if ann is None:
            ann = self._train_ann(faiss, n)
            self.ann_trained_on, self.ann_rows = n, 0
        if self.ann_rows > n or self.ann_rows == 0:
            ann.reset()
            self.ann_rows = 0
        vectors = self.vectors()
        for start in range(self.ann_rows, n, 65_536):
            stop = min(n, start + 65_536)
            ann.add_with_ids(np.asarray(vectors[start:stop], np.float32), np.arange(start, stop, dtype=np.int64))
        self.ann_rows = n
        tmp = self.ann_path.with_name("ann.faiss.tmp")
        faiss.write_index(ann, str(tmp))
        os.replace(tmp, self.ann_path)
        self._ann = ann
        self._save_manifest()

    def _train_ann(self, faiss, n: int):
        """IVF-PQ: about sqrt(n) lists (1,024 at 1 M windows, 8,192 at 36 M), 64 codes of 8 bits
        (64 bytes a window), trained on a sample of 50 windows a list."""
        lists = 2 ** int(round(math.log2(max(64.0, math.sqrt(n)))))
        codes = next(m for m in (64, 32, 16, 8, 4, 2, 1) if self.dim % m == 0)
        quantiser = faiss.IndexFlatIP(self.dim)
        ann = faiss.IndexIVFPQ(quantiser, self.dim, lists, codes, 8, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, size=min(n, max(50 * lists, 50_000)), replace=False))
        ann.train(np.asarray(self.vectors()[sample], np.float32))
        return ann

    def _read_ann(self):
        if self._ann is not None:
            return self._ann
        if not self.ann_path.exists():
            return None
        faiss = faiss_module()
        try:
            self._ann = faiss.read_index(str(self.ann_path))
        except RuntimeError:
            return None
        return self._ann

    # ---- search -----------------------------------------------------------------------------

    def rows_of(self, recording_ids: Iterable[int]) -> list[tuple[int, int, int]]:
        """(recording id, first row, count) of the recordings the index holds."""
        return [(rid, self.blocks[rid]["start"], self.blocks[rid]["count"])
                for rid in recording_ids if rid in self.blocks]

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows -> (recording ids, window start times)."""
        starts, rids = self._layout()
        where = np.searchsorted(starts, rows, side="right") - 1
        return rids[where], (rows - starts[where]) * self.hop_s

    def search(self, queries: np.ndarray, k: int = 20, *, combine: str = "max",
               recording_ids: Iterable[int] | None = None,
               exclude: Iterable[tuple[int, float, float]] = ()) -> list[Hit]:
        """The `k` windows most similar to the queries ([q, dim] or [dim]), best first.

        combine "max": a window's similarity is its best over the queries; "mean": to the queries'
        mean. recording_ids limits the search to those recordings. Windows overlapping an
        `exclude` span (recording id, t0, t1), the queries' own, are left out, and of windows
        overlapping each other by half or more in one recording only the best is kept, so
        one call gives one hit.
        """
        if combine not in ("max", "mean"):
            raise ValueError(f"combine must be 'max' or 'mean', not {combine!r}")
        q = normalise(np.atleast_2d(np.asarray(queries, np.float32)))
        if combine == "mean":
            q = normalise(q.mean(axis=0, keepdims=True))
        if q.shape[1] != self.dim:
            raise EmbeddingIndexError(f"query of {q.shape[1]} dimensions, the index holds {self.dim}")
        if self.size == 0:
            return []
        exclude = list(exclude)
        spread = max(1, int(math.ceil(self.window_s / self.hop_s)))  # windows one call can fill
        excluded_rows = sum(int(math.ceil((e1 - e0) / self.hop_s)) + spread for _, e0, e1 in exclude)
        want = k * spread * 2 + excluded_rows + 16
        ranges = self.rows_of(recording_ids) if recording_ids is not None else None
        rows_in_scope = sum(c for _, _, c in ranges) if ranges is not None else self.size
        if rows_in_scope <= ANN_MIN or self.ann_rows != self.size or self._read_ann() is None:
            rows, sims = self._exact(q, want, ranges)
        else:
            rows, sims = self._approximate(q, want, ranges)
            if len(rows) < min(want, rows_in_scope) // 2:  # a narrow filter the probes missed
                rows, sims = self._exact(q, want, ranges)
        return self._hits(rows, sims, k, exclude)

    def _centred(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """What the centred cosine needs: [queries..., mean] as columns, the queries' centred
        norms, and |mean|^2. For unit x: (x-m).(q-m) = x.q - x.m - q.m + m.m, |x-m|^2 = 1 - 2 x.m + m.m."""
        m = self.mean()
        mm = float(m @ m)
        qm = q @ m
        q_norm = np.sqrt(np.maximum(1.0 - 2.0 * qm + mm, 1e-12))
        return np.concatenate([q, m[None, :]]).T.astype(np.float32), q_norm, mm

    def _similarity(self, block: np.ndarray, columns: np.ndarray, q_norm: np.ndarray, mm: float) -> np.ndarray:
        """Centred cosine of rows to the queries, the best query's per row."""
        dots = np.asarray(block, np.float32) @ columns
        xm = dots[:, -1:]
        x_norm = np.sqrt(np.maximum(1.0 - 2.0 * xm + mm, 1e-12))
        q_mean = columns[:, :-1].T @ columns[:, -1]  # q.m per query
        sims = (dots[:, :-1] - xm - q_mean[None, :] + mm) / (x_norm * q_norm[None, :])
        return sims.max(axis=1)

    def _exact(self, q: np.ndarray, want: int, ranges) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.vectors()
        columns, q_norm, mm = self._centred(q)
        spans = [(s, s + c) for _, s, c in ranges] if ranges is not None else [(0, self.size)]
        best_rows = np.zeros(0, np.int64)
        best_sims = np.zeros(0, np.float32)
        for lo, hi in spans:
            for start in range(lo, hi, EXACT_BLOCK):
                stop = min(hi, start + EXACT_BLOCK)
                sims = self._similarity(vectors[start:stop], columns, q_norm, mm)
                best_rows = np.concatenate([best_rows, np.arange(start, stop)])
                best_sims = np.concatenate([best_sims, sims])
                if len(best_rows) > 4 * want:
                    keep = np.argpartition(-best_sims, want)[:want]
                    best_rows, best_sims = best_rows[keep], best_sims[keep]
        return best_rows, best_sims

    def _approximate(self, q: np.ndarray, want: int, ranges) -> tuple[np.ndarray, np.ndarray]:
        """Candidates from the quantised index (inner product with the centred queries), re-ranked
        with the exact vectors."""
        faiss = faiss_module()
        ann = self._read_ann()
        params = faiss.SearchParametersIVF(nprobe=ANN_PROBES)
        if ranges is not None:
            ids = np.concatenate([np.arange(s, s + c, dtype=np.int64) for _, s, c in ranges])
            params = faiss.SearchParametersIVF(nprobe=ANN_PROBES, sel=faiss.IDSelectorBatch(ids))
        _, found = ann.search(normalise(q - self.mean()[None, :]), min(max(want, RERANK), 2048), params=params)
        rows = np.unique(found[found >= 0])
        if len(rows) == 0:
            return rows, np.zeros(0, np.float32)
        columns, q_norm, mm = self._centred(q)
        return rows, self._similarity(self.vectors()[rows], columns, q_norm, mm)

    def _hits(self, rows: np.ndarray, sims: np.ndarray, k: int, exclude: list[tuple[int, float, float]]) -> list[Hit]:
        if len(rows) == 0:
            return []
        order = np.argsort(-sims, kind="stable")
        rows, sims = rows[order], sims[order]
        rids, starts = self.locate(rows)
        kept: list[Hit] = []
        excluded: dict[int, list[tuple[float, float]]] = {}
        for er, e0, e1 in exclude:
            excluded.setdefault(er, []).append((e0, e1))
        kept_in: dict[int, list[Hit]] = {}
        for rid, t0, sim in zip(rids.tolist(), starts.tolist(), sims.tolist()):
            t1 = min(t0 + self.window_s, self.blocks[rid]["duration"])
            if any(t0 < e1 and e0 < t1 for e0, e1 in excluded.get(rid, ())):
                continue
            if any(min(t1, h.t_end) - max(t0, h.t_start) >= (t1 - t0) / 2 - 1e-9 for h in kept_in.get(rid, ())):
                continue
            hit = Hit(int(rid), round(t0, 6), round(t1, 6), float(np.clip(sim, -1.0, 1.0)))
            kept.append(hit)
            kept_in.setdefault(rid, []).append(hit)
            if len(kept) >= k:
                break
        return kept
