"""Retrieval scale benchmark: exact (Flat) vs HNSW at harlens' defaults, on seeded random unit vectors.

Protocol "retrieval-scale", per size N:
- reference: N random unit vectors of dimension `dim`; queries: `n_queries` *other* random unit vectors.
  Random high-dimensional vectors have no structure at all: the 10 nearest neighbours are barely closer than
  any other vector and the neighbours of a neighbour are not near the query, so every index has to visit a
  large share of the data for high recall. This is the worst case for HNSW, a floor rather than a forecast.
  `distribution="subspace"` instead draws vectors from a random `intrinsic_dim`-dimensional subspace,
  normalised (a stand-in for learned embeddings, which lie near a low-dimensional manifold); the record
  says which distribution was used.
- build_s: wall time of `VectorIndex.fit` (metadata validation included) with `build_threads` OpenMP threads.
- p50_ms / p99_ms: queries sent ONE AT A TIME through `VectorIndex.search` (input checks and normalisation
  included), after `n_warmup` untimed warm-up queries, with `faiss.omp_set_num_threads(query_threads)`
  (default 1). FAISS parallelises over the queries of a batch, so a single query runs on one thread anyway;
  pinning the count keeps OpenMP start-up from distorting the timings and makes them reproducible.
- recall_at_10: |HNSW top-10 ∩ exact top-10| / 10, averaged over queries (1.0 for exact by definition).

Run: `python -m benchmarks.retrieval_scale results.json [--sizes 10000 100000 1000000]`.
Latency depends on the machine and on what else runs on it; report figures with that caveat.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from retrieval.index import DEFAULT_HNSW_EF_CONSTRUCTION, DEFAULT_HNSW_EF_SEARCH, DEFAULT_HNSW_M, VectorIndex
from retrieval.metadata import placeholder_metadata

logger = logging.getLogger(__name__)

PROTOCOL = "retrieval-scale"
K = 10
Distribution = Literal["random", "subspace"]


def run_retrieval_scale(
    sizes: Sequence[int] = (10_000, 100_000, 1_000_000),
    dim: int = 128,
    n_queries: int = 1000,
    seed: int = 0,
    progress: bool = True,
    *,
    hnsw_m: int = DEFAULT_HNSW_M,
    hnsw_ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION,
    hnsw_ef_search: int = DEFAULT_HNSW_EF_SEARCH,
    build_threads: int = 2,
    query_threads: int = 1,
    n_warmup: int = 50,
    distribution: Distribution = "random",
    intrinsic_dim: int = 16,
) -> list[dict]:
    """One record per (size, system) with build time, single-query latency percentiles and recall@10."""
    previous_threads = faiss.omp_get_max_threads()
    records: list[dict] = []
    try:
        for n_vectors in sizes:
            rng = np.random.default_rng([seed, n_vectors])
            basis = rng.standard_normal((intrinsic_dim, dim), dtype=np.float32) if distribution == "subspace" else None
            reference = _unit_vectors(rng, n_vectors, dim, basis)
            queries = _unit_vectors(rng, n_queries, dim, basis)
            settings = {
                "dim": dim,
                "n_queries": n_queries,
                "build_threads": build_threads,
                "query_threads": query_threads,
                "distribution": distribution if basis is None else f"subspace-{intrinsic_dim}",
            }
            _say(progress, f"N={n_vectors:,}: exact")
            exact = VectorIndex(dim, "cosine", "flat")
            exact_record, exact_ids = _measure(exact, reference, queries, None, n_warmup, settings)
            records.append(exact_record)
            del exact
            _say(progress, f"N={n_vectors:,}: hnsw (M={hnsw_m}, efC={hnsw_ef_construction}, efS={hnsw_ef_search})")
            hnsw = VectorIndex(
                dim,
                "cosine",
                "hnsw",
                hnsw_m=hnsw_m,
                hnsw_ef_construction=hnsw_ef_construction,
                hnsw_ef_search=hnsw_ef_search,
            )
            hnsw_record, _ = _measure(hnsw, reference, queries, exact_ids, n_warmup, settings)
            records.append(hnsw_record)
            _say(progress, f"  {_row(exact_record)}\n  {_row(hnsw_record)}")
    finally:
        faiss.omp_set_num_threads(previous_threads)
    return records


def _unit_vectors(rng: np.random.Generator, n_rows: int, dim: int, basis: np.ndarray | None) -> np.ndarray:
    """Isotropic random unit vectors, or (with a basis) random unit vectors within the basis' span."""
    if basis is None:
        vectors = rng.standard_normal((n_rows, dim), dtype=np.float32)
    else:
        vectors = rng.standard_normal((n_rows, basis.shape[0]), dtype=np.float32) @ basis
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _measure(
    index: VectorIndex,
    reference: np.ndarray,
    queries: np.ndarray,
    exact_ids: np.ndarray | None,
    n_warmup: int,
    settings: dict,
) -> tuple[dict, np.ndarray]:
    """Build, time single queries, and score recall against `exact_ids` (None: this index is the exact one)."""
    metadata = placeholder_metadata(len(reference))
    faiss.omp_set_num_threads(settings["build_threads"])
    started = time.perf_counter()
    index.fit(reference, metadata)
    build_s = time.perf_counter() - started
    batched_ids = index.search(queries, K).ids
    faiss.omp_set_num_threads(settings["query_threads"])
    latencies_ms = _single_query_latencies_ms(index, queries, n_warmup)
    recall = 1.0 if exact_ids is None else _recall_at_k(batched_ids, exact_ids)
    hnsw = index.kind_ == "hnsw"
    record = {
        "protocol": PROTOCOL,
        "system": "hnsw" if hnsw else "exact",
        "n_vectors": len(reference),
        "dim": settings["dim"],
        "recall_at_10": round(float(recall), 4),
        "p50_ms": round(float(np.percentile(latencies_ms, 50)), 4),
        "p99_ms": round(float(np.percentile(latencies_ms, 99)), 4),
        "build_s": round(build_s, 3),
        "hnsw_m": index.hnsw_m if hnsw else None,
        "hnsw_ef_construction": index.hnsw_ef_construction if hnsw else None,
        "hnsw_ef_search": index.hnsw_ef_search if hnsw else None,
        "distribution": settings["distribution"],
        "n_queries": settings["n_queries"],
        "build_threads": settings["build_threads"],
        "query_threads": settings["query_threads"],
        "faiss_version": faiss.__version__,
    }
    return record, batched_ids


