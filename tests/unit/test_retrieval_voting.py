"""kNN vote on single-index and fused results, and the strategy comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrieval import FusedResult, RetrievalError, SearchResult, compare_knn_strategies, knn_vote

LABELS = pd.Series({0: "a", 1: "b", 2: "b", 3: "c"})


def _result(ids, scores, metric="cosine") -> SearchResult:
    return SearchResult(ids=np.array(ids), scores=np.array(scores, dtype=np.float32), metric=metric)


def test_weightings_on_a_hand_example():
    result = _result([[0, 1, 2]], [[0.9, 0.5, 0.4]])
    predicted, shares = knn_vote(result, LABELS, 3, classes=["a", "b", "c"], weighting="uniform")
    assert predicted.tolist() == ["b"] and shares[0] == pytest.approx([1 / 3, 2 / 3, 0])
    predicted, shares = knn_vote(result, LABELS, 3, classes=["a", "b", "c"], weighting="rrf")
    a, b = 1 / 61, 1 / 62 + 1 / 63
    assert predicted.tolist() == ["b"] and shares[0] == pytest.approx([a / (a + b), b / (a + b), 0])
    predicted, shares = knn_vote(result, LABELS, 1, classes=["c", "b", "a"], weighting="uniform")
    assert predicted.tolist() == ["a"] and shares[0].tolist() == [0, 0, 1]


def test_similarity_weighting_and_ties_follow_class_order():
    result = _result([[0, 1, 2]], [[0.75, 0.5, 0.25]])  # a: 0.75, b: 0.5 + 0.25 — an exact tie
    assert knn_vote(result, LABELS, 3, classes=["a", "b"], weighting="similarity")[0].tolist() == ["a"]
    assert knn_vote(result, LABELS, 3, classes=["b", "a"], weighting="similarity")[0].tolist() == ["b"]
    l2 = _result([[3, 0]], [[-1.0, -3.0]], metric="l2")  # weights 1/(1+1), 1/(1+3)
    _, shares = knn_vote(l2, LABELS, 2, classes=["a", "c"], weighting="similarity")
    assert shares[0] == pytest.approx([0.25 / 0.75, 0.5 / 0.75])
    negative = _result([[0]], [[-0.2]])
    with pytest.raises(RetrievalError, match="no positive vote weight"):
        knn_vote(negative, LABELS, 1, classes=["a"], weighting="similarity")


def test_missing_slots_are_masked_not_looked_up():
    result = _result([[3, -1, -1], [1, 0, -1]], [[0.5, np.nan, np.nan], [0.9, 0.8, np.nan]])
    predicted, shares = knn_vote(result, LABELS, 3, classes=["a", "b", "c"], weighting="uniform")
    assert predicted.tolist() == ["c", "a"]
    assert shares[0].tolist() == [0, 0, 1] and shares[1] == pytest.approx([0.5, 0.5, 0])
    empty = _result([[-1, -1]], [[np.nan, np.nan]])
    with pytest.raises(RetrievalError, match=r"queries \[0\] have no neighbours"):
        knn_vote(empty, LABELS, 2, classes=["a"])


def test_fused_results_vote_with_their_rrf_scores():
    fused = FusedResult(
        ids=np.array([[1, 0]]),
        scores=np.array([[0.02, 0.03]]),  # deliberately not sorted, to show the scores (not ranks) are used
        placements=("torso",),
        placement_ranks=np.array([[[1], [2]]]),
        placement_scores=np.array([[[0.9], [0.8]]]),
        metric="cosine",
        k_rrf=60,
        depth=2,
    )
    predicted, shares = knn_vote(fused, LABELS, 2, classes=["a", "b"], weighting="rrf")
    assert predicted.tolist() == ["a"] and shares[0] == pytest.approx([0.6, 0.4])


def test_labels_must_be_known_and_in_classes():
    result = _result([[0, 7]], [[0.9, 0.8]])
    with pytest.raises(RetrievalError, match=r"no reference label for ids \[7\]"):
        knn_vote(result, LABELS, 2, classes=["a"])
    with pytest.raises(RetrievalError, match=r"labels \['b'\] are not in classes"):
        knn_vote(_result([[0, 1]], [[0.9, 0.8]]), LABELS, 2, classes=["a"])
    with pytest.raises(RetrievalError, match="holds only 2 neighbours"):
        knn_vote(result, LABELS, 3, classes=["a"])


def test_compare_strategies_on_separable_placements():
    rng = np.random.default_rng(9)
    centres = {"torso": rng.standard_normal((3, 16)) * 3, "wrist": rng.standard_normal((3, 16)) * 3}
    labels = np.repeat(["lying", "sitting", "walking"], 40)
    codes = np.repeat([0, 1, 2], 40)
    reference = {p: c[codes] + rng.standard_normal((120, 16)) * 0.5 for p, c in centres.items()}
    query_codes = np.array([2, 0, 1, 1, 0, 2])
    queries = {p: c[query_codes] + rng.standard_normal((6, 16)) * 0.5 for p, c in centres.items()}
    query_labels = np.array(["lying", "sitting", "walking"])[query_codes]
    comparison = compare_knn_strategies(reference, labels, queries, query_labels, k=5)
    assert set(comparison.strategies) == {"rrf", "fused_embedding", "placement:torso", "placement:wrist"}
    for score in comparison.strategies.values():
        assert score.macro_f1 == 1.0 and score.predictions == query_labels.tolist()
    assert comparison.classes == ["lying", "sitting", "walking"] and comparison.n_reference == 120
    features = compare_knn_strategies(
        reference,
        labels,
        queries,
        query_labels,
        k=5,
        metric="l2",
        fusion="concat_raw",
        weighting="uniform",
        per_placement=False,
    )
    assert set(features.strategies) == {"rrf", "fused_embedding"}
    assert features.strategies["fused_embedding"].macro_f1 == 1.0


def test_compare_strategies_reports_errors_as_zero_f1_classes():
    rng = np.random.default_rng(1)
    reference = {"torso": rng.standard_normal((20, 4))}
    labels = np.array(["a"] * 10 + ["b"] * 10)
    queries = {"torso": reference["torso"][[0, 1]]}
    comparison = compare_knn_strategies(reference, labels, queries, np.array(["b", "b"]), k=1)
    rrf = comparison.strategies["rrf"]
    assert rrf.predictions == ["a", "a"] and rrf.macro_f1 == 0.0 and rrf.accuracy == 0.0
