"""Checkable predicates from an activity's attribute signature, for activities with or without labelled data.

A description says "torso horizontal, still, no rhythm"; this module turns each attribute into a test on
named features with a threshold that comes from physics and from the reference population of *seen*
activities, never from windows of the activity being checked:

- torso orientation: angle between the window's gravity direction and the population's upright direction
  (mean gravity direction of windows whose activity is described as upright); upright within the upright
  population's spread, horizontal beyond 90° minus that spread, inclined in between;
- lying side: angle to the gravity direction of that side, measured from seen lying activities, or derived
  from another side through the right-handed body frame (front × left = up);
- moving parts: rotation (or acceleration variability) of each body part above what still reference
  windows show; periodic: autocorrelation peak of a moving part above the threshold that best separates
  the seen rhythmic from the seen non-rhythmic activities; cadence: dominant frequency of a rhythmic part;
- intensity: acceleration variability against level centres of the seen activities, with levels the
  population cannot order (e.g. cycling is "high" but shakes the body less than walking) pooled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.glossary import place
from knowledge_base.models import GlossaryEntry
from knowledge_base.pairwise import youden_threshold
from recordings.channels import placement_family
from recordings.vocabulary import AttributeSignature, Vocabulary

log = logging.getLogger(__name__)

LEVELS = ("rest", "low", "moderate", "high", "very_high")
SIDES = ("back", "front", "right", "left")
POSTURE_ATTRIBUTES = ("torso", "lying_side")  # how the body is oriented: what an activity is defined by first
POSTURE_PLACEMENTS = ("torso", "waist")  # where trunk orientation can be read, in order of preference
PART_FAMILIES = {
    "arms": ("wrist", "upper_arm"),
    "legs": ("thigh", "ankle", "foot", "pocket"),
    "torso": ("torso", "waist"),
}
SIDE_TOLERANCE_DEG = 45.0  # half the 90° between adjacent lying sides
MIN_UPRIGHT_TOLERANCE_DEG, MAX_UPRIGHT_TOLERANCE_DEG = 20.0, 40.0
MIN_VARIES_DEG = 5.0  # a trunk swinging less than this is steady whatever the population says
NOISE_FLOOR = {"gyro": 0.05, "acc": 0.05}  # rad/s, m/s^2: sensor noise, never "moving"
DEFAULT_PERIODICITY = 0.6
_LOG_OFFSET = 0.01  # m/s^2 added before log10 so a perfectly still window has a finite intensity


class PostureCalibration(BaseModel):
    """Trunk orientation reference, read at one placement (torso, else waist)."""

    model_config = ConfigDict(extra="forbid")

    placement: str
    upright_direction: tuple[float, float, float] = Field(description="unit gravity-reaction vector when upright")
    upright_windows: int
    tolerance_deg: float = Field(description="upright: inclination <= this; horizontal: >= 90 - this")
    side_directions: dict[str, tuple[float, float, float]] = Field(default_factory=dict)
    side_sources: dict[str, str] = Field(default_factory=dict)
    varies_threshold_deg: float = Field(description="tilt_std at or above this means the trunk angle varies")


class MotionCalibration(BaseModel):
    """What 'still' means per placement: the 95th percentile of still reference windows (noise-floored)."""

    model_config = ConfigDict(extra="forbid")

    gyro_still: dict[str, float] = Field(default_factory=dict, description="placement -> gyro.mag.mean (rad/s)")
    acc_still: dict[str, float] = Field(default_factory=dict, description="placement -> acc.mag.std (m/s^2)")
    still_windows: int = 0


class AttributeCalibration(BaseModel):
    """Every threshold the predicates use, with where it came from; saved as JSON with the base."""

    model_config = ConfigDict(extra="forbid")

    seen_activities: list[str]
    window_s: float
    posture: PostureCalibration | None
    motion: MotionCalibration
    periodicity_threshold: float
    periodicity_source: str
    intensity_centres: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="placement -> level -> median log10(acc.mag.std + 0.01) of seen windows"
    )
    cadence_tolerance_hz: float


class PredicateResult(BaseModel):
    """One attribute of an activity checked on one window."""

    model_config = ConfigDict(extra="forbid")

    attribute: str = Field(description="torso, lying_side, periodic, cadence_hz, intensity, moving_parts, transition")
    expected: str = Field(description="what the activity's description implies, e.g. 'horizontal'")
    feature: str = Field(description="the (possibly derived) feature tested")
    derived_from: list[str] = Field(default_factory=list)
    value: float | None
    unit: str
    condition: str = Field(description="the test, e.g. '>= 60.0'")
    lower: float | None = None
    upper: float | None = None
    holds: bool | None = Field(description="None when not checkable")
    checkable: bool
    statement: str


@dataclass(frozen=True)
class PredicateColumn:
    """A predicate evaluated on many windows at once (values/holds are NaN/None-free arrays or None)."""

    attribute: str
    expected: str
    feature: str
    derived_from: tuple[str, ...]
    unit: str
    condition: str
    lower: float | None
    upper: float | None
    values: np.ndarray | None  # (N,) float, NaN where the value is undefined
    holds: np.ndarray | None  # (N,) bool
    reason: str = ""  # why it is not checkable
    where: np.ndarray | None = None  # (N,) object: which placement supplied the value
    feature_by_window: np.ndarray | None = None  # (N,) object: the feature that supplied the value
    threshold_by_window: np.ndarray | None = None  # (N,) float: the bound that value was compared with

    @property
    def checkable(self) -> bool:
        return self.holds is not None


class FeatureTable:
    """Named access to feature columns of (N, F) features; missing names give None."""

    def __init__(self, features: np.ndarray, names: list[str]) -> None:
        self.features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if self.features.shape[1] != len(names):
            raise KnowledgeBaseError(f"{self.features.shape[1]} feature columns for {len(names)} names")
        self.index = {name: i for i, name in enumerate(names)}

    def __len__(self) -> int:
        return self.features.shape[0]

    def get(self, name: str) -> np.ndarray | None:
        column = self.index.get(name)
        return None if column is None else self.features[:, column]

    def placements(self) -> list[str]:
        found = dict.fromkeys(n.split(".")[0] for n in self.index if "~" not in n.split(".")[0])
        return list(found)


# --------------------------------------------------------------------------------------------- derived measures


def gravity_directions(table: FeatureTable, placement: str) -> np.ndarray | None:
    """(N, 3) unit gravity-reaction vectors from the gravity angle features (None if absent)."""
    angles = [table.get(f"{placement}.acc.gravity_{axis}.angle") for axis in "xyz"]
    if any(a is None for a in angles):
        return None
    vectors = np.cos(np.radians(np.stack(angles, axis=1)))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.where(norms > 0.5, vectors / np.maximum(norms, 1e-9), np.nan)


def angle_to(vectors: np.ndarray, direction: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    unit = np.asarray(direction, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    return np.degrees(np.arccos(np.clip(vectors @ unit, -1.0, 1.0)))


def motion_level(table: FeatureTable, placement: str, motion: MotionCalibration) -> tuple[np.ndarray, float, str] | None:
    """(values, still threshold, feature name) for one placement: gyro rotation if possible, else acc std."""
    gyro = table.get(f"{placement}.gyro.mag.mean")
    if gyro is not None and placement in motion.gyro_still:
        return gyro, motion.gyro_still[placement], f"{placement}.gyro.mag.mean"
    acc = table.get(f"{placement}.acc.mag.std")
    if acc is not None and placement in motion.acc_still:
        return acc, motion.acc_still[placement], f"{placement}.acc.mag.std"
    return None


def moving_mask(table: FeatureTable, motion: MotionCalibration) -> dict[str, np.ndarray]:
    """placement -> (N,) bool: is the placement moving more than still windows do."""
    out = {}
    for placement in table.placements():
        level = motion_level(table, placement, motion)
        if level is not None:
            out[placement] = level[0] > level[1]
    return out


def regularity(table: FeatureTable, motion: MotionCalibration) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """(score, placement index, placements): the highest acc-magnitude autocorrelation peak of a moving part."""
    moving = moving_mask(table, motion)
    placements = [p for p in moving if table.get(f"{p}.acc.mag.acf_peak_height") is not None]
    if not placements:
        return None
    heights = np.stack([np.where(moving[p], table.get(f"{p}.acc.mag.acf_peak_height"), 0.0) for p in placements], 1)
    best = heights.argmax(axis=1)
    return heights[np.arange(len(table)), best], best, placements


def intensity_score(table: FeatureTable, placements: list[str]) -> np.ndarray:
    stds = np.stack([table.get(f"{p}.acc.mag.std") for p in placements], axis=1)
    return np.log10(stds + _LOG_OFFSET).mean(axis=1)


# --------------------------------------------------------------------------------------------- calibration


def calibrate_attributes(
    features: np.ndarray,
    names: list[str],
    labels: np.ndarray,
    activities: tuple[str, ...],
    vocabulary: Vocabulary,
    window_s: float,
) -> AttributeCalibration:
    """Thresholds for every predicate from the reference windows of seen activities and physics."""
    table = FeatureTable(features, names)
    signatures = {}
    for index, activity in enumerate(activities):
        if not np.any(labels == index):
            continue
        if activity in vocabulary:
            signatures[index] = vocabulary[activity].attributes
        else:
            log.warning("activity %r is not in the vocabulary: its windows do not calibrate predicates", activity)
    motion = _calibrate_motion(table, labels, signatures)
    periodicity, source = _calibrate_periodicity(table, labels, signatures, motion)
    return AttributeCalibration(
        seen_activities=[activities[i] for i in signatures],
        window_s=window_s,
        posture=_calibrate_posture(table, labels, signatures, activities),
        motion=motion,
        periodicity_threshold=periodicity,
        periodicity_source=source,
        intensity_centres=_calibrate_intensity(table, labels, signatures),
        cadence_tolerance_hz=round(0.5 / window_s, 4),
    )


def _rows_where(labels: np.ndarray, signatures: dict, test) -> np.ndarray:
    chosen = [index for index, signature in signatures.items() if test(signature)]
    return np.isin(labels, chosen)


def _calibrate_posture(table, labels, signatures, activities) -> PostureCalibration | None:
    placement = next((p for p in POSTURE_PLACEMENTS if gravity_directions(table, p) is not None), None)
    if placement is None:
        log.info("no torso or waist accelerometer: trunk orientation predicates are not checkable")
        return None
    directions = gravity_directions(table, placement)
    upright_rows = _rows_where(labels, signatures, lambda s: s.torso == "upright") & np.isfinite(directions).all(1)
    if upright_rows.sum() < 10:
        log.info("fewer than 10 upright reference windows: trunk orientation predicates are not checkable")
        return None
    upright = _mean_direction(directions[upright_rows])
    spread = float(np.quantile(angle_to(directions[upright_rows], upright), 0.95))
    tolerance = float(np.clip(spread, MIN_UPRIGHT_TOLERANCE_DEG, MAX_UPRIGHT_TOLERANCE_DEG))
    sides, sources = _side_directions(directions, labels, signatures, activities, upright)
    steady = _rows_where(labels, signatures, lambda s: s.torso in ("upright", "horizontal", "inclined"))
    tilt = table.get(f"{placement}.acc.gravity.tilt_std")
    varies = max(MIN_VARIES_DEG, float(np.quantile(tilt[steady], 0.90))) if steady.any() else 3 * MIN_VARIES_DEG
    return PostureCalibration(
        placement=placement, upright_direction=tuple(upright), upright_windows=int(upright_rows.sum()),
        tolerance_deg=round(tolerance, 2), side_directions=sides, side_sources=sources,
        varies_threshold_deg=round(varies, 2),
    )  # fmt: skip


def _mean_direction(vectors: np.ndarray) -> np.ndarray:
    mean = vectors.mean(axis=0)
    return mean / np.linalg.norm(mean)


def _side_directions(directions, labels, signatures, activities, upright) -> tuple[dict, dict]:
    """Gravity-reaction direction per lying side: measured where seen, else derived (front × left = up)."""
    sides, sources = {}, {}
    for index, signature in signatures.items():
        if signature.lying_side is None:
            continue
        rows = (labels == index) & np.isfinite(directions).all(axis=1)
        if rows.any():
            sides[signature.lying_side] = _mean_direction(directions[rows])
            sources[signature.lying_side] = f"measured: {activities[index]} ({int(rows.sum())} windows)"
    up = np.asarray(upright)
    front = sides.get("back", -sides["front"] if "front" in sides else None)
    left = sides.get("right", -sides["left"] if "left" in sides else None)
    if front is None and left is None:
        return {}, {}
    if front is None:
        front = np.cross(left, up)
    if left is None:
        left = np.cross(up, front)
    derived = {"back": front, "front": -front, "right": left, "left": -left}
    for side in SIDES:
        if side not in sides:
            vector = derived[side] - (derived[side] @ up) * up
            sides[side] = vector / np.linalg.norm(vector)
            sources[side] = "derived from the seen lying sides and the upright direction (front x left = up)"
    return {s: tuple(float(v) for v in sides[s]) for s in SIDES}, {s: sources[s] for s in SIDES}


def _calibrate_motion(table, labels, signatures) -> MotionCalibration:
    still_rows = _rows_where(labels, signatures, lambda s: s.moving_parts == [])
    motion = MotionCalibration(still_windows=int(still_rows.sum()))
    if still_rows.sum() < 10:
        log.info("fewer than 10 still reference windows: 'moving' uses sensor noise floors only")
    for placement in table.placements():
        for sensor, feature, target in (("gyro", "mean", motion.gyro_still), ("acc", "std", motion.acc_still)):
            values = table.get(f"{placement}.{sensor}.mag.{feature}")
            if values is None:
                continue
            observed = float(np.quantile(values[still_rows], 0.95)) if still_rows.sum() >= 10 else 0.0
            target[placement] = round(max(NOISE_FLOOR[sensor], observed), 4)
    return motion


def _calibrate_periodicity(table, labels, signatures, motion) -> tuple[float, str]:
    measured = regularity(table, motion)
    rhythmic = _rows_where(labels, signatures, lambda s: s.periodic is True)
    irregular = _rows_where(labels, signatures, lambda s: s.periodic is False)
    if measured is None or rhythmic.sum() < 10 or irregular.sum() < 10:
        return DEFAULT_PERIODICITY, "default (the reference lacks rhythmic or non-rhythmic activities)"
    score = measured[0]
    threshold, accuracy = youden_threshold(score[rhythmic], score[irregular])
    return round(threshold, 4), f"separates seen rhythmic from non-rhythmic windows (balanced accuracy {accuracy:.2f})"


def _calibrate_intensity(table, labels, signatures) -> dict[str, dict[str, float]]:
    centres: dict[str, dict[str, float]] = {}
    for placement in table.placements():
        values = table.get(f"{placement}.acc.mag.std")
        if values is None:
            continue
        per_level = {}
        for level in LEVELS:
            rows = _rows_where(labels, signatures, lambda s, level=level: s.intensity == level)
            if rows.any():
                per_level[level] = round(float(np.median(np.log10(values[rows] + _LOG_OFFSET))), 4)
        if per_level:
            centres[placement] = per_level
    return centres


def level_boundaries(centres: dict[str, float]) -> tuple[dict[str, tuple[float, float]], dict[str, str]] | None:
    """Per level (low, high) bounds of the intensity score; missing levels interpolated, unordered ones pooled."""
    seen = [i for i, level in enumerate(LEVELS) if level in centres]
    if len(seen) < 2:
        return None
    positions = np.arange(len(LEVELS), dtype=np.float64)
    known = np.array([centres[LEVELS[i]] for i in seen])
    filled = np.interp(positions, seen, known)
    step = (known[-1] - known[0]) / max(seen[-1] - seen[0], 1)
    filled[: seen[0]] = known[0] - step * (seen[0] - positions[: seen[0]])
    filled[seen[-1] + 1 :] = known[-1] + step * (positions[seen[-1] + 1 :] - seen[-1])
    weights = np.array([1.0 if i in seen else 1e-3 for i in range(len(LEVELS))])
    pooled, blocks = _pool_adjacent_violators(filled, weights)
    notes = {LEVELS[i]: ("measured" if i in seen else "interpolated") for i in range(len(LEVELS))}
    for block in blocks:
        if len(block) > 1:
            for i in block:
                notes[LEVELS[i]] += f", pooled with {'/'.join(LEVELS[j] for j in block if j != i)} (not ordered by acceleration)"
    distinct = [pooled[block[0]] for block in blocks]
    cuts = [(a + b) / 2 for a, b in zip(distinct[:-1], distinct[1:])]
    bounds = {}
    for number, block in enumerate(blocks):
        low = cuts[number - 1] if number > 0 else -np.inf
        high = cuts[number] if number < len(cuts) else np.inf
        for i in block:
            bounds[LEVELS[i]] = (float(low), float(high))
    return bounds, notes


def _pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Non-decreasing weighted fit of `values` and the index blocks it pooled."""
    blocks = [[i] for i in range(len(values))]
    means = list(values.astype(float))
    masses = list(weights.astype(float))
    i = 0
    while i < len(blocks) - 1:
        if means[i] > means[i + 1]:
            total = masses[i] + masses[i + 1]
            means[i] = (means[i] * masses[i] + means[i + 1] * masses[i + 1]) / total
            masses[i] = total
            blocks[i] += blocks.pop(i + 1)
            means.pop(i + 1)
            masses.pop(i + 1)
            i = max(i - 1, 0)
        else:
            i += 1
    fitted = np.empty(len(values))
    for mean, block in zip(means, blocks):
        fitted[block] = mean
    return fitted, blocks


