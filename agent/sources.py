"""The reference components the agent reads, and the per-window scores each of them contributes.

`ReferenceComponents` is what a pack opens into (the composition root, `harlens.pack.open_pack`, builds it);
`score_sources` turns a batch of windows into :class:`agent.candidates.SourceScores` (pass one; the bout
context of pass two is `agent.context`), and `fit_fusion` fits the fusion on held-out reference subjects.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from agent.candidates import (
    FusionModel,
    FusionSettings,
    Novelty,
    PlacementWeights,
    SeenGate,
    SourceScores,
    fit_weights,
    fuse,
    gate_signals,
    harmonic_accuracy,
    seen_log_scores,
    unseen_logits,
    weighted_logits,
)
from agent.context import ContextFold, fit_context
from encoders.calibration import plateau_middle
from encoders.model import IMUEncoder
from knowledge_base.attributes import POSTURE_ATTRIBUTES
from knowledge_base.base import KnowledgeBase
from knowledge_base.linear import LinearFeatureModel
from recordings.channels import channels_of
from recordings.windows import Windows
from retrieval.feature_neighbours import FeatureNeighbours
from retrieval.metadata import MetadataFilter
from retrieval.multi import MultiPlacementIndex
from retrieval.voting import knn_vote

log = logging.getLogger(__name__)


@dataclass
class ReferenceComponents:
    """Everything learned from reference data that an analysis needs (no file paths, no I/O)."""

    knowledge_base: KnowledgeBase
    encoder: IMUEncoder
    index: MultiPlacementIndex
    activities: list[str]
    seen: list[str]
    window_s: float
    stride_s: float
    sampling_rate_hz: float
    channels: list[str]
    fusion: FusionModel | None = None
    context_knowledge_base: KnowledgeBase | None = None  # votes on bout-context means (second pass)
    context_neighbours: FeatureNeighbours | None = None  # nearest reference bout-context means (second pass)
    context_linear: LinearFeatureModel | None = None  # linear model of the reference bout-context means (second pass)
    _prototypes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def prototype_matrix(self, kind: str) -> np.ndarray:
        if kind not in self._prototypes:
            self._prototypes[kind] = self.encoder.prototypes(self.activities, kind).matrix
        return self._prototypes[kind]

    @property
    def reference_labels(self):
        return self.index.metadata_["activity"]


@dataclass
class WindowEvidence:
    """Per-window material the later stages cite: features, neighbour votes and embedding."""

    features: np.ndarray  # (N, F) in the knowledge base's feature order, NaN where a channel is missing
    embeddings: np.ndarray  # (N, D)
    neighbour_ids: np.ndarray  # (N, k) reference row ids, -1 when missing
    scores: SourceScores
    novelty: Novelty | None = None  # the seen gate's reading, set once the fusion has run (zero-shot packs)

    def take(self, rows: np.ndarray) -> WindowEvidence:
        """The same evidence for a subset of the windows."""
        return WindowEvidence(features=self.features[rows], embeddings=self.embeddings[rows],
                              neighbour_ids=self.neighbour_ids[rows], scores=self.scores.take(rows),
                              novelty=None if self.novelty is None else self.novelty.take(rows))  # fmt: skip


def window_features(kb: KnowledgeBase, windows: Windows) -> np.ndarray:
    """Features in the base's order; a recording missing some of the base's channels gets NaN there."""
    if tuple(windows.channels) == tuple(kb.extractor_.channels_):
        return kb.transform(windows)
    values, names = kb.query_features(windows)
    position = {name: i for i, name in enumerate(names)}
    out = np.full((len(windows), len(kb.feature_names_)), np.nan, dtype=np.float32)
    for column, name in enumerate(kb.feature_names_):
        if name in position:
            out[:, column] = values[:, position[name]]
    return out


def score_sources(
    components: ReferenceComponents,
    windows: Windows,
    settings: FusionSettings,
    centroids: np.ndarray,
    features: np.ndarray | None = None,
    exclude_subjects: tuple[str, ...] | None = None,
) -> WindowEvidence:
    """Every source's scores for `windows` (`exclude_subjects` keeps those subjects out of the neighbours)."""
    kb, encoder, index = components.knowledge_base, components.encoder, components.index
    features = window_features(kb, windows) if features is None else features
    embeddings = encoder.embed(windows)
    parts = {p: v for p, v in encoder.embed_placements(windows).items() if p in index.placements}
    filter_ = MetadataFilter(exclude_subjects=exclude_subjects) if exclude_subjects else None
    result = index.search(parts, k=settings.neighbours_k, filter=filter_)
    _, shares = knn_vote(result, components.reference_labels, settings.neighbours_k, classes=components.seen)
    scores = SourceScores(
        activities=list(components.activities),
        seen=list(components.seen),
        prototype=embeddings @ components.prototype_matrix(settings.prototype_kind).T,
        centroid=embeddings @ centroids.T,
        neighbours=shares,
        pairwise=kb.pairwise_votes(features, list(components.seen), settings.pairwise_k),
        attributes=attribute_shares(kb, features, components.activities, set(components.seen)),
    )
    return WindowEvidence(features=features, embeddings=embeddings, neighbour_ids=result.ids, scores=scores)


