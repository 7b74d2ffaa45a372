"""Canonical body placements, sensors, units and channel names (`placement.sensor.axis`).

One vocabulary for every reader: a file may say "right arm", "RA", "hand" or "wrist"; the rest of harlens
only ever sees the canonical placement names below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recordings.errors import RecordingError

#: canonical placement -> accepted synonyms (lower case, words separated by spaces)
PLACEMENT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "torso": ("torso", "chest", "trunk", "sternum", "upper body"),
    "waist": ("waist", "hip", "belt", "pelvis", "lower back", "back", "lumbar", "sacrum"),
    "wrist": ("wrist", "hand", "forearm", "watch", "lower arm"),
    "wrist_right": ("right wrist", "right hand", "dominant wrist"),
    "wrist_left": ("left wrist", "left hand", "non dominant wrist"),
    "upper_arm": ("upper arm", "arm", "biceps"),
    "upper_arm_right": ("right arm", "right upper arm", "ra"),
    "upper_arm_left": ("left arm", "left upper arm", "la"),
    "thigh": ("thigh", "upper leg", "leg"),
    "thigh_right": ("right leg", "right thigh", "rl"),
    "thigh_left": ("left leg", "left thigh", "ll"),
    "ankle": ("ankle", "shin", "lower leg", "shank"),
    "ankle_right": ("right ankle", "right shin"),
    "ankle_left": ("left ankle", "left shin"),
    "foot": ("foot", "shoe", "insole"),
    "pocket": ("pocket", "trouser pocket", "phone"),
    "head": ("head", "ear", "glasses"),
}

#: sensors harlens understands; `hr` (heart rate) and `temp` are auxiliary single-axis channels
SENSORS: tuple[str, ...] = ("acc", "gyro", "mag", "hr", "temp")
MOTION_SENSORS: tuple[str, ...] = ("acc", "gyro")
CANONICAL_UNITS: dict[str, str] = {"acc": "m/s^2", "gyro": "rad/s", "mag": "uT", "hr": "bpm", "temp": "degC"}
AXES: tuple[str, ...] = ("x", "y", "z")
STANDARD_GRAVITY = 9.80665
# Beyond any wearable IMU's full scale (high-g accelerometers reach 400 g, MEMS gyroscopes 4000 deg/s):
# a reading past these, in canonical units, is a glitch or a wrong unit, never a movement.
PHYSICAL_LIMITS: dict[str, float] = {"acc": 4000.0, "gyro": 100.0}

_SYNONYM_TO_PLACEMENT = {syn: name for name, syns in PLACEMENT_SYNONYMS.items() for syn in syns}
_SYNONYM_TO_PLACEMENT.update({name.replace("_", " "): name for name in PLACEMENT_SYNONYMS})


def canonical_placement(text: str) -> str:
    """Map a free-text placement ("Right Arm", "hip", "upper_arm_left") to its canonical name."""
    key = re.sub(r"[\s_\-]+", " ", text.strip().lower())
    try:
        return _SYNONYM_TO_PLACEMENT[key]
    except KeyError:
        known = ", ".join(sorted(PLACEMENT_SYNONYMS))
        raise RecordingError(
            f"unknown body placement {text!r}",
            fix=f"use one of: {known} (or a synonym such as 'chest', 'hip', 'right arm')",
        ) from None


def placement_family(placement: str) -> str:
    """The side-free family of a placement (`upper_arm_left` -> `upper_arm`), used to match across datasets."""
    for suffix in ("_left", "_right"):
        if placement.endswith(suffix):
            return placement[: -len(suffix)]
    return placement


@dataclass(frozen=True, order=True)
class Channel:
    """One named signal: `placement.sensor.axis` (axis is `x`, `y`, `z`, or `value` for scalar sensors)."""

    placement: str
    sensor: str
    axis: str

    @property
    def name(self) -> str:
        return f"{self.placement}.{self.sensor}.{self.axis}"

    @classmethod
    def parse(cls, name: str) -> "Channel":
        parts = name.split(".")
        if len(parts) != 3 or parts[0] not in PLACEMENT_SYNONYMS or parts[1] not in SENSORS:
            raise RecordingError(
                f"channel name {name!r} is not of the form placement.sensor.axis",
                fix="name channels like 'torso.acc.x' with a canonical placement and one of the sensors "
                + ", ".join(SENSORS),
            )
        return cls(*parts)

    def __str__(self) -> str:
        return self.name


def motion_channels(placement: str, sensors: tuple[str, ...] = MOTION_SENSORS) -> list[str]:
    """The canonical tri-axial channel names of one placement, e.g. torso.acc.x … torso.gyro.z."""
    return [Channel(placement, sensor, axis).name for sensor in sensors for axis in AXES]


def placements_of(channels: list[str] | tuple[str, ...]) -> list[str]:
    """Placements present in a channel list, in first-seen order."""
    seen: dict[str, None] = {}
    for name in channels:
        seen.setdefault(Channel.parse(name).placement, None)
    return list(seen)


def channels_of(channels: list[str] | tuple[str, ...], placements: tuple[str, ...] | list[str]) -> list[str]:
    """The channels worn at any of `placements`, in the given channel order."""
    wanted = set(placements)
    return [name for name in channels if Channel.parse(name).placement in wanted]