# --------------------------------------------------------------------------------------------- predicates


def evaluate_predicates(
    table: FeatureTable, signature: AttributeSignature, calibration: AttributeCalibration
) -> list[PredicateColumn]:
    """Every predicate the signature implies, evaluated on all windows of `table`."""
    columns: list[PredicateColumn] = []
    if signature.torso is not None:
        columns.append(_torso_predicate(table, signature.torso, calibration))
    if signature.lying_side is not None:
        columns.append(_side_predicate(table, signature.lying_side, calibration))
    if signature.moving_parts is not None:
        columns += _motion_predicates(table, signature.moving_parts, calibration)
    if signature.periodic is not None:
        columns.append(_periodic_predicate(table, signature.periodic, calibration))
    if signature.cadence_hz is not None:
        columns.append(_cadence_predicate(table, signature.cadence_hz, calibration))
    if signature.intensity is not None:
        columns.append(_intensity_predicate(table, signature.intensity, calibration))
    if signature.transition:
        columns.append(_transition_predicate(table, calibration))
    return columns


def _not_checkable(attribute: str, expected: str, feature: str, unit: str, reason: str) -> PredicateColumn:
    return PredicateColumn(attribute, expected, feature, (), unit, "", None, None, None, None, reason)


def _range_column(attribute, expected, feature, derived, unit, values, lower, upper, where=None) -> PredicateColumn:
    low = -np.inf if lower is None else lower
    high = np.inf if upper is None else upper
    holds = np.isfinite(values) & (values >= low) & (values <= high)
    if lower is not None and upper is not None:
        condition = f"between {lower:.3g} and {upper:.3g}"
    elif lower is not None:
        condition = f">= {lower:.3g}"
    else:
        condition = f"<= {upper:.3g}"
    return PredicateColumn(attribute, expected, feature, tuple(derived), unit, condition, lower, upper, values, holds, "", where)


