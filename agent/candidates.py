"""Stage 1: fuse every source of evidence into calibrated probabilities and keep the likely candidates.

Sources, per window:
- `prototype`: cosine of the encoder embedding to each activity's text prototype (seen and unseen);
- `centroid`: cosine to the mean reference embedding of each seen activity;
- `neighbours`: the reciprocal-rank-fused vote of the nearest reference windows (seen only);
- `pairwise`: the knowledge base's one-vs-one votes on each pair's top features (seen only);
- `attributes`: the share of an activity's description predicates that hold (used for unseen activities);
- `context` (second pass, `agent.context`): the context knowledge base's votes on the window's features
  averaged over its provisional bout (seen only), added with its own weight fitted after the other four;
- `context_neighbours` (second pass): the vote of the reference bouts nearest to that average (seen only),
  with a weight fitted together with `context`'s;
- `context_linear` (second pass): a linear model's probabilities for that average (seen only), its weight
  fitted with the other two.

Fusion is hierarchical. A seen gate (a logistic model on two signals: how much better the best unseen
activity's prototype-plus-attribute score is than the best seen prototype, and how close the window is to
the nearest seen centroid) splits the probability between seen and unseen activities. Within the unseen
ones, the prototypes and the attribute checks (weighted) decide. Within the seen ones the four sources are
summed in log space with non-negative weights fitted on out-of-sample reference scores (the reference
subjects split in folds, each scored by components fitted without it: see `harlens.pack`), so the fit
never sees windows that vote for themselves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field, model_validator

SEEN_SOURCES = ("prototype", "centroid", "neighbours", "pairwise")
GATE_SIGNALS = ("unseen_margin", "centroid_max")
ATTRIBUTE_FLOOR = 0.1  # added to an attribute share before the log: a failed check lowers, never vetoes


class FusionSettings(BaseModel):
    """Fixed before any data is seen; only `FusionModel.temperature` is fitted."""

    prototype_kind: str = "description"
    prototype_temperature: float = Field(default=0.05, gt=0)
    centroid_temperature: float = Field(default=0.05, gt=0)
    neighbours_k: int = Field(default=10, ge=1)
    pairwise_k: int = Field(default=5, ge=1)
    floor: float = Field(default=0.01, gt=0, description="added to shares before the log, so one source cannot veto")
    cumulative: float = Field(default=0.95, gt=0, le=1, description="keep candidates until this much probability")
    max_candidates: int = Field(default=5, ge=2)


class SeenGate(BaseModel):
    """Logistic P(the window shows a seen activity) on standardised :data:`GATE_SIGNALS`, fitted on held-out
    reference windows of seen and pseudo-unseen activities, its intercept then set for the best H."""

    signals: tuple[str, ...] = GATE_SIGNALS
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    @model_validator(mode="after")
    def _matches_this_code(self) -> SeenGate:
        """A gate fitted on other signals would silently mis-weight this code's signals: refuse it."""
        if tuple(self.signals) != GATE_SIGNALS:
            raise ValueError(f"the seen gate was fitted on signals {list(self.signals)}, this harlens computes "
                             f"{list(GATE_SIGNALS)}; rebuild the pack")  # fmt: skip
        if not len(self.mean) == len(self.scale) == len(self.coef) == len(GATE_SIGNALS):
            raise ValueError(f"the seen gate needs {len(GATE_SIGNALS)} means, scales and coefficients; got "
                             f"{len(self.mean)}, {len(self.scale)}, {len(self.coef)}")  # fmt: skip
        return self

    def logit(self, signals: np.ndarray) -> np.ndarray:
        standardised = (signals - np.asarray(self.mean)) / np.asarray(self.scale)
        return standardised @ np.asarray(self.coef) + self.intercept


class PlacementWeights(BaseModel):
    """Source weights for windows that carry only some of a multi-placement pack's placements."""

    weights: dict[str, float] = Field(description="weight of each seen source, fitted on the held-out folds scored "
                                      "with these placements' channels only")
    temperature: float = Field(gt=0)
    reference_nll: float
    reference_accuracy: float


