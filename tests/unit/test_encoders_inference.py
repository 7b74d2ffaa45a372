"""Inference methods, query batches, calibration and metrics (pure numpy, no model)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from encoders.batches import balanced_batches, batched_scores, natural_batches
from encoders.calibration import best_offset, choose_inner_split
from encoders.errors import EncoderError
from encoders.inference import (
    calibrated_stacking,
    cosine_scores,
    hub_offsets,
    inverted_softmax,
    querybank_softmax,
)
from encoders.metrics import generalised, harmonic, modality_gap


@given(st.integers(2, 30), st.integers(2, 8), st.floats(1.0, 50.0), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_inverted_softmax_argmax_equals_column_normalised_softmax(n, a, beta, seed):
    scores = np.random.default_rng(seed).uniform(-1, 1, (n, a))
    explicit = softmax(beta * scores, axis=0)  # normalise each activity over the batch of queries
    corrected = inverted_softmax(scores, beta)
    np.testing.assert_allclose(softmax(beta * corrected, axis=1), explicit / explicit.sum(1, keepdims=True), atol=1e-9)


def test_inverted_softmax_demotes_a_hub():
    # activity 0 is a hub: every query is fairly close to it; each query's true activity is a bit closer
    scores = np.array([[0.80, 0.78, 0.10], [0.80, 0.10, 0.78], [0.80, 0.10, 0.78], [0.80, 0.78, 0.10]])
    assert set(scores.argmax(1)) == {0}
    assert list(inverted_softmax(scores, 20).argmax(1)) == [1, 2, 2, 1]


def test_inverted_softmax_fails_on_single_activity_batches():
    """The known weakness: a batch holding one activity penalises exactly that activity."""
    scores = np.tile([0.70, 0.55, 0.30], (50, 1)) + np.random.default_rng(0).normal(0, 0.02, (50, 3))
    assert (scores.argmax(1) == 0).all()
    assert (inverted_softmax(scores, 10).argmax(1) == 0).mean() < 0.9


def test_querybank_offsets_do_not_depend_on_the_batch():
    rng = np.random.default_rng(1)
    bank, batch = rng.uniform(0, 1, (100, 4)), rng.uniform(0, 1, (20, 4))
    whole = querybank_softmax(batch, bank, 10)
    np.testing.assert_allclose(whole[:5], querybank_softmax(batch[:5], bank, 10))


def test_hub_offsets_need_positive_beta_and_queries():
    with pytest.raises(EncoderError):
        hub_offsets(np.zeros((3, 2)), 0.0)
    with pytest.raises(EncoderError):
        hub_offsets(np.zeros((0, 2)), 1.0)


def test_calibrated_stacking_lets_unseen_win():
    scores = np.array([[0.9, 0.8], [0.7, 0.6]])
    assert list(calibrated_stacking(scores, np.array([True, False]), 0.15).argmax(1)) == [1, 1]


def test_cosine_scores_normalise_rows():
    e, p = np.array([[3.0, 0.0]]), np.array([[0.0, 2.0], [5.0, 0.0]])
    np.testing.assert_allclose(cosine_scores(e, p), [[0.0, 1.0]])


@given(st.lists(st.integers(1, 9), min_size=2, max_size=5), st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_balanced_batches_are_balanced_and_score_every_window_once(counts, seed):
    labels = np.concatenate([np.full(c, i) for i, c in enumerate(counts)] * 2)
    subjects = np.repeat(["a", "b"], sum(counts))
    batches = balanced_batches(labels, subjects, seed)
    scored = np.concatenate([s for s, _ in batches])
    assert sorted(scored.tolist()) == list(range(len(labels)))
    for s, f in batches:
        rows = np.concatenate([s, f])
        assert len(set(subjects[rows])) == 1
        per_class = np.bincount(labels[rows], minlength=len(counts))
        assert len(set(per_class.tolist())) == 1  # every activity equally often


def test_natural_batches_follow_recordings_in_time_order():
    rids = np.array(["r1", "r2", "r1", "r2", "r1"], dtype=object)
    starts = np.array([10.0, 0.0, 0.0, 5.0, 5.0])
    assert [b.tolist() for b in natural_batches(rids, starts)] == [[2, 4, 0], [1, 3]]


def test_batched_scores_cover_every_window():
    scores = np.random.default_rng(0).uniform(size=(6, 2))
    with pytest.raises(EncoderError, match="no batch"):
        batched_scores(scores, [np.array([0, 1, 2])], lambda s: s)
    out = batched_scores(scores, [np.array([0, 1, 2]), (np.array([3, 4, 5]), np.array([0]))], lambda s: s * 2)
    np.testing.assert_allclose(out, scores * 2)


def test_generalised_metrics_and_harmonic_mean():
    y = np.array([0, 0, 1, 1, 2, 2])
    never_unseen = generalised(y, np.array([0, 0, 1, 1, 1, 0]), seen=[0, 1], unseen=[2])
    assert never_unseen["S"] == 1.0 and never_unseen["U"] == 0.0 and never_unseen["H"] == 0.0
    perfect = generalised(y, y, seen=[0, 1], unseen=[2])
    assert perfect["H"] == 1.0 and perfect["macro_f1"] == 1.0
    assert harmonic(0.5, 1.0) == pytest.approx(2 / 3)


def test_modality_gap_is_mean_cosine_to_own_prototype():
    protos = np.eye(2)
    emb = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert modality_gap(emb, protos, np.array([0, 1])) == pytest.approx((1 + 2**-0.5) / 2)


def test_best_offset_picks_an_offset_that_admits_unseen():
    # seen activity 0 always scores 0.1 above unseen activity 1, even on unseen windows
    y = np.array([0] * 20 + [1] * 20)
    scores = np.zeros((40, 2))
    scores[:20] = [0.9, 0.6]
    scores[20:] = [0.7, 0.6]
    offset, h = best_offset(scores, y, seen=[0], unseen=[1])
    assert 0.1 < offset < 0.3 and h == 1.0


def test_inner_split_uses_the_next_folds_unseen_and_held_out_subjects():
    folds = (("a", "b"), ("c", "d"), ("e",))
    seen = ("c", "d", "e", "f")
    split = choose_inner_split(seen, ("s1", "s2", "s3", "s4"), folds, fold=0, seed=3)
    assert split.unseen == ("c", "d") and split.seen == ("e", "f")
    assert len(split.val_subjects) == 2 and not set(split.val_subjects) & set(split.train_subjects)
    single = choose_inner_split(seen, ("s1", "s2", "s3"), (("a",),), fold=0, seed=3)
    assert len(single.unseen) == 1 and single.unseen[0] in seen