def _torso_predicate(table: FeatureTable, expected: str, calibration: AttributeCalibration) -> PredicateColumn:
    posture = calibration.posture
    if posture is None:
        return _not_checkable("torso", expected, "torso.acc.gravity.inclination", "deg", "no trunk orientation reference")
    p = posture.placement
    if expected == "varies":
        tilt = table.get(f"{p}.acc.gravity.tilt_std")
        if tilt is None:
            return _not_checkable("torso", expected, f"{p}.acc.gravity.tilt_std", "deg", f"no {place(p)} accelerometer")
        return _range_column("torso", expected, f"{p}.acc.gravity.tilt_std", [], "deg", tilt, posture.varies_threshold_deg, None)
    directions = gravity_directions(table, p)
    feature = f"{p}.acc.gravity.inclination"
    if directions is None:
        return _not_checkable("torso", expected, feature, "deg", f"no {place(p)} accelerometer in this recording")
    inclination = angle_to(directions, posture.upright_direction)
    derived = [f"{p}.acc.gravity_{axis}.angle" for axis in "xyz"]
    tolerance = posture.tolerance_deg
    bounds = {"upright": (None, tolerance), "horizontal": (90.0 - tolerance, None), "inclined": (tolerance, 90.0 - tolerance)}
    lower, upper = bounds[expected]
    return _range_column("torso", expected, feature, derived, "deg", inclination, lower, upper)


