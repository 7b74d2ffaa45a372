"""A linear model over named features: every feature weighed against all the others at once.

The pairwise knowledge base reads one feature pair at a time and multiplies what each says, as if they were
independent; features of one signal are not, so a few correlated features can outvote the one that
separates two activities. A multinomial logistic regression fitted on the same reference rows weighs the
features jointly. harlens uses it in the bout context (`agent.context`): on dsads-xsub's 2 held-out folds it
lowered the second pass's NLL from 0.154 to 0.143, mostly on standing against standing or moving in an
elevator.

Features are standardised by the reference mean and standard deviation and clipped, so a corrupted or
out-of-range value moves a probability only so far; a missing value (NaN) counts as the reference mean.
Fitted state is plain arrays, saved as JSON (never pickle) and applied with numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression

from knowledge_base.errors import KnowledgeBaseError, listed

MODEL_FILE = "linear.json"
DEFAULT_C = 0.1  # inverse L2 strength; 0.01, 0.1 and 1 gave fold NLL 0.145, 0.143, 0.144 on dsads-xsub's bout context


class LinearFeatureModel:
    """Multinomial logistic regression on standardised, clipped named features.

    `C` is the inverse L2 regularisation strength; `clip` bounds each standardised feature. Fitted state:
    `classes_`, `feature_names_in_`, `mean_`, `scale_`, `coef_` (classes × features), `intercept_`.
    `predict_proba` columns follow `classes_`.
    """

    def __init__(self, C: float = DEFAULT_C, clip: float = 10.0, max_iter: int = 2000) -> None:
        self.C = C
        self.clip = clip
        self.max_iter = max_iter

    def fit(self, features: ArrayLike, labels: Sequence[str], feature_names: Sequence[str]) -> LinearFeatureModel:
        """Standardise on `features`' own mean and spread, then fit the regression on every row."""
        rows = _matrix(features)
        if len(labels) != len(rows):
            raise KnowledgeBaseError(f"{len(labels)} labels for {len(rows)} feature rows", fix="give one label per row")
        if len(feature_names) != rows.shape[1]:
            raise KnowledgeBaseError(f"{len(feature_names)} feature names for {rows.shape[1]} columns",
                                     fix="name every column once, in order")  # fmt: skip
        labels = np.asarray(labels, dtype=object).astype(str)
        if len(set(labels)) < 2:
            raise KnowledgeBaseError(f"a linear model needs two activities or more, got {listed(sorted(set(labels)))}",
                                     fix="fit it on reference rows of several activities")  # fmt: skip
        self.feature_names_in_ = tuple(str(name) for name in feature_names)
        self.mean_ = np.nan_to_num(np.nanmean(rows, axis=0))
        spread = np.nanstd(rows, axis=0)
        self.scale_ = np.where(np.isfinite(spread) & (spread > 0), spread, np.inf)
        regression = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(self.transform(rows), labels)
        self.classes_ = tuple(str(c) for c in regression.classes_)
        self.coef_, self.intercept_ = regression.coef_, regression.intercept_
        if len(self.classes_) == 2:  # sklearn keeps one row for two classes; store both so predict is one formula
            self.coef_ = np.vstack([-self.coef_[0] / 2, self.coef_[0] / 2])
            self.intercept_ = np.array([-self.intercept_[0] / 2, self.intercept_[0] / 2])
        return self

    def transform(self, features: ArrayLike) -> np.ndarray:
        """(N, F) standardised rows clipped to ±clip, 0 where a value is missing or its feature has no spread."""
        rows = _matrix(features)
        if rows.shape[1] != len(self.mean_):
            raise KnowledgeBaseError(f"features have {rows.shape[1]} columns, the linear model {len(self.mean_)}",
                                     fix="use the feature extractor the model was fitted with")  # fmt: skip
        return np.nan_to_num(np.clip((rows - self.mean_) / self.scale_, -self.clip, self.clip), nan=0.0)

    def predict_proba(self, features: ArrayLike) -> np.ndarray:
        """(N, len(classes_)) class probabilities."""
        logits = self.transform(features) @ self.coef_.T + self.intercept_
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)

    def vote_shares(self, features: ArrayLike, classes: Sequence[str]) -> np.ndarray:
        """(N, len(classes)) probabilities in `classes`' order; 0 for a class the model was not fitted on."""
        probabilities = self.predict_proba(features)
        shares = np.zeros((len(probabilities), len(classes)))
        position = {name: i for i, name in enumerate(self.classes_)}
        for column, name in enumerate(classes):
            if name in position:
                shares[:, column] = probabilities[:, position[name]]
        return shares

    def pick(self, features: ArrayLike, names: Sequence[str]) -> np.ndarray:
        """The fitted columns out of `features`, whose columns are `names`."""
        position = {name: i for i, name in enumerate(names)}
        missing = [n for n in self.feature_names_in_ if n not in position]
        if missing:
            raise KnowledgeBaseError(f"{len(missing)} of the linear model's features are not among the {len(position)} "
                                     f"given: {listed(missing)}", fix="use the feature extractor the model was fitted with")  # fmt: skip
        return np.asarray(features)[:, [position[n] for n in self.feature_names_in_]]

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {"C": self.C, "clip": self.clip, "max_iter": self.max_iter, "classes": list(self.classes_),
                 "features": list(self.feature_names_in_), "mean": self.mean_.tolist(),
                 "scale": [None if not np.isfinite(s) else float(s) for s in self.scale_],
                 "coef": self.coef_.tolist(), "intercept": self.intercept_.tolist()}  # fmt: skip
        (folder / MODEL_FILE).write_text(json.dumps(state), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LinearFeatureModel:
        path = Path(folder) / MODEL_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            model = cls(C=float(state["C"]), clip=float(state["clip"]), max_iter=int(state["max_iter"]))
            model.classes_ = tuple(state["classes"])
            model.feature_names_in_ = tuple(state["features"])
            model.mean_ = np.asarray(state["mean"], dtype=np.float64)
            model.scale_ = np.asarray([np.inf if s is None else s for s in state["scale"]], dtype=np.float64)
            model.coef_ = np.asarray(state["coef"], dtype=np.float64)
            model.intercept_ = np.asarray(state["intercept"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KnowledgeBaseError(f"cannot read the linear model ({exc})", where=path,
                                     fix="rebuild the pack with `harlens build`") from exc  # fmt: skip
        shapes = (len(model.classes_), len(model.feature_names_in_))
        if model.coef_.shape != shapes or model.intercept_.shape != shapes[:1] or len(model.mean_) != shapes[1] \
                or len(model.scale_) != shapes[1]:  # fmt: skip
            raise KnowledgeBaseError(f"the linear model's arrays do not match its {shapes[0]} classes and {shapes[1]} "
                                     "features", where=path, fix="rebuild the pack with `harlens build`")  # fmt: skip
        return model


def _matrix(values: ArrayLike) -> np.ndarray:
    rows = np.asarray(values, dtype=np.float64)
    if rows.ndim != 2 or not len(rows):
        raise KnowledgeBaseError(f"features must be a non-empty 2-D array, got shape {rows.shape}",
                                 fix="pass (rows, features)")  # fmt: skip
    return rows
