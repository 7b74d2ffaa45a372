"""Seen-vs-unseen calibration chosen on reference subjects only (never on test subjects).

A zero-shot model scores its seen activities higher than any unseen one (it was trained on them), so in
the generalised setting it would almost never answer an unseen activity (H = 0). Calibrated stacking
subtracts an offset from the seen activities' scores. The offset is chosen on an *inner* zero-shot
split of the reference data: some seen activities play "unseen" (by default the unseen set of the
protocol's next fold, which keeps the protocol's one-per-family design), some reference subjects play
"test", an encoder of the same configuration is trained on the rest, and the offset that maximises
H on the held-out reference subjects is used for the real test.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from encoders.errors import EncoderError
from encoders.metrics import generalised
from recordings.windows import Windows

DEFAULT_OFFSETS = tuple(np.round(np.arange(-0.1, 0.8001, 0.01), 3).tolist())


class InnerSplit(BaseModel):
    """Which reference activities and subjects play unseen / test for calibration."""

    model_config = ConfigDict(frozen=True)

    seen: tuple[str, ...]
    unseen: tuple[str, ...]
    train_subjects: tuple[str, ...]
    val_subjects: tuple[str, ...]


def choose_inner_split(
    seen: tuple[str, ...],
    subjects: tuple[str, ...],
    fold_unseen: tuple[tuple[str, ...], ...],
    fold: int | None,
    seed: int,
    n_val_subjects: int = 2,
) -> InnerSplit:
    """Pseudo-unseen: the next fold's unseen activities (if the protocol has folds), else a seeded sample."""
    rng = np.random.default_rng(seed)
    pseudo: tuple[str, ...] = ()
    if fold is not None and len(fold_unseen) > 1:
        pseudo = tuple(a for a in fold_unseen[(fold + 1) % len(fold_unseen)] if a in seen)
    if not pseudo:
        k = max(1, round(len(seen) * 0.2))
        pseudo = tuple(sorted(rng.choice(seen, size=k, replace=False).tolist(), key=seen.index))
    if len(subjects) < 2:
        raise EncoderError(f"calibration needs at least two reference subjects, got {list(subjects)}")
    n_val = min(n_val_subjects, len(subjects) - 1)
    val = tuple(sorted(rng.choice(subjects, size=n_val, replace=False).tolist()))
    return InnerSplit(
        seen=tuple(a for a in seen if a not in pseudo),
        unseen=pseudo,
        train_subjects=tuple(s for s in subjects if s not in val),
        val_subjects=val,
    )


def inner_windows(reference: Windows, split: InnerSplit) -> tuple[Windows, Windows]:
    """(train, validation) windows of an inner split; validation keeps every reference activity."""
    names = np.array(list(reference.activities) + [""], dtype=object)[reference.labels]
    train = reference.subset(np.isin(reference.subjects, split.train_subjects) & np.isin(names, split.seen))
    val = reference.subset(np.isin(reference.subjects, split.val_subjects))
    if len(train) == 0 or len(val) == 0:
        raise EncoderError("the inner calibration split left no training or no validation windows")
    return train, val


def best_offset(
    scores: np.ndarray, labels: np.ndarray, seen: list[int], unseen: list[int], offsets: tuple[float, ...] = DEFAULT_OFFSETS
) -> tuple[float, float]:
    """(offset, H): the seen-score offset maximising H; the middle of the best plateau, for robustness.

    `scores` columns index activities; `seen`/`unseen` are column indices (labels use the same indexing).
    """
    seen_mask = np.zeros(scores.shape[1], dtype=bool)
    seen_mask[seen] = True
    columns = np.array(sorted(seen + unseen))
    values = []
    for offset in offsets:
        adjusted = scores[:, columns] - offset * seen_mask[columns][None, :]
        pred = columns[adjusted.argmax(axis=1)]
        values.append(generalised(labels, pred, seen, unseen)["H"])
    return plateau_middle(offsets, values)


def plateau_middle(grid: tuple[float, ...], values: list[float]) -> tuple[float, float]:
    """(grid point, value): the middle of the grid points whose value ties the best one. A calibration
    parameter picked this way does not sit on the edge of a plateau, where a small shift would cost."""
    values = np.asarray(values, dtype=float)
    best = np.flatnonzero(values >= values.max() - 1e-9)
    pick = best[len(best) // 2]
    return float(grid[pick]), float(values[pick])