def _side_predicate(table: FeatureTable, side: str, calibration: AttributeCalibration) -> PredicateColumn:
    posture = calibration.posture
    feature = f"{posture.placement if posture else 'torso'}.acc.gravity.lying_{side}_angle"
    if posture is None or side not in posture.side_directions:
        return _not_checkable("lying_side", side, feature, "deg", "no seen lying activity fixes the body's front/left axes")
    directions = gravity_directions(table, posture.placement)
    if directions is None:
        return _not_checkable("lying_side", side, feature, "deg", f"no {place(posture.placement)} accelerometer")
    derived = [f"{posture.placement}.acc.gravity_{axis}.angle" for axis in "xyz"]
    angle = angle_to(directions, posture.side_directions[side])
    return _range_column("lying_side", side, feature, derived, "deg", angle, None, SIDE_TOLERANCE_DEG)


def _body_parts(table: FeatureTable) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    for placement in table.placements():
        for part, families in PART_FAMILIES.items():
            if placement_family(placement) in families:
                parts.setdefault(part, []).append(placement)
    return parts


def _motion_predicates(table: FeatureTable, moving_parts: list[str], calibration: AttributeCalibration) -> list[PredicateColumn]:
    """Listed parts must move; with an empty list every part must be still; unlisted parts are not asserted."""
    parts = _body_parts(table)
    asserted = {part: True for part in moving_parts} if moving_parts else {part: False for part in PART_FAMILIES}
    columns = []
    for part, should_move in asserted.items():
        expected = f"{part} {'moving' if should_move else 'still'}"
        levels = [(p, motion_level(table, p, calibration.motion)) for p in parts.get(part, [])]
        levels = [(p, level) for p, level in levels if level is not None]
        if not levels:
            if should_move:
                columns.append(_not_checkable("moving_parts", expected, f"{part}.motion", "", f"no sensor on the {part}"))
            continue
        ratios = np.stack([level[0] / level[1] for _, level in levels], axis=1)
        pick = ratios.argmax(axis=1)  # the most moving sensor of the part decides
        rows = np.arange(len(table))
        values = np.stack([level[0] for _, level in levels], axis=1)[rows, pick]
        thresholds = np.array([level[1] for _, level in levels])[pick]
        names = np.array([level[2] for _, level in levels], dtype=object)
        holds = (values > thresholds) if should_move else (values <= thresholds)
        unit = "rad/s" if ".gyro." in names[0] else "m/s^2"
        condition = f"{'>' if should_move else '<='} the sensor's still level"
        feature = names[0] if len(names) == 1 else f"{part}.motion.max"
        columns.append(PredicateColumn(
            "moving_parts", expected, feature, tuple(names), unit, condition, None, None, values, holds, "",
            np.array([p for p, _ in levels], dtype=object)[pick], names[pick], thresholds,
        ))  # fmt: skip
    return columns