def _single_query_latencies_ms(index: VectorIndex, queries: np.ndarray, n_warmup: int) -> np.ndarray:
    for row in range(min(n_warmup, len(queries))):
        index.search(queries[row : row + 1], K)
    latencies = np.empty(len(queries))
    for row in range(len(queries)):
        started = time.perf_counter()
        index.search(queries[row : row + 1], K)
        latencies[row] = time.perf_counter() - started
    return latencies * 1e3


def _recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [np.intersect1d(f[f >= 0], t).size for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits) / truth.shape[1])


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _row(record: dict) -> str:
    return (
        f"{record['system']:>5}  N={record['n_vectors']:>9,}  recall@10={record['recall_at_10']:.4f}  "
        f"p50={record['p50_ms']:8.3f} ms  p99={record['p99_ms']:8.3f} ms  build={record['build_s']:8.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="JSON file for the records")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--n-queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distribution", choices=["random", "subspace"], default="random")
    parser.add_argument("--intrinsic-dim", type=int, default=16)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    records = run_retrieval_scale(
        args.sizes,
        args.dim,
        args.n_queries,
        args.seed,
        distribution=args.distribution,
        intrinsic_dim=args.intrinsic_dim,
    )
    print("\n".join(_row(record) for record in records))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(records, indent=2), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
