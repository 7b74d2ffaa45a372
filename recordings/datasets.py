"""The public datasets harlens knows, found under the data root (`HARLENS_DATA`, default `../shared/data`).

Each loader returns canonical, labelled :class:`Recording` objects; protocols (see
:mod:`recordings.protocols`) turn them into windows.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from recordings.errors import DataNotFoundError, RecordingError
from recordings.readers.dsads import read_dsads_folder, segment_paths
from recordings.readers.hapt import experiment_files, read_hapt_experiment, read_labels
from recordings.readers.pamap2 import read_pamap2_file
from recordings.recording import Recording
from recordings.vocabulary import Vocabulary, load_vocabulary

log = logging.getLogger(__name__)
DSADS_SUBJECTS = tuple(f"p{i}" for i in range(1, 9))
DSADS_ACTIVITIES = tuple(f"a{i:02d}" for i in range(1, 20))


def data_root(root: str | Path | None = None) -> Path:
    """The folder holding `dsads/`, `hapt/` and optionally `PAMAP2_Dataset/`.

    Order: the argument, `HARLENS_DATA`, `../shared/data` from the working directory, then from the
    source checkout (so an editable install finds the data wherever it is run from).
    """
    if root is not None:
        return Path(root)
    if env := os.environ.get("HARLENS_DATA"):
        return Path(env)
    candidates = [Path.cwd() / ".." / "shared" / "data", Path(__file__).resolve().parents[2] / "shared" / "data"]
    return next((c.resolve() for c in candidates if c.is_dir()), candidates[0])


def dataset_dir(name: str, root: str | Path | None = None) -> Path:
    """The folder of one dataset, or a DataNotFoundError that says where it was looked for."""
    base = data_root(root)
    folder = {"dsads": base / "dsads", "hapt": base / "hapt" / "RawData", "pamap2": base / "PAMAP2_Dataset"}.get(name)
    if folder is None:
        raise RecordingError(f"unknown dataset {name!r}", fix="use dsads, hapt or pamap2")
    if not folder.is_dir():
        raise DataNotFoundError(
            f"dataset {name} not found",
            path=folder,
            fix="set HARLENS_DATA to the folder holding dsads/, hapt/ (and PAMAP2_Dataset/)",
        )
    return folder


def load_dsads(
    subjects: tuple[str, ...] = DSADS_SUBJECTS,
    activity_codes: tuple[str, ...] = DSADS_ACTIVITIES,
    root: str | Path | None = None,
    vocabulary: Vocabulary | None = None,
    sensors: tuple[str, ...] = ("acc", "gyro"),
) -> list[Recording]:
    """One labelled recording per (activity, subject): the 60 segments joined in recorded order."""
    base = dataset_dir("dsads", root)
    names = (vocabulary or load_vocabulary()).dataset_labels("dsads")
    jobs = [(base / code / subject, names[code]) for code in activity_codes for subject in subjects]
    for folder, _ in jobs:
        if not folder.is_dir():
            raise DataNotFoundError("DSADS folder missing", path=folder, fix="the copy should hold a01..a19/p1..p8")
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda job: read_dsads_folder(job[0], job[1], sensors), jobs))


def load_hapt(
    users: tuple[int, ...] | None = None, root: str | Path | None = None, vocabulary: Vocabulary | None = None
) -> list[Recording]:
    """One recording per HAPT experiment (waist acc + gyro at 50 Hz), labelled from labels.txt."""
    raw = dataset_dir("hapt", root)
    labels = read_labels(raw / "labels.txt")
    code_to_activity = (vocabulary or load_vocabulary()).dataset_labels("hapt")
    jobs = [
        (files, exp, user)
        for (exp, user), files in experiment_files(raw).items()
        if users is None or user in users
    ]
    for files, exp, user in jobs:
        if set(files) != {"acc", "gyro"}:
            raise DataNotFoundError(f"experiment {exp} lacks its acc or gyro file", path=raw)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(
            pool.map(
                lambda job: read_hapt_experiment(job[0]["acc"], job[0]["gyro"], job[1], job[2], labels, code_to_activity),
                jobs,
            )
        )


def pamap2_files(root: str | Path | None = None) -> list[Path]:
    """Every `subjectNNN.dat` under `Protocol/` and `Optional/`."""
    base = dataset_dir("pamap2", root)
    return sorted(p for sub in ("Protocol", "Optional") for p in (base / sub).glob("subject*.dat"))


def verify_pamap2(root: str | Path | None = None) -> list[str]:
    """Files whose size or sha256 differs from `pamap2_sha256.tsv` (empty list: the copy is official)."""
    base = data_root(root)
    table = base / "pamap2_sha256.tsv"
    if not table.is_file():
        raise DataNotFoundError("checksum table missing", path=table)
    problems = []
    for line in table.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[-1].strip() or parts[0].startswith(("#", "path", "file")):
            continue
        name, size, digest = parts[0], parts[1], parts[2]
        path = base / name
        if not path.exists():
            candidates = list(base.glob(f"**/{Path(name).name}"))
            path = candidates[0] if candidates else path
        if not path.is_file():
            continue
        if str(path.stat().st_size) != size.strip() or file_sha256(path) != digest.strip():
            problems.append(str(path))
    return problems


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks (datasets and packs can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_pamap2(root: str | Path | None = None, vocabulary: Vocabulary | None = None) -> list[Recording]:
    """One recording per PAMAP2 subject file (NaNs kept; protocols repair gaps before windowing)."""
    code_to_activity = (vocabulary or load_vocabulary()).dataset_labels("pamap2")
    return [read_pamap2_file(path, code_to_activity) for path in pamap2_files(root)]


class DatasetSummary(BaseModel):
    """What `harlens data list` reports per dataset."""

    name: str
    path: str
    found: bool
    files: int = 0
    recordings: int = 0
    activities: int = 0
    subjects: int = 0
    hours: float = 0.0
    note: str = ""


def summarise(name: str, root: str | Path | None = None) -> DatasetSummary:
    """Count files, recordings, activities, subjects and hours of one dataset (reads the data)."""
    try:
        folder = dataset_dir(name, root)
    except DataNotFoundError as exc:
        return DatasetSummary(name=name, path=str(exc.path), found=False, note=exc.fix or "")
    if name == "dsads":
        recordings = load_dsads(root=root)
        files = sum(len(segment_paths(folder / c / s)) for c in DSADS_ACTIVITIES for s in DSADS_SUBJECTS)
        note = f"{files} five-second segments"
    elif name == "hapt":
        recordings = load_hapt(root=root)
        files = len(recordings)
        note = f"{files} experiments"
    else:
        recordings = load_pamap2(root=root)
        files = len(recordings)
        note = f"{files} subject files"
    activities = {a for r in recordings for a in labelled_activities(r)}
    return DatasetSummary(
        name=name,
        path=str(folder),
        found=True,
        files=files,
        recordings=len(recordings),
        activities=len(activities),
        subjects=len({r.meta.subject for r in recordings}),
        hours=sum(r.duration_s for r in recordings) / 3600.0,
        note=note,
    )


def labelled_activities(recording: Recording) -> list[str]:
    """The activities that label at least one sample of the recording."""
    if recording.labels is None:
        return []
    present = set(np.unique(recording.labels[recording.labels >= 0]).tolist())
    return [a for i, a in enumerate(recording.meta.activities) if i in present]