def _periodic_predicate(table: FeatureTable, periodic: bool, calibration: AttributeCalibration) -> PredicateColumn:
    expected = "rhythmic" if periodic else "not rhythmic"
    measured = regularity(table, calibration.motion)
    feature = "body.acc.mag.regularity"
    if measured is None:
        return _not_checkable("periodic", expected, feature, "-1..1", "no accelerometer magnitude available")
    score, best, placements = measured
    derived = [f"{p}.acc.mag.acf_peak_height" for p in placements]
    where = np.array(placements, dtype=object)[best]
    threshold = calibration.periodicity_threshold
    if periodic:
        return _range_column("periodic", expected, feature, derived, "-1..1", score, threshold, None, where)
    column = _range_column("periodic", expected, feature, derived, "-1..1", score, None, threshold, where)
    return replace(column, holds=score < threshold, condition=f"< {threshold:.3g}")


def _cadence_predicate(table: FeatureTable, cadence: tuple[float, float], calibration: AttributeCalibration) -> PredicateColumn:
    """Holds when a moving, rhythmic body part has its dominant frequency within the range (± half a bin)."""
    expected = f"{cadence[0]:g}-{cadence[1]:g} Hz"
    feature = "body.acc.mag.cadence"
    moving = moving_mask(table, calibration.motion)
    placements = [p for p in moving if table.get(f"{p}.acc.mag.dominant_freq") is not None]
    if not placements:
        return _not_checkable("cadence_hz", expected, feature, "Hz", "no accelerometer magnitude available")
    tolerance = calibration.cadence_tolerance_hz
    low, high = cadence[0] - tolerance, cadence[1] + tolerance
    frequency = np.stack([table.get(f"{p}.acc.mag.dominant_freq") for p in placements], axis=1)
    rhythmic = np.stack(
        [moving[p] & (table.get(f"{p}.acc.mag.acf_peak_height") >= calibration.periodicity_threshold) for p in placements], 1
    )
    distance = np.where(frequency < low, low - frequency, np.where(frequency > high, frequency - high, 0.0))
    distance = np.where(rhythmic, distance, np.inf)
    pick = distance.argmin(axis=1)
    rows = np.arange(len(table))
    any_rhythmic = rhythmic.any(axis=1)
    values = np.where(any_rhythmic, frequency[rows, pick], np.nan)
    derived = [f"{p}.acc.mag.dominant_freq" for p in placements] + [f"{p}.acc.mag.acf_peak_height" for p in placements]
    where = np.where(any_rhythmic, np.array(placements, dtype=object)[pick], None)
    return _range_column("cadence_hz", expected, feature, derived, "Hz", values, low, high, where)


