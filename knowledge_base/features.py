"""Named, documented signal features of IMU windows, vectorised over all windows at once.

Every feature is named `placement.sensor.channel.feature` and has a glossary entry, so any number the
knowledge base or an explanation quotes can be looked up in plain English. Names are parseable by splitting
on '.' into exactly four parts:

- per-signal features: `torso.acc.x.mean`, `torso.gyro.mag.dominant_freq` (channel is x, y, z or `mag`, the
  Euclidean norm of the three axes);
- cross-axis correlation: `torso.acc.xy.corr`;
- gravity direction (posture): `torso.acc.gravity_x.angle` … and `torso.acc.gravity.tilt_std`;
- acc/gyro intensity ratio: `torso.accgyro.mag.intensity_ratio`;
- between-placement coupling: `torso~wrist_right.acc.mag.corr` (placements joined by '~').

The extractor works for any placement set, sampling rate and window length; constant signals give defined,
finite values (correlation 0, entropy 0, …) and non-finite input is refused rather than propagated.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import fft as scipy_fft
from scipy.signal import butter, sosfiltfilt
from sklearn.base import BaseEstimator

from knowledge_base.errors import KnowledgeBaseError, listed
from knowledge_base.glossary import glossary_entry
from knowledge_base.models import FAMILIES, FeatureConfig, GlossaryEntry
from knowledge_base.progress import progress_bar
from recordings.channels import AXES, MOTION_SENSORS, Channel
from recordings.errors import RecordingError
from recordings.windows import Windows

log = logging.getLogger(__name__)

TIME_STATS = (
    "mean", "std", "min", "max", "median", "p10", "p25", "p75", "p90", "rms", "range", "iqr",
    "skewness", "kurtosis", "zero_crossing_rate", "mean_crossing_rate", "slope",
)  # fmt: skip
JERK_STATS = ("jerk_rms", "jerk_peak")
SPECTRAL_STATS = (
    "dominant_freq", "dominant_power", "second_freq", "second_power", "spectral_centroid", "spectral_entropy",
    "band_low_power", "band_mid_power", "band_high_power", "band_low_ratio", "band_mid_ratio", "band_high_ratio",
)  # fmt: skip
AUTOCORR_STATS = ("acf_peak_lag", "acf_peak_height")
PER_SIGNAL_STATS: dict[str, tuple[str, ...]] = {
    "time": TIME_STATS, "jerk": JERK_STATS, "spectral": SPECTRAL_STATS, "autocorr": AUTOCORR_STATS,
}  # fmt: skip
FUNDAMENTAL_SHARE = 0.9  # an autocorrelation peak this close to the strongest counts as the period
PEAK_HALF_WIDTH_HZ = 0.25  # a spectral peak's share of power is counted within ±0.25 Hz of it
ACC_RATIO_FLOOR = 0.05  # m/s^2: below this the acceleration is sensor noise
GYRO_RATIO_FLOOR = 0.05  # rad/s: below this the rotation is sensor noise
_TINY = 1e-12


@dataclass(frozen=True)
class Signal:
    """One analysed 1-D signal of a window: a channel, or the magnitude of a sensor's three axes."""

    placement: str
    sensor: str
    channel: str  # x, y, z or mag
    indices: tuple[int, ...]  # one channel index, or three for a magnitude

    @property
    def prefix(self) -> str:
        return f"{self.placement}.{self.sensor}.{self.channel}"


@dataclass(frozen=True)
class Schema:
    """Which signals and structure features a channel list allows; derived once at fit."""

    signals: tuple[Signal, ...]
    triaxial: dict  # (placement, sensor) -> (ix, iy, iz) channel indices
    placements: tuple[str, ...]

    def magnitude_signal(self, placement: str, sensor: str) -> int | None:
        for position, signal in enumerate(self.signals):
            if signal.placement == placement and signal.sensor == sensor and signal.channel == "mag":
                return position
        return None


