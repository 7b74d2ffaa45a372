"""Fixed-length windows cut from recordings: `(n_windows, n_channels, n_timepoints)` float32, channel-first.

A window carries one label: the majority label of its samples when that label covers at least
`min_purity` of them, else it is marked impure (label -1, `purity` below the threshold) so no model ever
trains or scores on a window that straddles two activities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recordings.channels import Channel
from recordings.errors import RecordingError
from recordings.recording import UNLABELLED, Recording


@dataclass(frozen=True)
class Windows:
    """A batch of windows with per-window provenance (subject, recording, start time) and labels."""

    data: np.ndarray
    channels: tuple[str, ...]
    sampling_rate_hz: float
    activities: tuple[str, ...]
    labels: np.ndarray
    purity: np.ndarray
    subjects: np.ndarray
    recording_ids: np.ndarray
    start_s: np.ndarray
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n = self.data.shape[0]
        if self.data.ndim != 3 or self.data.shape[1] != len(self.channels):
            raise RecordingError(f"window data {self.data.shape} does not match {len(self.channels)} channels")
        for name in ("labels", "purity", "subjects", "recording_ids", "start_s"):
            if getattr(self, name).shape != (n,):
                raise RecordingError(f"windows.{name} has shape {getattr(self, name).shape}, expected ({n},)")

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_timepoints(self) -> int:
        return int(self.data.shape[2])

    @property
    def window_s(self) -> float:
        return self.n_timepoints / self.sampling_rate_hz

    @property
    def placements(self) -> list[str]:
        return list(dict.fromkeys(Channel.parse(c).placement for c in self.channels))

    @property
    def label_names(self) -> np.ndarray:
        names = np.array(list(self.activities) + [""], dtype=object)
        return names[self.labels]

    def subset(self, mask_or_index: np.ndarray) -> "Windows":
        """Windows selected by a boolean mask or an index array."""
        idx = np.asarray(mask_or_index)
        return Windows(
            data=self.data[idx],
            channels=self.channels,
            sampling_rate_hz=self.sampling_rate_hz,
            activities=self.activities,
            labels=self.labels[idx],
            purity=self.purity[idx],
            subjects=self.subjects[idx],
            recording_ids=self.recording_ids[idx],
            start_s=self.start_s[idx],
            meta=dict(self.meta),
        )

    def labelled(self) -> "Windows":
        """Only the windows with a (pure) label."""
        return self.subset(self.labels != UNLABELLED)

    def select_channels(self, names: list[str] | tuple[str, ...]) -> "Windows":
        lookup = {c: i for i, c in enumerate(self.channels)}
        missing = [c for c in names if c not in lookup]
        if missing:
            raise RecordingError(f"windows lack channels {missing}", fix=f"available: {list(self.channels)}")
        index = [lookup[c] for c in names]
        return Windows(
            data=np.ascontiguousarray(self.data[:, index, :]),
            channels=tuple(names),
            sampling_rate_hz=self.sampling_rate_hz,
            activities=self.activities,
            labels=self.labels,
            purity=self.purity,
            subjects=self.subjects,
            recording_ids=self.recording_ids,
            start_s=self.start_s,
            meta=dict(self.meta),
        )

    def relabel(self, activities: tuple[str, ...] | list[str]) -> "Windows":
        """Re-index labels onto another activity list (activities absent from it become unlabelled)."""
        lookup = {name: i for i, name in enumerate(activities)}
        old_to_new = np.array([lookup.get(a, UNLABELLED) for a in self.activities] + [UNLABELLED], dtype=np.int16)
        return Windows(
            data=self.data,
            channels=self.channels,
            sampling_rate_hz=self.sampling_rate_hz,
            activities=tuple(activities),
            labels=old_to_new[self.labels],
            purity=self.purity,
            subjects=self.subjects,
            recording_ids=self.recording_ids,
            start_s=self.start_s,
            meta=dict(self.meta),
        )


def window_starts(n_samples: int, length: int, stride: int) -> np.ndarray:
    """Start indices of every full window."""
    if length <= 0 or stride <= 0:
        raise RecordingError(f"window length {length} and stride {stride} must be positive samples")
    if n_samples < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - length + 1, stride, dtype=np.int64)


def make_windows(
    recording: Recording,
    window_s: float,
    stride_s: float | None = None,
    min_purity: float = 0.8,
    activities: tuple[str, ...] | None = None,
) -> Windows:
    """Cut `recording` into windows of `window_s` seconds every `stride_s` seconds (default: no overlap)."""
    rate = recording.meta.sampling_rate_hz
    length = int(round(window_s * rate))
    stride = int(round((stride_s if stride_s is not None else window_s) * rate))
    if not 0.0 < min_purity <= 1.0:
        raise RecordingError(f"min_purity {min_purity} must be in (0, 1]")
    starts = window_starts(recording.n_samples, length, stride)
    index = starts[:, None] + np.arange(length)[None, :]
    data = np.ascontiguousarray(recording.samples[index].transpose(0, 2, 1), dtype=np.float32)
    own = tuple(recording.meta.activities)
    labels, purity = _window_labels(recording.labels, index, len(own))
    windows = Windows(
        data=data.reshape(len(starts), len(recording.meta.channels), length),
        channels=tuple(recording.meta.channels),
        sampling_rate_hz=rate,
        activities=own,
        labels=np.where(purity >= min_purity, labels, UNLABELLED).astype(np.int16),
        purity=purity,
        subjects=np.full(len(starts), recording.meta.subject or "", dtype=object),
        recording_ids=np.full(len(starts), recording.meta.id, dtype=object),
        start_s=recording.times_s[starts] if len(starts) else np.zeros(0),
        meta={"window_s": window_s, "stride_s": stride / rate, "min_purity": min_purity},
    )
    return windows.relabel(activities) if activities is not None else windows


def _window_labels(labels: np.ndarray | None, index: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Majority label and its share per window (unlabelled samples count against purity)."""
    n = index.shape[0]
    if labels is None or n == 0 or n_classes == 0:
        return np.full(n, UNLABELLED, dtype=np.int16), np.zeros(n, dtype=np.float32)
    per_window = labels[index].astype(np.int64)  # (N, L)
    counts = np.zeros((n, n_classes + 1), dtype=np.int32)
    rows = np.repeat(np.arange(n), index.shape[1])
    np.add.at(counts, (rows, per_window.ravel() + 1), 1)  # column 0 = unlabelled
    best = counts[:, 1:].argmax(axis=1)
    share = counts[np.arange(n), best + 1] / index.shape[1]
    return best.astype(np.int16), share.astype(np.float32)