def _intensity_predicate(table: FeatureTable, level: str, calibration: AttributeCalibration) -> PredicateColumn:
    feature = "body.acc.mag.log_std"
    placements = [p for p in calibration.intensity_centres if table.get(f"{p}.acc.mag.std") is not None]
    if not placements:
        return _not_checkable("intensity", level, feature, "log10 m/s^2", "no calibrated accelerometer placement")
    centres = {
        lv: float(np.mean([calibration.intensity_centres[p][lv] for p in placements]))
        for lv in LEVELS
        if all(lv in calibration.intensity_centres[p] for p in placements)
    }
    found = level_boundaries(centres)
    if found is None:
        return _not_checkable("intensity", level, feature, "log10 m/s^2", "fewer than two intensity levels were seen")
    bounds, _ = found
    low, high = bounds[level]
    derived = [f"{p}.acc.mag.std" for p in placements]
    return _range_column("intensity", level, feature, derived, "log10 m/s^2", intensity_score(table, placements),
                         None if np.isinf(low) else low, None if np.isinf(high) else high)  # fmt: skip


def _transition_predicate(table: FeatureTable, calibration: AttributeCalibration) -> PredicateColumn:
    posture = calibration.posture
    feature = f"{posture.placement if posture else 'torso'}.acc.gravity.tilt_std"
    tilt = table.get(feature)
    if posture is None or tilt is None:
        return _not_checkable("transition", "posture changes", feature, "deg", "no trunk orientation reference")
    return _range_column("transition", "posture changes", feature, [], "deg", tilt, posture.varies_threshold_deg, None)


