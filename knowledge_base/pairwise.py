"""Per activity pair: which features tell the two apart *across people*; per activity: feature statistics.

Discriminative power is a leave-one-subject-out AUROC: in fold s, the held-out person's windows of one
activity are compared with the other people's windows of the other activity (both ways, averaged). A feature
ranks high when that AUROC is far from 0.5 in every fold, so a query from a new person compared with the
reference population's statistics separates the pair. All pairs and features are scored at once from rank
counts (Mann-Whitney U), so the whole base builds in seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.errors import KnowledgeBaseError, listed
from knowledge_base.progress import progress_bar

log = logging.getLogger(__name__)

STAT_COLUMNS = ("count", "mean", "std", "min", "q05", "q25", "median", "q75", "q95", "max")
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_IMPORTANCE_RESOLUTION = 0.01  # importances closer than this count as tied; the effect size breaks ties


class RankedFeature(BaseModel):
    """One feature's power to separate an activity pair, and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rank: int = Field(ge=1)
    importance: float = Field(description="|2·AUROC-1| averaged over subject folds, minus penalty × its fold std")
    auroc: float = Field(ge=0.5, le=1.0, description="mean held-out-subject AUROC that `higher` has larger values")
    auroc_std: float = Field(ge=0.0, description="standard deviation of that AUROC across subject folds")
    worst_fold_auroc: float = Field(description="lowest fold AUROC (the least favourable held-out person)")
    n_folds: int
    higher: str = Field(description="the activity whose values are typically larger")
    lower: str
    threshold: float = Field(description="Youden-optimal cut on the reference windows: above -> `higher`")
    reference_accuracy: float = Field(description="balanced accuracy of the threshold on the reference windows")
    effect_size: float = Field(description="|median difference| / mean interquartile range of the two activities")
    aspect: str = Field(default="", description="what kind of difference this is for this pair (posture, intensity …)")


class PairRanking(BaseModel):
    """The top features of one unordered activity pair, best first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first: str
    second: str
    features: list[RankedFeature]

    @property
    def key(self) -> tuple[str, str]:
        return (self.first, self.second)


@dataclass(frozen=True)
class RankingSettings:
    """How many features to keep per pair and how to choose them."""

    top_k: int
    instability_penalty: float
    max_redundancy: float
    n_candidates: int


@dataclass(frozen=True)
class FoldAurocs:
    """Cross-subject AUROC summaries, [a, b, feature] = P(feature of a > feature of b), a != b."""

    mean: np.ndarray  # (K, K, F)
    std: np.ndarray  # (K, K, F)
    worst: np.ndarray  # (K, K, F) lowest fold AUROC, oriented like the mean (max(auroc, 1 - auroc) direction)
    n_folds: np.ndarray  # (K, K)


# --------------------------------------------------------------------------------------------- rank counts


def doubled_midrank_counts(values: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(F, n, K) integers: for each feature and window, 2 × (class-k values below it + ½ × those equal).

    Doubling keeps tie halves exact in integers. One stable sort per feature; cumulative one-hot class counts
    along the sorted order are read at the start and end of each tie group with flat row gathers.
    """
    n, n_features = values.shape
    dtype = np.int16 if 2 * n < np.iinfo(np.int16).max else np.int32
    by_feature = np.ascontiguousarray(values.T)
    order = np.argsort(by_feature, axis=1, kind="stable")
    ordered = np.take_along_axis(by_feature, order, axis=1)
    counts = np.zeros((n_features, n + 1, n_classes), dtype=dtype)
    np.cumsum(labels[order][..., None] == np.arange(n_classes, dtype=labels.dtype), axis=1, out=counts[:, 1:])
    changes = ordered[:, 1:] != ordered[:, :-1]
    positions = np.arange(n)
    always = np.ones((n_features, 1), dtype=bool)
    starts = np.maximum.accumulate(np.where(np.hstack([always, changes]), positions, 0), axis=1)
    ends = np.minimum.accumulate(np.where(np.hstack([changes, always]), positions + 1, n)[:, ::-1], axis=1)[:, ::-1]
    base = (np.arange(n_features) * (n + 1))[:, None]
    rows = counts.reshape(-1, n_classes)
    doubled = rows[(base + starts).ravel()] + rows[(base + ends).ravel()]
    out = np.empty_like(doubled)
    out[((np.arange(n_features) * n)[:, None] + order).ravel()] = doubled
    return out.reshape(n_features, n, n_classes)


