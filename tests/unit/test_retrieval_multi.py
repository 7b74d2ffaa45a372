"""Reciprocal-rank fusion, multi-placement search and the fused-embedding alternative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import (
    FusedEmbeddingIndex,
    MetadataFilter,
    MultiPlacementIndex,
    RetrievalError,
    fuse_embeddings,
    placeholder_metadata,
    reciprocal_rank_fusion,
)


def test_rrf_matches_a_hand_computed_example():
    torso = np.array([[10, 20, 30]])
    wrist = np.array([[20, 40, 10]])
    ids, scores, ranks = reciprocal_rank_fusion([torso, wrist], k=4, k_rrf=60)
    # 20: 1/62 + 1/61, 10: 1/61 + 1/63, 40: 1/62, 30: 1/63
    assert ids.tolist() == [[20, 10, 40, 30]]
    np.testing.assert_allclose(scores[0], [1 / 62 + 1 / 61, 1 / 61 + 1 / 63, 1 / 62, 1 / 63], rtol=1e-15)
    assert ranks[0].tolist() == [[2, 1], [1, 3], [0, 2], [3, 0]]


def test_rrf_skips_missing_slots_pads_and_breaks_ties_by_id():
    first = np.array([[7, 3, -1], [-1, -1, -1]])
    second = np.array([[3, 7, -1], [-1, -1, -1]])
    ids, scores, ranks = reciprocal_rank_fusion([first, second], k=3)
    assert ids.tolist() == [[3, 7, -1], [-1, -1, -1]]
    assert scores[0, 0] == scores[0, 1] == 1 / 61 + 1 / 62
    assert np.isnan(scores[0, 2]) and np.isnan(scores[1]).all() and (ranks[1] == 0).all()


def test_rrf_constant_changes_the_fusion():
    a, b = np.array([[1, 2, 3, 4]]), np.array([[4, 5, 6, 1]])
    assert reciprocal_rank_fusion([a, b], k=1, k_rrf=60)[0][0, 0] == 1
    assert reciprocal_rank_fusion([a, b], k=1, k_rrf=1)[0][0, 0] == 1
    assert reciprocal_rank_fusion([np.array([[2, 9]]), np.array([[9, 3]])], k=1, k_rrf=1)[0][0, 0] == 9


ranked_lists = st.integers(1, 4).flatmap(
    lambda n_lists: st.lists(
        st.lists(st.permutations(list(range(12))).map(lambda p: p[:6]), min_size=2, max_size=2),
        min_size=n_lists,
        max_size=n_lists,
    )
)


@settings(max_examples=60, deadline=None)
@given(lists=ranked_lists, order_seed=st.integers(0, 1000), k=st.integers(1, 12))
def test_rrf_does_not_depend_on_placement_order(lists, order_seed, k):
    arrays = [np.array(x) for x in lists]
    order = np.random.default_rng(order_seed).permutation(len(arrays))
    ids, scores, ranks = reciprocal_rank_fusion(arrays, k=k)
    ids_p, scores_p, ranks_p = reciprocal_rank_fusion([arrays[i] for i in order], k=k)
    assert np.array_equal(ids, ids_p)
    assert np.array_equal(scores, scores_p, equal_nan=True)
    assert np.array_equal(ranks[..., order], ranks_p)
    assert np.all(np.diff(np.nan_to_num(scores, nan=-1.0), axis=1) <= 0)


@settings(max_examples=40, deadline=None)
@given(lists=ranked_lists, k=st.integers(1, 6))
def test_rrf_scores_equal_the_definition(lists, k):
    arrays = [np.array(x) for x in lists]
    ids, scores, _ = reciprocal_rank_fusion(arrays, k=k, k_rrf=60)
    for query in range(2):
        for slot in range(k):
            if ids[query, slot] >= 0:
                found = ids[query, slot]
                expected = sum(1 / (60 + list(a[query]).index(found) + 1) for a in arrays if found in a[query])
                assert scores[query, slot] == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def windows() -> tuple[dict[str, np.ndarray], pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(2)
    metadata = placeholder_metadata(400, activities=rng.choice(["walking", "sitting", "lying"], 400))
    metadata["subject"] = rng.integers(1, 5, 400)
    vectors = {"torso": rng.standard_normal((400, 8)), "wrist_right": rng.standard_normal((400, 6))}
    queries = {"torso": rng.standard_normal((5, 8)), "wrist_right": rng.standard_normal((5, 6))}
    return vectors, metadata, queries


def _multi(vectors, metadata, **kwargs) -> MultiPlacementIndex:
    multi = MultiPlacementIndex(["torso", "wrist_right"], {"torso": 8, "wrist_right": 6}, **kwargs)
    return multi.fit(vectors, metadata)


def test_multi_search_fuses_the_placement_lists(windows):
    vectors, metadata, queries = windows
    multi = _multi(vectors, metadata)
    result = multi.search(queries, k=10, depth=40)
    per_placement = [multi.indexes_[p].search(queries[p], 40).ids for p in ("torso", "wrist_right")]
    expected_ids, expected_scores, _ = reciprocal_rank_fusion(per_placement, k=10)
    assert result.placements == ("torso", "wrist_right") and result.depth == 40
    assert np.array_equal(result.ids, expected_ids) and np.array_equal(result.scores, expected_scores)
    units = {p: v / np.linalg.norm(v, axis=1, keepdims=True) for p, v in vectors.items()}
    query_units = {p: v / np.linalg.norm(v, axis=1, keepdims=True) for p, v in queries.items()}
    exact = units["wrist_right"][result.ids[2]] @ query_units["wrist_right"][2]
    np.testing.assert_allclose(result.placement_scores[2, :, 1], exact, rtol=1e-5)
    np.testing.assert_allclose(result.similarities, result.placement_scores.mean(axis=-1), rtol=1e-6)
    hit = next(multi.iter_hits(result))[0]
    assert hit.placement is None and set(hit.placements) == {"torso", "wrist_right"}
    assert hit.placements["torso"].rank == (int(result.placement_ranks[0, 0, 0]) or None)


def test_query_dict_order_does_not_matter(windows):
    vectors, metadata, queries = windows
    multi = _multi(vectors, metadata)
    forward = multi.search(queries, k=7)
    backward = multi.search(dict(reversed(list(queries.items()))), k=7)
    assert np.array_equal(forward.ids, backward.ids) and np.array_equal(forward.scores, backward.scores)


def test_a_single_present_placement_ranks_like_its_own_index(windows):
    vectors, metadata, queries = windows
    multi = _multi(vectors, metadata)
    result = multi.search({"torso": queries["torso"]}, k=5)
    assert np.array_equal(result.ids, multi.indexes_["torso"].search(queries["torso"], 5).ids)
    assert result.placements == ("torso",)


def test_filters_apply_to_every_placement(windows):
    vectors, metadata, queries = windows
    result = _multi(vectors, metadata).search(queries, k=10, filter=MetadataFilter(exclude_subjects=["1", "2"]))
    assert not metadata.loc[result.ids.ravel(), "subject"].isin([1, 2]).any()


def test_windows_missing_a_placement_have_nan_scores_there(windows):
    vectors, metadata, queries = windows
    multi = MultiPlacementIndex(["torso", "wrist_right"], {"torso": 8, "wrist_right": 6})
    multi.add({p: v[:300] for p, v in vectors.items()}, metadata.iloc[:300])
    torso_only = multi.add({"torso": vectors["torso"][300:]}, metadata.iloc[300:])
    assert torso_only.tolist() == list(range(300, 400))
    assert len(multi) == 400 and len(multi.indexes_["wrist_right"]) == 300
    assert multi.metadata_.loc[350, "placement"] == "torso"
    result = multi.search({"torso": vectors["torso"][[350]], "wrist_right": queries["wrist_right"][:1]}, k=50)
    slot = result.ids[0].tolist().index(350)
    assert result.placement_ranks[0, slot].tolist() == [1, 0]
    assert result.scores[0, slot] == pytest.approx(1 / 61)
    assert np.isnan(result.placement_scores[0, slot, 1]) and result.placement_scores[0, slot, 0] == pytest.approx(1.0)
    assert result.similarities[0, slot] == pytest.approx(1.0)


def test_bad_placement_inputs_are_explained(windows):
    vectors, metadata, queries = windows
    multi = _multi(vectors, metadata)
    with pytest.raises(RetrievalError, match=r"placements \['ankle'\] that this index does not have"):
        multi.search({"ankle": queries["torso"]})
    with pytest.raises(RetrievalError, match="different row counts"):
        multi.search({"torso": queries["torso"], "wrist_right": queries["wrist_right"][:2]})
    with pytest.raises(RetrievalError, match="unique and made of letters"):
        MultiPlacementIndex(["torso", "../x"], 8).fit(vectors, metadata)
    with pytest.raises(RetrievalError, match="depth 3 is smaller than k 5"):
        multi.search(queries, k=5, depth=3)


def test_fuse_embeddings_gives_unit_vectors_independent_of_dict_order():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    mean = fuse_embeddings({"a": a, "b": b}, "mean")
    assert np.array_equal(mean, fuse_embeddings({"b": b, "a": a}, "mean"))
    np.testing.assert_allclose(np.linalg.norm(mean, axis=1), 1.0, rtol=1e-6)
    unit_a, unit_b = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (a, b))
    summed = unit_a + unit_b
    np.testing.assert_allclose(mean, summed / np.linalg.norm(summed, axis=1, keepdims=True), rtol=1e-5)
    concat = fuse_embeddings({"b": b, "a": a}, "concat")
    np.testing.assert_allclose(concat, np.hstack([unit_a, unit_b]) / np.sqrt(2), rtol=1e-6)
    assert fuse_embeddings({"a": a, "b": b[:, :2]}, "concat_raw").shape == (4, 5)
    with pytest.raises(RetrievalError, match="needs equal dimensions"):
        fuse_embeddings({"a": a, "b": b[:, :2]}, "mean")


def test_fused_embedding_index_has_the_same_call_shape(windows):
    vectors, metadata, queries = windows
    fused = FusedEmbeddingIndex(["torso", "wrist_right"], "concat").fit(vectors, metadata)
    result = fused.search(queries, k=4)
    expected = fuse_embeddings(vectors, "concat") @ fuse_embeddings(queries, "concat")[0]
    assert result.ids[0].tolist() == np.argsort(-expected)[:4].tolist()
    with pytest.raises(RetrievalError, match="needs exactly"):
        fused.search({"torso": queries["torso"]})
