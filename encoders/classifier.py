"""`ZeroShotClassifier`: a scikit-learn classifier over any candidate activities, built on a fitted IMUEncoder.

The candidates may include activities the encoder never saw (only their text is needed). Methods:
`cosine` (nearest prototype), `isoftmax` (inverted softmax over the windows passed in one call: only
sensible when that call holds the activities in similar shares), `querybank` (the same correction with
offsets from reference windows given to `fit`, independent of the call's windows: the safe choice for
a single recording). `seen_offset` is the calibrated-stacking offset subtracted from activities the
encoder was trained on; choose it on reference subjects (see :mod:`encoders.calibration`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from encoders.configurations import Method
from encoders.errors import EncoderError
from encoders.inference import hub_offsets, inverted_softmax
from encoders.model import IMUEncoder
from encoders.prototypes import PrototypeKind
from recordings.windows import Windows


class ZeroShotClassifier:
    """predict / predict_proba over `activities`; columns follow `classes_`."""

    def __init__(
        self,
        encoder: IMUEncoder,
        activities: list[str] | tuple[str, ...],
        prototypes: PrototypeKind = "ensemble",
        method: Method = "querybank",
        beta: float = 10.0,
        seen_offset: float = 0.0,
        temperature: float = 0.05,
        tradeoff: float = 1.0,
    ) -> None:
        self.encoder = encoder
        self.activities = activities
        self.prototypes = prototypes
        self.method = method
        self.beta = beta
        self.seen_offset = seen_offset
        self.temperature = temperature
        self.tradeoff = tradeoff

    def fit(self, windows: Windows | None = None, y: None = None) -> "ZeroShotClassifier":
        """Fix the candidates' prototypes; `windows` (reference windows) are needed for `querybank` only."""
        if len(self.activities) < 2:
            raise EncoderError("a classifier needs at least two candidate activities")
        if self.method not in ("cosine", "isoftmax", "querybank"):
            raise EncoderError(f"unknown method {self.method!r}", fix="use cosine, isoftmax or querybank")
        self.classes_ = np.asarray(self.activities, dtype=object)
        self.prototypes_ = self.encoder.prototypes(tuple(self.activities), self.prototypes, self.tradeoff).matrix
        self.seen_mask_ = np.isin(self.classes_, self.encoder.classes_)
        self.bank_offsets_ = np.zeros(len(self.classes_))
        if self.method == "querybank":
            if windows is None or len(windows) == 0:
                raise EncoderError("querybank needs reference windows in fit()", fix="pass the reference windows")
            self.bank_offsets_ = hub_offsets(self.encoder.embed(windows) @ self.prototypes_.T, self.beta)
        return self

    def decision_function(self, windows: Windows) -> np.ndarray:
        """(N, A) corrected cosine scores."""
        if not hasattr(self, "classes_"):
            raise EncoderError("this ZeroShotClassifier is not fitted", fix="call fit() first")
        scores = self.encoder.embed(windows) @ self.prototypes_.T
        if self.method == "isoftmax":
            scores = inverted_softmax(scores, self.beta)
        scores = scores - self.bank_offsets_[None, :]
        return scores - self.seen_offset * self.seen_mask_[None, :]

    def predict_proba(self, windows: Windows) -> np.ndarray:
        return softmax(self.decision_function(windows) / self.temperature, axis=1)

    def predict(self, windows: Windows) -> np.ndarray:
        scores = self.decision_function(windows)
        return self.classes_[scores.argmax(axis=1)]
