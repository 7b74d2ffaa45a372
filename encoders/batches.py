"""Query batches for the inverted softmax: balanced (its assumption) and natural (what a user has).

The inverted softmax normalises each activity's scores over a batch of windows, which is only neutral
when the batch holds the activities in roughly equal shares. `balanced_batches` builds such batches per
subject; `natural_batches` takes each recording as it comes, windows in time order — in DSADS one
recording is one activity for five minutes, the most imbalanced (and most realistic) case.
"""

from __future__ import annotations

import numpy as np

from encoders.errors import EncoderError


def natural_batches(recording_ids: np.ndarray, start_s: np.ndarray) -> list[np.ndarray]:
    """One batch per recording, windows in time order."""
    batches = []
    for rid in dict.fromkeys(recording_ids.tolist()):
        idx = np.flatnonzero(recording_ids == rid)
        batches.append(idx[np.argsort(start_s[idx], kind="stable")])
    return batches


def balanced_batches(labels: np.ndarray, subjects: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per subject, batches with the same number of windows of every activity that subject has.

    With m = the subject's smallest class count, batch j takes chunk j (m windows) of each class's
    shuffled windows; a larger class spreads over more batches, and a class that has run out is topped
    up by reusing its windows, so every batch stays balanced. Returns (scored, fillers) per batch: each
    window is scored in exactly one batch; fillers only shape the batch's offsets.
    """
    rng = np.random.default_rng(seed)
    batches = []
    for subject in dict.fromkeys(subjects.tolist()):
        rows = np.flatnonzero(subjects == subject)
        by_class = [rng.permutation(rows[labels[rows] == c]) for c in np.unique(labels[rows])]
        m = min(len(c) for c in by_class)
        n_batches = max(-(-len(c) // m) for c in by_class)
        for j in range(n_batches):
            scored, fillers = [], []
            for members in by_class:
                own = members[j * m : (j + 1) * m]
                cyclic = np.resize(members, (j + 1) * m)[j * m :]  # the same chunk, wrapping around
                scored.append(own)
                fillers.append(cyclic[len(own) :])
            batches.append((np.concatenate(scored), np.concatenate(fillers).astype(int)))
    return batches


def batched_scores(scores: np.ndarray, batches: list, correct) -> np.ndarray:
    """Apply `correct(batch_scores) -> corrected` per batch; a batch is an index array or (scored, fillers)."""
    out = np.full(scores.shape, np.nan, dtype=np.float64)
    for batch in batches:
        scored, fillers = batch if isinstance(batch, tuple) else (batch, np.zeros(0, int))
        rows = np.concatenate([scored, fillers]).astype(int)
        corrected = correct(scores[rows])
        out[scored] = corrected[: len(scored)]
    if np.isnan(out).any():
        raise EncoderError("some windows were scored in no batch (batches must cover every window)")
    return out
