"""Bout context (pure logic): groups, context means, provisional bouts, pseudo-days, the context weight."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agent.candidates import FusionModel, SourceScores, fuse
from agent.context import _best_weights, provisional_bouts, pseudo_days
from knowledge_base.context import bout_groups, context_means
from knowledge_base.errors import KnowledgeBaseError
from recordings.windows import Windows


def test_bout_groups_split_at_recordings_labels_and_breaks_in_time_order():
    ids = np.array(["r1", "r1", "r1", "r1", "r2", "r2"])
    start = np.array([10.0, 0.0, 5.0, 15.0, 0.0, 5.0])  # r1 listed out of time order
    labels = np.array([0, 0, 0, 1, 0, 0])
    groups = bout_groups(ids, start, labels)
    assert groups[0] == groups[1] == groups[2] != groups[3]  # the label change at 15 s starts a bout
    assert groups[4] == groups[5] and groups[4] not in groups[:4]  # another recording, another bout
    breaks = np.array([True, False, False, False, False, True])  # a gap before r2's second window
    assert bout_groups(ids, start, labels, breaks)[5] != bout_groups(ids, start, labels, breaks)[4]


def test_context_means_average_neighbours_within_the_width_and_never_across_groups():
    features = np.array([[1.0], [2.0], [3.0], [100.0], [5.0]])
    start = np.array([0.0, 5.0, 10.0, 15.0, 20.0])
    groups = np.array([0, 0, 0, 1, 1])
    means = context_means(features, groups, start, half_width_s=5.0)
    assert means[:, 0] == pytest.approx([1.5, 2.0, 2.5, 52.5, 52.5])
    assert context_means(features, groups, start, 0.0)[:, 0] == pytest.approx(features[:, 0])  # width 0: itself
    wide = context_means(features, np.zeros(5, dtype=int), start, 100.0)
    assert wide[:, 0] == pytest.approx(np.full(5, features.mean()))


def test_context_means_skip_nan_and_keep_a_missing_channel_missing():
    features = np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, np.nan]])
    means = context_means(features, np.zeros(3, dtype=int), np.array([0.0, 5.0, 10.0]), 5.0)
    assert means[:, 0] == pytest.approx([1.0, 2.0, 3.0])
    assert np.isnan(means[:, 1]).all()


def test_context_means_refuse_mismatched_input():
    with pytest.raises(KnowledgeBaseError, match="one group and start time per window"):
        context_means(np.zeros((3, 2)), np.zeros(2, dtype=int), np.zeros(3), 5.0)
    with pytest.raises(KnowledgeBaseError, match="≥ 0"):
        context_means(np.zeros((3, 2)), np.zeros(3, dtype=int), np.zeros(3), -1.0)


def test_provisional_bouts_follow_the_smoothed_decisions_and_breaks():
    # a confident run of activity 0, one noisy window, then a confident run of activity 1
    probabilities = np.array([[0.9, 0.1]] * 4 + [[0.4, 0.6]] + [[0.9, 0.1]] * 3 + [[0.1, 0.9]] * 6)
    ids = np.array(["rec"] * 14)
    start = np.arange(14) * 5.0
    bouts = provisional_bouts(probabilities, ids, start, stride_s=5.0)
    assert len(set(bouts[:8])) == 1  # the lone window is smoothed into its bout
    assert bouts[8] != bouts[7] and len(set(bouts[8:])) == 1
    breaks = np.zeros(14, dtype=bool)
    breaks[2] = True
    assert provisional_bouts(probabilities, ids, start, 5.0, breaks)[2] != provisional_bouts(probabilities, ids, start, 5.0, breaks)[1]


def _windows(subjects, recordings, start):
    n = len(start)
    return Windows(data=np.zeros((n, 1, 4), np.float32), channels=("torso.acc.x",), sampling_rate_hz=1.0,
                   activities=("a",), labels=np.zeros(n, dtype=int), purity=np.ones(n), subjects=np.array(subjects),
                   recording_ids=np.array(recordings), start_s=np.asarray(start, dtype=float))  # fmt: skip


def test_pseudo_days_join_each_subjects_recordings_end_to_end():
    windows = _windows(["s1"] * 4 + ["s2"] * 2, ["a", "a", "b", "b", "c", "c"], [0, 4, 0, 4, 100, 104])
    ids, start = pseudo_days(windows)
    assert list(ids) == ["s1"] * 4 + ["s2"] * 2
    first, second = sorted([start[:2].tolist(), start[2:4].tolist()])
    assert first == [0.0, 4.0] and second == [8.0, 12.0]  # the second recording follows the first's last window
    assert start[4:].tolist() == [0.0, 4.0]  # each subject's day starts at 0


def test_context_weights_are_zero_for_noise_and_positive_for_the_source_that_informs():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    base = rng.normal(size=(600, 3))
    base[np.arange(600), truth] += 0.5
    informative = np.log(np.eye(3)[truth] * 0.9 + 0.05)
    noise = rng.normal(size=(600, 3)) * 3
    (knowledge_base, neighbours), nll, accuracy = _best_weights([base], [np.stack([noise, informative])], [truth])
    assert neighbours > 0.5 and knowledge_base < 0.05 and accuracy > 0.95
    (knowledge_base, neighbours), _, _ = _best_weights([base], [np.stack([informative, noise])], [truth])
    assert knowledge_base > 0.5 and neighbours < 0.05
    assert max(_best_weights([base], [np.stack([noise, rng.normal(size=(600, 3)) * 3])], [truth])[0]) < 0.05
    weights, _, _ = _best_weights([base], [np.stack([noise, noise[::-1], informative])], [truth])
    assert len(weights) == 3 and weights[2] > 0.5 and max(weights[:2]) < 0.05  # one weight per source, any count


def test_fusion_adds_the_context_votes_only_with_a_weight():
    acts = ["a", "b"]
    even = np.array([[0.5, 0.5]])
    scores = SourceScores(activities=acts, seen=acts, prototype=even, centroid=even, neighbours=even, pairwise=even,
                          context=np.array([[0.1, 0.9]]), context_neighbours=np.array([[0.8, 0.2]]))  # fmt: skip
    model = FusionModel(activities=acts, seen=acts, centroids=[[1.0]] * 2, temperature=1.0,
                        weights={"prototype": 1, "centroid": 1, "neighbours": 1, "pairwise": 1},
                        reference_nll=0.0, reference_accuracy=1.0, fitted_on="test")  # fmt: skip
    assert fuse(scores, model)[0] == pytest.approx([0.5, 0.5])
    with_context = fuse(scores, model.model_copy(update={"context_weight": 2.0, "context_half_width_s": 10.0}))[0]
    assert with_context[1] > 0.9 and with_context.sum() == pytest.approx(1.0)
    both = fuse(scores, model.model_copy(update={"context_weight": 2.0, "context_neighbours_weight": 2.0,
                                                 "context_half_width_s": 10.0}))[0]  # fmt: skip
    assert fuse(scores.first_pass(), model.model_copy(update={"context_weight": 2.0, "context_neighbours_weight": 2.0,
                                                              "context_half_width_s": 10.0}))[0] == pytest.approx([0.5, 0.5])  # fmt: skip
    odds = [((c + model.settings.floor) * (n + model.settings.floor)) ** 2 for c, n in ((0.1, 0.8), (0.9, 0.2))]
    assert both[1] == pytest.approx(odds[1] / sum(odds))  # both votes enter, each with its weight
    linear = dataclasses.replace(scores, context_linear=np.array([[0.7, 0.3]]))
    three = fuse(linear, model.model_copy(update={"context_weight": 2.0, "context_neighbours_weight": 2.0,
                                                  "context_linear_weight": 1.0, "context_half_width_s": 10.0}))[0]  # fmt: skip
    odds = [o * (p + model.settings.floor) for o, p in zip(odds, (0.7, 0.3))]
    assert three[1] == pytest.approx(odds[1] / sum(odds))  # the linear model's probabilities enter with their weight


def test_context_rows_count_wins_and_the_template_cites_them_verified():
    from agent.evidence import EvidenceRow, EvidenceTable
    from agent.evidence_builder import BoutContext, _bout_linear_row, _bout_neighbours_row, _context_row
    from agent.explain import explain, template_explanation

    context = BoutContext(shares={"sitting": 0.6, "standing": 0.3, "lying": 0.1}, half_width_s=15.0,
                          neighbour_shares={"sitting": 0.75, "standing": 0.25, "lying": 0.0}, n_neighbours=10,
                          linear_probabilities={"sitting": 0.914, "standing": 0.08, "lying": 0.006})  # fmt: skip
    rows: list[EvidenceRow] = [EvidenceRow(id="E1", kind="score", activity="sitting", value=0.82,
                                           statement="fused probability of sitting: 0.82")]  # fmt: skip

    def add(**fields):
        rows.append(EvidenceRow(id=f"E{len(rows) + 1}", **fields))

    _context_row(context, "sitting", add)
    row = rows[-1]
    assert row.value == pytest.approx(1.8) and row.reference == {"of": 2.0, "half_width_s": 15.0}  # 0.6 of 3 wins
    assert "±15 s" in row.statement and "wins 1.8 of its 2" in row.statement
    _bout_neighbours_row(context, "sitting", add)
    assert rows[-1].value == pytest.approx(7.5) and "10 reference windows" in rows[-1].statement
    _bout_linear_row(context, "sitting", add)
    assert rows[-1].value == pytest.approx(0.91) and "sitting probability 0.91" in rows[-1].statement
    table = EvidenceTable(candidates=["sitting", "standing"], probabilities={"sitting": 0.82, "standing": 0.18}, rows=rows)
    text, cited = template_explanation(table)
    assert cited == ["E1", "E2", "E3", "E4"] and "(E2)" in text and "on average 7.5 of them sitting (E3)" in text
    assert "linear model of the reference bouts gives sitting probability 0.91 (E4)" in text
    assert explain(table, {"sitting": "sitting", "standing": "standing", "lying": "lying"}, None).verification.passed


def test_a_per_window_still_level_is_a_bound_the_verifier_can_check():
    """The moving-parts check compares with each window's own still level: that number is cited in the
    condition, so it must be in the row's bounds (it was not, and a template citing it failed the verifier)."""
    from knowledge_base.attributes import PredicateColumn, results_for_window

    column = PredicateColumn("moving_parts", "legs moving", "thigh_right.gyro.mag.mean", ("thigh_right.gyro.mag.mean",),
                             "rad/s", "> the sensor's still level", None, None, np.array([0.0353]), np.array([False]),
                             feature_by_window=np.array(["thigh_right.gyro.mag.mean"], dtype=object),
                             threshold_by_window=np.array([0.05]))  # fmt: skip
    result = results_for_window([column], 0)[0]
    assert result.lower == pytest.approx(0.05) and result.upper is None and "> 0.05 (still level)" in result.condition


def test_ranked_feature_names_take_each_pairs_top_k_in_feature_order():
    from types import SimpleNamespace

    from agent.context import ranked_feature_names
    from knowledge_base.pairwise import PairRanking, RankedFeature

    def ranking(first, second, names):
        return PairRanking(first=first, second=second, features=[
            RankedFeature(name=n, rank=i + 1, importance=0.5, auroc=0.9, auroc_std=0.0, worst_fold_auroc=0.9, n_folds=3,
                          higher=first, lower=second, threshold=0.0, reference_accuracy=0.9, effect_size=1.0)
            for i, n in enumerate(names)])  # fmt: skip

    knowledge_base = SimpleNamespace(feature_names_=["f1", "f2", "f3", "f4", "f5"], pairs_={
        ("a", "b"): ranking("a", "b", ["f4", "f2", "f5"]), ("a", "c"): ranking("a", "c", ["f1", "f4", "f3"])})  # fmt: skip
    assert ranked_feature_names(knowledge_base, 1) == ["f1", "f4"]
    assert ranked_feature_names(knowledge_base, 2) == ["f1", "f2", "f4"]
    assert ranked_feature_names(knowledge_base, None) == ["f1", "f2", "f3", "f4", "f5"]
