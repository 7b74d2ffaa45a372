"""One entry point for any recording file: detect its format and read it canonically."""

from __future__ import annotations

from pathlib import Path

from recordings.errors import RecordingError
from recordings.readers.dsads import is_dsads_path, read_dsads_folder
from recordings.readers.hapt import FILE_PATTERN as HAPT_PATTERN
from recordings.readers.hapt import is_hapt_file, read_hapt_experiment, read_labels
from recordings.readers.pamap2 import is_pamap2_file, read_pamap2_file
from recordings.readers.table import TableOptions, read_table
from recordings.recording import Recording
from recordings.vocabulary import Vocabulary, load_vocabulary

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".gz")


def detect_format(path: Path) -> str:
    """'dsads', 'hapt', 'pamap2' or 'table' from the path's name and place."""
    if is_dsads_path(path):
        return "dsads"
    if is_hapt_file(path):
        return "hapt"
    if is_pamap2_file(path):
        return "pamap2"
    if path.is_file() and path.name.lower().endswith(TABLE_SUFFIXES):
        return "table"
    raise RecordingError(
        "unrecognised recording format",
        path=path,
        fix="use a CSV/TSV/Parquet file with a header, a DSADS aNN/pM folder or segment, a HAPT RawData file, "
        "or a PAMAP2 subjectNNN.dat",
    )


def read_recording(
    path: str | Path, options: TableOptions | None = None, vocabulary: Vocabulary | None = None
) -> tuple[Recording, str]:
    """The recording at `path` and the format it was read as."""
    path = Path(path)
    if not path.exists():
        raise RecordingError("no such file or folder", path=path)
    kind = detect_format(path)
    if kind == "table":
        return read_table(path, options), kind
    vocabulary = vocabulary or load_vocabulary()
    if kind == "dsads":
        folder = path if path.is_dir() else path.parent
        activity = vocabulary.dataset_labels("dsads").get(folder.parent.name)
        return read_dsads_folder(folder, activity, paths=None if path.is_dir() else [path]), kind
    if kind == "pamap2":
        return read_pamap2_file(path, vocabulary.dataset_labels("pamap2")), kind
    match = HAPT_PATTERN.match(path.name)
    experiment, user = int(match.group(2)), int(match.group(3))
    suffix = match.group(4) or ""
    acc = path.with_name(f"acc_exp{experiment:02d}_user{user:02d}.txt{suffix}")
    gyro = path.with_name(f"gyro_exp{experiment:02d}_user{user:02d}.txt{suffix}")
    labels_path = path.with_name("labels.txt")
    labels = read_labels(labels_path) if labels_path.is_file() else None
    return read_hapt_experiment(acc, gyro, experiment, user, labels, vocabulary.dataset_labels("hapt")), kind
