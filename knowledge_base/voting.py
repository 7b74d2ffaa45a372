"""Pairwise votes: each activity pair's top features, read as Gaussian likelihood ratios.

For every pair (a, b) the query's values of the pair's top-k features are compared with both activities'
reference mean and standard deviation; the averaged log-likelihood ratio becomes a soft win for a or b.
An activity's score is its share of wins over all its pairs: a one-vs-one tournament that uses only the
knowledge base's statistics (no classifier is trained), so every vote can be cited as evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.pairwise import PairRanking

_Z_CLIP = 8.0  # beyond 8 sd a feature says "far away", not "infinitely far away"
_STD_FLOOR = 1e-6


def class_moments(class_stats: pd.DataFrame, activities: list[str], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(A, F) means and standard deviations of every feature per activity, in the given orders."""
    means = class_stats.pivot(index="activity", columns="feature", values="mean").reindex(index=activities, columns=names)
    stds = class_stats.pivot(index="activity", columns="feature", values="std").reindex(index=activities, columns=names)
    return means.to_numpy(np.float64), np.maximum(stds.to_numpy(np.float64), _STD_FLOOR)


def pair_log_ratios(
    features: np.ndarray, columns: np.ndarray, means: np.ndarray, stds: np.ndarray, a: int, b: int
) -> np.ndarray:
    """(N,) mean log-likelihood ratio of a over b on the given feature columns; NaN features abstain."""
    x = features[:, columns].astype(np.float64)
    za = np.clip((x - means[a, columns]) / stds[a, columns], -_Z_CLIP, _Z_CLIP)
    zb = np.clip((x - means[b, columns]) / stds[b, columns], -_Z_CLIP, _Z_CLIP)
    ratio = 0.5 * (zb**2 - za**2) + np.log(stds[b, columns] / stds[a, columns])
    valid = np.isfinite(ratio)
    counts = valid.sum(axis=1)
    return np.where(counts > 0, np.where(valid, ratio, 0.0).sum(axis=1) / np.maximum(counts, 1), 0.0)


def pairwise_votes(
    features: np.ndarray,
    feature_names: list[str],
    activities: list[str],
    pairs: dict[tuple[str, str], PairRanking],
    class_stats: pd.DataFrame,
    k: int = 5,
) -> np.ndarray:
    """(N, A) share of pairwise wins per activity (rows sum to 1 when A > 1)."""
    if len(activities) < 2:
        return np.ones((len(features), len(activities)))
    position = {name: i for i, name in enumerate(feature_names)}
    means, stds = class_moments(class_stats, activities, feature_names)
    wins = np.zeros((len(features), len(activities)))
    for i, first in enumerate(activities):
        for j in range(i + 1, len(activities)):
            ranking = pairs.get((first, activities[j])) or pairs.get((activities[j], first))
            if ranking is None:
                raise KnowledgeBaseError(f"no ranking for {first!r} vs {activities[j]!r}",
                                         fix="vote only among activities with reference windows")  # fmt: skip
            columns = np.array([position[f.name] for f in ranking.features[:k] if f.name in position], dtype=int)
            ratio = pair_log_ratios(features, columns, means, stds, i, j) if columns.size else np.zeros(len(features))
            p_first = 1.0 / (1.0 + np.exp(-np.clip(ratio, -30.0, 30.0)))
            wins[:, i] += p_first
            wins[:, j] += 1.0 - p_first
    return wins / wins.sum(axis=1, keepdims=True)


def reference_percentile(stats_row: pd.Series, value: float) -> float:
    """Percentile (0–100) of `value` within an activity's reference distribution, interpolated between its
    stored quantiles (min, 5, 25, 50, 75, 95, max)."""
    points = np.array([stats_row["min"], stats_row["q05"], stats_row["q25"], stats_row["median"], stats_row["q75"],
                       stats_row["q95"], stats_row["max"]], dtype=np.float64)  # fmt: skip
    levels = np.array([0.0, 5.0, 25.0, 50.0, 75.0, 95.0, 100.0])
    if not np.isfinite(value) or not np.isfinite(points).all():
        return float("nan")
    points = np.maximum.accumulate(points)
    return float(np.interp(value, points, levels))
