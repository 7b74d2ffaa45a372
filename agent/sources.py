"""The reference components the agent reads, and the per-window scores each of them contributes.

`ReferenceComponents` is what a pack opens into (the composition root, `harlens.pack.open_pack`, builds it);
`score_sources` turns a batch of windows into :class:`agent.candidates.SourceScores`, and `fit_fusion`
fits the fusion temperature on the reference windows, holding each subject out of its own neighbours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from agent.candidates import (
    FusionModel,
    FusionSettings,
    SourceScores,
    fit_weights,
    fuse,
    harmonic_accuracy,
    seen_log_scores,
    weighted_logits,
)
from encoders.model import IMUEncoder
from knowledge_base.base import KnowledgeBase
from recordings.windows import Windows
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

    def take(self, rows: np.ndarray) -> WindowEvidence:
        """The same evidence for a subset of the windows."""
        return WindowEvidence(features=self.features[rows], embeddings=self.embeddings[rows],
                              neighbour_ids=self.neighbour_ids[rows], scores=self.scores.take(rows))  # fmt: skip


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


OFFSETS = tuple(np.round(np.arange(0.0, 0.6001, 0.01), 3).tolist())


def fit_fusion(final: ReferenceComponents, reference: Windows, folds: list[HeldOutFold],
               settings: FusionSettings | None = None, progress=None) -> FusionModel:  # fmt: skip
    """Source weights from the folds' out-of-sample scores; when the pack has unseen activities, also the
    seen-vs-unseen offset that maximises H on the folds' pseudo-unseen activities (activities each fold's
    components were fitted without). Centroids come from `final`'s encoder over all reference windows."""
    settings = settings or FusionSettings()
    scored = []
    chunks, truth = [], []
    for number, fold in enumerate(folds, 1):
        if progress:
            progress(f"fusion: scoring held-out fold {number}/{len(folds)}")
        evidence = score_sources(fold.components, fold.held_out, settings, fold.centroids)
        labels = np.asarray(fold.held_out.label_names, dtype=object).astype(str)
        fold_seen = list(fold.components.seen)
        rows = np.flatnonzero(np.isin(labels, fold_seen))
        parts = seen_log_scores(evidence.scores, settings)
        chunks.append({name: values[rows] for name, values in parts.items()})
        truth.append(np.array([fold_seen.index(a) for a in labels[rows]]))
        scored.append((fold, evidence, labels))
    parts = {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
    truth_all = np.concatenate(truth)
    weights, temperature, nll = fit_weights(parts, truth_all)
    accuracy = float((weighted_logits(parts, weights).argmax(axis=1) == truth_all).mean())
    log.info("fusion weights %s (held-out NLL %.3f, accuracy %.3f)", weights, nll, accuracy)
    labels = np.asarray(reference.label_names, dtype=object)
    held_subjects = [sorted(set(f.held_out.subjects.astype(str))) for f in folds]
    model = FusionModel(
        settings=settings,
        activities=list(final.activities),
        seen=list(final.seen),
        centroids=class_centroids(final.encoder.embed(reference), labels, list(final.seen)).tolist(),
        weights=weights,
        temperature=temperature,
        reference_nll=nll,
        reference_accuracy=accuracy,
        fitted_on=f"{len(truth_all)} reference windows scored out of sample: {len(folds)} folds holding out "
        f"{held_subjects}, each with its own knowledge base, encoder and indexes",
    )
    if set(final.activities) != set(final.seen):
        model.seen_offset, model.reference_h = _fit_offset(model, scored)
        log.info("seen offset %.2f (held-out H %.3f)", model.seen_offset, model.reference_h)
    return model


def _fit_offset(model: FusionModel, scored) -> tuple[float, float]:
    """The offset with the best mean H over the folds' held-out windows (middle of the best plateau)."""
    results = []
    for offset in OFFSETS:
        values = []
        for fold, evidence, labels in scored:
            fold_model = model.model_copy(update={"seen": list(fold.components.seen), "seen_offset": offset})
            probabilities = fuse(evidence.scores, fold_model)
            predicted = np.asarray(model.activities, dtype=object)[probabilities.argmax(axis=1)].astype(str)
            pseudo = [a for a in set(labels) if a not in fold.components.seen]
            values.append(harmonic_accuracy(predicted, labels, list(fold.components.seen), pseudo))
        results.append(float(np.nanmean(values)))
    best = max(results)
    plateau = [o for o, h in zip(OFFSETS, results) if h >= best - 1e-9]
    return float(plateau[len(plateau) // 2]), best