class FusionModel(BaseModel):
    """The fitted fusion stored in a pack (`fusion/fusion.json`)."""

    settings: FusionSettings = Field(default_factory=FusionSettings)
    activities: list[str] = Field(description="every activity the pack can answer, seen first")
    seen: list[str]
    centroids: list[list[float]] = Field(description="unit mean reference embedding per seen activity")
    weights: dict[str, float] = Field(description="weight of each seen source, fitted on out-of-sample reference NLL")
    temperature: float = Field(gt=0, description="divides the fused seen log-scores (1 when the weights carry the scale)")
    attribute_weight: float = Field(default=0.0, ge=0, description="weight of the log attribute share next to the "
                                    "prototype logits of unseen activities, chosen on pseudo-unseen reference activities")
    seen_gate: SeenGate | None = Field(default=None, description="P(seen) per window; required when some activities "
                                       "are unseen")
    reference_nll: float
    reference_accuracy: float
    placement_weights: dict[str, PlacementWeights] = Field(
        default_factory=dict, description="weights for a recording that carries only some of the pack's placements, "
        "keyed by those placements joined with '+' (`agent.sources.placement_subsets` says which subsets; empty: "
        "one-placement packs, and packs built before them)")  # fmt: skip
    held_out_folds: int | None = Field(default=None, ge=1, description="how many folds of reference subjects the "
                                       "weights were fitted on (None: packs built before it was recorded, on 2)")
    reference_h: float | None = Field(default=None, description="H on the held-out folds with the fitted gate")
    context_weight: float = Field(default=0.0, ge=0, description="weight of the bout-context votes (0: packs built "
                                  "before the bout context, which decide each window from itself)")
    context_half_width_s: float | None = Field(default=None, gt=0, description="a window's context reaches this far "
                                               "either side, within its provisional bout; chosen on held-out folds")
    context_neighbours_weight: float = Field(default=0.0, ge=0, description="weight of the votes of the reference bouts "
                                             "nearest to a window's bout (0: packs built before them)")
    context_neighbours_top_k: int | None = Field(default=None, ge=1, description="the bout neighbours compare the "
                                                  "union of each activity pair's top-k features in the context "
                                                  "knowledge base (None: every feature)")  # fmt: skip
    context_linear_weight: float = Field(default=0.0, ge=0, description="weight of the linear model's probabilities "
                                         "for a window's bout (0: packs built before it)")  # fmt: skip
    context_fitted_on: str | None = Field(default=None, description="how the context weights and width were chosen")
    fitted_on: str = Field(description="how the temperature was fitted (which windows, which hold-outs)")

    def for_placements(self, placements: list[str]) -> FusionModel:
        """The fusion for windows carrying `placements` (in any order): the weights fitted for that subset of the
        pack's placements when it has some, else this fusion. The all-placement weights lean on pairwise votes
        that a few sensors' features make overconfident (dsads-xsub folds, torso only: accuracy 0.63 with them,
        0.76 with its own)."""
        wanted = set(placements)
        own = next((w for key, w in self.placement_weights.items() if set(key.split("+")) == wanted), None)
        return self if own is None else self.model_copy(update={"weights": own.weights, "temperature": own.temperature})


@dataclass
class SourceScores:
    """Raw scores of one batch of windows. Seen-only matrices follow `seen`; the others `activities`."""

    activities: list[str]
    seen: list[str]
    prototype: np.ndarray  # (N, A) cosine
    centroid: np.ndarray  # (N, S) cosine
    neighbours: np.ndarray  # (N, S) vote shares
    pairwise: np.ndarray  # (N, S) win shares
    attributes: np.ndarray | None = None  # (N, A) share of predicates holding, NaN when none apply
    context: np.ndarray | None = None  # (N, S) bout-context vote shares (second pass), None before it
    context_neighbours: np.ndarray | None = None  # (N, S) nearest reference bouts' vote shares (second pass)
    context_linear: np.ndarray | None = None  # (N, S) the bout linear model's probabilities (second pass)

    def __len__(self) -> int:
        return len(self.prototype)

    def first_pass(self) -> SourceScores:
        """The same scores without the second pass's votes: what each window says from itself."""
        return dataclasses.replace(self, context=None, context_neighbours=None, context_linear=None)

    def take(self, rows: np.ndarray) -> SourceScores:
        """The same scores for a subset of the windows."""
        return SourceScores(activities=self.activities, seen=self.seen, prototype=self.prototype[rows],
                            centroid=self.centroid[rows], neighbours=self.neighbours[rows], pairwise=self.pairwise[rows],
                            attributes=None if self.attributes is None else self.attributes[rows],
                            context=None if self.context is None else self.context[rows],
                            context_neighbours=None if self.context_neighbours is None else self.context_neighbours[rows],
                            context_linear=None if self.context_linear is None else self.context_linear[rows])  # fmt: skip


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def seen_log_scores(scores: SourceScores, settings: FusionSettings) -> dict[str, np.ndarray]:
    """Each seen source as (N, S) log-probabilities: what the trace shows per source (`context` once the
    second pass has run)."""
    seen_columns = [scores.activities.index(a) for a in scores.seen]
    parts = {
        "prototype": log_softmax(scores.prototype[:, seen_columns] / settings.prototype_temperature),
        "centroid": log_softmax(scores.centroid / settings.centroid_temperature),
        "neighbours": np.log(scores.neighbours + settings.floor),
        "pairwise": np.log(scores.pairwise + settings.floor),
    }
    if scores.context is not None:
        parts["context"] = np.log(scores.context + settings.floor)
    if scores.context_neighbours is not None:
        parts["context_neighbours"] = np.log(scores.context_neighbours + settings.floor)
    if scores.context_linear is not None:
        parts["context_linear"] = np.log(scores.context_linear + settings.floor)
    return parts


