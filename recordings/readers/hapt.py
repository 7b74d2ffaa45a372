"""UCI HAPT `RawData/`: acc (g) and gyro (rad/s) of a waist-worn phone at 50 Hz, per experiment.

`labels.txt` holds `exp user activity first last` segments (0-based, inclusive); samples outside every
segment are unlabelled.
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recordings.channels import CANONICAL_UNITS, STANDARD_GRAVITY, motion_channels
from recordings.errors import RecordingError
from recordings.recording import UNLABELLED, Recording, RecordingMeta

SAMPLING_RATE_HZ = 50.0
FILE_PATTERN = re.compile(r"^(acc|gyro)_exp(\d{2})_user(\d{2})\.txt(\.gz)?$")


def _read_xyz(path: Path) -> np.ndarray:
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    try:
        data = pd.read_csv(io.BytesIO(raw), sep=r"\s+", header=None, dtype=np.float32, engine="c").to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RecordingError(f"not a HAPT signal file: {exc}", path=path, fix="expected 3 numbers per line") from None
    if data.ndim != 2 or data.shape[1] != 3:
        raise RecordingError(f"expected 3 columns (x y z), found {data.shape[1]}", path=path)
    return data


def read_labels(path: Path) -> pd.DataFrame:
    """`labels.txt` as a table with columns exp, user, activity, first, last."""
    if not path.is_file():
        raise RecordingError("HAPT labels.txt not found", path=path, fix="keep labels.txt beside the signal files")
    table = pd.read_csv(path, sep=r"\s+", header=None, names=["exp", "user", "activity", "first", "last"])
    if table.isna().any().any() or (table["last"] < table["first"]).any():
        raise RecordingError("labels.txt has incomplete or reversed segments", path=path)
    return table.astype(int)


def experiment_files(raw_dir: Path) -> dict[tuple[int, int], dict[str, Path]]:
    """(experiment, user) -> {'acc': path, 'gyro': path}."""
    found: dict[tuple[int, int], dict[str, Path]] = {}
    for path in raw_dir.iterdir():
        if m := FILE_PATTERN.match(path.name):
            found.setdefault((int(m.group(2)), int(m.group(3))), {})[m.group(1)] = path
    return dict(sorted(found.items()))


def read_hapt_experiment(
    acc_path: Path,
    gyro_path: Path,
    experiment: int,
    user: int,
    labels: pd.DataFrame | None,
    code_to_activity: dict[str, str],
) -> Recording:
    """One experiment as a recording: waist acc in m/s², gyro in rad/s, sample labels from labels.txt."""
    acc, gyro = _read_xyz(acc_path), _read_xyz(gyro_path)
    if len(acc) != len(gyro):
        raise RecordingError(
            f"acc has {len(acc)} samples but gyro {len(gyro)}", path=gyro_path, fix="use the matching pair of files"
        )
    activities = sorted(set(code_to_activity.values()), key=list(code_to_activity.values()).index)
    sample_labels = np.full(len(acc), UNLABELLED, dtype=np.int16)
    if labels is not None:
        rows = labels[(labels["exp"] == experiment) & (labels["user"] == user)]
        for row in rows.itertuples():
            sample_labels[row.first : row.last + 1] = activities.index(code_to_activity[str(row.activity)])
    meta = RecordingMeta(
        id=f"hapt/exp{experiment:02d}_user{user:02d}",
        dataset="hapt",
        subject=f"hapt-{user:02d}",
        sampling_rate_hz=SAMPLING_RATE_HZ,
        channels=motion_channels("waist"),
        units={"acc": CANONICAL_UNITS["acc"], "gyro": CANONICAL_UNITS["gyro"]},
        source_files=[str(acc_path), str(gyro_path)],
        source_format="hapt",
        activities=activities,
        conversions=[f"acceleration g -> m/s^2 (x {STANDARD_GRAVITY})"],
    )
    return Recording(meta, np.concatenate([acc * STANDARD_GRAVITY, gyro], axis=1), labels=sample_labels)


def is_hapt_file(path: Path) -> bool:
    return bool(FILE_PATTERN.match(path.name))
