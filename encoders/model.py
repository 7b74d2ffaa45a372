"""`IMUEncoder`: the fitted object the rest of harlens uses to put IMU windows and activity texts in one space.

scikit-learn contract: `__init__` stores parameters, `fit(windows)` trains and returns self, fitted state
ends in `_`. After fitting (or `load`):

- `embed(windows) -> (N, D)` fused unit vectors over the placements present;
- `embed_placements(windows) -> {placement: (N, D)}` one unit vector per placement branch;
- `prototypes(activities, kind)` text prototypes of *any* vocabulary activity (seen or unseen) in the
  encoder's space (contrastive encoders pass text through their learned projection);
- `score(windows, activities, kind) -> (N, A)` cosine similarities;
- `save(dir)` / `IMUEncoder.load(dir)`: `encoder_config.json` + `encoder_state.pt` (a state_dict, loaded
  with `weights_only=True`) + `prototypes_<kind>.json` (name, description, ensemble), each prototype
  with the sha256 of the text that produced it.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from encoders.config import EncoderConfig
from encoders.errors import EncoderError
from encoders.layout import motion_placements, to_layout
from encoders.progress import Progress
from encoders.prototypes import (
    PrototypeKind,
    PrototypeSet,
    embed_views,
    make_set,
    normalise,
    optimise_separability,
)
from encoders.tcn import MultiPlacementEncoder, TextProjection
from encoders.text import MODEL_NAME, TextEncoder
from encoders.runtime import deterministic_torch, torch_threads
from encoders.training import TrainLog, train_encoder
from recordings.vocabulary import Vocabulary, load_vocabulary
from recordings.windows import Windows

log = logging.getLogger(__name__)

CONFIG_FILE = "encoder_config.json"
STATE_FILE = "encoder_state.pt"
EMBED_BATCH = 512
STORED_KINDS = ("name", "description", "ensemble")


class _Network(nn.Module):
    """Everything with weights, so one `state_dict` holds it all."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        per = len(config.sensors) * 3
        names = [f"{p}.{s}.{a}" for p in config.placements for s in config.sensors for a in "xyz"]
        mean = torch.tensor([config.channel_mean[n] for n in names], dtype=torch.float32)
        std = torch.tensor([config.channel_std[n] for n in names], dtype=torch.float32)
        self.imu = MultiPlacementEncoder(config.placements, per, config.embed_dim, config.tcn, mean, std)
        self.text = TextProjection(config.embed_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.train.temperature)), requires_grad=False)