# --------------------------------------------------------------------------------------------- one window


def results_for_window(columns: list[PredicateColumn], row: int = 0) -> list[PredicateResult]:
    """The predicates of one window as typed results with a readable statement each."""
    return [_result(column, row) for column in columns]


def _result(column: PredicateColumn, row: int) -> PredicateResult:
    base = dict(
        attribute=column.attribute, expected=column.expected, feature=column.feature,
        derived_from=list(column.derived_from), unit=column.unit, condition=column.condition,
        lower=column.lower, upper=column.upper,
    )  # fmt: skip
    label = expectation_phrase(column.attribute, column.expected)
    if not column.checkable:
        return PredicateResult(**base, value=None, holds=None, checkable=False,
                               statement=f"{label}: not checkable ({column.reason}).")  # fmt: skip
    value = float(column.values[row])
    holds = bool(column.holds[row])
    if not np.isfinite(value):
        where = "no moving, rhythmic body part" if column.attribute == "cadence_hz" else "undefined"
        return PredicateResult(**base, value=None, holds=False, checkable=True,
                               statement=f"{label}: fails ({where}).")  # fmt: skip
    feature = column.feature if column.feature_by_window is None else str(column.feature_by_window[row])
    derived = column.where is not None and column.where[row] and not feature.startswith(f"{column.where[row]}.")
    at = f" at the {place(column.where[row])}" if derived else ""
    condition = column.condition
    if column.threshold_by_window is not None:
        bound = float(column.threshold_by_window[row])
        above = column.condition.startswith(">")
        condition = f"{'>' if above else '<='} {bound:.3g} (still level)"
        base.update(feature=feature, condition=condition, **({"lower": bound} if above else {"upper": bound}))
    verdict = "holds" if holds else "fails"
    statement = f"{label}: {verdict} — {feature}{at} = {value_with_unit(value, column.unit)}, expected {condition}."
    return PredicateResult(**base, value=value, holds=holds, checkable=True, statement=statement.replace("  ", " "))


def value_with_unit(value: float, unit: str) -> str:
    """A measured value as a reader sees it: '12.3 deg', or '0.377 (on -1..1)' for a scale, which glued to the
    value would read as more numbers."""
    shown = f"(on {unit})" if ".." in unit else unit
    return f"{value:.3g} {shown}".strip()


_TORSO_PHRASES = {"upright": "an upright trunk", "horizontal": "a horizontal trunk", "inclined": "an inclined trunk",
                  "varies": "a trunk that changes orientation"}  # fmt: skip


