"""Nearest reference rows by named features, scaled so that no one feature's units dominate the distance.

Used for the bout context: a window's features averaged over its bout are compared with the same averages
of the labelled reference runs, and the nearest ones vote. Scaling by the reference median and interquartile
range (clipped) keeps a heavy-tailed feature from deciding alone; a feature with no spread, or a value that
is missing (NaN), contributes nothing to any distance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from retrieval.errors import RetrievalError
from retrieval.index import VectorIndex, check_k
from retrieval.metadata import placeholder_metadata
from retrieval.voting import knn_vote

SCALING_FILE = "scaling.json"
INDEX_FOLDER = "index"


class FeatureNeighbours:
    """kNN vote shares over robustly scaled feature rows (exact L2 search).

    `k` neighbours vote with equal weight; `clip` bounds each scaled feature (in interquartile ranges from
    the reference median). Fitted state: `centre_`, `scale_`, `index_`, and `feature_names_in_` (the names of
    the fitted columns, when `fit` was given them; :meth:`pick` selects them from a wider matrix).
    """

    def __init__(self, k: int = 10, clip: float = 10.0) -> None:
        self.k = k
        self.clip = clip

    def fit(self, features: ArrayLike, labels: Sequence[str], feature_names: Sequence[str] | None = None) -> FeatureNeighbours:
        """Scale from `features`' own median and IQR; index every row with its label."""
        check_k(self.k)
        rows = _matrix(features, "features")
        if len(labels) != len(rows):
            raise RetrievalError(f"{len(labels)} labels for {len(rows)} feature rows", fix="give one label per row")
        if feature_names is not None and len(feature_names) != rows.shape[1]:
            raise RetrievalError(f"{len(feature_names)} feature names for {rows.shape[1]} columns",
                                 fix="name every column once, in order")  # fmt: skip
        self.feature_names_in_ = None if feature_names is None else tuple(str(n) for n in feature_names)
        low, self.centre_, high = np.nanpercentile(rows, [25, 50, 75], axis=0)
        spread = high - low
        self.centre_ = np.nan_to_num(self.centre_)
        self.scale_ = np.where(np.isfinite(spread) & (spread > 0), spread, np.inf)
        scaled = self.transform(rows)
        self.index_ = VectorIndex(scaled.shape[1], metric="l2", kind="flat")
        self.index_.fit(scaled, placeholder_metadata(len(scaled), activities=labels))
        return self

    def transform(self, features: ArrayLike) -> np.ndarray:
        """(N, F) float32 scaled rows: (x - median) / IQR clipped to ±clip, 0 where x is NaN or has no spread."""
        rows = _matrix(features, "features")
        if rows.shape[1] != len(self.centre_):
            raise RetrievalError(f"features have {rows.shape[1]} columns, the fitted scaling {len(self.centre_)}",
                                 fix="use the feature extractor the neighbours were fitted with")  # fmt: skip
        scaled = np.clip((rows - self.centre_) / self.scale_, -self.clip, self.clip)
        return np.ascontiguousarray(np.nan_to_num(scaled, nan=0.0), dtype=np.float32)

    def pick(self, features: ArrayLike, names: Sequence[str]) -> np.ndarray:
        """The fitted columns out of `features`, whose columns are `names`; all of them when the neighbours were
        fitted without names."""
        if self.feature_names_in_ is None:
            return np.asarray(features)
        position = {name: i for i, name in enumerate(names)}
        missing = [n for n in self.feature_names_in_ if n not in position]
        if missing:
            raise RetrievalError(f"{len(missing)} of the neighbours' features are not among the {len(position)} given, "
                                 f"e.g. {missing[0]!r}", fix="use the feature extractor the neighbours were fitted with")  # fmt: skip
        return np.asarray(features)[:, [position[n] for n in self.feature_names_in_]]

    def vote_shares(self, features: ArrayLike, classes: Sequence[str]) -> np.ndarray:
        """(N, len(classes)) share of the k nearest reference rows labelled with each class."""
        result = self.index_.search(self.transform(features), k=self.k)
        _, shares = knn_vote(result, self.index_.metadata_["activity"], self.k, classes=classes, weighting="uniform")
        return shares

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        self.index_.save(folder / INDEX_FOLDER)
        scaling = {"k": self.k, "clip": self.clip, "centre": self.centre_.tolist(),
                   "scale": [None if not np.isfinite(s) else float(s) for s in self.scale_],
                   "features": None if self.feature_names_in_ is None else list(self.feature_names_in_)}  # fmt: skip
        (folder / SCALING_FILE).write_text(json.dumps(scaling), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FeatureNeighbours:
        folder = Path(folder)
        scaling = json.loads((folder / SCALING_FILE).read_text(encoding="utf-8"))
        neighbours = cls(k=int(scaling["k"]), clip=float(scaling["clip"]))
        neighbours.centre_ = np.asarray(scaling["centre"], dtype=np.float64)
        neighbours.scale_ = np.asarray([np.inf if s is None else s for s in scaling["scale"]], dtype=np.float64)
        names = scaling.get("features")  # absent in packs whose neighbours use every feature
        neighbours.feature_names_in_ = None if names is None else tuple(names)
        neighbours.index_ = VectorIndex.load(folder / INDEX_FOLDER, encoder_hash=None, dimension=len(neighbours.centre_),
                                             metric="l2")  # fmt: skip
        return neighbours


def _matrix(values: ArrayLike, what: str) -> np.ndarray:
    rows = np.asarray(values, dtype=np.float64)
    if rows.ndim != 2 or not len(rows):
        raise RetrievalError(f"{what} must be a non-empty 2-D array, got shape {rows.shape}", fix="pass (rows, features)")
    return rows
