"""Nearest-neighbour libraries for the embedding index (issue 17): usearch against faiss-cpu.

    .venv/bin/python -m pip install usearch faiss-cpu    # not birdlab dependencies (yet)
    .venv/bin/python benchmarks/bench_ann.py [--n 1000000] [--dim 1024] [--queries 200] [--out F.json]

Window embeddings are made up but shaped like real ones: `--clusters` centres (call types,
noise kinds) with windows scattered around them, L2-normalised, cosine similarity. For each
index it reports the build rate (vectors per second), the memory per million vectors (the
index's own size), the median and p95 latency of one top-10 query, and recall@10 against the
exact answer (a brute-force matrix product). The 10,000-hour budget of the issue (36 M windows at
a 1 s hop) follows from the memory per million; `--n` as large as the machine allows checks
that the latency holds as the index grows.

Indexes:
- usearch HNSW with int8 and with float16 vectors (connectivity 16, expansion 64 on add and on
  search; usearch's defaults but the expansion);
- faiss IVF-PQ: 1024 lists (about 4 sqrt(n) at 1 M, the usual rule), 64 sub-quantisers of 8
  bits (64 bytes a vector), 16 lists probed; re-ranking is left out (it would need the vectors);
- faiss HNSW over float32 vectors (M 16), the exact-vector reference for memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def make_vectors(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        k = min(100_000, n - start)
        which = rng.integers(0, clusters, k)
        out[start:start + k] = centres[which] + 0.6 * rng.standard_normal((k, dim)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = np.empty((len(queries), 0), np.float32)
    ids = np.empty((len(queries), 0), np.int64)
    for start in range(0, len(vectors), 200_000):
        block = queries @ vectors[start:start + 200_000].T
        scores = np.concatenate([scores, block], axis=1)
        ids = np.concatenate([ids, np.broadcast_to(np.arange(start, start + block.shape[1]), block.shape)], axis=1)
        keep = np.argpartition(-scores, k, axis=1)[:, :k]
        scores, ids = np.take_along_axis(scores, keep, 1), np.take_along_axis(ids, keep, 1)
    return ids


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def timed_queries(search, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        results.append(search(q))
        times.append(time.perf_counter() - t0)
    return times, np.array(results)


def bench_usearch(vectors: np.ndarray, queries: np.ndarray, dtype: str, k: int) -> dict:
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="cos", dtype=dtype, connectivity=16,
                  expansion_add=64, expansion_search=64)
    t0 = time.perf_counter()
    index.add(np.arange(len(vectors)), vectors, threads=2)
    build = time.perf_counter() - t0
    times, found = timed_queries(lambda q: index.search(q, k).keys, queries)
    return {"build_s": build, "bytes": index.memory_usage, "times": times, "found": found}


def bench_faiss_ivfpq(vectors: np.ndarray, queries: np.ndarray, k: int) -> dict:
    import faiss

    faiss.omp_set_num_threads(2)
    dim = vectors.shape[1]
    nlist = 1024
    quantiser = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(quantiser, dim, nlist, 64, 8, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    sample = vectors[np.random.default_rng(1).choice(len(vectors), min(len(vectors), 64 * nlist), replace=False)]
    index.train(sample)
    index.add(vectors)
    build = time.perf_counter() - t0
    index.nprobe = 16
    faiss.omp_set_num_threads(1)  # one query at a time, as the app asks
    times, found = timed_queries(lambda q: index.search(q[None, :], k)[1][0], queries)
    return {"build_s": build, "bytes": faiss.serialize_index(index).nbytes, "times": times, "found": found}


def bench_faiss_hnsw(vectors: np.ndarray, queries: np.ndarray, k: int) -> dict:
    import faiss

    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(vectors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    t0 = time.perf_counter()
    index.add(vectors)
    build = time.perf_counter() - t0
    index.hnsw.efSearch = 64
    faiss.omp_set_num_threads(1)
    times, found = timed_queries(lambda q: index.search(q[None, :], k)[1][0], queries)
    return {"build_s": build, "bytes": faiss.serialize_index(index).nbytes, "times": times, "found": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1024, help="1024: BirdNET v2.4's embedding")
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--only", default="usearch-i8,usearch-f16,faiss-ivfpq,faiss-hnsw")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    t0 = time.perf_counter()
    vectors = make_vectors(args.n, args.dim, args.clusters)
    queries = vectors[np.random.default_rng(2).choice(args.n, args.queries, replace=False)] + \
        0.05 * np.random.default_rng(3).standard_normal((args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_top(vectors, queries, args.k)
    print(f"{args.n:,} vectors of {args.dim} and the exact answers in {time.perf_counter() - t0:.0f} s", flush=True)
    runs = {"usearch-i8": lambda: bench_usearch(vectors, queries, "i8", args.k),
            "usearch-f16": lambda: bench_usearch(vectors, queries, "f16", args.k),
            "faiss-ivfpq": lambda: bench_faiss_ivfpq(vectors, queries, args.k),
            "faiss-hnsw": lambda: bench_faiss_hnsw(vectors, queries, args.k)}
    results = []
    for name in args.only.split(","):
        r = runs[name]()
        times = sorted(r["times"])
        row = {"index": name, "n": args.n, "dim": args.dim, "build_vectors_per_s": round(args.n / r["build_s"]),
               "mib_per_million": round(r["bytes"] / 2**20 / (args.n / 1e6), 1),
               "gib_at_36m": round(r["bytes"] / 2**30 * 36e6 / args.n, 1),
               "query_ms_median": round(1000 * statistics.median(times), 2),
               "query_ms_p95": round(1000 * times[int(0.95 * (len(times) - 1))], 2),
               "recall_at_10": round(recall(r["found"], truth), 3)}
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results}, indent=1))


if __name__ == "__main__":
    main()
