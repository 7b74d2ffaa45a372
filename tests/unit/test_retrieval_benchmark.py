"""The scale benchmark's record format, at a tiny size (the real run is never part of the test suite)."""

from __future__ import annotations

import json

import faiss

from benchmarks.retrieval_scale import main, run_retrieval_scale

KEYS = {"protocol", "system", "n_vectors", "dim", "recall_at_10", "p50_ms", "p99_ms", "build_s"}
KEYS |= {"hnsw_m", "hnsw_ef_construction", "hnsw_ef_search"}


def test_records_have_the_protocol_format():
    threads = faiss.omp_get_max_threads()
    records = run_retrieval_scale(
        sizes=(2000,), dim=16, n_queries=30, progress=False, hnsw_ef_construction=40, n_warmup=5, build_threads=1
    )
    assert faiss.omp_get_max_threads() == threads
    assert [r["system"] for r in records] == ["exact", "hnsw"]
    for record in records:
        assert KEYS <= set(record) and record["protocol"] == "retrieval-scale"
        assert record["n_vectors"] == 2000 and record["dim"] == 16
        assert 0 < record["p50_ms"] <= record["p99_ms"] and record["build_s"] > 0
    exact, hnsw = records
    assert exact["recall_at_10"] == 1.0 and exact["hnsw_m"] is None
    assert 0.9 <= hnsw["recall_at_10"] <= 1.0 and hnsw["hnsw_ef_construction"] == 40


def test_main_writes_json(tmp_path):
    output = tmp_path / "out" / "scale.json"
    main([str(output), "--sizes", "500", "--dim", "8", "--n-queries", "10"])
    records = json.loads(output.read_text())
    assert [r["system"] for r in records] == ["exact", "hnsw"] and records[0]["n_vectors"] == 500


def test_subspace_distribution_is_recorded_and_easier_than_random():
    common = {"sizes": (2000,), "dim": 16, "n_queries": 30, "progress": False, "n_warmup": 2, "build_threads": 1}
    params = {"hnsw_m": 8, "hnsw_ef_construction": 16, "hnsw_ef_search": 10}
    random_hnsw = run_retrieval_scale(**common, **params)[1]
    subspace_hnsw = run_retrieval_scale(**common, **params, distribution="subspace", intrinsic_dim=3)[1]
    assert random_hnsw["distribution"] == "random" and subspace_hnsw["distribution"] == "subspace-3"
    assert subspace_hnsw["recall_at_10"] > random_hnsw["recall_at_10"]
