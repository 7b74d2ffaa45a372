"""Generic tabular recordings (CSV, TSV, Parquet): column auto-detection, time and unit inference.

Reading is chunked (bounded memory: only the needed columns, `chunk_rows` rows at a time) and strict: the
first bad cell, row or timestamp raises a :class:`RecordingError` naming the file, line and column, so a
recording is either fully loaded or not at all.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from recordings.channels import AXES, CANONICAL_UNITS, PHYSICAL_LIMITS, STANDARD_GRAVITY, Channel, canonical_placement
from recordings.errors import RecordingError
from recordings.recording import UNLABELLED, Recording, RecordingMeta
from recordings.signal import check_rate

TimeUnit = Literal["auto", "s", "ms", "us", "ns", "iso"]
TIME_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
DELIMITERS = (",", ";", "\t", "|")
TIME_HEADERS = {
    "timestamp", "time", "t", "ts", "epoch", "datetime", "date_time", "unix_time", "elapsed", "seconds",
    "time_s", "time_ms", "time_us", "time_ns", "timestamp_s", "timestamp_ms", "timestamp_us", "timestamp_ns",
}  # fmt: skip
LABEL_HEADERS = {"label", "activity", "activity_label", "class", "activity_name"}
SENSOR_TOKENS = {
    "acc": "acc", "accel": "acc", "accelerometer": "acc", "acceleration": "acc", "a": "acc",
    "gyro": "gyro", "gyr": "gyro", "gyroscope": "gyro", "angular_velocity": "gyro", "g": "gyro",
    "mag": "mag", "magnetometer": "mag", "m": "mag",
}  # fmt: skip
_SENSOR_ALTERNATION = "|".join(sorted(SENSOR_TOKENS, key=len, reverse=True))
_CHANNEL_HEADER = re.compile(rf"^(?:(?P<place>[a-z_]+?)_)?(?P<sensor>{_SENSOR_ALTERNATION})_?(?P<axis>[xyz])$")
_UNIT_IN_HEADER = re.compile(r"[\[(]([^\])]+)[\])]\s*$")


class TableOptions(BaseModel):
    """How to read a table. Everything is optional: what is not given is detected and reported."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] | None = Field(
        default=None, description="file column -> canonical channel (e.g. {'ax': 'wrist.acc.x'}); else auto-detect"
    )
    time_column: str | None = None
    label_column: str | None = None
    time_unit: TimeUnit = "auto"
    sampling_rate_hz: float | None = Field(default=None, description="needed when the file has no time column")
    placement: str = Field(default="wrist", description="placement for columns that name none (e.g. 'ax')")
    acc_unit: Literal["auto", "g", "m/s^2"] = "auto"
    gyro_unit: Literal["auto", "rad/s", "deg/s"] = "auto"
    delimiter: str | None = None
    subject: str | None = None
    chunk_rows: int = Field(default=1_000_000, gt=0)


