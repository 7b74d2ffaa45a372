"""Zero-shot decisions from cosine scores: nearest prototype, inverted softmax, calibrated stacking.

All functions are plain numpy on a score matrix `S (N, A)` (cosine of N windows to A prototypes), and
every corrected score stays in cosine units, so a seen/unseen offset means the same thing for every
method.

Inverted softmax (hubness correction): a prototype close to *many* windows (a hub) wins too often.
Normalising each activity's column over a batch of queries, `p(a | n) = exp(b S_na) / sum_m exp(b S_ma)`,
and taking the row argmax is the same as subtracting a per-activity offset
`c_a = logsumexp_m(b S_ma) / b` from the scores. The offsets come from the batch, so the method assumes
the batch holds the activities in roughly equal shares; on a single-activity recording the true
activity's column is the crowded one and gets penalised most. `querybank` computes the same offsets from
a fixed bank of reference windows instead (querybank normalisation), which does not depend on what the
user's recording contains.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from encoders.errors import EncoderError


def cosine_scores(embeddings: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """(N, A) cosine between unit-normalised rows."""
    e = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    p = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-12)
    return (e @ p.T).astype(np.float32)


def hub_offsets(scores: np.ndarray, beta: float) -> np.ndarray:
    """(A,) per-activity offset logsumexp over queries of beta*S, divided by beta (minus log N so it is a mean)."""
    if beta <= 0:
        raise EncoderError(f"inverted-softmax beta must be positive, got {beta}")
    if len(scores) == 0:
        raise EncoderError("inverted softmax needs at least one query in the batch")
    return (logsumexp(beta * scores.astype(np.float64), axis=0) - np.log(len(scores))) / beta


def inverted_softmax(scores: np.ndarray, beta: float) -> np.ndarray:
    """Scores corrected by the batch's own hub offsets (argmax equals the inverted-softmax argmax)."""
    return scores - hub_offsets(scores, beta)[None, :]


def querybank_softmax(scores: np.ndarray, bank_scores: np.ndarray, beta: float) -> np.ndarray:
    """Inverted softmax with offsets from a reference query bank instead of the batch (works on any batch)."""
    return scores - hub_offsets(bank_scores, beta)[None, :]


def calibrated_stacking(scores: np.ndarray, seen_mask: np.ndarray, offset: float) -> np.ndarray:
    """Subtract `offset` from the seen activities' scores (Chao et al. 2016) so unseen ones can win."""
    return scores - offset * np.asarray(seen_mask, dtype=scores.dtype)[None, :]