def concat_windows(parts: list[Windows], activities: tuple[str, ...] | None = None) -> Windows:
    """Concatenate windows of one shape and channel schema, labels re-indexed onto `activities`."""
    if not parts:
        raise RecordingError("no windows to concatenate", fix="check the dataset selection is not empty")
    first = parts[0]
    activities = tuple(activities) if activities is not None else first.activities
    for part in parts[1:]:
        if part.channels != first.channels or part.data.shape[2] != first.data.shape[2]:
            raise RecordingError("cannot concatenate windows with different channels or lengths")
        if part.sampling_rate_hz != first.sampling_rate_hz:
            raise RecordingError("cannot concatenate windows with different sampling rates")
    parts = [p if p.activities == activities else p.relabel(activities) for p in parts]
    return Windows(
        data=np.concatenate([p.data for p in parts]),
        channels=first.channels,
        sampling_rate_hz=first.sampling_rate_hz,
        activities=activities,
        labels=np.concatenate([p.labels for p in parts]),
        purity=np.concatenate([p.purity for p in parts]),
        subjects=np.concatenate([p.subjects for p in parts]),
        recording_ids=np.concatenate([p.recording_ids for p in parts]),
        start_s=np.concatenate([p.start_s for p in parts]),
        meta=dict(first.meta),
    )
