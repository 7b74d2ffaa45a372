"""Metadata filters through FAISS IDSelectors, on Flat and HNSW, including fewer-than-k results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrieval import MetadataFilter, VectorIndex, placeholder_metadata


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(11)
    n_rows = 3000
    metadata = placeholder_metadata(n_rows, activities=rng.choice(["walking", "sitting", "lying", "cycling"], n_rows))
    metadata["subject"] = rng.integers(1, 9, n_rows)
    metadata["dataset"] = np.where(np.arange(n_rows) % 3 == 0, "hapt", "dsads")
    metadata["recording"] = [f"r{i % 40}" for i in range(n_rows)]
    return rng.standard_normal((n_rows, 16)), metadata, rng.standard_normal((20, 16))


# "hnsw-graph": parameters small enough that broad filters walk the graph with an IDSelector instead of
# falling back to an exact scan of the selected subset (which "hnsw" does at this size).
KINDS = {
    "flat": {"kind": "flat"},
    "hnsw": {"kind": "hnsw", "hnsw_ef_construction": 40},
    "hnsw-graph": {"kind": "hnsw", "hnsw_m": 16, "hnsw_ef_construction": 40, "hnsw_ef_search": 32},
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def index(request, reference) -> VectorIndex:
    vectors, metadata, _ = reference
    ids = np.arange(len(vectors)) + 10_000
    return VectorIndex(16, "cosine", **KINDS[request.param]).fit(vectors, metadata, ids=ids)


def test_graph_variant_really_walks_the_graph_with_a_selector(index, request):
    if request.node.callspec.params["index"] == "hnsw-graph":
        assert not index._exact_is_cheaper(n_selected=1300, k=15)
    if request.node.callspec.params["index"] == "hnsw":
        assert index._exact_is_cheaper(n_selected=1300, k=15)


def _exact_filtered_ids(reference, keep: np.ndarray, k: int) -> np.ndarray:
    vectors, _, queries = reference
    units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ units.T
    scores[:, ~keep] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k] + 10_000


def test_exclude_subject_and_only_activities_exclude_for_real(index, reference):
    _, metadata, queries = reference
    query_filter = MetadataFilter(exclude_subjects=[3, 5], only_activities=["walking", "lying"])
    result = index.search(queries, k=15, filter=query_filter)
    rows = index.metadata_.loc[result.ids.ravel()]
    assert result.valid.all()
    assert not rows["subject"].isin(["3", "5"]).any()
    assert set(rows["activity"]) == {"walking", "lying"}
    keep = ~metadata["subject"].isin([3, 5]).to_numpy() & metadata["activity"].isin(["walking", "lying"]).to_numpy()
    expected = _exact_filtered_ids(reference, keep, 15)
    overlap = np.mean([np.intersect1d(a, b).size / 15 for a, b in zip(result.ids, expected, strict=True)])
    assert overlap >= 0.98


def test_only_datasets_and_exclude_recordings_combine(index, reference):
    _, _, queries = reference
    result = index.search(queries, k=10, filter=MetadataFilter(only_datasets=["hapt"], exclude_recordings=["r0", "r3"]))
    rows = index.metadata_.loc[result.ids.ravel()]
    assert (rows["dataset"] == "hapt").all() and not rows["recording"].isin(["r0", "r3"]).any()


def test_selective_filter_still_finds_the_exact_neighbours(index, reference):
    _, metadata, queries = reference
    keep = (metadata["subject"].to_numpy() == 2) & (metadata["activity"].to_numpy() == "cycling")
    result = index.search(queries, k=5, filter=MetadataFilter(only_subjects=["2"], only_activities=["cycling"]))
    assert np.array_equal(result.ids, _exact_filtered_ids(reference, keep, 5))


def test_filter_leaving_fewer_than_k_pads_with_missing(index, reference):
    _, metadata, queries = reference
    allowed = metadata.index[(metadata["recording"] == "r7") & (metadata["activity"] == "sitting")]
    narrow = MetadataFilter(only_recordings=["r7"], only_activities=["sitting"])
    result = index.search(queries[:3], k=len(allowed) + 4, filter=narrow)
    assert result.valid.sum(axis=1).tolist() == [len(allowed)] * 3
    assert (result.ids[:, len(allowed):] == -1).all() and np.isnan(result.scores[:, len(allowed):]).all()
    assert set(result.ids[0, : len(allowed)] - 10_000) == set(allowed)
    hits = list(index.iter_hits(result))
    assert all(len(h) == len(allowed) for h in hits)
    assert all(hit.id >= 10_000 for h in hits for hit in h)


def test_filter_matching_nothing_returns_only_missing(index, reference):
    _, _, queries = reference
    result = index.search(queries[:2], k=3, filter=MetadataFilter(only_activities=["swimming"]))
    assert (result.ids == -1).all() and np.isnan(result.scores).all()
    assert list(index.iter_hits(result)) == [[], []]


def test_empty_filter_is_the_unfiltered_search(index, reference):
    _, _, queries = reference
    assert np.array_equal(index.search(queries, k=5, filter=MetadataFilter()).ids, index.search(queries, k=5).ids)


def test_narrowing_to_one_activity_respects_an_existing_allow_list():
    base = MetadataFilter(only_activities=["walking"], exclude_subjects=["1"])
    assert base.with_only_activity("walking").only_activities == ("walking",)
    assert base.with_only_activity("sitting").only_activities == ()
    assert MetadataFilter().with_only_activity("sitting").only_activities == ("sitting",)
    assert base.with_only_activity("sitting").exclude_subjects == ("1",)
