"""The canonical recording: typed metadata plus float32 arrays in SI units.

Readers produce it, everything downstream consumes it. Samples are time-major `(n_samples, n_channels)`
(as files are laid out); windows cut from it are channel-first (see :mod:`recordings.windows`).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recordings.channels import CANONICAL_UNITS, Channel
from recordings.errors import RecordingError

UNLABELLED = -1


class Gap(BaseModel):
    """A stretch without valid samples, and what was done about it."""

    start_s: float = Field(description="seconds from the recording start where the gap begins")
    duration_s: float
    action: str = Field(description="'interpolated' or 'split'")


class RecordingMeta(BaseModel):
    """Everything a person or another process needs to know about a recording besides its samples."""

    model_config = ConfigDict(extra="forbid")

    id: str
    dataset: str = Field(default="user", description="dsads, hapt, pamap2 or user")
    subject: str | None = None
    sampling_rate_hz: float = Field(gt=0)
    start_time: datetime | None = Field(default=None, description="wall-clock time of the first sample")
    channels: list[str]
    units: dict[str, str] = Field(description="sensor -> unit of its channels (canonical SI after reading)")
    source_files: list[str] = Field(default_factory=list)
    source_format: str = "unknown"
    activities: list[str] = Field(
        default_factory=list, description="canonical activity names; sample labels index into this list"
    )
    conversions: list[str] = Field(default_factory=list, description="every change made to the raw data")
    gaps: list[Gap] = Field(default_factory=list)

    @property
    def placements(self) -> list[str]:
        return list(dict.fromkeys(Channel.parse(c).placement for c in self.channels))

    @property
    def sensors(self) -> list[str]:
        return list(dict.fromkeys(Channel.parse(c).sensor for c in self.channels))


class Recording:
    """Metadata + samples `(n_samples, n_channels)` float32 + seconds from start + optional sample labels.

    `labels[i]` indexes `meta.activities`, `-1` meaning unlabelled. Construction validates shapes, units and
    time so a Recording that exists is always usable.
    """

    __slots__ = ("meta", "samples", "times_s", "labels")

    def __init__(
        self,
        meta: RecordingMeta,
        samples: np.ndarray,
        times_s: np.ndarray | None = None,
        labels: np.ndarray | None = None,
    ) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[1] != len(meta.channels):
            raise RecordingError(
                f"samples have shape {samples.shape}, expected (n_samples, {len(meta.channels)}) "
                f"for channels {meta.channels}",
                path=meta.id,
            )
        for name in meta.channels:
            channel = Channel.parse(name)
            unit = meta.units.get(channel.sensor)
            if unit != CANONICAL_UNITS[channel.sensor]:
                raise RecordingError(
                    f"channel {name} is in {unit!r}, not the canonical {CANONICAL_UNITS[channel.sensor]!r}",
                    path=meta.id,
                    fix="convert units in the reader before building a Recording",
                )
        n = samples.shape[0]
        if times_s is None:
            times_s = np.arange(n, dtype=np.float64) / meta.sampling_rate_hz
        times_s = np.asarray(times_s, dtype=np.float64)
        if times_s.shape != (n,):
            raise RecordingError(f"{times_s.shape[0]} timestamps for {n} samples", path=meta.id)
        if n > 1 and not np.all(np.diff(times_s) > 0):
            raise RecordingError("timestamps are not strictly increasing", path=meta.id)
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int16)
            if labels.shape != (n,):
                raise RecordingError(f"{labels.shape[0]} labels for {n} samples", path=meta.id)
            if labels.size and (labels.max() >= len(meta.activities) or labels.min() < UNLABELLED):
                raise RecordingError("a sample label indexes no activity of meta.activities", path=meta.id)
        self.meta = meta
        self.samples = samples
        self.times_s = times_s
        self.labels = labels

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.meta.sampling_rate_hz

    def channel_index(self, names: list[str]) -> list[int]:
        """Column indices of `names`, with an error naming what is missing."""
        lookup = {name: i for i, name in enumerate(self.meta.channels)}
        missing = [name for name in names if name not in lookup]
        if missing:
            raise RecordingError(
                f"recording lacks channels {missing}",
                path=self.meta.id,
                fix=f"it has {self.meta.channels}; choose a pack built for these placements",
            )
        return [lookup[name] for name in names]

    def select(self, names: list[str]) -> "Recording":
        """A recording restricted to (and ordered by) `names`."""
        index = self.channel_index(names)
        sensors = {Channel.parse(n).sensor for n in names}
        meta = self.meta.model_copy(
            update={"channels": list(names), "units": {s: u for s, u in self.meta.units.items() if s in sensors}}
        )
        return Recording(meta, self.samples[:, index], self.times_s, self.labels)

    def slice(self, start: int, stop: int, suffix: str = "") -> "Recording":
        """Samples [start, stop) as a new recording; times keep their offset from the original start."""
        meta = self.meta.model_copy(update={"id": self.meta.id + suffix}) if suffix else self.meta
        labels = None if self.labels is None else self.labels[start:stop]
        return Recording(meta, self.samples[start:stop], self.times_s[start:stop], labels)

    def label_names(self) -> np.ndarray:
        """Per-sample activity names (empty string where unlabelled)."""
        if self.labels is None:
            return np.full(self.n_samples, "", dtype=object)
        names = np.array(list(self.meta.activities) + [""], dtype=object)
        return names[self.labels]

    def __repr__(self) -> str:
        return (
            f"Recording(id={self.meta.id!r}, {self.n_samples} samples @ {self.meta.sampling_rate_hz:g} Hz, "
            f"{len(self.meta.channels)} channels, {self.duration_s:.1f} s)"
        )