def expectation_phrase(attribute: str, expected: str, numbers: bool = True) -> str:
    """What a description expects, in words a clinician reads without the code's vocabulary ('no rhythmic
    movement', not 'periodic not rhythmic'). `numbers=False` leaves out the numbers an expectation carries (a
    cadence range): an evidence row's condition already states the bounds it checks, and an explanation may
    only quote numbers that its rows hold."""
    if attribute == "torso" and expected in _TORSO_PHRASES:
        return _TORSO_PHRASES[expected]
    if attribute == "lying_side":
        return f"lying on the {expected}" + (" side" if expected in ("right", "left") else "")
    if attribute == "moving_parts":
        return f"the {expected}"
    if attribute == "periodic":
        return "a rhythmic movement" if expected == "rhythmic" else "no rhythmic movement"
    if attribute == "cadence_hz":
        return f"a rhythm of {expected}" if numbers else "a rhythm within its cadence range"
    if attribute == "intensity":
        return "a resting intensity" if expected == "rest" else f"{expected.replace('_', ' ')} intensity"
    if attribute == "transition":
        return "a change of posture"
    if not numbers and any(ch.isdigit() for ch in expected):
        return attribute.replace("_", " ")
    return f"{attribute.replace('_', ' ')} {expected}"


def measure_phrase(attribute: str, feature: str) -> str:
    """The quantity an attribute check measured, named for a reader (the row's feature field names it for code)."""
    if attribute in ("torso", "transition"):
        return "trunk angle from upright" if feature.endswith("inclination") else "spread of trunk tilt"
    return {
        "lying_side": "trunk angle from that side", "moving_parts": "movement of the most active sensor",
        "periodic": "rhythm strength (autocorrelation peak)", "cadence_hz": "dominant rhythm",
        "intensity": "intensity score",
    }.get(attribute, "measured")  # fmt: skip


def derived_glossary(calibration: AttributeCalibration) -> list[GlossaryEntry]:
    """Glossary entries of the derived measures the predicates report."""
    p = calibration.posture.placement if calibration.posture else "torso"
    entries = [
        GlossaryEntry(
            name=f"{p}.acc.gravity.inclination", placement=p, sensor="acc", channel="gravity", feature="inclination",
            family="derived", aspect="posture", unit="deg",
            definition=f"Angle between the {place(p)}'s gravity direction in the window and the direction it has when "
            "the reference population is upright (0 = upright, 90 = horizontal).",
            high_means="the trunk is tilted or lying", low_means="the trunk is upright",
        ),
        GlossaryEntry(
            name="body.acc.mag.regularity", placement="body", sensor="acc", channel="mag", feature="regularity",
            family="derived", aspect="regularity", unit="-1..1",
            definition="Highest autocorrelation peak of the acceleration magnitude among body parts that move "
            "(0 when nothing moves).",
            high_means="some body part repeats a movement very regularly", low_means="no regular rhythm",
        ),
        GlossaryEntry(
            name="body.acc.mag.cadence", placement="body", sensor="acc", channel="mag", feature="cadence",
            family="derived", aspect="rhythm", unit="Hz",
            definition="Dominant frequency of the acceleration magnitude at a moving body part whose movement "
            "repeats regularly (the one closest to the expected range).",
            high_means="a fast rhythm (steps, pedal strokes)", low_means="a slow rhythm",
        ),
        GlossaryEntry(
            name="body.acc.mag.log_std", placement="body", sensor="acc", channel="mag", feature="log_std",
            family="derived", aspect="intensity", unit="log10 m/s^2",
            definition="Average over placements of log10(standard deviation of the acceleration magnitude + 0.01): "
            "how vigorously the body accelerates.",
            high_means="vigorous movement (running, jumping)", low_means="rest",
        ),
    ]
    for side in SIDES:
        entries.append(GlossaryEntry(
            name=f"{p}.acc.gravity.lying_{side}_angle", placement=p, sensor="acc", channel="gravity",
            feature=f"lying_{side}_angle", family="derived", aspect="posture", unit="deg",
            definition=f"Angle between the {place(p)}'s gravity direction and the one expected when lying on the {side}.",
            high_means=f"not lying on the {side}", low_means=f"lying on the {side} (below 45 degrees)",
        ))  # fmt: skip
    for part in PART_FAMILIES:
        entries.append(GlossaryEntry(
            name=f"{part}.motion.max", placement=part, sensor="gyro", channel="motion", feature="max",
            family="derived", aspect="intensity", unit="rad/s or m/s^2",
            definition=f"Rotation speed (or, without a gyroscope, acceleration variability) of the most moving "
            f"sensor on the {part}, compared with its still level.",
            high_means=f"the {part} move", low_means=f"the {part} are still",
        ))  # fmt: skip
    return entries