def attribute_shares(kb: KnowledgeBase, features: np.ndarray, activities: list[str], seen: set[str]) -> np.ndarray:
    """(N, A) share of each unseen activity's description predicates that hold (NaN for seen ones and
    where nothing is checkable): the only signal-side evidence an activity without reference data has."""
    out = np.full((len(features), len(activities)), np.nan)
    for column, activity in enumerate(activities):
        if activity in seen:
            continue
        holds = [c.holds for c in kb.evaluate(features, activity) if c.holds is not None]
        if holds:
            out[:, column] = np.mean(np.stack(holds).astype(float), axis=0)
    return out


def posture_contradicted(kb: KnowledgeBase, features: np.ndarray, decided: np.ndarray, seen: set[str]) -> np.ndarray:
    """(N,) True where the decided activity has no reference data and its description's posture checks (trunk
    orientation, lying side) fail on the window: the per-window form of the `posture-contradicts-description`
    segment flag, for measuring how often such decisions are wrong."""
    out = np.zeros(len(features), dtype=bool)
    for activity in sorted(set(np.asarray(decided, dtype=object).astype(str)) - seen):
        rows = np.flatnonzero(decided == activity)
        for column in kb.evaluate(features[rows], activity):
            if column.attribute in POSTURE_ATTRIBUTES and column.holds is not None:
                out[rows[~column.holds]] = True
    return out


def class_centroids(embeddings: np.ndarray, labels: np.ndarray, seen: list[str]) -> np.ndarray:
    """(S, D) unit mean embedding of each seen activity."""
    rows = []
    for activity in seen:
        mean = embeddings[labels == activity].mean(axis=0)
        rows.append(mean / max(np.linalg.norm(mean), 1e-12))
    return np.stack(rows).astype(np.float32)


@dataclass
class HeldOutFold:
    """Components fitted without some reference subjects, and those subjects' windows: out-of-sample
    scores for fitting the fusion (an encoder scoring the windows it was trained on is overconfident)."""

    components: ReferenceComponents
    centroids: np.ndarray
    held_out: Windows
    train: Windows  # the windows the fold's components were fitted on
    train_features: np.ndarray  # their features, for the fold's context knowledge base


ATTRIBUTE_WEIGHTS = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 50.0)
GATE_BIASES = tuple(np.round(np.arange(-4.0, 4.0001, 0.1), 2).tolist())


