"""Pure logic of the agent's stages: fusion, candidates, smoothing, LLM routing, explanations, KB votes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from agent.candidates import (
    CandidateSet,
    FusionModel,
    FusionSettings,
    PlacementWeights,
    SeenGate,
    SourceScores,
    candidate_recall,
    fit_weights,
    harmonic_accuracy,
    fuse,
    select_candidates,
)
from agent.decide import DecisionSettings, choice_model, decide, windows_for_llm
from agent.evidence import EvidenceRow, EvidenceTable
from agent.explain import explain, template_explanation
from agent.llm import RawReply
from agent.timeline import segment_windows, smooth_decisions, switch_cost
from knowledge_base.pairwise import PairRanking, RankedFeature
from knowledge_base.voting import pairwise_votes, reference_percentile

SETTINGS = FusionSettings(max_candidates=3)


def _gate(margin_coef=1.0, centroid_coef=0.0, intercept=0.0):
    """A gate on raw signals: logit = -margin_coef * unseen_margin + centroid_coef * centroid_max + intercept."""
    return SeenGate(mean=[0.0, 0.0], scale=[1.0, 1.0], coef=[-margin_coef, centroid_coef], intercept=intercept)


def _model(activities, seen, weights=None, gate=None, attribute_weight=0.0):
    if gate is None and set(activities) != set(seen):
        gate = _gate()
    return FusionModel(activities=activities, seen=seen, centroids=[[1.0]] * len(seen), temperature=1.0,
                       weights=weights or {"prototype": 1, "centroid": 1, "neighbours": 1, "pairwise": 1},
                       seen_gate=gate, attribute_weight=attribute_weight,
                       reference_nll=0.0, reference_accuracy=1.0, fitted_on="test")  # fmt: skip


def _scores(prototype, seen_rows, activities, seen):
    seen_rows = np.asarray(seen_rows, dtype=float)
    return SourceScores(activities=activities, seen=seen, prototype=np.asarray(prototype, dtype=float),
                        centroid=seen_rows, neighbours=seen_rows / seen_rows.sum(1, keepdims=True),
                        pairwise=seen_rows / seen_rows.sum(1, keepdims=True))  # fmt: skip


def test_fusion_agrees_when_every_source_agrees_and_rows_sum_to_one():
    acts = ["a", "b", "c"]
    scores = _scores([[0.9, 0.1, 0.0]], [[0.9, 0.1, 0.05]], acts, acts)
    probabilities = fuse(scores, _model(acts, acts))
    assert probabilities.argmax() == 0 and probabilities.sum() == pytest.approx(1.0)


def test_some_placements_with_weights_of_their_own_are_fused_with_them_and_nothing_else_is():
    acts = ["a", "b"]

    def own(prototype):
        return PlacementWeights(weights={"prototype": prototype, "centroid": 0.0, "neighbours": 0.0, "pairwise": 0.1},
                                temperature=2.0, reference_nll=0.7, reference_accuracy=0.8)  # fmt: skip

    fitted = {"torso": own(3.0), "torso+wrist_left": own(4.0)}
    model = _model(acts, acts).model_copy(update={"placement_weights": fitted})
    alone = model.for_placements(["torso"])
    assert alone.weights == fitted["torso"].weights and alone.temperature == 2.0
    assert model.for_placements(["wrist_left", "torso"]).weights["prototype"] == 4.0  # in any order
    assert model.weights["pairwise"] == 1  # the pack's own fusion is left as it was
    assert model.for_placements(["torso", "thigh_left"]) is model  # a subset without weights of its own
    assert model.for_placements(["wrist_left"]) is model and model.for_placements([]) is model
    scores = _scores([[0.9, 0.1]], [[0.1, 0.9]], acts, acts)  # the prototype says a, the other sources b
    assert fuse(scores, model).argmax() == 1 and fuse(scores, alone).argmax() == 0


def test_subsets_with_weights_of_their_own_are_one_to_n_minus_two_placements_at_most_three():
    from agent.sources import placement_subsets, subset_key

    assert placement_subsets(["torso"]) == []
    assert placement_subsets(["chest", "wrist"]) == [("chest",), ("wrist",)]
    assert placement_subsets(["hand", "chest", "ankle"]) == [("hand",), ("chest",), ("ankle",)]
    five = placement_subsets(["torso", "wrist_right", "wrist_left", "thigh_right", "thigh_left"])
    assert len(five) == 5 + 10 + 10 and max(map(len, five)) == 3 and subset_key(five[5]) == "torso+wrist_right"
    assert max(map(len, placement_subsets([f"p{i}" for i in range(8)]))) == 3  # not 6 of 8


def test_unseen_activity_gets_the_prototype_mass_and_seen_share_the_rest():
    acts, seen = ["a", "b", "u"], ["a", "b"]
    scores = _scores([[0.1, 0.0, 0.9]], [[0.6, 0.4]], acts, seen)
    probabilities = fuse(scores, _model(acts, seen))[0]
    assert probabilities.argmax() == 2  # the text prototype points at the unseen activity
    assert probabilities[0] > probabilities[1]  # within the seen ones, the seen evidence orders them


def test_seen_gate_moves_mass_to_unseen_and_column_order_follows_activities():
    acts, seen = ["u", "b", "a"], ["a", "b"]  # seen listed in another order than the activities
    scores = _scores([[0.5, 0.55, 0.6]], [[0.9, 0.1]], acts, seen)
    plain = fuse(scores, _model(acts, seen))[0]
    assert plain.argmax() == 2 and plain[2] > plain[1]  # "a" (seen[0]) is column 2 of the activities
    shifted = fuse(scores, _model(acts, seen, gate=_gate(intercept=-5.0)))[0]
    assert shifted.argmax() == 0 and shifted[0] > plain[0] and shifted.sum() == pytest.approx(1.0)
    everything_seen = _scores([[0.1, 0.9]], [[0.1, 0.9]], ["x", "y"], ["y", "x"])
    assert fuse(everything_seen, _model(["x", "y"], ["y", "x"]))[0].argmax() == 0  # "x" scored by seen column 1


def test_window_far_from_every_seen_centroid_goes_to_the_unseen_activities():
    acts, seen = ["a", "u"], ["a"]
    model = _model(acts, seen, gate=_gate(margin_coef=0.0, centroid_coef=10.0, intercept=-5.0))
    near = fuse(_scores([[0.6, 0.5]], [[0.9]], acts, seen), model)[0]
    far = fuse(_scores([[0.6, 0.5]], [[0.1]], acts, seen), model)[0]
    assert near.argmax() == 0 and far.argmax() == 1


def test_failed_attribute_checks_move_an_unseen_activity_down_only_when_weighted():
    acts, seen = ["a", "u1", "u2"], ["a"]
    scores = _scores([[0.0, 0.52, 0.5]], [[0.5]], acts, seen)
    scores.attributes = np.array([[np.nan, 0.0, 1.0]])  # u1's description contradicts the window, u2's holds
    unweighted = fuse(scores, _model(acts, seen, gate=_gate(intercept=-5.0)))[0]
    weighted = fuse(scores, _model(acts, seen, gate=_gate(intercept=-5.0), attribute_weight=5.0))[0]
    assert unweighted.argmax() == 1 and weighted.argmax() == 2


def test_zero_shot_fit_learns_the_gate_and_attribute_weight_from_pseudo_unseen_folds():
    from types import SimpleNamespace

    from agent.sources import _fit_zero_shot

    rng = np.random.default_rng(0)
    acts, seen = ["a", "b", "p", "q"], ["a", "b"]  # p and q play unseen; their checks, not prototypes, tell them apart
    truth = np.repeat(acts, 50)
    rows = np.arange(len(truth))
    own = np.array([acts.index(t) for t in truth])
    prototype = rng.normal(0.3, 0.02, (len(truth), 4))
    prototype[rows, own] += np.where(np.isin(truth, seen), 0.05, 0.0)  # seen prototypes informative, unseen ones not
    centroid = rng.normal(0.2, 0.05, (len(truth), 2))
    seen_rows = np.flatnonzero(np.isin(truth, seen))
    centroid[seen_rows, own[seen_rows]] = 0.9  # seen windows sit near their centroid, pseudo-unseen ones nowhere
    attributes = np.full((len(truth), 4), np.nan)
    attributes[:, 2] = np.where(truth == "p", 1.0, 0.0)
    attributes[:, 3] = np.where(truth == "q", 1.0, 0.0)
    votes = np.full((len(truth), 2), 0.5)
    scores = SourceScores(activities=acts, seen=seen, prototype=prototype, centroid=centroid, neighbours=votes,
                          pairwise=votes, attributes=attributes)  # fmt: skip
    folds = [(SimpleNamespace(components=SimpleNamespace(seen=seen)), SimpleNamespace(scores=scores), truth)]
    fitted = _fit_zero_shot(_model(acts, seen, gate=None, weights={"prototype": 1.0}).model_copy(update={"seen_gate": None}), folds)
    assert fitted.attribute_weight > 0
    assert fitted.seen_gate.coef[1] > 0  # nearer a seen centroid -> more likely seen
    assert fitted.reference_h > 0.9
    predicted = np.asarray(acts)[fuse(scores, fitted).argmax(axis=1)]
    assert harmonic_accuracy(predicted, truth, seen, ["p", "q"]) > 0.9


def test_harmonic_accuracy_is_zero_when_unseen_never_predicted():
    truth = np.array(["a", "a", "u", "u"])
    assert harmonic_accuracy(np.array(["a", "a", "a", "a"]), truth, ["a"], ["u"]) == 0.0
    assert harmonic_accuracy(truth, truth, ["a"], ["u"]) == 1.0


def test_fitted_weights_trust_the_informative_source_and_ignore_noise():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    informative = np.log(np.full((600, 3), 0.1) + 0.7 * np.eye(3)[truth])
    noise = np.log(rng.dirichlet(np.ones(3), 600))
    parts = {"prototype": noise, "centroid": informative, "neighbours": noise, "pairwise": noise}
    weights, temperature, nll = fit_weights(parts, truth)
    assert weights["centroid"] > 10 * max(weights["prototype"], weights["neighbours"], weights["pairwise"])
    assert temperature == 1.0 and nll < np.log(3) / 2


def test_candidates_stop_at_the_cumulative_mass_but_keep_at_least_two():
    probabilities = np.array([[0.97, 0.02, 0.01], [0.5, 0.3, 0.2]])
    sets = select_candidates(probabilities, ["a", "b", "c"], SETTINGS)
    assert sets[0].activities == ["a", "b"] and sets[1].activities == ["a", "b", "c"]
    assert sets[0].margin == pytest.approx(0.95)
    assert candidate_recall(sets, ["b", None]) == 1.0 and candidate_recall(sets, ["c", "c"]) == 0.5


def test_smoothing_flips_a_lone_disagreeing_window_but_not_across_a_break():
    confident = np.log(np.array([[0.9, 0.1]] * 3 + [[0.3, 0.7]] + [[0.9, 0.1]] * 3))
    assert smooth_decisions(confident, 0.0).tolist() == [0, 0, 0, 1, 0, 0, 0]
    assert smooth_decisions(confident, 3.0).tolist() == [0] * 7
    breaks = np.zeros(7, dtype=bool)
    breaks[3] = breaks[4] = True  # window 3 is its own piece: nothing to be smoothed against
    assert smooth_decisions(confident, 3.0, breaks).tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_switch_cost_grows_with_bout_length_and_vanishes_when_off():
    assert switch_cost(0.0, 5.0, 19) == 0.0
    assert switch_cost(300.0, 5.0, 19) > switch_cost(60.0, 5.0, 19) > 0


def test_segments_do_not_merge_across_pieces():
    segments = segment_windows(["a", "a", "a"], np.ones(3), np.array([0.0, 5.0, 10.0]), 5.0, np.array([1, 1, 2]))
    assert [s.n_windows for s in segments] == [2, 1]


def test_auto_sends_only_the_most_uncertain_windows_within_budget():
    sets = [CandidateSet(activities=["a", "b"], probabilities=[p, 1 - p]) for p in (0.99, 0.55, 0.6, 0.51, 0.9, 0.95, 0.97, 0.98)]
    assert windows_for_llm(sets, DecisionSettings(policy="evidence")) == []
    assert windows_for_llm(sets, DecisionSettings(policy="llm")) == list(range(8))
    assert windows_for_llm(sets, DecisionSettings(policy="auto", margin_threshold=0.3, max_llm_share=0.25)) == [1, 3]


def test_failed_llm_falls_back_to_the_evidence_with_a_flag():
    assert decide("a", None, [], asked=True).decided_by == "evidence-fallback"
    assert decide("a", "b", [], asked=True).activity == "b"
    assert decide("a", None, [], asked=False).decided_by == "evidence"


def test_choice_model_refuses_activities_outside_the_candidates():
    model = choice_model(["sitting", "standing"])
    assert model.model_validate_json('{"activity": "sitting"}').activity == "sitting"
    with pytest.raises(ValidationError):
        model.model_validate_json('{"activity": "running"}')
    with pytest.raises(ValidationError):
        model.model_validate_json('{"activity": "sitting", "note": "extra keys are refused"}')


TABLE = EvidenceTable(
    candidates=["sitting", "standing"],
    probabilities={"sitting": 0.82, "standing": 0.18},
    rows=[
        EvidenceRow(id="E1", kind="score", activity="sitting", value=0.82, statement="fused probability of sitting: 0.82"),
        EvidenceRow(id="E2", kind="feature", activity="sitting|standing", feature="thigh_right.acc.gravity_x.angle",
                    value=121.0, reference={"sitting median": 111.0, "standing median": 171.0},
                    statement="thigh_right.acc.gravity_x.angle = 121 deg; sitting median 111; standing median 171"),
    ],
)  # fmt: skip
PHRASES = {"sitting": "sitting", "standing": "standing", "running": "running"}


class Scripted:
    def __init__(self, replies):
        self.replies = list(replies)

    @property
    def model_id(self) -> str:
        return "scripted"

    def generate(self, messages, schema, *, max_tokens):
        return RawReply(text=self.replies.pop(0), model="scripted")


def test_template_explanation_cites_rows_and_passes_the_verifier():
    text, cited = template_explanation(TABLE)
    assert cited == ["E1", "E2"] and "(E2)" in text
    assert explain(TABLE, PHRASES, None).verification.passed


def _check_row(row_id: str, attribute: str, holds: bool, value: float) -> EvidenceRow:
    condition = ">= 60" if attribute == "torso" else "<= 1"
    return EvidenceRow(id=row_id, kind="attribute", activity="sitting", attribute=attribute, holds=holds, value=value,
                       reference={"lower": 60.0} if attribute == "torso" else {"upper": 1.0},
                       statement=f"sitting expects {attribute}: measured {value:g} (expected {condition}) — "
                       f"{'holds' if holds else 'does not hold'}")  # fmt: skip


def test_template_cites_a_failing_attribute_check_before_a_holding_one():
    rows = TABLE.rows + [_check_row("E3", "intensity", True, 0.5), _check_row("E4", "torso", False, 11.0)]
    table = TABLE.model_copy(update={"rows": rows})
    assert [r.id for r in table.failed_checks("sitting")] == ["E4"]
    assert table.failed_checks("sitting", ("intensity",)) == [] and table.failed_checks("standing") == []
    text, cited = template_explanation(table)
    assert cited[-1] == "E4" and "does not hold (E4)" in text
    assert explain(table, PHRASES, None).verification.passed
    holding = TABLE.model_copy(update={"rows": TABLE.rows + [_check_row("E3", "intensity", True, 0.5)]})
    assert template_explanation(holding)[1][-1] == "E3"  # nothing fails: the first check


def test_the_explaining_llm_sees_the_ten_most_relevant_rows_with_their_ids():
    from agent.explain import rows_for_prompt

    def row(i, kind, activity, holds=None):
        return EvidenceRow(id=f"E{i}", kind=kind, activity=activity, holds=holds, value=float(i), statement=f"fact {i}")

    kinds = [("score", "sitting"), ("score", "standing"), ("score", "lying"), ("neighbours", "sitting"),
             ("neighbours", "standing"), ("context", "sitting"), ("context", "standing"), ("context", "lying"),
             ("feature", "sitting|standing"), ("feature", "sitting|lying"), ("feature", "sitting|standing")]  # fmt: skip
    rows = [row(i, kind, activity) for i, (kind, activity) in enumerate(kinds, 1)]
    rows += [row(12, "attribute", "sitting", True), row(13, "attribute", "sitting", True),
             row(14, "attribute", "sitting", False), row(15, "attribute", "lying", False)]  # fmt: skip
    table = EvidenceTable(candidates=["sitting", "standing", "lying"], rows=rows)
    shown = [r.id for r in rows_for_prompt(table).rows]
    assert shown == ["E1", "E2", "E4", "E5", "E6", "E9", "E10", "E11", "E12", "E14"]  # table order, ids kept
    assert [r.id for r in rows_for_prompt(TABLE).rows] == ["E1", "E2"]  # a short table is shown whole
    seen = {}

    class Recording(Scripted):
        def generate(self, messages, schema, *, max_tokens):
            seen["prompt"] = messages[-1].content
            return super().generate(messages, schema, max_tokens=max_tokens)

    good = '{"text": "The sitting probability 1 and fact 14 support it (E1, E14).", "evidence_ids": ["E1", "E14"]}'
    explain(table, {"sitting": "sitting", "standing": "standing", "lying": "lying"}, Recording([good]))
    assert "fact 14" in seen["prompt"] and "fact 13" not in seen["prompt"]


def test_true_llm_text_is_shown_as_verified():
    good = '{"text": "The thigh angle of 121 deg is near the sitting median of 111 (E2).", "evidence_ids": ["E2"]}'
    result = explain(TABLE, PHRASES, Scripted([good]))
    assert result.status == "verified" and "121" in result.text


def test_invented_number_is_reasked_then_replaced_by_the_template():
    bad = '{"text": "The thigh angle of 95 deg shows running clearly.", "evidence_ids": []}'
    result = explain(TABLE, PHRASES, Scripted([bad, bad]))
    assert result.status == "template" and len(result.rejected) == 2
    assert result.verification.passed and "95" not in result.text


def test_reask_that_fixes_the_text_is_marked_as_such():
    bad = '{"text": "The thigh angle of 95 deg shows sitting.", "evidence_ids": []}'
    good = '{"text": "The thigh angle of 121 deg points to sitting (E2).", "evidence_ids": ["E2"]}'
    assert explain(TABLE, PHRASES, Scripted([bad, good])).status == "verified-after-reask"


def _stats(activity, feature, mean, std):
    quantiles = {"min": mean - 3 * std, "q05": mean - 1.6 * std, "q25": mean - 0.7 * std, "median": mean,
                 "q75": mean + 0.7 * std, "q95": mean + 1.6 * std, "max": mean + 3 * std}  # fmt: skip
    return {"activity": activity, "feature": feature, "count": 100, "mean": mean, "std": std, **quantiles}


def test_pairwise_votes_follow_the_closer_class_and_percentiles_interpolate():
    stats = pd.DataFrame([_stats("a", "f", 0.0, 1.0), _stats("b", "f", 10.0, 1.0)])
    ranked = RankedFeature(name="f", rank=1, importance=1.0, auroc=1.0, auroc_std=0.0, worst_fold_auroc=1.0, n_folds=2,
                           higher="b", **{k: v for k, v in _ranked_extras().items()})  # fmt: skip
    pairs = {("a", "b"): PairRanking(first="a", second="b", features=[ranked])}
    votes = pairwise_votes(np.array([[0.5], [9.0]]), ["f"], ["a", "b"], pairs, stats)
    assert votes[0].argmax() == 0 and votes[1].argmax() == 1 and np.allclose(votes.sum(1), 1)
    assert reference_percentile(stats.iloc[0], 0.0) == pytest.approx(50.0)
    assert reference_percentile(stats.iloc[0], -100.0) == 0.0


def _ranked_extras() -> dict:
    """The RankedFeature fields beyond the core ones, filled from the model's own schema defaults."""
    fields = RankedFeature.model_fields
    core = {"name", "rank", "importance", "auroc", "auroc_std", "worst_fold_auroc", "n_folds", "higher"}
    extras = {}
    for name, field in fields.items():
        if name in core or not field.is_required():
            continue
        annotation = str(field.annotation)
        extras[name] = 0.0 if "float" in annotation else ("" if "str" in annotation else 0)
    return extras