def build_schema(channels: tuple[str, ...]) -> Schema:
    """Signals per placement: each motion channel, plus the magnitude of every complete tri-axial sensor."""
    parsed = []
    for index, name in enumerate(channels):
        try:
            parsed.append((index, Channel.parse(name)))
        except RecordingError as exc:
            raise KnowledgeBaseError(str(exc), where=f"channel {index}", fix="name channels placement.sensor.axis") from None
    ignored = sorted({c.name for _, c in parsed if c.sensor not in MOTION_SENSORS or c.axis not in AXES})
    if ignored:
        log.info("features ignore non-motion channels %s", listed(ignored))
    motion = [(i, c) for i, c in parsed if c.sensor in MOTION_SENSORS and c.axis in AXES]
    if not motion:
        raise KnowledgeBaseError(
            f"no accelerometer or gyroscope channels among {listed(channels)}",
            fix="features need channels named placement.acc.x … or placement.gyro.x …",
        )
    placements = tuple(dict.fromkeys(c.placement for _, c in motion))
    signals, triaxial = [], {}
    for placement in placements:
        for sensor in MOTION_SENSORS:
            axes = {c.axis: i for i, c in motion if c.placement == placement and c.sensor == sensor}
            for axis in AXES:
                if axis in axes:
                    signals.append(Signal(placement, sensor, axis, (axes[axis],)))
            if len(axes) == 3:
                index = tuple(axes[a] for a in AXES)
                triaxial[(placement, sensor)] = index
                signals.append(Signal(placement, sensor, "mag", index))
    return Schema(signals=tuple(signals), triaxial=triaxial, placements=placements)


# --------------------------------------------------------------------------------------------- feature names