def weighted_logits(parts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """(N, S) weighted sum of the seen sources' log-probabilities (before the temperature)."""
    if sum(weights.get(name, 0.0) for name in SEEN_SOURCES) <= 0:
        raise ValueError(f"fusion weights {weights} give no source a positive weight")
    return sum(weights.get(name, 0.0) * parts[name] for name in SEEN_SOURCES)


def fused_seen_logits(scores: SourceScores, settings: FusionSettings, weights: dict[str, float],
                      context_weight: float = 0.0, context_neighbours_weight: float = 0.0,
                      context_linear_weight: float = 0.0) -> np.ndarray:  # fmt: skip
    """The four sources' weighted sum, plus the second pass's votes (bout-context knowledge base, nearest
    reference bouts, linear model) when it has scored them."""
    parts = seen_log_scores(scores, settings)
    logits = weighted_logits(parts, weights)
    for name, weight in (("context", context_weight), ("context_neighbours", context_neighbours_weight),
                         ("context_linear", context_linear_weight)):  # fmt: skip
        if weight > 0 and name in parts:
            logits = logits + weight * parts[name]
    return logits


def unseen_logits(scores: SourceScores, settings: FusionSettings, attribute_weight: float) -> np.ndarray:
    """(N, U) scores of the unseen activities (in `activities` order): prototype logits plus the weighted log
    share of their description checks that hold (0.5 where nothing is checkable)."""
    unseen = ~_seen_mask(scores)
    logits = scores.prototype[:, unseen] / settings.prototype_temperature
    if scores.attributes is not None and attribute_weight > 0:
        share = np.nan_to_num(scores.attributes[:, unseen], nan=0.5)
        logits = logits + attribute_weight * np.log(share + ATTRIBUTE_FLOOR)
    return logits


def gate_signals(scores: SourceScores, settings: FusionSettings, unseen: np.ndarray) -> np.ndarray:
    """(N, 2) :data:`GATE_SIGNALS` given the windows' :func:`unseen_logits`: best unseen score minus best
    seen prototype logit (nats), and the cosine to the nearest seen centroid (a window far from every seen
    activity is likely unseen)."""
    best_seen = scores.prototype[:, _seen_mask(scores)].max(axis=1) / settings.prototype_temperature
    return np.stack([unseen.max(axis=1) - best_seen, scores.centroid.max(axis=1)], axis=1)


def seen_probability(scores: SourceScores, model: FusionModel, unseen: np.ndarray) -> np.ndarray:
    """(N,) P(seen activity) from the model's gate, given the windows' :func:`unseen_logits`."""
    if model.seen_gate is None:
        raise ValueError("this fusion model has unseen activities but no seen gate; rebuild the pack")
    logit = model.seen_gate.logit(gate_signals(scores, model.settings, unseen))
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -30.0, 30.0)))


@dataclass
class Novelty:
    """What the seen gate read, per window: the clinician's answer to "why an activity without reference data?"."""

    seen_probability: np.ndarray  # (N,) P(a seen activity)
    nearest_cosine: np.ndarray  # (N,) cosine to the nearest seen activity's mean reference embedding

    def summary(self, rows) -> tuple[float, float]:
        """(mean P(seen), median nearest cosine) over `rows` (a window or a timeline segment)."""
        return float(np.mean(self.seen_probability[rows])), float(np.median(self.nearest_cosine[rows]))

    def take(self, rows: np.ndarray) -> Novelty:
        return Novelty(self.seen_probability[rows], self.nearest_cosine[rows])


def _seen_mask(scores: SourceScores) -> np.ndarray:
    mask = np.zeros(len(scores.activities), dtype=bool)
    mask[[scores.activities.index(a) for a in scores.seen]] = True
    return mask


def fuse(scores: SourceScores, model: FusionModel) -> np.ndarray:
    """(N, A) calibrated probabilities over `model.activities`."""
    return fuse_with_reading(scores, model)[0]


