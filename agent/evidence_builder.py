"""Stage 2: the evidence table for one decision (a window or a timeline segment).

Rows, numbered E1, E2, … in this order:
- `score`: each candidate's fused probability;
- `neighbours`: how many of the nearest reference windows belong to each candidate;
- `context` (packs with a bout context): how many of its one-vs-one comparisons each candidate wins in the
  bout-context knowledge base, on the features averaged over the window's provisional bout;
- `bout_neighbours` (packs with bout neighbours): how many of the reference windows nearest to that average
  (each averaged over its own labelled bout) belong to each candidate;
- `feature`: for the leading candidate against each other candidate, the pair's top knowledge-base features,
  with the query's value, both activities' reference median and quartiles, and the value's percentile in each;
- `attribute`: the leading candidate's description predicates (and those of candidates without reference
  data), measured on the query.
Numbers are rounded to what a reader can check (3 significant digits) before they enter a row, so the
text the LLM copies and the number the verifier checks are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent.candidates import CandidateSet
from agent.evidence import EvidenceRow, EvidenceTable
from knowledge_base.attributes import expectation_phrase, measure_phrase
from knowledge_base.base import KnowledgeBase


def sig(value: float, digits: int = 3) -> float:
    """`value` rounded to `digits` significant digits (NaN stays NaN)."""
    if not np.isfinite(value) or value == 0:
        return float(value)
    return float(f"{value:.{digits}g}")


def _unit_text(unit: str) -> str:
    """A unit to print after a number; ranges such as "-1..1" are left out (they would read as numbers)."""
    return "" if not unit or any(ch.isdigit() for ch in unit) else f" {unit}"


def _fmt(value: float) -> str:
    return f"{sig(value):g}"


def build_evidence(
    kb: KnowledgeBase,
    query: np.ndarray,
    candidates: CandidateSet,
    neighbour_counts: dict[str, int],
    n_neighbours: int,
    features_per_pair: int = 2,
    max_rivals: int = 2,
    novelty: tuple[float, float] | None = None,
    context: BoutContext | None = None,
) -> EvidenceTable:
    """Every fact the decision and its explanation may cite, for one query's feature vector `query` (F,).
    `novelty` is the seen gate's (P(seen), nearest seen-centroid cosine) when some activities are unseen;
    `context` the bout-context votes when the pack has a second pass."""
    rows: list[EvidenceRow] = []
    probabilities = {a: round(p, 2) for a, p in zip(candidates.activities, candidates.probabilities)}

    def add(**fields) -> None:
        rows.append(EvidenceRow(id=f"E{len(rows) + 1}", **fields))

    for activity, probability in probabilities.items():
        add(kind="score", activity=activity, value=probability,
            statement=f"fused probability of {activity}: {probability:.2f}")  # fmt: skip
    for activity in candidates.activities:
        count = int(neighbour_counts.get(activity, 0))
        if activity in kb.activities_:
            add(kind="neighbours", activity=activity, value=float(count), reference={"of": float(n_neighbours)},
                statement=f"{count} of the {n_neighbours} most similar reference windows are {activity}")  # fmt: skip
    if context is not None:  # one group of rows per second-pass source, candidates in order within each
        for shares, row in ((context.shares, _context_row), (context.neighbour_shares, _bout_neighbours_row),
                            (context.linear_probabilities, _bout_linear_row)):  # fmt: skip
            for activity in candidates.activities:
                if activity in shares:
                    row(context, activity, add)
    leader = candidates.activities[0]
    if novelty is not None:
        p_seen, cosine = round(novelty[0], 2), round(novelty[1], 2)
        add(kind="novelty", activity=leader, value=p_seen, reference={"nearest_cosine": cosine},
            statement=f"probability that this is an activity with reference data: {p_seen:.2f} (the closest "
            f"such activity's mean signal embedding has cosine {cosine:.2f})")  # fmt: skip
    rivals = [a for a in candidates.activities[1:] if a in kb.activities_][:max_rivals]
    if leader in kb.activities_:
        for rival in rivals:
            for ranked in kb.top_features(leader, rival, features_per_pair):
                _feature_row(kb, query, leader, rival, ranked.name, add)
    unseen = [a for a in candidates.activities if a not in kb.activities_]
    for activity in [leader] + [a for a in unseen if a != leader]:
        for result in kb.check(query, activity):
            if result.holds is None or result.value is None or not np.isfinite(result.value):
                continue
            bounds = {name: sig(v) for name, v in (("lower", result.lower), ("upper", result.upper)) if v is not None}
            add(kind="attribute", activity=activity, feature=result.feature, unit=result.unit,
                value=sig(result.value), holds=result.holds, reference=bounds, attribute=result.attribute,
                statement=f"{activity} expects {expectation_phrase(result.attribute, result.expected, numbers=False)}: "
                f"{measure_phrase(result.attribute, result.feature)} {_fmt(result.value)}{_unit_text(result.unit)} "
                f"(expected {result.condition}) — {'holds' if result.holds else 'does not hold'}")  # fmt: skip
    return EvidenceTable(candidates=list(candidates.activities), probabilities=probabilities, rows=rows)


@dataclass(frozen=True)
class BoutContext:
    """The second pass's votes for one decision (means over a segment's windows): vote share per seen activity
    in the bout-context knowledge base and, when the pack has them, among the nearest reference bouts and the
    linear model's probability."""

    shares: dict[str, float]
    half_width_s: float
    neighbour_shares: dict[str, float] = field(default_factory=dict)
    n_neighbours: int = 0
    linear_probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def comparisons(self) -> int:
        """One-vs-one comparisons each activity plays: one per other activity with reference data."""
        return len(self.shares) - 1


