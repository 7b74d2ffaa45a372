"""Typed models shared by the feature extractor and its glossary (kept apart to avoid import cycles)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Family = Literal["time", "jerk", "spectral", "autocorr", "axis_corr", "intensity_ratio", "gravity", "placement_corr"]
FAMILIES: tuple[str, ...] = (
    "time", "jerk", "spectral", "autocorr", "axis_corr", "intensity_ratio", "gravity", "placement_corr",
)  # fmt: skip


class FeatureConfig(BaseModel):
    """The extractor's parameters, stored in every knowledge base so query features match the reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    families: tuple[Family, ...] = FAMILIES
    band_edges_hz: tuple[float, float] = Field(default=(0.5, 3.0), description="low|mid and mid|high band edges")
    max_frequency_hz: float = Field(default=12.5, gt=0, description="spectral cap (also capped at Nyquist)")
    gravity_cutoff_hz: float = Field(default=0.5, gt=0, description="low-pass cutoff separating gravity (posture)")
    spectrum_segment_s: float | None = Field(default=None, description="Welch segment; None = the whole window")


class GlossaryEntry(BaseModel):
    """What one feature means, in words a clinician can check against the signal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    placement: str = Field(description="placement, or two placements joined by '~'")
    sensor: str = Field(description="acc, gyro, or accgyro for the ratio of the two")
    channel: str = Field(description="x, y, z, mag, an axis pair (xy) or gravity/gravity_<axis>")
    feature: str
    family: str
    aspect: str = Field(description="posture, intensity, rhythm, regularity, smoothness, shape, coordination, trend")
    unit: str
    definition: str
    high_means: str
    low_means: str
