"""From `Windows` (any channel order, any placements) to the network's fixed layout `(N, P*C, T)`.

The network has one branch per placement it was trained with, each expecting `acc.x..z, gyro.x..z`.
A recording may lack placements (their branches are masked out of the fused embedding), lack a sensor
(filled with the reference mean, i.e. zero after normalisation), or name a placement by its side-free
family (`wrist` for a `wrist_right` branch), which is matched and logged.
"""

from __future__ import annotations

import logging

import numpy as np

from encoders.errors import EncoderError
from recordings.channels import AXES, Channel, placement_family

log = logging.getLogger(__name__)


def branch_channels(placement: str, sensors: tuple[str, ...]) -> list[str]:
    return [f"{placement}.{sensor}.{axis}" for sensor in sensors for axis in AXES]


def motion_placements(channels: tuple[str, ...] | list[str], sensors: tuple[str, ...]) -> list[str]:
    """Placements that carry at least one motion channel, in first-seen order."""
    found: dict[str, None] = {}
    for name in channels:
        channel = Channel.parse(name)
        if channel.sensor in sensors:
            found.setdefault(channel.placement, None)
    return list(found)


def match_placements(branches: tuple[str, ...], available: list[str]) -> dict[str, str]:
    """branch -> placement of the data feeding it: exact name first, else the unique same-family placement."""
    matched = {b: b for b in branches if b in available}
    free = [p for p in available if p not in matched.values()]
    for branch in branches:
        if branch in matched:
            continue
        family = [p for p in free if placement_family(p) == placement_family(branch)]
        if len(family) == 1:
            matched[branch] = family[0]
            free.remove(family[0])
            log.info("placement %s feeds the %s branch (same body part)", family[0], branch)
    return matched


def to_layout(
    data: np.ndarray,
    channels: tuple[str, ...],
    branches: tuple[str, ...],
    sensors: tuple[str, ...],
    fill: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(N, P*C, T) float32, the (P,) mask of branches with data, and the branch -> data placement map.

    `fill` (P*C,) is the value for missing channels: the reference mean, so they normalise to zero.
    """
    available = motion_placements(channels, sensors)
    matched = match_placements(branches, available)
    if not matched:
        raise EncoderError(
            f"the windows' placements {available} match none of the encoder's placements {list(branches)}",
            fix="use recordings with at least one of these placements (or train an encoder on yours)",
        )
    unused = [p for p in available if p not in matched.values()]
    if unused:
        log.warning("ignoring placements the encoder has no branch for: %s", unused)
    lookup = {c: i for i, c in enumerate(channels)}
    per = len(sensors) * len(AXES)
    out = np.empty((data.shape[0], len(branches) * per, data.shape[2]), dtype=np.float32)
    out[:] = np.asarray(fill, dtype=np.float32)[None, :, None]
    present = np.zeros(len(branches), dtype=bool)
    for b, branch in enumerate(branches):
        if branch not in matched:
            continue
        present[b] = True
        for c, name in enumerate(branch_channels(matched[branch], sensors)):
            if name in lookup:
                out[:, b * per + c] = data[:, lookup[name]]
    return out, present, matched