def cross_subject_aurocs(
    features: np.ndarray,
    labels: np.ndarray,
    subjects: np.ndarray,
    n_classes: int,
    chunk_features: int = 64,
    show_progress: bool = True,
) -> FoldAurocs:
    """Leave-one-subject-out AUROC of every feature for every ordered activity pair."""
    subject_names, subject_codes = np.unique(np.asarray(subjects).astype(str), return_inverse=True)
    order = np.lexsort((labels, subject_codes))
    values, labels, subject_codes = features[order], labels[order].astype(np.int16), subject_codes[order]
    n_subjects = len(subject_names)
    cell_counts = np.zeros((n_subjects, n_classes), dtype=np.int64)
    np.add.at(cell_counts, (subject_codes, labels), 1)
    cell_of_row = subject_codes * n_classes + labels
    nonempty = np.flatnonzero(cell_counts.ravel())
    cell_starts = np.searchsorted(cell_of_row, nonempty)
    subject_bounds = np.searchsorted(subject_codes, np.arange(n_subjects + 1))
    n_features = values.shape[1]
    doubled_sums = np.zeros((n_subjects * n_classes, n_features, n_classes), dtype=np.float64)
    chunks = [slice(s, min(s + chunk_features, n_features)) for s in range(0, n_features, chunk_features)]
    with progress_bar(show_progress, "pairwise AUROC", len(chunks)) as advance:
        for part in chunks:
            block = values[:, part]
            across = doubled_midrank_counts(block, labels, n_classes).astype(np.int32)
            for s in range(n_subjects):
                rows = slice(subject_bounds[s], subject_bounds[s + 1])
                across[:, rows] -= doubled_midrank_counts(block[rows], labels[rows], n_classes)
            doubled_sums[nonempty, part] = np.add.reduceat(across, cell_starts, axis=1).transpose(1, 0, 2)
            advance()
    sums = doubled_sums.reshape(n_subjects, n_classes, n_features, n_classes) / 2.0
    return _fold_summaries(sums, cell_counts)


def _fold_summaries(sums: np.ndarray, cell_counts: np.ndarray) -> FoldAurocs:
    """Turn U counts [s, a, f, b] (a-windows of subject s above b-windows of others) into fold AUROCs."""
    n_subjects, n_classes = cell_counts.shape
    own = cell_counts.astype(np.float64)
    others = own.sum(axis=0, keepdims=True) - own
    # held-out a vs others' b: sums[s, a, :, b] / (own[s, a] * others[s, b])
    pairs1 = own[:, :, None] * others[:, None, :]  # (S, a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        held_out_first = sums / pairs1[:, :, None, :]
        # others' a vs held-out b: 1 - sums[s, b, :, a] / (own[s, b] * others[s, a])
        held_out_second = 1.0 - np.swapaxes(sums, 1, 3) / np.swapaxes(pairs1, 1, 2)[:, :, None, :]
    valid1 = (pairs1 > 0)[:, :, None, :]
    valid2 = (np.swapaxes(pairs1, 1, 2) > 0)[:, :, None, :]
    total = np.where(valid1, held_out_first, 0.0) + np.where(valid2, held_out_second, 0.0)
    terms = valid1.astype(np.int8) + valid2.astype(np.int8)
    with np.errstate(divide="ignore", invalid="ignore"):
        fold = np.where(terms > 0, total / np.maximum(terms, 1), np.nan)  # (S, a, F, b)
    fold = np.moveaxis(fold, 2, 3)  # (S, a, b, F)
    n_folds = (terms[:, :, 0, :] > 0).sum(axis=0)
    counted = np.maximum(n_folds, 1)[..., None]
    present = ~np.isnan(fold)
    mean = np.where(present, fold, 0.0).sum(axis=0) / counted
    spread = np.sqrt(np.where(present, (fold - mean) ** 2, 0.0).sum(axis=0) / counted)
    oriented = np.where(mean[None] >= 0.5, fold, 1.0 - fold)
    worst = np.where(present, oriented, np.inf).min(axis=0)
    worst = np.where(np.isfinite(worst), worst, 0.5)
    return FoldAurocs(mean=mean.astype(np.float32), std=spread.astype(np.float32), worst=worst.astype(np.float32), n_folds=n_folds)


# --------------------------------------------------------------------------------------------- class statistics


def class_statistics(features: np.ndarray, labels: np.ndarray, activities: tuple[str, ...], names: list[str]) -> pd.DataFrame:
    """Long table (activity, feature) -> count, mean, std, min, q05, q25, median, q75, q95, max."""
    frames = []
    for index, activity in enumerate(activities):
        rows = features[labels == index]
        if rows.shape[0] == 0:
            continue
        quantiles = np.quantile(rows, _QUANTILES, axis=0)
        frames.append(
            pd.DataFrame(
                {
                    "activity": activity, "feature": names, "count": rows.shape[0],
                    "mean": rows.mean(axis=0, dtype=np.float64), "std": rows.std(axis=0, dtype=np.float64),
                    "min": rows.min(axis=0), "q05": quantiles[0], "q25": quantiles[1], "median": quantiles[2],
                    "q75": quantiles[3], "q95": quantiles[4], "max": rows.max(axis=0),
                }  # fmt: skip
            )
        )
    table = pd.concat(frames, ignore_index=True)
    for column in STAT_COLUMNS[1:]:
        table[column] = table[column].astype(np.float64)
    table["count"] = table["count"].astype(np.int64)
    return table


