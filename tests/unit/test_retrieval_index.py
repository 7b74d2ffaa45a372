"""VectorIndex: metrics, input checks, ids, kinds and hits — on real FAISS indexes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import retrieval.index as index_module
from retrieval import MetadataFilter, RetrievalError, VectorIndex, placeholder_metadata


def _metadata(n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = placeholder_metadata(n_rows, activities=rng.choice(["walking", "sitting", "lying"], n_rows))
    frame["subject"] = rng.integers(1, 5, n_rows)
    frame["recording"] = [f"rec{i // 50}" for i in range(n_rows)]
    frame["start_s"] = np.arange(n_rows) * 2.5
    return frame


@pytest.fixture
def data() -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(7)
    return rng.standard_normal((300, 12)), _metadata(300, rng)


def test_cosine_scores_are_cosine_similarities_and_scale_free(data):
    vectors, metadata = data
    index = VectorIndex(12, "cosine", "flat").fit(vectors * np.linspace(0.1, 50, 300)[:, None], metadata)
    query = vectors[:2] * 1000.0
    result = index.search(query, k=5)
    stored = vectors[result.ids[0]]
    expected = stored @ vectors[0] / (np.linalg.norm(stored, axis=1) * np.linalg.norm(vectors[0]))
    assert result.ids[0, 0] == 0 and result.ids[1, 0] == 1
    np.testing.assert_allclose(result.scores[0], expected, rtol=1e-5)
    assert np.all(np.diff(result.scores, axis=1) <= 1e-7)


def test_inner_product_is_not_normalised(data):
    vectors, metadata = data
    index = VectorIndex(12, "ip", "flat").fit(vectors, metadata)
    result = index.search(vectors[:1] * 2.0, k=3)
    np.testing.assert_allclose(result.scores[0], (vectors[result.ids[0]] @ (vectors[0] * 2.0)), rtol=1e-5)
    assert result.scores[0, 0] == pytest.approx(np.max(vectors @ (vectors[0] * 2.0)), rel=1e-5)


def test_l2_scores_are_negated_squared_distances(data):
    vectors, metadata = data
    index = VectorIndex(12, "l2", "flat").fit(vectors, metadata)
    query = vectors[:1] + 0.01
    result = index.search(query, k=4)
    expected = -np.sum((vectors[result.ids[0]] - query) ** 2, axis=1)
    np.testing.assert_allclose(result.scores[0], expected, rtol=1e-4)
    assert result.ids[0, 0] == 0 and np.all(result.scores <= 0)


def test_float64_and_non_contiguous_inputs_are_accepted(data):
    vectors, metadata = data
    index = VectorIndex(12, "cosine", "flat").fit(np.asfortranarray(vectors), metadata)
    result = index.search(vectors[::-1][:3], k=1)
    assert result.ids[:, 0].tolist() == [299, 298, 297]
    assert result.ids.dtype == np.int64 and result.scores.dtype == np.float32


def test_wrong_dimension_is_refused_at_add_and_search(data):
    vectors, metadata = data
    index = VectorIndex(12).fit(vectors, metadata)
    with pytest.raises(RetrievalError, match="dimension 11 but the index has dimension 12"):
        index.search(vectors[:, :11], k=1)
    with pytest.raises(RetrievalError, match="dimension 13"):
        index.add(np.hstack([vectors[:2], vectors[:2, :1]]), metadata.iloc[:2])
    with pytest.raises(RetrievalError, match="2-D array"):
        index.search(vectors[0], k=1)
    with pytest.raises(RetrievalError, match=r"prepared rows must be C-contiguous float32 \(n, 12\)"):
        index.search_prepared(vectors[:2], k=1)
    assert len(index) == 300


def test_non_finite_rows_are_named(data):
    vectors, metadata = data
    bad = vectors.copy()
    bad[3, 0] = np.nan
    bad[17, 5] = np.inf
    with pytest.raises(RetrievalError, match=r"rows \[3, 17\]"):
        VectorIndex(12).fit(bad, metadata)
    huge = vectors.copy()
    huge[8, 1] = 1e300
    with pytest.raises(RetrievalError, match=r"rows \[8\]"):
        VectorIndex(12, "l2").fit(huge, metadata)


def test_zero_norm_rows_rejected_for_cosine_only(data):
    vectors, metadata = data
    vectors = vectors.copy()
    vectors[[4, 9]] = 0.0
    with pytest.raises(RetrievalError, match=r"zero norm .* rows \[4, 9\]"):
        VectorIndex(12, "cosine").fit(vectors, metadata)
    with pytest.raises(RetrievalError, match=r"zero norm .* rows \[0\]"):
        VectorIndex(12, "cosine").fit(data[0], metadata).search(np.zeros((1, 12)), k=1)
    assert len(VectorIndex(12, "l2").fit(vectors, metadata)) == 300


def test_ids_given_sequential_and_duplicates_refused(data):
    vectors, metadata = data
    index = VectorIndex(12, kind="flat")
    given = np.arange(1000, 1100)
    assert np.array_equal(index.add(vectors[:100], metadata.iloc[:100], ids=given), given)
    assert np.array_equal(index.add(vectors[100:110], metadata.iloc[100:110]), np.arange(1100, 1110))
    with pytest.raises(RetrievalError, match=r"ids \[1005\] are already in the index"):
        index.add(vectors[:1], metadata.iloc[:1], ids=[1005])
    with pytest.raises(RetrievalError, match=r"ids \[7\] appear more than once"):
        index.add(vectors[:2], metadata.iloc[:2], ids=[7, 7])
    with pytest.raises(RetrievalError, match="non-negative"):
        index.add(vectors[:1], metadata.iloc[:1], ids=[-1])
    assert len(index) == 110
    assert index.search(vectors[105:106], k=1).ids[0, 0] == 1105
    assert index.metadata_.index.tolist()[:2] == [1000, 1001]


def test_metadata_is_validated_and_keyed_by_id(data):
    vectors, metadata = data
    with pytest.raises(RetrievalError, match=r"lacks required columns \['placement'\]"):
        VectorIndex(12).fit(vectors, metadata.drop(columns="placement"))
    with pytest.raises(RetrievalError, match="299 rows but there are 300 vectors"):
        VectorIndex(12).fit(vectors, metadata.iloc[1:])
    broken = metadata.copy()
    broken.loc[5, "activity"] = None
    with pytest.raises(RetrievalError, match=r"'activity' is empty at rows \[5\]"):
        VectorIndex(12).fit(vectors, broken)
    index = VectorIndex(12).fit(vectors, metadata.assign(cadence_hz=np.arange(300) / 10))
    assert index.metadata_.loc[42, "subject"] == str(metadata.loc[42, "subject"])
    assert index.metadata_.loc[42, "cadence_hz"] == pytest.approx(4.2)


def test_hnsw_agrees_with_flat_on_a_small_set():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2000, 16))
    metadata = placeholder_metadata(2000)
    queries = rng.standard_normal((50, 16))
    flat = VectorIndex(16, "cosine", "flat").fit(vectors, metadata).search(queries, k=10)
    hnsw = VectorIndex(16, "cosine", "hnsw", hnsw_ef_construction=64).fit(vectors, metadata).search(queries, k=10)
    overlap = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(flat.ids, hnsw.ids, strict=True)])
    assert overlap >= 0.99
    same = flat.ids == hnsw.ids
    np.testing.assert_allclose(flat.scores[same], hnsw.scores[same], rtol=1e-5)


def test_auto_is_exact_below_threshold_and_switches_to_hnsw_when_reached(data, monkeypatch):
    vectors, metadata = data
    assert index_module.EXACT_SEARCH_MAX_VECTORS == 200_000
    monkeypatch.setattr(index_module, "EXACT_SEARCH_MAX_VECTORS", 250)
    index = VectorIndex(12, "cosine", "auto").fit(vectors[:200], metadata.iloc[:200])
    assert index.kind_ == "flat"
    before = index.search(vectors[:5], k=3)
    index.add(vectors[200:], metadata.iloc[200:])
    assert index.kind_ == "hnsw" and len(index) == 300
    assert np.array_equal(index.ids_, np.arange(300))
    after = index.search(vectors[:5], k=1)
    assert np.array_equal(after.ids[:, 0], before.ids[:, 0])
    assert VectorIndex(12, "cosine", "auto").fit(vectors[:260], metadata.iloc[:260]).kind_ == "hnsw"


def test_reconstruct_returns_stored_unit_vectors(data):
    vectors, metadata = data
    index = VectorIndex(12, "cosine").fit(vectors, metadata, ids=np.arange(300) * 3)
    stored = index.reconstruct([0, 30])
    expected = vectors[[0, 10]] / np.linalg.norm(vectors[[0, 10]], axis=1, keepdims=True)
    np.testing.assert_allclose(stored, expected, rtol=1e-5)
    with pytest.raises(RetrievalError, match=r"ids \[1\] are not in the index"):
        index.reconstruct([1])


def test_hits_join_metadata(data):
    vectors, metadata = data
    index = VectorIndex(12).fit(vectors, metadata.assign(quality=np.arange(300) % 3), ids=np.arange(300) + 500)
    result = index.search(vectors[[10, 20]], k=3)
    hits = list(index.iter_hits(result))
    assert [len(h) for h in hits] == [3, 3]
    first = hits[1][0]
    assert first.id == 520 and first.rank == 1 and first.query == 1
    assert first.activity == metadata.loc[20, "activity"] and first.start_s == pytest.approx(50.0)
    assert first.extra == {"quality": 20 % 3}
    assert first.model_dump_json()


def test_unfitted_and_bad_parameters_are_explained(data):
    vectors, metadata = data
    with pytest.raises(RetrievalError, match="the index is empty"):
        VectorIndex(12).search(vectors[:1])
    with pytest.raises(RetrievalError, match="unknown metric 'cos'"):
        VectorIndex(12, "cos").fit(vectors, metadata)
    with pytest.raises(RetrievalError, match="k must be a positive int"):
        VectorIndex(12).fit(vectors, metadata).search(vectors[:1], k=0)
    with pytest.raises(RetrievalError, match="invalid HNSW parameters"):
        VectorIndex(12, kind="hnsw", hnsw_m=1).fit(vectors, metadata)


def test_k_larger_than_index_pads_with_missing(data):
    vectors, metadata = data
    index = VectorIndex(12).fit(vectors[:4], metadata.iloc[:4])
    result = index.search(vectors[:1], k=6)
    assert result.ids[0, 4:].tolist() == [-1, -1]
    assert np.isnan(result.scores[0, 4:]).all() and result.valid.sum() == 4
    assert [len(h) for h in index.iter_hits(result)] == [4]


def test_filter_model_rejects_a_bare_string():
    with pytest.raises(ValueError, match="not the single string"):
        MetadataFilter(only_activities="walking")
