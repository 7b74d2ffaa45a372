"""Bout context: each window's features averaged over the windows around it in the same bout.

A 5-second window cannot show what takes longer to happen: a lift's start and stop, the steadiness of a
treadmill against the small drifts of walking outside, a posture held through a conversation. The mean of
a window's features over its neighbours within ±`half_width_s` (never across a bout boundary) can. The
knowledge base built on such means (the pack's *context knowledge base*) answers for the bout around a
window; the per-window base still answers for the window itself.

Bouts are given as integer groups. For reference windows they are the labelled runs
(:func:`bout_groups` with the labels); for a recording being analysed they are the provisional segments
of a first, per-window pass (`agent.context`).
"""

from __future__ import annotations

import numpy as np

from knowledge_base.errors import KnowledgeBaseError


def bout_groups(recording_ids: np.ndarray, start_s: np.ndarray, labels: np.ndarray,
                breaks: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """(N,) bout number of each window: a new bout starts with a new recording, a new label, or where
    `breaks` (in the windows' own order) is True; windows are read in time order within each recording."""
    n = len(start_s)
    if not len(recording_ids) == len(labels) == n or (breaks is not None and len(breaks) != n):
        raise KnowledgeBaseError(f"bout groups need one recording id, start time and label per window; got "
                                 f"{len(recording_ids)}, {n} and {len(labels)}")  # fmt: skip
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ids = np.asarray(recording_ids).astype(str)
    order = np.lexsort((np.asarray(start_s, dtype=np.float64), ids))
    labels_sorted = np.asarray(labels)[order]
    new = np.r_[True, (ids[order][1:] != ids[order][:-1]) | (labels_sorted[1:] != labels_sorted[:-1])]
    if breaks is not None:
        new |= np.asarray(breaks, dtype=bool)[order]
    groups = np.empty(n, dtype=np.int64)
    groups[order] = np.cumsum(new) - 1
    return groups


def context_means(features: np.ndarray, groups: np.ndarray, start_s: np.ndarray, half_width_s: float) -> np.ndarray:
    """(N, F) mean of each feature over the windows of the same group whose start lies within ±half_width_s
    of the window's own (the window included). NaN values are skipped; a feature NaN in every such window
    stays NaN (a missing channel stays missing)."""
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    if len(groups) != n or len(start_s) != n:
        raise KnowledgeBaseError(f"context means need one group and start time per window: {n} windows, "
                                 f"{len(groups)} groups, {len(start_s)} start times")  # fmt: skip
    if not half_width_s >= 0:
        raise KnowledgeBaseError(f"context half-width must be ≥ 0 s, got {half_width_s}")
    if n == 0:
        return features.copy()
    start = np.asarray(start_s, dtype=np.float64)
    span = float(start.max() - start.min()) + 2.0 * half_width_s + 1.0
    # one sorted time axis on which groups lie further apart than any context reaches
    axis = (np.asarray(groups, dtype=np.float64) * span) + (start - start.min())
    order = np.argsort(axis, kind="stable")
    on_axis = axis[order]
    low = np.searchsorted(on_axis, on_axis - half_width_s - 1e-9, side="left")
    high = np.searchsorted(on_axis, on_axis + half_width_s + 1e-9, side="right")
    values = features[order]
    finite = np.isfinite(values)
    sums = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(np.where(finite, values, 0.0), axis=0)])
    counts = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(finite, axis=0)])
    total, count = sums[high] - sums[low], counts[high] - counts[low]
    means = np.full_like(values, np.nan)
    np.divide(total, count, out=means, where=count > 0)
    out = np.empty_like(means)
    out[order] = means
    return out