def _context_row(context: BoutContext, activity: str, add) -> None:
    n = len(context.shares)
    wins = round(context.shares[activity] * n * (n - 1) / 2, 1)  # shares of all n(n-1)/2 comparisons' wins
    add(kind="context", activity=activity, value=wins,
        reference={"of": float(context.comparisons), "half_width_s": float(context.half_width_s)},
        statement=f"Over its bout (±{context.half_width_s:g} s), {activity} wins {wins:g} of its {context.comparisons} "
        f"one-vs-one comparisons in the bout-context knowledge base")  # fmt: skip


def _bout_neighbours_row(context: BoutContext, activity: str, add) -> None:
    count = round(context.neighbour_shares[activity] * context.n_neighbours, 1)
    how_many = f"{count:g}" if float(count).is_integer() else f"on average {count:g}"  # a segment's mean count
    add(kind="bout_neighbours", activity=activity, value=count,
        reference={"of": float(context.n_neighbours), "half_width_s": float(context.half_width_s)},
        statement=f"Averaged over its bout (±{context.half_width_s:g} s), it is closest to {context.n_neighbours} "
        f"reference windows averaged alike, {how_many} of them {activity}")  # fmt: skip


def _bout_linear_row(context: BoutContext, activity: str, add) -> None:
    probability = round(context.linear_probabilities[activity], 2)
    add(kind="bout_linear", activity=activity, value=probability, reference={"half_width_s": float(context.half_width_s)},
        statement=f"Averaged over its bout (±{context.half_width_s:g} s), a linear model of the reference bouts gives "
        f"{activity} probability {probability:.2f}")  # fmt: skip


def _feature_row(kb: KnowledgeBase, query: np.ndarray, leader: str, rival: str, name: str, add) -> None:
    column = kb.feature_names_.index(name)
    value = float(query[column])
    if not np.isfinite(value):
        return
    entry = kb.glossary_.get(name)
    label = f"{entry.definition}" if entry else name
    unit = entry.unit if entry else ""
    reference: dict[str, float] = {}
    parts = []
    for activity in (leader, rival):
        stats = kb.feature_stats(activity, name)
        percentile = round(kb.percentile(activity, name, value))
        reference.update({f"{activity} median": sig(stats.median), f"{activity} q25": sig(stats.q25),
                          f"{activity} q75": sig(stats.q75), f"{activity} percentile": float(percentile)})  # fmt: skip
        parts.append(f"{activity} median {_fmt(stats.median)} (IQR {_fmt(stats.q25)}–{_fmt(stats.q75)}), "
                     f"percentile {percentile}")  # fmt: skip
    shown_unit = _unit_text(unit)
    add(kind="feature", activity=f"{leader}|{rival}", feature=name, feature_label=label, unit=unit,
        value=sig(value), reference=reference, percentile=reference[f"{leader} percentile"],
        statement=f"{name} = {_fmt(value)}{shown_unit}; " + "; ".join(parts))  # fmt: skip
