"""Signal conditioning on canonical recordings: gap repair and polyphase resampling.

Every change is appended to the recording's `conversions` (and gaps to `gaps`) so a reviewer can see
exactly what was done to the raw data.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from recordings.channels import Channel
from recordings.errors import RecordingError
from recordings.recording import Gap, Recording

MIN_RATE_HZ = 1.0
MAX_RATE_HZ = 2000.0
AUXILIARY_SENSORS = ("hr", "temp")


def check_rate(rate_hz: float, source: str) -> None:
    """Refuse sampling rates no wearable produces (usually a timestamp-unit mistake)."""
    if not np.isfinite(rate_hz) or not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise RecordingError(
            f"sampling rate {rate_hz:.6g} Hz is outside the plausible {MIN_RATE_HZ:g}–{MAX_RATE_HZ:g} Hz",
            path=source,
            fix="check the timestamp unit (s, ms, ns) or pass the sampling rate explicitly",
        )


def _fill_auxiliary(samples: np.ndarray, channels: list[str]) -> list[str]:
    """Forward/backward-fill slow auxiliary channels (heart rate is sampled far below the IMU rate)."""
    notes = []
    for j, name in enumerate(channels):
        if Channel.parse(name).sensor not in AUXILIARY_SENSORS:
            continue
        column = samples[:, j]
        valid = np.flatnonzero(np.isfinite(column))
        if valid.size == 0:
            continue
        idx = np.maximum.accumulate(np.where(np.isfinite(column), np.arange(column.size), 0))
        idx[: valid[0]] = valid[0]
        samples[:, j] = column[idx]
        notes.append(f"{name}: held last value between readings")
    return notes


def _invalid_runs(invalid: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index runs where `invalid` is true."""
    padded = np.concatenate([[False], invalid, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[0::2], edges[1::2]))


def repair_gaps(
    recording: Recording, max_interpolate_s: float = 0.5, min_piece_s: float = 1.0
) -> list[Recording]:
    """Interpolate short gaps (NaN runs or missing timestamps), split the recording at long ones.

    Returns the continuous pieces (each with uniform time), dropping pieces shorter than `min_piece_s`.
    """
    rate = recording.meta.sampling_rate_hz
    samples = recording.samples.copy()
    notes = _fill_auxiliary(samples, recording.meta.channels)
    motion = [j for j, c in enumerate(recording.meta.channels) if Channel.parse(c).sensor not in AUXILIARY_SENSORS]
    invalid = ~np.isfinite(samples[:, motion]).all(axis=1) if motion else np.zeros(len(samples), bool)
    max_len = int(round(max_interpolate_s * rate))
    gaps: list[Gap] = []
    cut_points: list[tuple[int, int]] = []
    for start, stop in _invalid_runs(invalid):
        duration = (stop - start) / rate
        at = float(recording.times_s[start])
        if stop - start <= max_len and start > 0 and stop < len(samples):
            for j in motion:
                samples[start:stop, j] = np.interp(
                    np.arange(start, stop), [start - 1, stop], [samples[start - 1, j], samples[stop, j]]
                )
            gaps.append(Gap(start_s=at, duration_s=duration, action="interpolated"))
        else:
            cut_points.append((start, stop))
            gaps.append(Gap(start_s=at, duration_s=duration, action="split"))
    # long jumps in time between valid samples also split
    jumps = np.flatnonzero(np.diff(recording.times_s) > max(1.5 / rate, max_interpolate_s))
    for j in jumps:
        cut_points.append((j + 1, j + 1))
        gaps.append(
            Gap(start_s=float(recording.times_s[j]), duration_s=float(np.diff(recording.times_s)[j]), action="split")
        )
    repaired = Recording(
        recording.meta.model_copy(
            update={
                "conversions": recording.meta.conversions + notes,
                "gaps": recording.meta.gaps + sorted(gaps, key=lambda g: g.start_s),
            }
        ),
        samples,
        recording.times_s,
        recording.labels,
    )
    return _split(repaired, sorted(cut_points), int(np.ceil(min_piece_s * rate)))


def _split(recording: Recording, cuts: list[tuple[int, int]], min_len: int) -> list[Recording]:
    pieces, position = [], 0
    bounds = [(position, position)] + cuts + [(recording.n_samples, recording.n_samples)]
    for (_, previous_stop), (next_start, _) in zip(bounds[:-1], bounds[1:]):
        if next_start - previous_stop >= min_len:
            pieces.append((previous_stop, next_start))
    if len(pieces) == 1 and pieces[0] == (0, recording.n_samples):
        return [recording]
    return [recording.slice(a, b, suffix=f"#part{i + 1}") for i, (a, b) in enumerate(pieces)]


def resample(recording: Recording, target_hz: float) -> Recording:
    """Polyphase, anti-aliased resampling to `target_hz`; labels follow the nearest original sample."""
    check_rate(target_hz, recording.meta.id)
    source_hz = recording.meta.sampling_rate_hz
    if abs(source_hz - target_hz) < 1e-9:
        return recording
    if not np.isfinite(recording.samples).all():
        raise RecordingError(
            "cannot resample a recording that still has gaps", path=recording.meta.id, fix="call repair_gaps first"
        )
    ratio = Fraction(target_hz / source_hz).limit_denominator(1000)
    out = resample_poly(recording.samples.astype(np.float64), ratio.numerator, ratio.denominator, axis=0)
    n_out = out.shape[0]
    labels = None
    if recording.labels is not None:
        nearest = np.minimum(np.round(np.arange(n_out) * source_hz / target_hz).astype(np.int64), recording.n_samples - 1)
        labels = recording.labels[nearest]
    meta = recording.meta.model_copy(
        update={
            "sampling_rate_hz": float(target_hz),
            "conversions": recording.meta.conversions
            + [f"resampled {source_hz:g} Hz -> {target_hz:g} Hz (polyphase {ratio.numerator}/{ratio.denominator})"],
        }
    )
    return Recording(meta, out.astype(np.float32), np.arange(n_out) / target_hz + recording.times_s[0], labels)
