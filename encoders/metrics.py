"""Zero-shot metrics: unseen-only accuracy/macro-F1, generalised S/U/H, modality gap.

Generalised zero-shot follows the usual convention (Xian et al.): S and U are per-class-averaged
accuracies over the seen and the unseen test classes with *every* activity a possible answer, and
H = 2SU/(S+U), which is 0 for a model that never predicts an unseen activity.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: list[int] | np.ndarray) -> float:
    """Macro-F1 over `labels` (a label never predicted and never true would be ignored, not counted as 0)."""
    return float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, classes: list[int] | np.ndarray) -> float:
    """Mean over `classes` present in y_true of the fraction of their windows predicted correctly."""
    values = [np.mean(y_pred[y_true == c] == c) for c in classes if np.any(y_true == c)]
    return float(np.mean(values)) if values else float("nan")


def harmonic(s: float, u: float) -> float:
    return 0.0 if s + u <= 0 else 2 * s * u / (s + u)


def generalised(y_true: np.ndarray, y_pred: np.ndarray, seen: list[int], unseen: list[int]) -> dict[str, float]:
    """S, U, H and all-activity macro-F1 for predictions over every activity."""
    s = per_class_accuracy(y_true, y_pred, seen)
    u = per_class_accuracy(y_true, y_pred, unseen)
    return {"S": s, "U": u, "H": harmonic(s, u), "macro_f1": macro_f1(y_true, y_pred, sorted(seen + unseen))}


def modality_gap(embeddings: np.ndarray, prototypes: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine between each window's embedding and its own activity's prototype (rows of `prototypes`)."""
    e = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    p = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-12)
    return float(np.mean(np.sum(e * p[labels], axis=1)))