# --------------------------------------------------------------------------------------------- ranking


def youden_threshold(higher: np.ndarray, lower: np.ndarray) -> tuple[float, float]:
    """Cut maximising TPR - FPR for 'value > cut means `higher`'; returns (cut, balanced accuracy)."""
    values = np.concatenate([higher, lower])
    is_higher = np.concatenate([np.ones(higher.size, bool), np.zeros(lower.size, bool)])
    order = np.argsort(values, kind="stable")
    values, is_higher = values[order], is_higher[order]
    # after position i (cut between values[i] and values[i+1]): share of each class at or below the cut
    higher_below = np.cumsum(is_higher) / max(higher.size, 1)
    lower_below = np.cumsum(~is_higher) / max(lower.size, 1)
    distinct = np.append(values[1:] != values[:-1], False)
    youden = np.where(distinct, lower_below - higher_below, -np.inf)
    if not np.isfinite(youden).any():
        return float(values[0]), 0.5
    best = int(np.argmax(youden))
    return float((values[best] + values[best + 1]) / 2), float(0.5 * (1.0 + youden[best]))


def _effect_sizes(stats: dict[str, np.ndarray], a: int, b: int) -> np.ndarray:
    spread = 0.5 * (stats["iqr"][a] + stats["iqr"][b])
    scale = np.maximum(spread, 1e-9 * (np.abs(stats["median"][a]) + np.abs(stats["median"][b]) + 1.0))
    return np.abs(stats["median"][a] - stats["median"][b]) / scale


def _spearman(values: np.ndarray) -> np.ndarray:
    ranks = np.argsort(np.argsort(values, axis=0, kind="stable"), axis=0).astype(np.float64)
    ranks -= ranks.mean(axis=0)
    norms = np.sqrt((ranks * ranks).sum(axis=0))
    safe = np.where(norms > 0, norms, 1.0)
    ranks /= safe
    correlation = ranks.T @ ranks
    constant = norms == 0
    correlation[constant, :] = 0.0
    correlation[:, constant] = 0.0
    return correlation


def select_diverse(candidates: np.ndarray, pair_values: np.ndarray, top_k: int, max_redundancy: float) -> list[int]:
    """Greedy pick in candidate order, skipping features rank-correlated above `max_redundancy` with a pick."""
    if max_redundancy >= 1.0:
        return list(candidates[:top_k])
    correlation = np.abs(_spearman(pair_values[:, candidates]))
    chosen: list[int] = []
    for position in range(len(candidates)):
        if all(correlation[position, other] <= max_redundancy for other in chosen):
            chosen.append(position)
            if len(chosen) == top_k:
                break
    return [int(candidates[p]) for p in chosen]


def rank_pairs(
    features: np.ndarray,
    labels: np.ndarray,
    subjects: np.ndarray,
    activities: tuple[str, ...],
    names: list[str],
    top_k: int = 10,
    instability_penalty: float = 0.5,
    max_redundancy: float = 0.9,
    n_candidates: int = 60,
    show_progress: bool = True,
) -> list[PairRanking]:
    """Top-k features of every unordered pair of activities present in the reference windows."""
    present = [k for k in range(len(activities)) if np.any(labels == k)]
    if len(present) < 2:
        raise KnowledgeBaseError(
            f"reference windows hold {len(present)} activity; pairs need at least two",
            fix="build the knowledge base from labelled windows of two or more activities",
        )
    n_subjects = len(np.unique(np.asarray(subjects).astype(str)))
    if n_subjects < 2:
        log.warning("only one reference subject: pair rankings cannot be checked across people")
    aurocs = cross_subject_aurocs(features, labels, subjects, len(activities), show_progress=show_progress)
    if n_subjects < 2:
        aurocs = _within_subject_fallback(features, labels, len(activities))
    stats = _median_iqr(features, labels, len(activities))
    settings = RankingSettings(top_k, instability_penalty, max_redundancy, n_candidates)
    rankings = []
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            chosen = _choose_features(a, b, aurocs, stats, features, labels, settings)
            rankings.append(_describe_pair(a, b, chosen, aurocs, stats, features, labels, activities, names, settings))
    return rankings