def per_signal_stats(families: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(stat for family in FAMILIES if family in families for stat in PER_SIGNAL_STATS.get(family, ()))


def structure_names(schema: Schema, families: tuple[str, ...]) -> list[str]:
    """Names of the structure features, in the order `structure_features` computes them."""
    names = []
    if "axis_corr" in families:
        for (placement, sensor) in schema.triaxial:
            names += [f"{placement}.{sensor}.{a}{b}.corr" for a, b in (("x", "y"), ("x", "z"), ("y", "z"))]
    if "intensity_ratio" in families:
        names += [f"{p}.accgyro.mag.intensity_ratio" for p in _ratio_placements(schema)]
    if "gravity" in families:
        for placement in _gravity_placements(schema):
            names += [f"{placement}.acc.gravity_{axis}.angle" for axis in AXES] + [f"{placement}.acc.gravity.tilt_std"]
    if "placement_corr" in families:
        for sensor, first, second in _placement_pairs(schema):
            names.append(f"{first}~{second}.{sensor}.mag.corr")
    return names


def _ratio_placements(schema: Schema) -> list[str]:
    return [p for p in schema.placements if (p, "acc") in schema.triaxial and (p, "gyro") in schema.triaxial]


def _gravity_placements(schema: Schema) -> list[str]:
    return [p for p in schema.placements if (p, "acc") in schema.triaxial]


def _placement_pairs(schema: Schema) -> list[tuple[str, str, str]]:
    pairs = []
    for sensor in MOTION_SENSORS:
        having = [p for p in schema.placements if (p, sensor) in schema.triaxial]
        pairs += [(sensor, a, b) for i, a in enumerate(having) for b in having[i + 1 :]]
    return pairs


def feature_names(schema: Schema, families: tuple[str, ...]) -> list[str]:
    stats = per_signal_stats(families)
    return [f"{signal.prefix}.{stat}" for signal in schema.signals for stat in stats] + structure_names(schema, families)


# --------------------------------------------------------------------------------------------- computation


def signal_matrix(data: np.ndarray, schema: Schema) -> np.ndarray:
    """(n, n_signals, T) float32: the selected channels and the sensor magnitudes."""
    out = np.empty((data.shape[0], len(schema.signals), data.shape[2]), dtype=np.float32)
    for position, signal in enumerate(schema.signals):
        if signal.channel == "mag":
            block = data[:, list(signal.indices), :]
            out[:, position] = np.sqrt(np.einsum("nct,nct->nt", block, block))
        else:
            out[:, position] = data[:, signal.indices[0], :]
    return out


def _percentile(sorted_values: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolation percentile from values already sorted along the last axis."""
    position = q * (sorted_values.shape[-1] - 1)
    low = int(np.floor(position))
    high = min(low + 1, sorted_values.shape[-1] - 1)
    fraction = np.float32(position - low)
    return sorted_values[..., low] * (1 - fraction) + sorted_values[..., high] * fraction


def _crossing_rate(positive: np.ndarray, duration_s: float) -> np.ndarray:
    return np.count_nonzero(positive[..., 1:] != positive[..., :-1], axis=-1).astype(np.float32) / duration_s


def time_stats(signals: np.ndarray, rate: float) -> np.ndarray:
    """(n, s, len(TIME_STATS)): level, spread, shape, crossings and trend of every signal."""
    n_time = signals.shape[-1]
    duration_s = n_time / rate
    ordered = np.sort(signals, axis=-1)
    mean = signals.mean(axis=-1, dtype=np.float64).astype(np.float32)
    centred = signals - mean[..., None]
    squared = centred * centred
    variance = squared.mean(axis=-1)
    std = np.sqrt(variance)
    varies = std > 1e-6 * (1.0 + np.abs(mean))
    safe_std = np.where(varies, std, 1.0)
    third = (squared * centred).mean(axis=-1)
    fourth = (squared * squared).mean(axis=-1)
    skewness = np.where(varies, third / safe_std**3, 0.0)
    kurtosis = np.where(varies, fourth / safe_std**4 - 3.0, 0.0)
    p25, p75 = _percentile(ordered, 0.25), _percentile(ordered, 0.75)
    minimum, maximum = ordered[..., 0], ordered[..., -1]
    times = (np.arange(n_time, dtype=np.float32) - (n_time - 1) / 2) / np.float32(rate)
    slope = centred @ times / max(float(times @ times), _TINY)
    columns = [
        mean, std, minimum, maximum, _percentile(ordered, 0.5), _percentile(ordered, 0.10), p25, p75,
        _percentile(ordered, 0.90), np.sqrt(variance + mean * mean), maximum - minimum, p75 - p25, skewness, kurtosis,
        _crossing_rate(signals > 0, duration_s), _crossing_rate(centred > 0, duration_s), slope,
    ]  # fmt: skip
    return np.stack(columns, axis=-1).astype(np.float32)


def jerk_stats(signals: np.ndarray, rate: float) -> np.ndarray:
    """(n, s, 2): RMS and peak of the first derivative (how abrupt the movement is)."""
    if signals.shape[-1] < 2:
        return np.zeros(signals.shape[:2] + (2,), dtype=np.float32)
    jerk = np.diff(signals, axis=-1) * np.float32(rate)
    return np.stack([np.sqrt((jerk * jerk).mean(axis=-1)), np.abs(jerk).max(axis=-1)], axis=-1)


def _next_pow2(value: int) -> int:
    return 1 << max(0, int(np.ceil(np.log2(max(value, 1)))))


def padded_spectrum(centred: np.ndarray) -> np.ndarray:
    """rfft of mean-removed signals zero-padded to 2T: enough for a linear (non-circular) autocorrelation."""
    return scipy_fft.rfft(centred, n=2 * centred.shape[-1], axis=-1)


def hann_psd(centred: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided PSD (unit^2/Hz) of the whole mean-removed window under a periodic Hann taper, zero-padded 2x:
    Welch's estimate with a single segment, which keeps the finest frequency resolution a window allows."""
    n_time = centred.shape[-1]
    taper = np.hanning(n_time + 1)[:-1].astype(np.float32)
    spectrum = scipy_fft.rfft(centred * taper, n=2 * n_time, axis=-1)
    power = np.square(np.abs(spectrum))
    power *= np.float32(2.0 / (rate * float(taper @ taper)))
    power[..., 0] /= 2
    power[..., -1] /= 2
    return np.fft.rfftfreq(2 * n_time, 1.0 / rate).astype(np.float32), power


def welch_psd(signals: np.ndarray, rate: float, segment_s: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch PSD (unit^2/Hz): mean-removed, Hann-tapered segments, 50% overlap, zero-padded 2x."""
    n_time = signals.shape[-1]
    length = int(min(n_time, max(8, round(segment_s * rate))))
    step = max(1, length // 2)
    frames = np.lib.stride_tricks.sliding_window_view(signals, length, axis=-1)[..., ::step, :]
    taper = np.hanning(length + 1)[:-1].astype(np.float32)  # periodic Hann
    frames = (frames - frames.mean(axis=-1, keepdims=True)) * taper
    n_fft = _next_pow2(2 * length)
    spectrum = scipy_fft.rfft(frames, n=n_fft, axis=-1)
    power = np.square(np.abs(spectrum)).mean(axis=-2)
    power *= np.float32(2.0 / (rate * float(taper @ taper)))
    power[..., 0] /= 2
    power[..., -1] /= 2
    return np.fft.rfftfreq(n_fft, 1.0 / rate).astype(np.float32), power.astype(np.float32, copy=False)


def _parabolic_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-bin offset of a peak from its two neighbours (0 when the peak is flat)."""
    curvature = left - 2 * centre + right
    safe = np.abs(curvature) > _TINY
    offset = np.where(safe, 0.5 * (left - right) / np.where(safe, curvature, 1.0), 0.0)
    return np.clip(offset, -0.5, 0.5)


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.take_along_axis(values, index[..., None], axis=-1)[..., 0]


def spectral_stats(freqs: np.ndarray, power: np.ndarray, rate: float, config: FeatureConfig) -> np.ndarray:
    """(n, s, len(SPECTRAL_STATS)): peaks, centroid, entropy and band powers of each signal's PSD."""
    cap = min(config.max_frequency_hz, rate / 2)
    last = int(np.searchsorted(freqs, cap + 1e-6, side="right"))
    freqs, power = freqs[1:last], power[..., 1:last]
    n_bins = freqs.size
    if n_bins < 3:
        return np.zeros(power.shape[:2] + (len(SPECTRAL_STATS),), dtype=np.float32)
    resolution = float(freqs[1] - freqs[0])
    bands = _band_matrix(freqs, config.band_edges_hz, cap)
    sums = power @ np.concatenate([np.ones((n_bins, 1), np.float32), freqs[:, None], bands], axis=1)
    total, weighted, band_power = sums[..., 0], sums[..., 1], sums[..., 2:] * np.float32(resolution)
    has_power = total > _TINY
    safe_total = np.where(has_power, total, np.float32(1.0))
    half_width = max(1, int(round(PEAK_HALF_WIDTH_HZ / resolution)))
    offsets = np.arange(-half_width, half_width + 1)

    def around(index: np.ndarray) -> np.ndarray:
        return np.clip(index[..., None] + offsets, 0, n_bins - 1)

    def peak_share(index: np.ndarray) -> np.ndarray:
        near = around(index)
        inside = (index[..., None] + offsets >= 0) & (index[..., None] + offsets < n_bins)
        return np.where(inside, np.take_along_axis(power, near, axis=-1), 0.0).sum(axis=-1) / safe_total

    def peak_freq(index: np.ndarray) -> np.ndarray:
        inner = np.clip(index, 1, n_bins - 2)
        left, centre, right = (_gather(power, inner + d) for d in (-1, 0, 1))
        offset = np.where(inner == index, _parabolic_offset(left, centre, right), 0.0)
        return freqs[0] + (index + offset).astype(np.float32) * np.float32(resolution)

    first = power.argmax(axis=-1)
    is_local_max = np.zeros(power.shape, dtype=bool)
    is_local_max[..., 1:-1] = (power[..., 1:-1] > power[..., :-2]) & (power[..., 1:-1] >= power[..., 2:])
    candidates = np.where(is_local_max, power, np.float32(-1.0))
    np.put_along_axis(candidates, around(first), np.float32(-1.0), axis=-1)
    second = candidates.argmax(axis=-1)
    has_second = has_power & (_gather(candidates, second) > 0)
    plogp = (power * np.log(np.maximum(power, np.float32(1e-30)))).sum(axis=-1)
    entropy = np.clip((np.log(safe_total) - plogp / safe_total) / np.float32(np.log(n_bins)), 0.0, 1.0)
    columns = [
        np.where(has_power, peak_freq(first), 0.0),
        np.where(has_power, peak_share(first), 0.0),
        np.where(has_second, peak_freq(second), 0.0),
        np.where(has_second, peak_share(second), 0.0),
        np.where(has_power, weighted / safe_total, 0.0),
        np.where(has_power, entropy, 0.0),
        *np.moveaxis(band_power, -1, 0),
        *np.moveaxis(np.where(has_power[..., None], band_power / (safe_total[..., None] * np.float32(resolution)), 0.0), -1, 0),
    ]
    return np.stack(columns, axis=-1).astype(np.float32)


def _band_matrix(freqs: np.ndarray, edges: tuple[float, float], cap: float) -> np.ndarray:
    """(n_bins, 3) membership of each bin in [0, e1), [e1, e2) and [e2, cap]."""
    bounds = [(0.0, edges[0]), (edges[0], edges[1]), (edges[1], cap + 1e-6)]
    return np.stack([(freqs >= low) & (freqs < high) for low, high in bounds], axis=1).astype(np.float32)


def autocorr_stats(spectrum: np.ndarray, n_time: int, rate: float) -> np.ndarray:
    """(n, s, 2): lag (s) and height of the first autocorrelation peak within half the window that reaches
    90% of the strongest one (the fundamental period of a repeating movement, not a multiple of it).

    Peaks count only after the autocorrelation's first local minimum, so the lag-0 lobe is never a peak; the
    estimate is unbiased (divided by the overlap T - k), hence ~1 for a perfectly repeating movement.
    """
    max_lag = n_time // 2
    if max_lag < 3:
        return np.zeros(spectrum.shape[:2] + (2,), dtype=np.float32)
    raw = scipy_fft.irfft(np.square(np.abs(spectrum)), n=2 * n_time, axis=-1)
    raw = raw[..., : max_lag + 1].astype(np.float32, copy=False)
    energy = raw[..., 0]
    has_energy = energy > _TINY * n_time
    lags = np.arange(max_lag + 1)
    unbiased = (n_time / (n_time - lags)).astype(np.float32)
    acf = np.clip(raw * (unbiased / np.where(has_energy, energy, np.float32(1.0))[..., None]), -1.0, 1.0)
    rising = acf[..., 1:] > acf[..., :-1]  # rising[k]: acf[k + 1] > acf[k]
    is_peak = np.zeros(acf.shape, dtype=bool)
    # a peak at k needs acf to rise into k, so it always lies after the first local minimum
    is_peak[..., 1:-1] = rising[..., :-1] & ~rising[..., 1:]
    candidates = np.where(is_peak, acf, np.float32(-2.0))
    strongest = candidates.max(axis=-1, keepdims=True)
    # the first peak nearly as high as the strongest: the fundamental period, not one of its multiples
    near_best = candidates >= np.where(strongest > 0, FUNDAMENTAL_SHARE * strongest, strongest)
    best = near_best.argmax(axis=-1)
    height = _gather(candidates, best)
    found = has_energy & (height > -2.0)
    inner = np.clip(best, 1, max_lag - 1)
    left, centre, right = (_gather(acf, inner + d) for d in (-1, 0, 1))
    lag_s = (best + _parabolic_offset(left, centre, right)) / np.float32(rate)
    return np.stack([np.where(found, lag_s, 0.0), np.where(found, height, 0.0)], axis=-1).astype(np.float32)


def _unit_rows(signals: np.ndarray) -> np.ndarray:
    """Mean-removed signals scaled to unit norm along time; constant signals become all zeros."""
    centred = signals - signals.mean(axis=-1, keepdims=True)
    norm = np.sqrt(np.einsum("...t,...t->...", centred, centred))
    scale = np.abs(signals).max(axis=-1) + 1.0
    varies = norm > 1e-5 * scale * np.sqrt(signals.shape[-1])
    return centred * (np.where(varies, 1.0 / np.where(varies, norm, 1.0), 0.0))[..., None].astype(np.float32)


def correlations(signals: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """(n, len(pairs)) Pearson correlations between signals[:, i] and signals[:, j]; 0 if either is constant."""
    if not pairs:
        return np.zeros((signals.shape[0], 0), dtype=np.float32)
    unit = _unit_rows(signals)
    first, second = (np.array(index) for index in zip(*pairs))
    return np.clip(np.einsum("npt,npt->np", unit[:, first], unit[:, second]), -1.0, 1.0)


def gravity_features(acc: np.ndarray, rate: float, cutoff_hz: float) -> np.ndarray:
    """(n, G, 4) for G tri-axial accelerometers (n, G, 3, T): angle (deg) of each axis to the mean low-passed
    acceleration, and the RMS angle between the momentary and the mean low-passed acceleration."""
    n, groups, _, n_time = acc.shape
    lowpassed = _low_pass(acc.reshape(n, groups * 3, n_time), rate, cutoff_hz).reshape(acc.shape)
    mean = lowpassed.mean(axis=-1)
    norm = np.linalg.norm(mean, axis=-1)
    has_gravity = norm > 1e-3
    direction = mean / np.where(has_gravity, norm, 1.0)[..., None]
    angles = np.where(has_gravity[..., None], np.degrees(np.arccos(np.clip(direction, -1, 1))), 90.0)
    momentary_norm = np.sqrt(np.einsum("ngct,ngct->ngt", lowpassed, lowpassed))
    cosine = np.einsum("ngct,ngc->ngt", lowpassed, direction) / np.maximum(momentary_norm, 1e-3)
    tilt = np.degrees(np.arccos(np.clip(cosine, -1, 1)))
    tilt_std = np.where(has_gravity, np.sqrt((tilt * tilt).mean(axis=-1)), 0.0)
    return np.concatenate([angles, tilt_std[..., None]], axis=-1).astype(np.float32)


def _low_pass(acc: np.ndarray, rate: float, cutoff_hz: float) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth low-pass; the window mean when the window is too short to filter."""
    if cutoff_hz >= rate / 2:
        return acc
    sos = butter(2, cutoff_hz, btype="low", fs=rate, output="sos")
    if acc.shape[-1] <= 3 * (2 * len(sos) + 1):
        return np.broadcast_to(acc.mean(axis=-1, keepdims=True), acc.shape)
    return sosfiltfilt(sos, acc, axis=-1).astype(np.float32)


def structure_features(data: np.ndarray, signals: np.ndarray, schema: Schema, rate: float, config: FeatureConfig) -> list[np.ndarray]:
    """Cross-axis, acc/gyro, posture and between-placement features, in `structure_names` order."""
    blocks: list[np.ndarray] = []
    families = config.families
    if "axis_corr" in families and schema.triaxial:
        index = [i for triple in schema.triaxial.values() for i in triple]
        pairs = [(3 * g + a, 3 * g + b) for g in range(len(schema.triaxial)) for a, b in ((0, 1), (0, 2), (1, 2))]
        blocks.append(correlations(data[:, index], pairs))
    if "intensity_ratio" in families:
        placements = _ratio_placements(schema)
        if placements:
            acc = signals[:, [schema.magnitude_signal(p, "acc") for p in placements]]
            gyro = signals[:, [schema.magnitude_signal(p, "gyro") for p in placements]]
            rotation = np.sqrt(np.einsum("npt,npt->np", gyro, gyro) / gyro.shape[-1])
            blocks.append((acc.std(axis=-1) + ACC_RATIO_FLOOR) / (rotation + GYRO_RATIO_FLOOR))
    if "gravity" in families:
        placements = _gravity_placements(schema)
        if placements:
            index = [i for p in placements for i in schema.triaxial[(p, "acc")]]
            acc = data[:, index].reshape(data.shape[0], len(placements), 3, data.shape[2])
            blocks.append(gravity_features(acc, rate, config.gravity_cutoff_hz).reshape(data.shape[0], -1))
    if "placement_corr" in families:
        pairs = _placement_pairs(schema)
        if pairs:
            used = sorted({schema.magnitude_signal(p, sensor) for sensor, a, b in pairs for p in (a, b)})
            position = {signal: i for i, signal in enumerate(used)}
            pair_index = [(position[schema.magnitude_signal(a, s)], position[schema.magnitude_signal(b, s)]) for s, a, b in pairs]
            blocks.append(correlations(signals[:, used], pair_index))
    return [np.asarray(block, dtype=np.float32).reshape(data.shape[0], -1) for block in blocks]


def compute_features(data: np.ndarray, schema: Schema, rate: float, config: FeatureConfig) -> np.ndarray:
    """(n, F) float32 features of one chunk of windows, in `feature_names` order."""
    signals = signal_matrix(data, schema)
    per_signal = []
    n_time = data.shape[-1]
    if "time" in config.families:
        per_signal.append(time_stats(signals, rate))
    if "jerk" in config.families:
        per_signal.append(jerk_stats(signals, rate))
    centred = signals - signals.mean(axis=-1, keepdims=True)
    if "spectral" in config.families:
        if config.spectrum_segment_s is None:
            freqs, power = hann_psd(centred, rate)
        else:
            freqs, power = welch_psd(signals, rate, config.spectrum_segment_s)
        per_signal.append(spectral_stats(freqs, power, rate, config))
    if "autocorr" in config.families:
        per_signal.append(autocorr_stats(padded_spectrum(centred), n_time, rate))
    blocks = [np.concatenate(per_signal, axis=-1).reshape(data.shape[0], -1)] if per_signal else []
    blocks += structure_features(data, signals, schema, rate, config)
    if not blocks:
        return np.zeros((data.shape[0], 0), dtype=np.float32)
    return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------- estimator


class FeatureExtractor(BaseEstimator):
    """Windows (N, C, T) -> named features (N, F) float32, with a glossary entry for every feature.

    `fit` records the channel schema and sampling rate (it learns nothing from the data), so the same
    fitted extractor can be stored with a knowledge base and applied to query windows.
    """

    def __init__(
        self,
        families: tuple[str, ...] = FAMILIES,
        band_edges_hz: tuple[float, float] = (0.5, 3.0),
        max_frequency_hz: float = 12.5,
        gravity_cutoff_hz: float = 0.5,
        spectrum_segment_s: float | None = None,
        chunk_size: int = 64,
        n_jobs: int = 1,
        show_progress: bool = True,
    ) -> None:
        self.families = families
        self.band_edges_hz = band_edges_hz
        self.max_frequency_hz = max_frequency_hz
        self.gravity_cutoff_hz = gravity_cutoff_hz
        self.spectrum_segment_s = spectrum_segment_s
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.show_progress = show_progress

    def config(self) -> FeatureConfig:
        """The parameters that determine feature values (not speed), validated."""
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise KnowledgeBaseError(f"unknown feature families {unknown}", fix=f"choose from {list(FAMILIES)}")
        low, high = self.band_edges_hz
        if not 0 < low < high:
            raise KnowledgeBaseError(f"band edges {self.band_edges_hz} must be increasing and positive", fix="e.g. (0.5, 3.0)")
        return FeatureConfig(
            families=tuple(f for f in FAMILIES if f in self.families),
            band_edges_hz=(float(low), float(high)),
            max_frequency_hz=self.max_frequency_hz,
            gravity_cutoff_hz=self.gravity_cutoff_hz,
            spectrum_segment_s=self.spectrum_segment_s,
        )

    def fit(self, X, y=None, *, channels=None, sampling_rate_hz=None) -> FeatureExtractor:
        """Record the channel schema and rate of `X` (a Windows, or an array with `channels` and the rate)."""
        channels, rate = _schema_of(X, channels, sampling_rate_hz)
        self.config_ = self.config()
        self.channels_ = channels
        self.sampling_rate_hz_ = rate
        self.schema_ = build_schema(channels)
        self.feature_names_ = feature_names(self.schema_, self.config_.families)
        self.n_features_out_ = len(self.feature_names_)
        if self.n_features_out_ == 0:
            raise KnowledgeBaseError("the chosen families give no features", fix="enable at least 'time'")
        if self.config_.band_edges_hz[1] >= min(self.config_.max_frequency_hz, rate / 2):
            log.warning("high band [%g Hz, cap] is empty at %g Hz sampling", self.config_.band_edges_hz[1], rate)
        return self

    def transform(self, X) -> np.ndarray:
        """Features (N, F) float32 of windows with the fitted channel schema."""
        data = self._checked_data(X)
        chunks = [slice(start, start + self.chunk_size) for start in range(0, data.shape[0], self.chunk_size)]
        out = np.empty((data.shape[0], self.n_features_out_), dtype=np.float32)
        started = time.perf_counter()

        def run(part: slice) -> None:
            out[part] = compute_features(data[part], self.schema_, self.sampling_rate_hz_, self.config_)

        with progress_bar(self.show_progress and data.shape[0] > 2000, "features", len(chunks)) as advance:
            if self.n_jobs > 1 and len(chunks) > 1:
                with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
                    for _ in pool.map(run, chunks):
                        advance()
            else:
                for part in chunks:
                    run(part)
                    advance()
        elapsed = time.perf_counter() - started
        log.debug("features of %d windows in %.2f s", data.shape[0], elapsed)
        if not np.isfinite(out).all():
            bad = np.flatnonzero(~np.isfinite(out).all(axis=0))
            raise KnowledgeBaseError(
                f"non-finite values in features {listed([self.feature_names_[i] for i in bad])}",
                fix="this is a bug in knowledge_base.features; report the window that caused it",
            )
        return out

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        return self.fit(X, y, **fit_params).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.feature_names_, dtype=object)

    def glossary(self) -> list[GlossaryEntry]:
        """One entry per feature, in feature order."""
        return [glossary_entry(name, self.config_, self.sampling_rate_hz_) for name in self.feature_names_]

    def _checked_data(self, X) -> np.ndarray:
        if not hasattr(self, "schema_"):
            raise KnowledgeBaseError("FeatureExtractor is not fitted", fix="call fit(windows) first")
        if isinstance(X, Windows):
            if tuple(X.channels) != self.channels_:
                raise KnowledgeBaseError(
                    f"windows have channels {listed(X.channels)}, the extractor was fitted on {listed(self.channels_)}",
                    fix="select the same channels (Windows.select_channels) or fit a new extractor",
                )
            if abs(X.sampling_rate_hz - self.sampling_rate_hz_) > 1e-6:
                raise KnowledgeBaseError(
                    f"windows are at {X.sampling_rate_hz:g} Hz, the extractor at {self.sampling_rate_hz_:g} Hz",
                    fix="resample the recording (recordings.signal.resample) before windowing",
                )
            X = X.data
        data = np.asarray(X)
        if data.ndim != 3 or data.shape[1] != len(self.channels_):
            raise KnowledgeBaseError(
                f"window data of shape {data.shape} does not match ({len(self.channels_)} channels)",
                fix="pass (n_windows, n_channels, n_timepoints) in the fitted channel order",
            )
        if data.shape[2] < 4:
            raise KnowledgeBaseError(f"windows of {data.shape[2]} samples are too short", fix="use windows of 1 s or more")
        data = np.ascontiguousarray(data, dtype=np.float32)
        if not np.isfinite(data).all():
            rows = np.flatnonzero(~np.isfinite(data).all(axis=(1, 2)))
            raise KnowledgeBaseError(
                f"windows {listed(rows.tolist())} contain NaN or inf",
                fix="repair gaps first (recordings.signal.repair_gaps) or drop those windows",
            )
        return data


def _schema_of(X, channels, sampling_rate_hz) -> tuple[tuple[str, ...], float]:
    if isinstance(X, Windows):
        return tuple(X.channels), float(X.sampling_rate_hz)
    if channels is None or sampling_rate_hz is None:
        raise KnowledgeBaseError(
            "an array needs its channel names and sampling rate", fix="fit(data, channels=[...], sampling_rate_hz=25.0)"
        )
    if not sampling_rate_hz > 0:
        raise KnowledgeBaseError(f"sampling rate {sampling_rate_hz} must be positive")
    return tuple(channels), float(sampling_rate_hz)
