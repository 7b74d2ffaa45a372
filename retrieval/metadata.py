"""The metadata table of an index (one row per reference vector, keyed by its id) and filters over it.

Retrieval treats every column as an opaque value: an activity is just a string to match, never a concept.
String columns are stored as strings (a subject `3` becomes `"3"`) so a filter written by a person matches
whatever type the reader produced, and so the table survives a Parquet round trip unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from retrieval.errors import RetrievalError, describe_items

STRING_COLUMNS = ("dataset", "subject", "activity", "recording", "placement")
REQUIRED_COLUMNS = (*STRING_COLUMNS, "start_s")
ID_NAME = "id"


def prepare_metadata(metadata: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Validate a caller's metadata rows (aligned with `ids`) and return them keyed by id."""
    if not isinstance(metadata, pd.DataFrame):
        raise RetrievalError(
            f"metadata must be a pandas DataFrame, got {type(metadata).__name__}",
            fix=f"pass a DataFrame with columns {list(REQUIRED_COLUMNS)}, one row per vector",
        )
    if len(metadata) != len(ids):
        raise RetrievalError(
            f"metadata has {len(metadata)} rows but there are {len(ids)} vectors",
            fix="give exactly one metadata row per vector, in the same order",
        )
    _check_columns(metadata)
    frame = metadata.reset_index(drop=True).copy()
    for column in REQUIRED_COLUMNS:
        missing_rows = np.flatnonzero(frame[column].isna().to_numpy())
        if missing_rows.size:
            raise RetrievalError(
                f"metadata column {column!r} is empty at rows {describe_items(missing_rows.tolist())}",
                fix="fill every required column (use a placeholder string such as 'unknown' if needed)",
            )
    for column in STRING_COLUMNS:
        frame[column] = frame[column].astype(str)
    frame["start_s"] = _numeric_start_times(frame["start_s"])
    frame.index = pd.Index(np.asarray(ids, dtype=np.int64), name=ID_NAME)
    return frame


def placeholder_metadata(
    n_rows: int, *, activities: Iterable[object] | None = None, placement: str = "unknown"
) -> pd.DataFrame:
    """Metadata for vectors that only carry a label (benchmarks, kNN evaluation): other columns say 'unspecified'."""
    labels = ["unspecified"] * n_rows if activities is None else [str(a) for a in activities]
    if len(labels) != n_rows:
        raise RetrievalError(f"{len(labels)} activities given for {n_rows} rows", fix="give one activity per row")
    return pd.DataFrame(
        {
            "dataset": "unspecified",
            "subject": "unspecified",
            "activity": labels,
            "recording": "unspecified",
            "placement": placement,
            "start_s": np.zeros(n_rows, dtype=np.float64),
        }
    )


def _check_columns(metadata: pd.DataFrame) -> None:
    non_string = [c for c in metadata.columns if not isinstance(c, str)]
    if non_string:
        raise RetrievalError(
            f"metadata column names must be strings; got {describe_items(non_string)}",
            fix="rename the columns to strings (Parquet needs string column names)",
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in metadata.columns]
    if missing:
        raise RetrievalError(
            f"metadata lacks required columns {missing} (it has {list(metadata.columns)})",
            fix=f"add the columns {list(REQUIRED_COLUMNS)}; extra columns are allowed",
        )
    if ID_NAME in metadata.columns:
        raise RetrievalError(
            "metadata has a column named 'id', which the index reserves for its vector ids",
            fix="pass ids through the `ids` argument and drop or rename the 'id' column",
        )


def _numeric_start_times(start_s: pd.Series) -> pd.Series:
    converted = pd.to_numeric(start_s, errors="coerce")
    bad_rows = np.flatnonzero(converted.isna().to_numpy())
    if bad_rows.size:
        raise RetrievalError(
            f"metadata column 'start_s' is not numeric at rows {describe_items(bad_rows.tolist())}",
            fix="give window start times in seconds as numbers",
        )
    return converted.astype(np.float64)


class MetadataFilter(BaseModel):
    """Which reference vectors a search may return; unset fields do not constrain.

    `only_*` keeps rows whose value is listed (an empty list keeps nothing); `exclude_*` drops listed values.
    All constraints must hold together. Values are compared as strings, like the stored table.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    only_datasets: tuple[str, ...] | None = None
    exclude_datasets: tuple[str, ...] | None = None
    only_subjects: tuple[str, ...] | None = None
    exclude_subjects: tuple[str, ...] | None = None
    only_activities: tuple[str, ...] | None = None
    exclude_activities: tuple[str, ...] | None = None
    only_recordings: tuple[str, ...] | None = None
    exclude_recordings: tuple[str, ...] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _values_as_strings(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, str):
            raise ValueError(f"give a list of values, not the single string {value!r} (write [{value!r}])")
        if isinstance(value, Iterable):
            return tuple(str(item) for item in value)
        return value

    def constraints(self) -> list[tuple[str, tuple[str, ...], bool]]:
        """(column, values, keep_matching) for every set field, in a fixed order."""
        result = []
        for name in type(self).model_fields:
            values = getattr(self, name)
            if values is not None:
                mode, plural = name.split("_", 1)
                result.append((_column_of(plural), values, mode == "only"))
        return result

    def mask(self, metadata: pd.DataFrame) -> np.ndarray:
        """Boolean mask over the rows of a metadata table that pass every constraint."""
        keep = np.ones(len(metadata), dtype=bool)
        for column, values, keep_matching in self.constraints():
            matches = metadata[column].isin(values).to_numpy()
            keep &= matches if keep_matching else ~matches
        return keep

    def with_only_activity(self, activity: str) -> MetadataFilter:
        """This filter narrowed to one activity (used to gather class-conditional neighbours)."""
        allowed = self.only_activities is None or activity in self.only_activities
        return self.model_copy(update={"only_activities": (activity,) if allowed else ()})


def _column_of(plural: str) -> str:
    return {"datasets": "dataset", "subjects": "subject", "activities": "activity", "recordings": "recording"}[plural]