def _median_iqr(features: np.ndarray, labels: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    medians = np.zeros((n_classes, features.shape[1]), np.float64)
    iqrs = np.zeros_like(medians)
    for k in range(n_classes):
        rows = features[labels == k]
        if rows.shape[0]:
            q25, q50, q75 = np.quantile(rows, (0.25, 0.5, 0.75), axis=0)
            medians[k], iqrs[k] = q50, q75 - q25
    return {"median": medians, "iqr": iqrs}


def _within_subject_fallback(features: np.ndarray, labels: np.ndarray, n_classes: int) -> FoldAurocs:
    """One fold: plain AUROC on all windows (used only when the reference has a single subject)."""
    labels = labels.astype(np.int16)
    counts = doubled_midrank_counts(features, labels, n_classes)  # (F, n, K)
    sizes = np.bincount(labels, minlength=n_classes).astype(np.float64)
    mean = np.full((n_classes, n_classes, features.shape[1]), 0.5, np.float32)
    for a in range(n_classes):
        below = counts[:, labels == a].sum(axis=1, dtype=np.float64).T / 2.0  # (K, F)
        if (labels == a).any():
            with np.errstate(divide="ignore", invalid="ignore"):
                mean[a] = np.where(sizes[:, None] > 0, below / (sizes[a] * sizes[:, None]), 0.5)
    n_folds = np.ones((n_classes, n_classes), dtype=np.int64)
    return FoldAurocs(mean=mean, std=np.zeros_like(mean), worst=mean.copy(), n_folds=n_folds)


def _importance(aurocs: FoldAurocs, a: int, b: int, penalty: float) -> np.ndarray:
    """|2·mean AUROC - 1| minus `penalty` × the fold spread of 2·AUROC - 1."""
    return np.abs(2.0 * aurocs.mean[a, b].astype(np.float64) - 1.0) - penalty * 2.0 * aurocs.std[a, b].astype(np.float64)


def _ordered(candidates: np.ndarray, importance: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Candidates by importance (to 0.01), ties broken by the larger effect size."""
    bucket = np.floor(importance[candidates] / _IMPORTANCE_RESOLUTION)
    return candidates[np.lexsort((-effect[candidates], -bucket))]


def _choose_features(a, b, aurocs, stats, features, labels, settings: RankingSettings) -> list[int]:
    """The pair's top-k feature indices: best first, skipping near-duplicates of earlier picks."""
    importance = _importance(aurocs, a, b, settings.instability_penalty)
    effect = _effect_sizes(stats, a, b)
    pair_values = features[(labels == a) | (labels == b)]
    wanted = min(settings.top_k, importance.size)
    size = min(settings.n_candidates + 1, importance.size)
    while True:
        shortlist = np.argpartition(-importance, size - 1)[:size] if size < importance.size else np.arange(size)
        chosen = select_diverse(_ordered(shortlist, importance, effect), pair_values, wanted, settings.max_redundancy)
        if len(chosen) >= wanted or size == importance.size:
            return chosen
        size = min(4 * size, importance.size)  # not enough diverse candidates: widen the shortlist


def _describe_pair(a, b, chosen, aurocs, stats, features, labels, activities, names, settings) -> PairRanking:
    importance = _importance(aurocs, a, b, settings.instability_penalty)
    effect = _effect_sizes(stats, a, b)
    ranked = []
    for rank, f in enumerate(chosen, start=1):
        mean = float(aurocs.mean[a, b, f])
        high, low = (a, b) if mean >= 0.5 else (b, a)
        threshold, accuracy = youden_threshold(features[labels == high, f], features[labels == low, f])
        ranked.append(
            RankedFeature(
                name=names[f], rank=rank, importance=float(importance[f]), auroc=max(mean, 1.0 - mean),
                auroc_std=float(aurocs.std[a, b, f]), worst_fold_auroc=float(aurocs.worst[a, b, f]),
                n_folds=int(aurocs.n_folds[a, b]), higher=activities[high], lower=activities[low],
                threshold=threshold, reference_accuracy=accuracy, effect_size=float(effect[f]),
            )  # fmt: skip
        )
    return PairRanking(first=activities[a], second=activities[b], features=ranked)


def check_feature_matrix(features: np.ndarray, labels: np.ndarray, subjects: np.ndarray, names: list[str]) -> None:
    """Refuse mismatched or non-finite reference inputs with a message naming the problem."""
    if features.ndim != 2 or features.shape[1] != len(names):
        raise KnowledgeBaseError(f"features of shape {features.shape} do not match {len(names)} names")
    if labels.shape != (features.shape[0],) or np.asarray(subjects).shape != (features.shape[0],):
        raise KnowledgeBaseError("labels and subjects need one entry per window", fix="pass Windows.labels / .subjects")
    if not np.isfinite(features).all():
        bad = np.flatnonzero(~np.isfinite(features).all(axis=0))
        raise KnowledgeBaseError(f"non-finite reference features {listed([names[i] for i in bad])}")
    if (labels < 0).any():
        raise KnowledgeBaseError("reference windows include unlabelled ones (label -1)", fix="use Windows.labelled()")