def fuse_with_reading(scores: SourceScores, model: FusionModel) -> tuple[np.ndarray, Novelty | None]:
    """:func:`fuse`, and the seen gate's reading that split the probability (None when every activity has
    reference data): the evidence shows the very P(seen) the decision used."""
    settings = model.settings
    logits = fused_seen_logits(scores, settings, model.weights, model.context_weight, model.context_neighbours_weight,
                               model.context_linear_weight)  # fmt: skip
    within_seen = np.exp(log_softmax(logits / model.temperature))
    if set(scores.seen) == set(scores.activities):
        return within_seen[:, np.argsort([scores.activities.index(a) for a in scores.seen])], None
    unseen = unseen_logits(scores, settings, model.attribute_weight)
    p_seen = seen_probability(scores, model, unseen)
    out = np.zeros((len(scores), len(scores.activities)))
    out[:, [scores.activities.index(a) for a in scores.seen]] = p_seen[:, None] * within_seen
    out[:, ~_seen_mask(scores)] = (1.0 - p_seen[:, None]) * np.exp(log_softmax(unseen))
    return out, Novelty(p_seen, scores.centroid.max(axis=1))


def fit_weights(parts: dict[str, np.ndarray], truth: np.ndarray) -> tuple[dict[str, float], float, float]:
    """Non-negative source weights minimising the NLL of `truth` (column indices) on out-of-sample scores.

    Four numbers fitted by L-BFGS on log-weights: the sources' scales differ (a cosine softmax spans tens of
    nats, pairwise win shares a few), so the weights set both trust and scale; their sum plays the role of
    an inverse temperature, and the returned temperature is 1."""
    from scipy.optimize import minimize

    stacked = np.stack([parts[name] for name in SEEN_SOURCES])
    rows = np.arange(len(truth))

    def loss(log_weights: np.ndarray) -> float:
        return float(-log_softmax(np.tensordot(np.exp(log_weights), stacked, axes=1))[rows, truth].mean())

    fitted = minimize(loss, np.zeros(len(SEEN_SOURCES)), method="L-BFGS-B", bounds=[(-12.0, 5.0)] * len(SEEN_SOURCES))
    weights = {name: float(np.exp(w)) for name, w in zip(SEEN_SOURCES, fitted.x)}
    return weights, 1.0, float(fitted.fun)


class CandidateSet(BaseModel):
    """The activities kept for one window, most likely first, with their probabilities."""

    activities: list[str]
    probabilities: list[float]

    @property
    def top(self) -> str:
        return self.activities[0]

    @property
    def margin(self) -> float:
        return self.probabilities[0] - (self.probabilities[1] if len(self.probabilities) > 1 else 0.0)


def seen_unseen_accuracy(predicted: np.ndarray, truth: np.ndarray, seen: list[str], unseen: list[str]) -> tuple[float, float, float]:
    """(S, U, H): accuracy on windows of seen and of unseen activities and their harmonic mean (0 if either
    is 0; NaN when the windows lack one of the two groups)."""
    seen_rows, unseen_rows = np.isin(truth, seen), np.isin(truth, unseen)
    if not seen_rows.any() or not unseen_rows.any():
        return float("nan"), float("nan"), float("nan")
    s = float((predicted[seen_rows] == truth[seen_rows]).mean())
    u = float((predicted[unseen_rows] == truth[unseen_rows]).mean())
    return s, u, 0.0 if s + u == 0 else 2 * s * u / (s + u)


def harmonic_accuracy(predicted: np.ndarray, truth: np.ndarray, seen: list[str], unseen: list[str]) -> float:
    """H of :func:`seen_unseen_accuracy`."""
    return seen_unseen_accuracy(predicted, truth, seen, unseen)[2]


def select_candidates(probabilities: np.ndarray, activities: list[str], settings: FusionSettings) -> list[CandidateSet]:
    """Per window: most likely first, until the cumulative probability reaches `settings.cumulative`,
    at least two (a decision always has an alternative to argue against) and at most `max_candidates`."""
    order = np.argsort(-probabilities, axis=1, kind="stable")
    sets = []
    for row, ranked in zip(probabilities, order):
        cumulative = np.cumsum(row[ranked])
        count = int(np.searchsorted(cumulative, settings.cumulative - 1e-12) + 1)
        count = min(max(count, 2), settings.max_candidates, len(activities))
        kept = ranked[:count]
        sets.append(CandidateSet(activities=[activities[i] for i in kept], probabilities=[float(row[i]) for i in kept]))
    return sets


def candidate_recall(sets: list[CandidateSet], truth: list[str | None]) -> float:
    """Share of labelled windows whose true activity is among their candidates."""
    pairs = [(s, t) for s, t in zip(sets, truth) if t]
    return float(np.mean([t in s.activities for s, t in pairs])) if pairs else float("nan")