def _normalise(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", _UNIT_IN_HEADER.sub("", header).strip().lower()).strip("_")


def _channel_for(header: str, default_placement: str) -> str | None:
    """Canonical channel of a column header, or None when it is not a motion channel."""
    match = _CHANNEL_HEADER.match(_normalise(header))
    if not match:
        return None
    placement = default_placement
    if match.group("place"):
        try:
            placement = canonical_placement(match.group("place"))
        except RecordingError:
            return None
    return Channel(placement, SENSOR_TOKENS[match.group("sensor")], match.group("axis")).name


def resolve_columns(header: list[str], options: TableOptions, path: Path) -> tuple[dict[str, str], str | None, str | None]:
    """(column -> channel, time column, label column) from explicit options or the header."""
    if options.columns:
        missing = [c for c in options.columns if c not in header]
        if missing:
            raise RecordingError(f"mapped columns {missing} are not in the header {header}", path=path, line=1)
        mapping = {col: Channel.parse(ch).name for col, ch in options.columns.items()}
    else:
        placement = canonical_placement(options.placement)
        mapping = {col: ch for col in header if (ch := _channel_for(col, placement)) is not None}
    time_col = options.time_column or next((c for c in header if _normalise(c) in TIME_HEADERS), None)
    label_col = options.label_column or next((c for c in header if _normalise(c) in LABEL_HEADERS), None)
    for wanted, kind in ((options.time_column, "time"), (options.label_column, "label")):
        if wanted is not None and wanted not in header:
            raise RecordingError(f"{kind} column {wanted!r} is not in the header {header}", path=path, line=1)
    _check_channels(mapping, header, path)
    return mapping, time_col, label_col


def _check_channels(mapping: dict[str, str], header: list[str], path: Path) -> None:
    if not any(Channel.parse(c).sensor in ("acc", "gyro") for c in mapping.values()):
        raise RecordingError(
            f"no accelerometer or gyroscope columns recognised in header {header}",
            path=path,
            line=1,
            fix="name columns like ax/ay/az, acc_x, wrist.acc.x, or pass an explicit column mapping (--map)",
        )
    duplicated = sorted({c for c in mapping.values() if list(mapping.values()).count(c) > 1})
    if duplicated:
        raise RecordingError(f"several columns map to {duplicated}", path=path, line=1, fix="pass an explicit mapping")
    triples: dict[tuple[str, str], set[str]] = {}
    for name in mapping.values():
        ch = Channel.parse(name)
        triples.setdefault((ch.placement, ch.sensor), set()).add(ch.axis)
    for (placement, sensor), axes in triples.items():
        if axes != set(AXES):
            missing = sorted(set(AXES) - axes)
            raise RecordingError(
                f"{placement}.{sensor} lacks axis {missing}",
                path=path,
                line=1,
                fix="every sensor needs x, y and z columns",
            )


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8", newline="") if path.suffix == ".gz" else open(path, encoding="utf-8", newline="")


def read_header(path: Path, delimiter: str | None) -> tuple[list[str], str]:
    """The header fields and the delimiter (detected unless given; a wrong one is an error)."""
    try:
        with _open_text(path) as handle:
            first = handle.readline()
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise RecordingError(f"cannot read the file as UTF-8 text: {exc}", path=path, fix="export as UTF-8 CSV") from None
    first = first.rstrip("\r\n").lstrip("\ufeff")
    if not first.strip():
        raise RecordingError("the file is empty (no header line)", path=path, line=1, fix="export with a header row")
    counts = {d: len(first.split(d)) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    if delimiter is not None:
        if len(first.split(delimiter)) == 1 and counts[best] > 1:
            raise RecordingError(
                f"the delimiter {delimiter!r} splits the header into one field, {best!r} into {counts[best]}",
                path=path,
                line=1,
                fix=f"pass --delimiter {best!r} (or omit it to auto-detect)",
            )
        chosen = delimiter
    elif counts[best] > 1:
        chosen = best
    elif len(first.split()) > 1:
        chosen = r"\s+"
    else:
        raise RecordingError(
            f"the header {first[:80]!r} has a single field", path=path, line=1, fix="use a comma, semicolon or tab"
        )
    fields = re.split(chosen, first.strip()) if chosen == r"\s+" else [f.strip().strip('"') for f in first.split(chosen)]
    if len(set(fields)) != len(fields):
        raise RecordingError(f"duplicated column names in header {fields}", path=path, line=1)
    return fields, chosen


def _csv_chunks(path: Path, delimiter: str, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    # all columns are parsed (a row with extra fields must fail), only `columns` are kept per chunk;
    # pandas may already parse while constructing the reader, so construction is inside the try too
    try:
        reader = pd.read_csv(
            path,
            sep=delimiter,
            chunksize=chunk_rows,
            engine="c" if delimiter != r"\s+" else "python",
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            on_bad_lines="error",
        )
        for chunk in reader:
            yield chunk[columns]
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise RecordingError(
            f"malformed row: {str(exc).splitlines()[0]}",
            path=path,
            line=int(line.group(1)) if line else None,
            fix="every row needs as many fields as the header",
        ) from None


def _parquet_chunks(path: Path, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        source = pq.ParquetFile(path)
        for batch in source.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on corrupt files
        raise RecordingError(f"cannot read Parquet: {exc}", path=path, fix="check the file is valid Parquet") from None


def _to_float(values: pd.Series, column: str, first_line: int, path: Path) -> np.ndarray:
    """Numbers of one column; an empty or infinite cell is NaN (a gap), any other non-number is an error."""
    if pd.api.types.is_numeric_dtype(values):
        return _finite_or_nan(values.to_numpy(dtype=np.float64, copy=True))
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce")
    bad = numbers.isna() & (text != "") & ~text.str.lower().isin(["nan", "na", "null"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise RecordingError(
            f"non-numeric value {text.iloc[row]!r}",
            path=path,
            line=first_line + row,
            column=column,
            fix="remove text from sensor columns or map the column away",
        )
    return _finite_or_nan(numbers.to_numpy(dtype=np.float64, copy=True))


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    values[np.isinf(values)] = np.nan
    return values


def _header_units(header: list[str]) -> dict[str, str]:
    units = {}
    for col in header:
        if m := _UNIT_IN_HEADER.search(col):
            units[col] = m.group(1).strip().lower()
    return units


def _time_seconds(raw: pd.Series, unit: TimeUnit, first_line: int, path: Path, column: str) -> tuple[np.ndarray, str]:
    """Timestamps of one chunk in seconds (absolute epoch or relative, as in the file) and the unit used."""
    numeric = None if unit == "iso" else pd.to_numeric(raw.astype(str).str.strip(), errors="coerce")
    if numeric is not None and not numeric.isna().any():
        values = numeric.to_numpy(dtype=np.float64)
        chosen = unit if unit != "auto" else _guess_time_unit(values)
        return values * TIME_SCALE[chosen], chosen
    if unit not in ("auto", "iso"):
        bad = int(np.flatnonzero(numeric.isna().to_numpy())[0])
        raise RecordingError(
            f"timestamp {raw.iloc[bad]!r} is not a number in {unit}", path=path, line=first_line + bad, column=column
        )
    parsed = pd.to_datetime(raw.astype(str).str.strip(), errors="coerce", utc=True, format="ISO8601")
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise RecordingError(
            f"timestamp {raw.iloc[bad]!r} is neither a number nor ISO-8601",
            path=path,
            line=first_line + bad,
            column=column,
            fix="use seconds/milliseconds/nanoseconds or ISO-8601 times such as 2024-05-01T10:00:00.020Z",
        )
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) * 1e-9, "iso"


def _guess_time_unit(values: np.ndarray) -> str:
    """s, ms, us or ns from the magnitude (epoch times) or else the sample spacing (relative times)."""
    magnitude = float(np.nanmax(np.abs(values))) if values.size else 0.0
    if magnitude > 1e17:
        return "ns"
    if magnitude > 1e14:
        return "us"
    if magnitude > 1e11:
        return "ms"
    if magnitude > 1e8:
        return "s"
    steps = np.diff(values)
    step = float(np.median(steps[steps > 0])) if np.any(steps > 0) else 0.0
    if step <= 0.5:
        return "s"
    if step <= 500:
        return "ms"
    if step <= 5e5:
        return "us"
    return "ns"


def _check_time_order(times: np.ndarray, first_line: int, path: Path, column: str) -> None:
    steps = np.diff(times)
    if steps.size and steps.min() <= 0:
        i = int(np.flatnonzero(steps <= 0)[0])
        kind = "duplicated" if steps[i] == 0 else "goes backwards"
        raise RecordingError(
            f"timestamp {kind} ({times[i]:.6f} then {times[i + 1]:.6f} s)",
            path=path,
            line=first_line + i + 1,
            column=column,
            fix="sort the rows by time and drop duplicated samples",
        )


def _acc_unit(acc: np.ndarray, declared: str, path: Path) -> str:
    """g or m/s² from the gravity magnitude (columns come in x, y, z triples per placement)."""
    if declared != "auto":
        return declared
    per_placement = [np.nanmedian(np.linalg.norm(acc[:, k : k + 3].astype(np.float64), axis=1)) for k in range(0, acc.shape[1], 3)]
    magnitude = float(np.median(per_placement))
    if 0.5 <= magnitude <= 2.0:
        return "g"
    if 4.0 <= magnitude <= 20.0:
        return "m/s^2"
    raise RecordingError(
        f"cannot tell whether acceleration is in g or m/s² (median magnitude {magnitude:.3g}; gravity should be "
        "≈1 g or ≈9.81 m/s²)",
        path=path,
        fix="pass --acc-unit g or --acc-unit m/s^2 (gravity-free acceleration cannot be auto-detected)",
    )


def _gyro_unit(gyro: np.ndarray, declared: str) -> str:
    if declared != "auto":
        return declared
    # 15 rad/s (860 deg/s) is beyond fast human limb rotation; larger readings must be in deg/s
    return "deg/s" if float(np.nanpercentile(np.abs(gyro), 99)) > 15.0 else "rad/s"


def read_table(path: str | Path, options: TableOptions | None = None) -> Recording:
    """Read a CSV/TSV (optionally .gz) or Parquet recording into canonical SI units."""
    path = Path(path)
    options = options or TableOptions()
    if not path.is_file():
        raise RecordingError("file not found", path=path)
    if path.stat().st_size == 0:
        raise RecordingError("the file is empty", path=path, fix="export the recording again")
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    if is_parquet:
        try:
            header = list(pq.read_schema(path).names)
        except (OSError, ValueError) as exc:
            raise RecordingError(f"cannot read Parquet schema: {exc}", path=path) from None
        delimiter = ""
    else:
        header, delimiter = read_header(path, options.delimiter)
    mapping, time_col, label_col = resolve_columns(header, options, path)
    used = list(mapping) + [c for c in (time_col, label_col) if c]
    chunks = _parquet_chunks(path, used, options.chunk_rows) if is_parquet else _csv_chunks(path, delimiter, used, options.chunk_rows)
    columns, times, labels, time_unit, line = [], [], [], None, 2
    for chunk in chunks:
        columns.append(np.stack([_to_float(chunk[c], c, line, path) for c in mapping], axis=1).astype(np.float32))
        if time_col:
            seconds, time_unit = _time_seconds(chunk[time_col], options.time_unit if time_unit is None else time_unit, line, path, time_col)
            times.append(seconds)
        if label_col:
            labels.append(chunk[label_col].astype(str).str.strip().to_numpy(dtype=object))
        line += len(chunk)
    if not columns or sum(len(c) for c in columns) < 2:
        raise RecordingError("the file has fewer than two data rows", path=path, fix="check the export is complete")
    samples = np.concatenate(columns)
    return _assemble(path, options, header, mapping, samples, times, (time_col, label_col), time_unit, labels)


def _assemble(path, options, header, mapping, samples, times, special, time_unit, labels) -> Recording:
    """Validate columns and time, convert units, and build the Recording."""
    time_col, label_col = special
    notes = [f"columns read: {', '.join(f'{c}->{ch}' for c, ch in mapping.items())}"]
    if label_col:
        notes.append(f"labels from column {label_col!r}")
    ignored = [c for c in header if c not in mapping and c not in special]
    if ignored:
        notes.append(f"columns ignored: {', '.join(ignored)}")
    for j, column in enumerate(mapping):
        finite = np.isfinite(samples[:, j])
        if finite.mean() < 0.5:
            raise RecordingError(
                f"{100 * (1 - finite.mean()):.0f}% of the column is empty or NaN",
                path=path,
                column=column,
                fix="drop this column from the mapping or export the recording again",
            )
    start_time = None
    if time_col:
        seconds = np.concatenate(times)
        _check_time_order(seconds, 2, path, time_col)
        steps = np.diff(seconds)
        rate = 1.0 / float(np.median(steps))
        check_rate(rate, str(path))
        if time_unit == "iso" or seconds[0] > 1e8:
            start_time = pd.Timestamp(seconds[0], unit="s", tz="UTC").to_pydatetime()
        notes.append(f"timestamps in {time_unit}; sampling rate {rate:.4g} Hz from the median step")
        samples, seconds, regular_note = _regularise(samples, seconds - seconds[0], rate)
        notes += regular_note
    else:
        if options.sampling_rate_hz is None:
            raise RecordingError(
                "no time column found and no sampling rate given",
                path=path,
                line=1,
                fix="add a 'timestamp' column or pass --rate HZ",
            )
        rate = options.sampling_rate_hz
        check_rate(rate, str(path))
        seconds = np.arange(len(samples)) / rate
    samples, units, unit_notes = _to_si(samples, list(mapping.values()), options, path, _header_units(list(mapping)))
    unit_notes += _drop_implausible(samples, seconds, mapping, path)
    label_values, activities = _labels(labels, len(samples))
    meta = RecordingMeta(
        id=path.name,
        dataset="user",
        subject=options.subject,
        sampling_rate_hz=rate,
        start_time=start_time,
        channels=list(mapping.values()),
        units=units,
        source_files=[str(path)],
        source_format="parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv",
        activities=activities,
        conversions=notes + unit_notes,
    )
    return Recording(meta, samples, seconds, label_values)


def _regularise(samples: np.ndarray, seconds: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Interpolate jittery timestamps onto a uniform grid; long holes become NaN (gaps, split later)."""
    step = 1.0 / rate
    steps = np.diff(seconds)
    holes = steps > 1.5 * step
    if np.all(np.abs(steps[~holes] - step) <= 0.05 * step) and not holes.any():
        return samples, seconds, []
    grid = np.arange(0.0, seconds[-1] + step / 2, step)
    out = np.empty((grid.size, samples.shape[1]), dtype=np.float32)
    for j in range(samples.shape[1]):
        out[:, j] = np.interp(grid, seconds, samples[:, j])
    nearest = np.abs(seconds[np.clip(np.searchsorted(seconds, grid), 0, seconds.size - 1)] - grid)
    previous = np.abs(seconds[np.clip(np.searchsorted(seconds, grid) - 1, 0, seconds.size - 1)] - grid)
    out[np.minimum(nearest, previous) > 1.5 * step] = np.nan
    return out, grid, [f"irregular timestamps interpolated onto a uniform {rate:.4g} Hz grid ({int(holes.sum())} holes)"]


def _to_si(samples, channels, options, path, header_units):
    units, notes = {}, []
    for sensor in dict.fromkeys(Channel.parse(c).sensor for c in channels):
        index = [j for j, c in enumerate(channels) if Channel.parse(c).sensor == sensor]
        if sensor == "acc":
            declared = options.acc_unit if options.acc_unit != "auto" else _declared(header_units, "acc")
            unit = _acc_unit(samples[:, index], declared, path)
            if unit == "g":
                samples[:, index] *= STANDARD_GRAVITY
                notes.append(f"acceleration g -> m/s^2 ({'declared' if declared != 'auto' else 'detected from gravity'})")
        elif sensor == "gyro":
            declared = options.gyro_unit if options.gyro_unit != "auto" else _declared(header_units, "gyro")
            unit = _gyro_unit(samples[:, index], declared)
            if unit == "deg/s":
                samples[:, index] *= np.float32(np.pi / 180.0)
                notes.append(f"angular rate deg/s -> rad/s ({'declared' if declared != 'auto' else 'detected from range'})")
            elif declared == "auto":
                notes.append("angular rate assumed rad/s (values within human range)")
        units[sensor] = CANONICAL_UNITS[sensor]
    return samples, units, notes


def _drop_implausible(samples: np.ndarray, seconds: np.ndarray, mapping: dict[str, str], path: Path) -> list[str]:
    """Set readings beyond any IMU's range to NaN (in place), so gap repair treats them as missing samples.

    A column that is mostly out of range is refused instead: its unit or its mapping is wrong.
    """
    notes = []
    for j, (column, channel) in enumerate(mapping.items()):
        limit = PHYSICAL_LIMITS.get(Channel.parse(channel).sensor)
        if limit is None:
            continue
        beyond = np.abs(samples[:, j]) > limit  # NaN compares False: already missing
        if beyond.mean() > 0.5:
            raise RecordingError(
                f"{100 * beyond.mean():.0f}% of the readings exceed {limit:g} {CANONICAL_UNITS[Channel.parse(channel).sensor]}, "
                "beyond any wearable sensor's range",
                path=path,
                column=column,
                fix="check the column's unit (--acc-unit, --gyro-unit, or a unit in its header) and its mapping",
            )
        if beyond.any():
            first = int(np.flatnonzero(beyond)[0])
            samples[beyond, j] = np.nan
            notes.append(
                f"{int(beyond.sum())} reading(s) of {column!r} beyond ±{limit:g} {CANONICAL_UNITS[Channel.parse(channel).sensor]} "
                f"(first at {seconds[first]:.2f} s) treated as missing"
            )
    return notes


def _declared(header_units: dict[str, str], sensor: str) -> str:
    """A unit written in a header such as 'ax [g]' or 'gx (deg/s)'."""
    aliases = {"acc": {"g": "g", "m/s^2": "m/s^2", "m/s2": "m/s^2", "ms^-2": "m/s^2"},
               "gyro": {"rad/s": "rad/s", "deg/s": "deg/s", "dps": "deg/s", "°/s": "deg/s"}}  # fmt: skip
    for column, unit in header_units.items():
        if _channel_for(column, "wrist") and Channel.parse(_channel_for(column, "wrist")).sensor == sensor:
            if unit in aliases[sensor]:
                return aliases[sensor][unit]
    return "auto"


def _labels(chunks: list[np.ndarray], n: int) -> tuple[np.ndarray | None, list[str]]:
    if not chunks:
        return None, []
    values = np.concatenate(chunks)
    names = [v for v in dict.fromkeys(values) if v not in ("", "nan", "None")]
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup.get(v, UNLABELLED) for v in values], dtype=np.int16), names