def fit_fusion(final: ReferenceComponents, reference: Windows, folds: list[HeldOutFold],
               settings: FusionSettings | None = None, progress=None) -> FusionModel:  # fmt: skip
    """Source weights from the folds' out-of-sample scores; when the pack has unseen activities, also the
    attribute weight and seen gate that the folds' pseudo-unseen activities call for (activities each fold's
    components were fitted without). Centroids come from `final`'s encoder over all reference windows."""
    settings = settings or FusionSettings()
    scored = []
    for number, fold in enumerate(folds, 1):
        if progress:
            progress(f"fusion: scoring held-out fold {number}/{len(folds)}")
        evidence = score_sources(fold.components, fold.held_out, settings, fold.centroids)
        scored.append((fold, evidence, np.asarray(fold.held_out.label_names, dtype=object).astype(str)))
    parts, truth_all = _pooled_seen_parts([(fold, evidence.scores) for fold, evidence, _ in scored], settings)
    weights, temperature, nll = fit_weights(parts, truth_all)
    accuracy = _accuracy(parts, truth_all, weights, temperature)
    log.info("fusion weights %s (held-out NLL %.3f, accuracy %.3f)", weights, nll, accuracy)
    labels = np.asarray(reference.label_names, dtype=object)
    held_subjects = [sorted({str(subject) for subject in f.held_out.subjects}) for f in folds]  # plain str in the text
    model = FusionModel(
        settings=settings,
        activities=list(final.activities),
        seen=list(final.seen),
        centroids=class_centroids(final.encoder.embed(reference), labels, list(final.seen)).tolist(),
        weights=weights,
        temperature=temperature,
        reference_nll=nll,
        reference_accuracy=accuracy,
        placement_weights=_fit_placement_weights(folds, settings, progress),
        held_out_folds=len(folds),
        fitted_on=f"{len(truth_all)} reference windows scored out of sample: {len(folds)} folds holding out "
        f"{held_subjects}, each with its own knowledge base, encoder and indexes",
    )
    if set(final.activities) != set(final.seen):
        model = _fit_zero_shot(model, scored)
        log.info("attribute weight %.0f, seen gate %s (held-out H %.3f)", model.attribute_weight,
                 model.seen_gate.coef, model.reference_h)  # fmt: skip
    context_folds = [ContextFold(train=fold.train, train_features=fold.train_features, held_out=fold.held_out,
                                 held_features=evidence.features, scores=evidence.scores, seen=list(fold.components.seen))
                     for fold, evidence, _ in scored]  # fmt: skip
    return fit_context(model, context_folds, final.stride_s, progress)


def _pooled_seen_parts(scored: list[tuple[HeldOutFold, SourceScores]], settings: FusionSettings):
    """The folds' seen-source log-scores and true column indices, pooled over the windows of activities each
    fold's components saw (a fold's pseudo-unseen activities have no seen column to be right in)."""
    chunks, truth = [], []
    for fold, scores in scored:
        labels = np.asarray(fold.held_out.label_names, dtype=object).astype(str)
        fold_seen = list(fold.components.seen)
        rows = np.flatnonzero(np.isin(labels, fold_seen))
        chunks.append({name: values[rows] for name, values in seen_log_scores(scores, settings).items()})
        truth.append(np.array([fold_seen.index(a) for a in labels[rows]], dtype=int))
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}, np.concatenate(truth)


def _accuracy(parts: dict[str, np.ndarray], truth: np.ndarray, weights: dict[str, float], temperature: float) -> float:
    return float(((weighted_logits(parts, weights) / temperature).argmax(axis=1) == truth).mean())


MAX_SUBSET_PLACEMENTS = 3  # a pack's subsets with more placements keep its all-placement weights


def placement_subsets(placements: list[str]) -> list[tuple[str, ...]]:
    """The subsets of a pack's placements that get weights of their own: 1 to n-2 placements (at least 1, at
    most :data:`MAX_SUBSET_PLACEMENTS`), in the pack's order. On dsads-xsub's reference folds (leave one fold
    out) own weights lift mean accuracy from 0.68 to 0.76 for one placement and 0.84 to 0.86 for two, and do
    nothing for four of five."""
    largest = min(MAX_SUBSET_PLACEMENTS, max(1, len(placements) - 2)) if len(placements) > 1 else 0
    return [subset for size in range(1, largest + 1) for subset in itertools.combinations(placements, size)]


def subset_key(placements: tuple[str, ...] | list[str]) -> str:
    """How a subset is named in `FusionModel.placement_weights`."""
    return "+".join(placements)


def _fit_placement_weights(folds: list[HeldOutFold], settings: FusionSettings,
                           progress=None) -> dict[str, PlacementWeights]:  # fmt: skip
    """Source weights per subset of a multi-placement pack's placements, fitted on the same held-out folds scored
    with that subset's channels only (no refitting of the folds' components: a missing placement is just
    absent channels). A recording with some of the placements then gets weights fitted on windows like it."""
    subsets = placement_subsets(folds[0].held_out.placements)
    fitted = {}
    for number, subset in enumerate(subsets, 1):
        if progress:
            progress(f"fusion: weights for {subset_key(subset)} alone ({number}/{len(subsets)}), on {len(folds)} held-out folds")
        channels = channels_of(folds[0].held_out.channels, subset)
        scored = []
        for fold in folds:
            only = fold.held_out.select_channels(channels)
            scored.append((fold, score_sources(fold.components, only, settings, fold.centroids).scores))
        parts, truth = _pooled_seen_parts(scored, settings)
        weights, temperature, nll = fit_weights(parts, truth)
        fitted[subset_key(subset)] = PlacementWeights(weights=weights, temperature=temperature, reference_nll=nll,
                                                      reference_accuracy=_accuracy(parts, truth, weights, temperature))  # fmt: skip
        log.info("%s alone: weights %s (held-out NLL %.3f, accuracy %.3f)", subset_key(subset), weights, nll,
                 fitted[subset_key(subset)].reference_accuracy)  # fmt: skip
    return fitted