class IMUEncoder:
    """A TCN IMU encoder trained into the MiniLM text space (see the module docstring for the API)."""

    def __init__(
        self,
        config: EncoderConfig | None = None,
        vocabulary: Vocabulary | None = None,
        text_encoder: TextEncoder | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.text_encoder = text_encoder
        self.progress = progress

    # ------------------------------------------------------------------ fitting
    def fit(self, windows: Windows, y: None = None) -> "IMUEncoder":
        """Train on the labelled windows (their activities become `classes_`); labels come from `windows`."""
        config = self.config or EncoderConfig()
        vocabulary = self.vocabulary or load_vocabulary()
        text_encoder = self.text_encoder or TextEncoder()
        labelled = windows.labelled()
        if len(labelled) < 2:
            raise EncoderError(f"fit() needs at least 2 labelled windows, got {len(labelled)}")
        present = np.unique(labelled.labels)
        classes = tuple(labelled.activities[i] for i in present)
        placements = tuple(motion_placements(labelled.channels, config.sensors))
        if not placements:
            raise EncoderError(f"no {'/'.join(config.sensors)} channels in {list(labelled.channels)[:6]}…")
        mean, std = self._channel_stats(labelled, placements, config.sensors)
        self.config_ = config.model_copy(update=dict(
            placements=placements, n_timepoints=labelled.n_timepoints, sampling_rate_hz=labelled.sampling_rate_hz,
            channel_mean=mean, channel_std=std, activities=classes, embed_dim=text_encoder.dim,
        ))
        self.vocabulary_, self.text_encoder_ = vocabulary, text_encoder
        self.classes_ = classes
        self._prototype_cache: dict[tuple, PrototypeSet] = {}
        x, _, _ = self._layout(labelled)
        y_index = np.searchsorted(present, labelled.labels)
        _, views = embed_views(classes, config.train.text_view, vocabulary, text_encoder)
        with deterministic_torch(config.train.seed, config.train.threads):
            self.network_ = _Network(self.config_)
            self.network_.log_scale.requires_grad_(config.train.pipeline == "contrastive")
            self.train_log_: TrainLog = train_encoder(
                self.network_.imu, self.network_.text, self.network_.log_scale, x, y_index, views,
                config.train, self.progress or Progress(enabled=False),
            )
        self.network_.requires_grad_(False)
        log.info("trained %s encoder on %d windows, %d activities in %.1f s", config.train.pipeline, len(x),
                 len(classes), self.train_log_.seconds)
        return self

    @staticmethod
    def _channel_stats(windows: Windows, placements: tuple[str, ...], sensors: tuple[str, ...]):
        """Per-channel reference mean/std; a missing channel gets its sensor type's average statistics."""
        lookup = {c: i for i, c in enumerate(windows.channels)}
        mean, std = {}, {}
        for p in placements:
            for s in sensors:
                for a in "xyz":
                    name = f"{p}.{s}.{a}"
                    if name in lookup:
                        values = windows.data[:, lookup[name]].astype(np.float64)
                        mean[name], std[name] = float(values.mean()), float(max(values.std(), 1e-3))
        for p in placements:
            for s in sensors:
                same = [k for k in mean if k.split(".")[1] == s] or list(mean)
                for a in "xyz":
                    name = f"{p}.{s}.{a}"
                    if name not in mean:
                        mean[name] = float(np.mean([mean[k] for k in same]))
                        std[name] = float(np.mean([std[k] for k in same]))
        return mean, std

    # ------------------------------------------------------------------ embedding
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise EncoderError("this IMUEncoder is not fitted", fix="call fit(windows) or IMUEncoder.load(folder)")

    def _layout(self, windows: Windows) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
        config = self.config_
        if windows.n_timepoints != config.n_timepoints or abs(windows.sampling_rate_hz - config.sampling_rate_hz) > 1e-6:
            raise EncoderError(
                f"windows are {windows.n_timepoints} samples at {windows.sampling_rate_hz} Hz; the encoder expects "
                f"{config.n_timepoints} at {config.sampling_rate_hz} Hz",
                fix=f"resample to {config.sampling_rate_hz} Hz and cut {config.n_timepoints / config.sampling_rate_hz:g} s windows",
            )
        names = [f"{p}.{s}.{a}" for p in config.placements for s in config.sensors for a in "xyz"]
        fill = np.array([config.channel_mean[n] for n in names], dtype=np.float32)
        return to_layout(windows.data, windows.channels, config.placements, config.sensors, fill)

    def _forward(self, windows: Windows) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
        self._check_fitted()
        x, present, matched = self._layout(windows)
        fused, parts = [], []
        mask = torch.as_tensor(present).unsqueeze(0)
        with torch.no_grad(), torch_threads(self.config_.train.threads):
            for start in range(0, len(x), EMBED_BATCH):
                chunk = torch.as_tensor(x[start : start + EMBED_BATCH])
                f, p = self.network_.imu(chunk, mask.expand(len(chunk), -1))
                fused.append(f.numpy())
                parts.append(p.numpy())
        d = self.config_.embed_dim
        if not fused:
            return np.zeros((0, d), np.float32), np.zeros((0, len(present), d), np.float32), matched
        return np.concatenate(fused), np.concatenate(parts), matched

    def embed(self, windows: Windows) -> np.ndarray:
        """(N, D) fused unit-length embeddings over the placements the windows have."""
        return self._forward(windows)[0]

    def transform(self, windows: Windows) -> np.ndarray:
        """scikit-learn alias of `embed`."""
        return self.embed(windows)

    def embed_placements(self, windows: Windows) -> dict[str, np.ndarray]:
        """{placement of the windows: (N, D)} one embedding per placement present."""
        _, parts, matched = self._forward(windows)
        index = {b: i for i, b in enumerate(self.config_.placements)}
        return {data_p: parts[:, index[branch]] for branch, data_p in matched.items()}

    # ------------------------------------------------------------------ text side
    def _project(self, vectors: np.ndarray) -> np.ndarray:
        with torch.no_grad(), torch_threads(self.config_.train.threads):
            return self.network_.text(torch.as_tensor(vectors)).numpy()

    def prototypes(
        self,
        activities: list[str] | tuple[str, ...] | None = None,
        kind: PrototypeKind = "description",
        tradeoff: float = 1.0,
        base: PrototypeKind = "description",
    ) -> PrototypeSet:
        """Prototypes of `activities` (default: the trained ones) in this encoder's space.

        `kind="optimised"` jointly spreads the `base` prototypes of exactly these activities (see
        :func:`encoders.prototypes.optimise_separability`), so it depends on the candidate set.
        """
        self._check_fitted()
        activities = tuple(activities) if activities is not None else self.classes_
        key = (activities, kind, float(tradeoff) if kind == "optimised" else None, base if kind == "optimised" else None)
        if key not in self._prototype_cache:
            self._prototype_cache[key] = self._build_prototypes(activities, kind, tradeoff, base)
        return self._prototype_cache[key]

    def _build_prototypes(self, activities, kind, tradeoff, base) -> PrototypeSet:
        source = base if kind == "optimised" else kind
        texts, views = embed_views(activities, source, self.vocabulary_, self.text_encoder_)
        raw = normalise(np.stack([v.mean(axis=0) for v in views]))
        vectors = self._project(raw)
        notes: dict[str, float | str] = {}
        if kind == "optimised":
            with torch_threads(self.config_.train.threads):
                vectors = optimise_separability(vectors, tradeoff=tradeoff, seed=self.config_.train.seed)
            notes = {"tradeoff": float(tradeoff), "base": base}
        space = "projected" if self.config_.train.pipeline == "contrastive" else "text"
        return make_set(activities, texts, vectors, kind, space, MODEL_NAME, notes)

    def score(
        self, windows: Windows, activities: list[str] | tuple[str, ...], kind: PrototypeKind = "description", tradeoff: float = 1.0
    ) -> np.ndarray:
        """(N, A) cosine similarity of each window to each activity's prototype."""
        return self.embed(windows) @ self.prototypes(activities, kind, tradeoff).matrix.T

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path, extra_activities: tuple[str, ...] = ()) -> Path:
        """Write config JSON, state_dict, train log and the name/description/ensemble prototypes of the trained
        (+ `extra_activities`) activities; any other prototype can be rebuilt from the vocabulary text."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(self.config_.model_dump_json(indent=2), encoding="utf-8")
        torch.save(self.network_.state_dict(), folder / STATE_FILE)
        (folder / "train_log.json").write_text(self.train_log_.model_dump_json(indent=2), encoding="utf-8")
        activities = tuple(dict.fromkeys(self.classes_ + tuple(extra_activities)))
        for kind in STORED_KINDS:
            proto = self.prototypes(activities, kind)
            (folder / f"prototypes_{kind}.json").write_text(proto.model_dump_json(indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(
        cls, folder: str | Path, vocabulary: Vocabulary | None = None, text_encoder: TextEncoder | None = None
    ) -> "IMUEncoder":
        """Rebuild a saved encoder; stored prototypes are checked against the vocabulary's current text."""
        folder = Path(folder)
        for name in (CONFIG_FILE, STATE_FILE):
            if not (folder / name).is_file():
                raise EncoderError(f"{folder} has no {name}", fix="point at a folder written by IMUEncoder.save")
        config = EncoderConfig.model_validate_json((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        encoder = cls(config=config, vocabulary=vocabulary, text_encoder=text_encoder)
        encoder.config_ = config
        encoder.classes_ = config.activities
        encoder.vocabulary_ = vocabulary or load_vocabulary()
        encoder.text_encoder_ = text_encoder or TextEncoder()
        encoder._prototype_cache = {}
        network = _Network(config)
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise EncoderError(f"{folder / STATE_FILE} does not match its config: {exc}") from None
        network.eval().requires_grad_(False)
        encoder.network_ = network
        train_log = folder / "train_log.json"
        if train_log.is_file():
            encoder.train_log_ = TrainLog.model_validate_json(train_log.read_text(encoding="utf-8"))
        encoder._load_stored_prototypes(folder)
        return encoder

    def _load_stored_prototypes(self, folder: Path) -> None:
        """Seed the prototype cache from the pack after verifying each prototype's text hash."""
        for kind in STORED_KINDS:
            path = folder / f"prototypes_{kind}.json"
            if not path.is_file():
                continue
            stored = PrototypeSet.model_validate(json.loads(path.read_text(encoding="utf-8")))
            stored.verify(self.vocabulary_)
            self._prototype_cache[(stored.activities, kind, None, None)] = stored
