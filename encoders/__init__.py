"""harlens: encoders — IMU windows and activity texts in one embedding space, for zero-shot recognition.

Public API:

- :class:`IMUEncoder` — per-placement TCN trained into the all-MiniLM-L6-v2 text space
  (`fit`, `embed`, `embed_placements`, `prototypes`, `score`, `save`, `load`);
- :class:`ZeroShotClassifier` — predict / predict_proba over any candidate activities (seen or unseen);
- :class:`TextEncoder` — the offline sentence encoder with its embedding cache;
- configs (:class:`EncoderConfig`, :class:`TrainConfig`, :class:`TCNConfig`, :class:`AugmentConfig`),
  prototypes (:class:`PrototypeSet`, :func:`optimise_separability`, :func:`separability`);
- :func:`evaluate_protocol` -> :class:`EvalReport`, rendered by :func:`render_rich` / :func:`render_markdown`
  (what `harlens eval encoders --protocol dsads-zsl` runs).
"""

from encoders.classifier import ZeroShotClassifier
from encoders.config import AugmentConfig, EncoderConfig, TCNConfig, TrainConfig
from encoders.configurations import CONFIGURATIONS, Configuration
from encoders.errors import EncoderError
from encoders.evaluation import EvalSettings, evaluate_protocol
from encoders.model import IMUEncoder
from encoders.prototypes import PrototypeSet, optimise_separability, separability
from encoders.report import EvalReport, render_markdown, render_rich
from encoders.text import TextEncoder

__all__ = [
    "AugmentConfig", "CONFIGURATIONS", "Configuration", "EncoderConfig", "EncoderError", "EvalReport", "EvalSettings",
    "IMUEncoder", "PrototypeSet", "TCNConfig", "TextEncoder", "TrainConfig", "ZeroShotClassifier",
    "evaluate_protocol", "optimise_separability", "render_markdown", "render_rich", "separability",
]
