"""PAMAP2 `Protocol/` and `Optional/` `subjectNNN.dat`: 54 space-separated columns at 100 Hz.

Columns: timestamp (s), activity id (0 = transient, unlabelled), heart rate (bpm, ~9 Hz, NaN between
readings), then three IMUs (hand, chest, ankle) of 17 columns: temperature, acc ±16 g (m/s²), acc ±6 g,
gyro (rad/s), magnetometer (uT), orientation (invalid). harlens keeps acc ±16 g and gyro per IMU and the
heart rate as an auxiliary channel.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recordings.channels import CANONICAL_UNITS, motion_channels
from recordings.errors import RecordingError
from recordings.recording import UNLABELLED, Recording, RecordingMeta

SAMPLING_RATE_HZ = 100.0
N_COLUMNS = 54
IMU_PLACEMENTS = (("wrist_right", 3), ("torso", 20), ("ankle_right", 37))  # dominant hand/ankle per dataset doc
FILE_PATTERN = re.compile(r"^subject(\d{3})\.dat$")


def _imu_columns(offset: int) -> list[int]:
    return [offset + 1, offset + 2, offset + 3, offset + 7, offset + 8, offset + 9]


def read_pamap2_file(path: str | Path, code_to_activity: dict[str, str]) -> Recording:
    """One subject file as a recording (NaNs kept: run `repair_gaps` before windowing)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep=" ", header=None, dtype=np.float64, engine="c")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RecordingError(f"not a PAMAP2 subject file: {exc}", path=path, fix="expected 54 space-separated numbers per line") from None
    if table.shape[1] != N_COLUMNS:
        raise RecordingError(f"PAMAP2 rows have {N_COLUMNS} columns, found {table.shape[1]}", path=path)
    data = table.to_numpy()
    times = data[:, 0] - data[0, 0]
    if not np.all(np.diff(times) > 0):
        line = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 2
        raise RecordingError("timestamps are not strictly increasing", path=path, line=line)
    columns = [c for _, offset in IMU_PLACEMENTS for c in _imu_columns(offset)] + [2]
    channels = [c for placement, _ in IMU_PLACEMENTS for c in motion_channels(placement)] + ["torso.hr.value"]
    activities = list(dict.fromkeys(code_to_activity.values()))
    codes = data[:, 1].astype(int)
    unknown = sorted({str(c) for c in np.unique(codes) if c != 0} - set(code_to_activity))
    if unknown:
        raise RecordingError(f"activity ids {unknown} are not PAMAP2 activities", path=path, column=1)
    lookup = np.full(codes.max() + 1, UNLABELLED, dtype=np.int16)
    for code, name in code_to_activity.items():
        if int(code) <= codes.max():
            lookup[int(code)] = activities.index(name)
    subject = FILE_PATTERN.match(path.name)
    meta = RecordingMeta(
        id=f"pamap2/{path.parent.name}/{path.stem}",
        dataset="pamap2",
        subject=f"pamap2-{subject.group(1)}" if subject else path.stem,
        sampling_rate_hz=SAMPLING_RATE_HZ,
        channels=channels,
        units={"acc": CANONICAL_UNITS["acc"], "gyro": CANONICAL_UNITS["gyro"], "hr": CANONICAL_UNITS["hr"]},
        source_files=[str(path)],
        source_format="pamap2",
        activities=activities,
        conversions=["kept acc ±16 g and gyro of each IMU; hand -> wrist_right, ankle -> ankle_right; activity 0 unlabelled"],
    )
    return Recording(meta, data[:, columns].astype(np.float32), times, lookup[codes])


def is_pamap2_file(path: Path) -> bool:
    return bool(FILE_PATTERN.match(path.name))
