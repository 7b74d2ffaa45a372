"""LinearFeatureModel: joint weighing of correlated features, missing values, persistence (real files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.linear import MODEL_FILE, LinearFeatureModel


def _correlated(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, list[str]]:
    """Five copies of one noisy feature that leans towards 'a', and one clean feature that separates the classes."""
    labels = np.array(["a", "b"] * (n // 2))
    is_b = (labels == "b").astype(float)
    clean = is_b + rng.normal(0, 0.2, n)
    shared = rng.normal(0, 1, n) - 0.5 * is_b
    copies = np.column_stack([shared + rng.normal(0, 0.01, n) for _ in range(5)])
    return np.column_stack([clean, copies]), labels.tolist()


def test_the_clean_feature_decides_even_against_five_correlated_copies():
    rng = np.random.default_rng(0)
    features, labels = _correlated(rng)
    model = LinearFeatureModel(C=1.0).fit(features, labels, feature_names=[f"f{i}" for i in range(6)])
    assert model.classes_ == ("a", "b")
    queries = np.array([[0.0, -2.0, -2.0, -2.0, -2.0, -2.0], [1.0, 2.0, 2.0, 2.0, 2.0, 2.0]])  # copies lean the other way
    probabilities = model.predict_proba(queries)
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert probabilities[0, 0] > 0.9 and probabilities[1, 1] > 0.9


def test_vote_shares_follow_the_asked_classes_and_give_zero_to_an_unknown_one():
    rng = np.random.default_rng(1)
    features, labels = _correlated(rng)
    model = LinearFeatureModel().fit(features, labels, feature_names=[f"f{i}" for i in range(6)])
    shares = model.vote_shares(features[:3], ["b", "unseen", "a"])
    assert shares[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert shares[:, [2, 0]] == pytest.approx(model.predict_proba(features[:3]))


def test_missing_and_extreme_values_are_bounded():
    rng = np.random.default_rng(2)
    features, labels = _correlated(rng)
    features = np.column_stack([features, np.full(len(features), 3.0)])  # a feature with no spread
    model = LinearFeatureModel().fit(features, labels, feature_names=[f"f{i}" for i in range(7)])
    assert model.transform(np.array([[np.nan] * 6 + [99.0]])).tolist() == [[0.0] * 7]
    assert np.abs(model.transform(np.array([[1e30] + [0.0] * 6]))).max() == model.clip
    assert np.isfinite(model.predict_proba(np.array([[3e38] * 7]))).all()


def test_save_and_load_give_the_same_probabilities_and_a_damaged_file_is_refused(tmp_path):
    rng = np.random.default_rng(3)
    features, labels = _correlated(rng)
    labels = [label if i % 3 else "c" for i, label in enumerate(labels)]  # three classes
    model = LinearFeatureModel().fit(features, labels, feature_names=[f"f{i}" for i in range(6)])
    loaded = LinearFeatureModel.load(model.save(tmp_path / "linear"))
    assert loaded.classes_ == model.classes_ and loaded.feature_names_in_ == model.feature_names_in_
    assert loaded.predict_proba(features) == pytest.approx(model.predict_proba(features))
    state = json.loads((tmp_path / "linear" / MODEL_FILE).read_text())
    state["coef"] = state["coef"][:2]
    (tmp_path / "linear" / MODEL_FILE).write_text(json.dumps(state))
    with pytest.raises(KnowledgeBaseError, match="do not match its 3 classes.*harlens build"):
        LinearFeatureModel.load(tmp_path / "linear")


def test_pick_selects_the_fitted_columns_by_name_and_names_what_is_missing():
    rng = np.random.default_rng(4)
    features, labels = _correlated(rng)
    model = LinearFeatureModel().fit(features[:, [4, 0]], labels, feature_names=["f4", "f0"])
    wide = np.arange(12.0).reshape(2, 6)
    assert model.pick(wide, [f"f{i}" for i in range(6)]).tolist() == [[4.0, 0.0], [10.0, 6.0]]
    with pytest.raises(KnowledgeBaseError, match="not among the 3 given: .*f4"):
        model.pick(wide[:, :3], ["f0", "f1", "f2"])


def test_bad_input_is_refused_with_what_to_do():
    with pytest.raises(KnowledgeBaseError, match="two activities or more"):
        LinearFeatureModel().fit(np.ones((4, 2)), ["a"] * 4, feature_names=["x", "y"])
    with pytest.raises(KnowledgeBaseError, match="3 labels for 4 feature rows"):
        LinearFeatureModel().fit(np.ones((4, 2)), ["a", "b", "a"], feature_names=["x", "y"])
    with pytest.raises(KnowledgeBaseError, match="1 feature names for 2 columns"):
        LinearFeatureModel().fit(np.ones((4, 2)), ["a", "b"] * 2, feature_names=["x"])