def test_a_text_that_cites_nothing_or_skips_the_decision_is_not_an_explanation():
    from agent.verifier import verify

    vague = "Decision: sitting (probability 0.82) is a behaviour."
    report = verify(vague, TABLE, PHRASES, decision="sitting", require_citation=True)
    assert not report.passed and {f.kind for f in report.failures} == {"citation"}
    off_topic = "The thigh angle of 121 deg (E2) is typical."
    report = verify(off_topic, TABLE, PHRASES, decision="sitting", require_citation=True)
    assert {f.kind for f in report.failures} == {"decision"}
    assert verify(off_topic, TABLE, PHRASES).passed  # without the two rules only the facts are checked


def test_range_units_and_expected_ranges_are_not_printed_as_numbers():
    from agent.evidence_builder import _unit_text
    from knowledge_base.attributes import expectation_phrase

    assert _unit_text("-1..1") == "" and _unit_text("deg") == " deg" and _unit_text("") == ""
    assert expectation_phrase("cadence_hz", "1.5-2.5 Hz", numbers=False) == "a rhythm within its cadence range"
    assert expectation_phrase("cadence_hz", "1.5-2.5 Hz") == "a rhythm of 1.5-2.5 Hz"
    assert expectation_phrase("torso", "upright", numbers=False) == "an upright trunk"


