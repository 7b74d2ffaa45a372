"""FeatureNeighbours: robust scaling, votes, missing values, persistence (real FAISS, real files)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.errors import RetrievalError
from retrieval.feature_neighbours import FeatureNeighbours


def _two_clusters(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Feature 0 separates the classes in small units; feature 1 is noise a thousand times larger."""
    a = np.column_stack([rng.normal(0.0, 0.01, 50), rng.normal(0.0, 1000.0, 50)])
    b = np.column_stack([rng.normal(0.1, 0.01, 50), rng.normal(0.0, 1000.0, 50)])
    return np.vstack([a, b]), ["a"] * 50 + ["b"] * 50


def test_scaling_lets_a_small_unit_feature_decide_over_a_large_noisy_one():
    rng = np.random.default_rng(0)
    features, labels = _two_clusters(rng)
    neighbours = FeatureNeighbours(k=5).fit(features, labels)
    queries = np.array([[0.0, 500.0], [0.1, -500.0]])
    shares = neighbours.vote_shares(queries, ["a", "b"])
    assert shares.shape == (2, 2) and shares.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert shares[0, 0] >= 0.8 and shares[1, 1] >= 0.8


def test_missing_values_and_constant_features_add_nothing_to_the_distance():
    rng = np.random.default_rng(1)
    features, labels = _two_clusters(rng)
    features = np.column_stack([features, np.full(len(features), 3.0)])  # no spread
    neighbours = FeatureNeighbours(k=5).fit(features, labels)
    scaled = neighbours.transform(np.array([[np.nan, np.nan, 99.0]]))
    assert scaled.tolist() == [[0.0, 0.0, 0.0]]
    assert np.abs(neighbours.transform(np.array([[1e9, 0.0, 3.0]]))).max() == neighbours.clip


def test_save_and_load_give_the_same_votes(tmp_path):
    rng = np.random.default_rng(2)
    features, labels = _two_clusters(rng)
    neighbours = FeatureNeighbours(k=7).fit(features, labels)
    queries = features[::9] + rng.normal(0, 0.01, features[::9].shape)
    neighbours.save(tmp_path / "near")
    loaded = FeatureNeighbours.load(tmp_path / "near")
    assert loaded.k == 7
    np.testing.assert_allclose(loaded.vote_shares(queries, ["a", "b"]), neighbours.vote_shares(queries, ["a", "b"]))


def test_bad_input_says_what_to_do():
    rng = np.random.default_rng(3)
    features, labels = _two_clusters(rng)
    with pytest.raises(RetrievalError, match="labels for"):
        FeatureNeighbours().fit(features, labels[:-1])
    neighbours = FeatureNeighbours().fit(features, labels)
    with pytest.raises(RetrievalError, match="columns"):
        neighbours.vote_shares(features[:, :1], ["a", "b"])
    with pytest.raises(RetrievalError, match="2-D"):
        neighbours.vote_shares(features[0], ["a", "b"])


def test_named_columns_are_picked_from_a_wider_matrix_and_kept_on_disk(tmp_path):
    rng = np.random.default_rng(4)
    features, labels = _two_clusters(rng)
    wide = np.column_stack([rng.normal(0, 50, len(features)), features])  # a noisy column the neighbours skip
    names = ["noise", "f0", "f1"]
    neighbours = FeatureNeighbours(k=5).fit(features, labels, feature_names=names[1:])
    np.testing.assert_array_equal(neighbours.pick(wide, names), features)
    neighbours.save(tmp_path / "near")
    loaded = FeatureNeighbours.load(tmp_path / "near")
    assert loaded.feature_names_in_ == ("f0", "f1")
    np.testing.assert_allclose(loaded.vote_shares(loaded.pick(wide, names), ["a", "b"]),
                               neighbours.vote_shares(features, ["a", "b"]))  # fmt: skip
    with pytest.raises(RetrievalError, match="not among"):
        loaded.pick(wide[:, :2], names[:2])
    with pytest.raises(RetrievalError, match="feature names for"):
        FeatureNeighbours().fit(features, labels, feature_names=names)
    unnamed = FeatureNeighbours().fit(features, labels)
    assert unnamed.feature_names_in_ is None and unnamed.pick(features, names[1:]) is features
