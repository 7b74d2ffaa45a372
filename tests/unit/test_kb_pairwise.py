"""Cross-subject AUROC and pair rankings, checked against brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from knowledge_base import KnowledgeBaseError
from knowledge_base.pairwise import (
    class_statistics,
    cross_subject_aurocs,
    doubled_midrank_counts,
    rank_pairs,
    select_diverse,
    youden_threshold,
)


def synthetic(n_per_cell: int = 20, seed: int = 0):
    """3 subjects x 3 classes; feature 0 separates class 0 from 1 in every person, feature 1 only within each
    person (a per-person offset larger than the class gap), feature 2 is noise, feature 3 a copy of feature 0."""
    rng = np.random.default_rng(seed)
    rows, labels, subjects = [], [], []
    for s, offset in enumerate((0.0, 6.0, 12.0)):
        for k in range(3):
            consistent = rng.normal(3.0 * k, 0.5, n_per_cell)
            personal = rng.normal(offset + 1.5 * k, 0.3, n_per_cell)
            noise = rng.normal(0.0, 1.0, n_per_cell)
            rows.append(np.column_stack([consistent, personal, noise, consistent + 1e-3 * noise]))
            labels += [k] * n_per_cell
            subjects += [f"p{s}"] * n_per_cell
    return np.vstack(rows).astype(np.float32), np.array(labels, np.int16), np.array(subjects)


def test_doubled_midrank_counts_match_brute_force_with_ties():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 5, size=(40, 3)).astype(np.float32)  # many ties
    labels = rng.integers(0, 3, size=40).astype(np.int16)
    counts = doubled_midrank_counts(values, labels, 3)
    for f in range(3):
        for i in range(40):
            for k in range(3):
                others = values[labels == k, f]
                expected = 2 * (others < values[i, f]).sum() + (others == values[i, f]).sum()
                assert counts[f, i, k] == expected


def test_fold_aurocs_equal_scikit_learn():
    features, labels, subjects = synthetic()
    aurocs = cross_subject_aurocs(features, labels, subjects, 3, chunk_features=3, show_progress=False)
    for a, b, f in ((0, 1, 0), (1, 2, 1), (2, 0, 2)):
        folds = []
        for s in np.unique(subjects):
            held_a, other_b = (subjects == s) & (labels == a), (subjects != s) & (labels == b)
            other_a, held_b = (subjects != s) & (labels == a), (subjects == s) & (labels == b)
            first = roc_auc_score(np.r_[np.ones(held_a.sum()), np.zeros(other_b.sum())], np.r_[features[held_a, f], features[other_b, f]])
            second = roc_auc_score(np.r_[np.ones(other_a.sum()), np.zeros(held_b.sum())], np.r_[features[other_a, f], features[held_b, f]])
            folds.append((first + second) / 2)
        assert aurocs.mean[a, b, f] == pytest.approx(np.mean(folds), abs=1e-6)
        assert aurocs.std[a, b, f] == pytest.approx(np.std(folds), abs=1e-6)
        assert aurocs.mean[b, a, f] == pytest.approx(1 - np.mean(folds), abs=1e-6)
    assert (aurocs.n_folds[~np.eye(3, dtype=bool)] == 3).all()


def test_a_missing_cell_drops_only_that_term():
    features, labels, subjects = synthetic()
    keep = ~((subjects == "p1") & (labels == 2))  # p1 never did class 2
    aurocs = cross_subject_aurocs(features[keep], labels[keep], subjects[keep], 3, show_progress=False)
    assert np.isfinite(aurocs.mean).all()
    assert aurocs.n_folds[0, 2] == 3  # p1 still contributes its class-0 windows against others' class 2
    assert aurocs.mean[2, 0, 0] == pytest.approx(1.0)


def test_ranking_prefers_features_that_hold_across_people():
    features, labels, subjects = synthetic()
    names = ["t.acc.x.consistent", "t.acc.x.personal", "t.acc.x.noise", "t.acc.x.copy"]
    rankings = {r.key: r for r in rank_pairs(features, labels, subjects, ("a", "b", "c"), names, top_k=3, show_progress=False)}
    assert set(rankings) == {("a", "b"), ("a", "c"), ("b", "c")}
    best = rankings[("a", "b")].features[0]
    assert best.name in ("t.acc.x.consistent", "t.acc.x.copy")
    assert best.higher == "b" and best.lower == "a"
    assert best.auroc > 0.99 and best.worst_fold_auroc > 0.99
    assert features[labels == 0, 0].max() < best.threshold < features[labels == 1, 0].min()
    chosen = [f.name for f in rankings[("a", "b")].features]
    assert not {"t.acc.x.consistent", "t.acc.x.copy"} <= set(chosen)  # the near-duplicate was skipped
    personal = next(f for f in rankings[("a", "b")].features if f.name == "t.acc.x.personal")
    within_one_person = (subjects == "p0") & (labels < 2)
    assert roc_auc_score(labels[within_one_person], features[within_one_person, 1]) == 1.0  # perfect inside a person
    assert personal.auroc == pytest.approx(0.5, abs=0.05) and personal.importance < 0.1  # useless across people
    assert [f.rank for f in rankings[("a", "b")].features] == [1, 2, 3]


def test_select_diverse_skips_redundant_candidates():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(100, 1))
    values = np.hstack([base, base * 2 + 1, rng.normal(size=(100, 1)), -base])
    assert select_diverse(np.arange(4), values, 3, 0.9) == [0, 2]
    assert select_diverse(np.arange(4), values, 3, 1.0) == [0, 1, 2]


def test_youden_threshold_separates_and_reports_accuracy():
    cut, accuracy = youden_threshold(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0, 3.0]))
    assert cut == pytest.approx(4.0) and accuracy == pytest.approx(1.0)
    cut, accuracy = youden_threshold(np.array([2.0, 6.0]), np.array([1.0, 3.0]))
    assert accuracy == pytest.approx(0.75)
    _, accuracy = youden_threshold(np.array([1.0, 1.0]), np.array([1.0]))
    assert accuracy == 0.5


def test_class_statistics_match_numpy():
    features, labels, _ = synthetic()
    table = class_statistics(features, labels, ("a", "b", "c"), ["f0", "f1", "f2", "f3"])
    row = table[(table.activity == "b") & (table.feature == "f1")].iloc[0]
    values = features[labels == 1, 1]
    assert row["count"] == values.size
    assert row["mean"] == pytest.approx(values.mean(), rel=1e-5)
    assert row["median"] == pytest.approx(np.median(values), rel=1e-5)
    assert row["q25"] == pytest.approx(np.quantile(values, 0.25), rel=1e-5)
    assert row["q95"] == pytest.approx(np.quantile(values, 0.95), rel=1e-5)


def test_one_activity_is_refused():
    features, labels, subjects = synthetic()
    only = labels == 0
    with pytest.raises(KnowledgeBaseError, match="at least two"):
        rank_pairs(features[only], labels[only], subjects[only], ("a", "b", "c"), ["a.b.c.d"] * 4, show_progress=False)


def test_a_single_subject_falls_back_to_plain_auroc():
    features, labels, subjects = synthetic()
    one = subjects == "p0"
    rankings = rank_pairs(features[one], labels[one], subjects[one], ("a", "b", "c"),
                          ["t.acc.x.c", "t.acc.x.p", "t.acc.x.n", "t.acc.x.d"], top_k=2, show_progress=False)  # fmt: skip
    first = next(r for r in rankings if r.key == ("a", "b")).features[0]
    assert first.n_folds == 1 and first.auroc == pytest.approx(1.0)
