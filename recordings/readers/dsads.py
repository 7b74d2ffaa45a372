"""UCI Daily and Sports Activities (DSADS): `aNN/pM/sKK.txt[.gz]`, 125 rows x 45 columns at 25 Hz.

The 60 five-second segments of one activity and subject are consecutive pieces of one ~5 min recording,
so they are joined, in order, into one :class:`Recording` per (activity, subject).
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recordings.channels import AXES, CANONICAL_UNITS
from recordings.errors import RecordingError
from recordings.recording import Recording, RecordingMeta

SAMPLING_RATE_HZ = 25.0
SEGMENT_ROWS = 125
N_COLUMNS = 45
#: DSADS unit order; the arm units sit at the wrists and the leg units above the knees (dataset papers)
UNIT_PLACEMENTS = ("torso", "wrist_right", "wrist_left", "thigh_right", "thigh_left")
UNIT_SENSORS = ("acc", "gyro", "mag")
SEGMENT_PATTERN = re.compile(r"s(\d{2})\.txt(\.gz)?$")
ACTIVITY_PATTERN = re.compile(r"^a(\d{2})$")
SUBJECT_PATTERN = re.compile(r"^p(\d)$")
PLACEMENT_NOTE = "DSADS 'right/left arm' units mapped to wrist_right/left, 'right/left leg' to thigh_right/left"


def dsads_channels(sensors: tuple[str, ...] = ("acc", "gyro")) -> list[str]:
    """Canonical channel names of the DSADS units for the chosen sensors, in column order."""
    return [f"{p}.{s}.{a}" for p in UNIT_PLACEMENTS for s in UNIT_SENSORS if s in sensors for a in AXES]


def _columns(sensors: tuple[str, ...]) -> list[int]:
    return [9 * u + 3 * UNIT_SENSORS.index(s) + k for u in range(5) for s in UNIT_SENSORS if s in sensors for k in range(3)]


def _read_bytes(path: Path) -> bytes:
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as handle:
        return handle.read()


def read_segment_files(paths: list[Path]) -> np.ndarray:
    """Parse and stack DSADS segment files into (60*125, 45) float32, checking every file's shape."""
    blocks = []
    for path in paths:
        raw = _read_bytes(path)
        try:
            block = pd.read_csv(io.BytesIO(raw), header=None, dtype=np.float32, engine="c").to_numpy()
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise RecordingError(f"not a DSADS segment: {exc}", path=path, fix="DSADS files hold 125 rows x 45 numbers") from None
        if block.shape != (SEGMENT_ROWS, N_COLUMNS):
            raise RecordingError(
                f"DSADS segment has shape {block.shape}, expected ({SEGMENT_ROWS}, {N_COLUMNS})",
                path=path,
                fix="check the file is an untouched DSADS segment",
            )
        blocks.append(block)
    return np.concatenate(blocks)


def segment_paths(folder: Path) -> list[Path]:
    """The segment files of one `aNN/pM` folder, in recorded order."""
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SEGMENT_PATTERN.search(p.name)))
    if not found:
        raise RecordingError("no DSADS segments (sKK.txt or sKK.txt.gz) here", path=folder)
    return [p for _, p in found]


def read_dsads_folder(
    folder: str | Path,
    activity: str | None = None,
    sensors: tuple[str, ...] = ("acc", "gyro"),
    paths: list[Path] | None = None,
) -> Recording:
    """One (activity, subject) folder `aNN/pM` as a labelled recording (all its segments joined)."""
    folder = Path(folder)
    paths = paths or segment_paths(folder)
    data = read_segment_files(paths)[:, _columns(sensors)]
    code = folder.parent.name
    subject = folder.name
    labels = None if activity is None else np.zeros(len(data), dtype=np.int16)
    meta = RecordingMeta(
        id=f"dsads/{code}/{subject}" if len(paths) > 1 else f"dsads/{code}/{subject}/{paths[0].name.split('.')[0]}",
        dataset="dsads",
        subject=f"dsads-{subject}",
        sampling_rate_hz=SAMPLING_RATE_HZ,
        channels=dsads_channels(sensors),
        units={s: CANONICAL_UNITS[s] for s in sensors},
        source_files=[str(p) for p in paths],
        source_format="dsads",
        activities=[activity] if activity is not None else [],
        conversions=[PLACEMENT_NOTE, f"joined {len(paths)} consecutive 5 s segments"]
        + (["magnetometer values taken as gauss and scaled x100 to uT"] if "mag" in sensors else []),
    )
    if "mag" in sensors:
        mag = [i for i, c in enumerate(meta.channels) if ".mag." in c]
        data[:, mag] *= 100.0
    return Recording(meta, data, labels=labels)


def is_dsads_path(path: Path) -> bool:
    """A DSADS segment file or an `aNN/pM` folder, judged by name."""
    if path.is_dir():
        return bool(SUBJECT_PATTERN.match(path.name) and ACTIVITY_PATTERN.match(path.parent.name))
    return bool(SEGMENT_PATTERN.search(path.name) and SUBJECT_PATTERN.match(path.parent.name))