def _fit_zero_shot(model: FusionModel, scored) -> FusionModel:
    """Fit what only a zero-shot pack needs, on the folds' pseudo-unseen activities (reference activities each
    fold's components never saw): the attribute weight (best unseen-only macro-F1), then the seen gate
    (logistic on the gate signals, its intercept moved to the middle of the best-H plateau)."""
    folds = [(evidence.scores, labels, list(fold.components.seen)) for fold, evidence, labels in scored]
    weight = _best_attribute_weight(model, folds)
    signals = np.concatenate([gate_signals(scores, model.settings, unseen_logits(scores, model.settings, weight))
                              for scores, _, _ in folds])  # fmt: skip
    is_seen = np.concatenate([np.isin(labels, seen) for _, labels, seen in folds])
    if is_seen.all() or not is_seen.any():
        raise ValueError("the held-out folds need windows of both seen and pseudo-unseen activities to fit the gate")
    gate = _fit_gate(signals, is_seen)

    def with_bias(bias: float) -> FusionModel:
        shifted = gate.model_copy(update={"intercept": gate.intercept + bias})
        return model.model_copy(update={"attribute_weight": weight, "seen_gate": shifted})

    bias, h = plateau_middle(GATE_BIASES, [_mean_h(with_bias(b), folds) for b in GATE_BIASES])
    return with_bias(bias).model_copy(update={"reference_h": h})


GATE_SIGNS = (-1.0, 1.0)  # more unseen evidence -> less likely seen; nearer a seen centroid -> more likely seen


def _fit_gate(signals: np.ndarray, is_seen: np.ndarray) -> SeenGate:
    """Balanced logistic regression on the standardised signals. A signal whose coefficient comes out with
    the wrong sign (:data:`GATE_SIGNS`; it happens when the held-out folds' prototypes are weak) is dropped
    and the rest refitted, so the gate never rewards evidence for the other side."""
    mean, scale = signals.mean(axis=0), signals.std(axis=0) + 1e-9
    standardised = (signals - mean) / scale
    used = list(range(signals.shape[1]))
    while True:
        logistic = LogisticRegression(class_weight="balanced").fit(standardised[:, used], is_seen)
        wrong = [i for i, c in zip(used, logistic.coef_[0]) if c * GATE_SIGNS[i] < 0]
        if not wrong or len(used) == 1:
            break
        used.remove(min(wrong, key=lambda i: abs(logistic.coef_[0][used.index(i)])))
    coef = np.zeros(signals.shape[1])
    coef[used] = logistic.coef_[0]
    return SeenGate(mean=mean.tolist(), scale=scale.tolist(), coef=coef.tolist(), intercept=float(logistic.intercept_[0]))


def _best_attribute_weight(model: FusionModel, folds) -> float:
    """The weight with the best mean unseen-only macro-F1 on the pseudo-unseen windows (smallest on ties)."""
    f1 = np.zeros((len(folds), len(ATTRIBUTE_WEIGHTS)))
    for row, (scores, labels, seen) in enumerate(folds):
        pseudo = sorted(set(labels) - set(seen))
        rows = np.flatnonzero(np.isin(labels, pseudo))
        windows = scores.take(rows)
        unseen = np.asarray([a for a in scores.activities if a not in set(seen)], dtype=object)
        for column, weight in enumerate(ATTRIBUTE_WEIGHTS):
            predicted = unseen[unseen_logits(windows, model.settings, weight).argmax(axis=1)].astype(str)
            f1[row, column] = f1_score(labels[rows], predicted, labels=pseudo, average="macro", zero_division=0)
    return ATTRIBUTE_WEIGHTS[int(np.argmax(f1.mean(axis=0)))]


def _mean_h(model: FusionModel, folds) -> float:
    values = []
    for scores, labels, seen in folds:
        fold_model = model.model_copy(update={"seen": seen})
        predicted = np.asarray(model.activities, dtype=object)[fuse(scores, fold_model).argmax(axis=1)].astype(str)
        values.append(harmonic_accuracy(predicted, labels, seen, sorted(set(labels) - set(seen))))
    return float(np.nanmean(values))