def test_gate_drops_a_signal_that_would_reward_evidence_for_the_other_side():
    from agent.sources import _fit_gate

    rng = np.random.default_rng(1)
    is_seen = np.repeat([True, False], 100)
    centroid = np.where(is_seen, 0.9, 0.5) + rng.normal(0, 0.05, 200)
    misleading_margin = np.where(is_seen, 2.0, -2.0) + rng.normal(0, 1.0, 200)  # "unseen evidence" higher on seen windows
    gate = _fit_gate(np.stack([misleading_margin, centroid], axis=1), is_seen)
    assert gate.coef[0] == 0.0 and gate.coef[1] > 0
    honest = _fit_gate(np.stack([-misleading_margin, centroid], axis=1), is_seen)
    assert honest.coef[0] < 0 and honest.coef[1] > 0


def test_seen_gate_refuses_signals_or_shapes_this_code_does_not_compute():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="fitted on signals"):
        SeenGate(signals=("unseen_margin",), mean=[0.0], scale=[1.0], coef=[-1.0], intercept=0.0)
    with pytest.raises(ValidationError, match="needs 2 means"):
        SeenGate(mean=[0.0], scale=[1.0, 1.0], coef=[-1.0, 1.0], intercept=0.0)
    assert _gate().signals == ("unseen_margin", "centroid_max")


def test_the_gate_reading_exists_only_when_some_activities_are_unseen():
    from agent.candidates import fuse_with_reading

    def novelty(scores, model):
        return fuse_with_reading(scores, model)[1]

    acts, seen = ["sitting", "running", "yoga"], ["sitting", "running"]
    near, far = [0.9, 0.1], [0.2, 0.1]  # cosines to the seen centroids
    scores = _scores([[0.5, 0.1, 0.3], [0.2, 0.1, 0.3]], [near, far], acts, seen)
    gate = _gate(margin_coef=0.0, centroid_coef=10.0, intercept=-5.0)
    reading = novelty(scores, _model(acts, seen, gate=gate))
    assert reading.nearest_cosine.tolist() == [0.9, 0.2]
    assert reading.seen_probability[0] > 0.9 > 0.1 > reading.seen_probability[1]
    assert reading.summary([0, 1]) == pytest.approx((reading.seen_probability.mean(), 0.55))
    assert novelty(_scores([near], [near], seen, seen), _model(seen, seen)) is None
