"""Plain-English glossary entries for feature names (`placement.sensor.channel.feature`).

Entries are generated from the name, so every feature the extractor can produce is documented and a saved
knowledge base carries the exact definitions it was built with.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.models import FeatureConfig, GlossaryEntry

GRAVITY_DOMINATED = {"mean", "median", "min", "max", "p10", "p25", "p75", "p90", "rms"}


@dataclass(frozen=True)
class _Template:
    family: str
    aspect: str
    unit: str  # "{u}" = the signal's unit, "{u}/s" …
    definition: str  # "{what}" = what the signal is
    high: str
    low: str


_STATS: dict[str, _Template] = {
    "mean": _Template("time", "intensity", "{u}", "Average of {what} over the window.", "a larger average level", "a smaller average level"),
    "std": _Template("time", "intensity", "{u}", "Standard deviation of {what}: how much it varies around its average.", "vigorous or irregular movement", "stillness"),
    "min": _Template("time", "intensity", "{u}", "Smallest value of {what} in the window.", "the signal never drops low", "deep dips"),
    "max": _Template("time", "intensity", "{u}", "Largest value of {what} in the window.", "strong peaks (impacts, fast turns)", "no strong peaks"),
    "median": _Template("time", "intensity", "{u}", "Median (middle value) of {what}; an average robust to brief spikes.", "a larger typical level", "a smaller typical level"),
    "p10": _Template("time", "intensity", "{u}", "10th percentile of {what}: the level it stays above 90% of the time.", "a high floor", "frequent low values"),
    "p25": _Template("time", "intensity", "{u}", "25th percentile (lower quartile) of {what}.", "a high lower quartile", "a low lower quartile"),
    "p75": _Template("time", "intensity", "{u}", "75th percentile (upper quartile) of {what}.", "a high upper quartile", "a low upper quartile"),
    "p90": _Template("time", "intensity", "{u}", "90th percentile of {what}: the level exceeded 10% of the time.", "frequent high values", "few high values"),
    "rms": _Template("time", "intensity", "{u}", "Root mean square of {what} (includes its average level).", "a large overall magnitude", "a small overall magnitude"),
    "range": _Template("time", "intensity", "{u}", "Maximum minus minimum of {what}.", "large swings", "small swings"),
    "iqr": _Template("time", "intensity", "{u}", "Interquartile range of {what}: the spread of its middle half, robust to spikes.", "sustained large variation", "little sustained variation"),
    "skewness": _Template("time", "shape", "", "Skewness of {what}: asymmetry of its distribution (0 = symmetric; 0 for a constant signal).", "brief high peaks over a lower baseline (e.g. impacts)", "brief dips below a higher baseline"),
    "kurtosis": _Template("time", "shape", "", "Excess kurtosis of {what} (0 for a Gaussian or constant signal): how peaky and heavy-tailed it is.", "rare sharp spikes dominate", "smooth, evenly spread values (e.g. a sine gives -1.5)"),
    "zero_crossing_rate": _Template("time", "rhythm", "1/s", "How often per second {what} changes sign.", "fast oscillation through zero", "the signal stays on one side of zero"),
    "mean_crossing_rate": _Template("time", "rhythm", "1/s", "How often per second {what} crosses its own average.", "fast or noisy oscillation", "slow changes"),
    "slope": _Template("time", "trend", "{u}/s", "Linear trend of {what} over the window (least-squares slope).", "rising through the window", "falling through the window"),
    "jerk_rms": _Template("jerk", "smoothness", "{u}/s", "Root mean square of the rate of change of {what}.", "abrupt, jerky movement", "smooth or no movement"),
    "jerk_peak": _Template("jerk", "smoothness", "{u}/s", "Largest absolute rate of change of {what} (sharpest impact or turn).", "at least one sharp impact or jolt", "no sharp events"),
    "dominant_freq": _Template("spectral", "rhythm", "Hz", "Frequency carrying the most power in {what} (0–{cap} Hz; 0 for a constant signal).", "a fast dominant rhythm", "a slow rhythm or drift"),
    "dominant_power": _Template("spectral", "regularity", "fraction", "Share of {what}'s power within ±0.25 Hz of its dominant frequency.", "one clear rhythm dominates", "power spread over many frequencies"),
    "second_freq": _Template("spectral", "rhythm", "Hz", "Frequency of the second-highest spectral peak of {what} (0 if none).", "a fast secondary rhythm (often a harmonic)", "a slow secondary rhythm, or none"),
    "second_power": _Template("spectral", "regularity", "fraction", "Share of {what}'s power within ±0.25 Hz of its second peak.", "a strong secondary rhythm", "a weak or absent secondary rhythm"),
    "spectral_centroid": _Template("spectral", "rhythm", "Hz", "Power-weighted mean frequency of {what}.", "power at fast frequencies", "power at slow frequencies"),
    "spectral_entropy": _Template("spectral", "regularity", "0-1", "Normalised entropy of {what}'s spectrum (1 = flat like noise, 0 = one pure tone or no variation).", "noise-like, irregular signal", "a clean rhythm"),
    "band_low_power": _Template("spectral", "intensity", "({u})^2", "Power (variance) of {what} between 0 and {e1} Hz: slow posture and drift changes.", "large slow changes", "few slow changes"),
    "band_mid_power": _Template("spectral", "intensity", "({u})^2", "Power (variance) of {what} between {e1} and {e2} Hz: the range of most human movement rhythms.", "vigorous rhythmic movement", "little rhythmic movement"),
    "band_high_power": _Template("spectral", "intensity", "({u})^2", "Power (variance) of {what} between {e2} and {cap} Hz: impacts, vibration and tremor.", "impacts or vibration", "no fast components"),
    "band_low_ratio": _Template("spectral", "rhythm", "fraction", "Share of {what}'s power below {e1} Hz.", "mostly slow change", "little slow change"),
    "band_mid_ratio": _Template("spectral", "rhythm", "fraction", "Share of {what}'s power between {e1} and {e2} Hz.", "mostly movement-rate rhythm", "power lies elsewhere"),
    "band_high_ratio": _Template("spectral", "rhythm", "fraction", "Share of {what}'s power above {e2} Hz.", "mostly fast components (impacts, vibration)", "few fast components"),
    "acf_peak_lag": _Template("autocorr", "rhythm", "s", "Period (lag) of the repetition of {what}: the first autocorrelation peak within half the window that reaches 90% of the strongest (0 if none); a step or a full stride.", "a slow repetition", "a fast repetition"),
    "acf_peak_height": _Template("autocorr", "regularity", "-1..1", "Autocorrelation of {what} at that lag: how exactly the movement repeats (0 if no repetition).", "a very regular, repeating movement", "irregular movement or stillness"),
}

_PLACE_WORDS = {
    "torso": "torso", "waist": "waist", "wrist": "wrist", "wrist_right": "right wrist", "wrist_left": "left wrist",
    "upper_arm": "upper arm", "upper_arm_right": "right upper arm", "upper_arm_left": "left upper arm",
    "thigh": "thigh", "thigh_right": "right thigh", "thigh_left": "left thigh", "ankle": "ankle",
    "ankle_right": "right ankle", "ankle_left": "left ankle", "foot": "foot", "pocket": "pocket", "head": "head",
}  # fmt: skip


def place(placement: str) -> str:
    return _PLACE_WORDS.get(placement, placement.replace("_", " "))


def _signal_words(placement: str, sensor: str, channel: str) -> str:
    where = f"the {place(placement)} sensor"
    if sensor == "acc":
        if channel == "mag":
            return f"the acceleration magnitude at the {place(placement)} (all axes, gravity included)"
        return f"the acceleration along {where}'s {channel} axis (gravity included)"
    if channel == "mag":
        return f"the total rotation speed at the {place(placement)}"
    return f"the rotation speed around {where}'s {channel} axis"


def parse_name(name: str) -> tuple[str, str, str, str]:
    """(placement, sensor, channel, feature) of a feature name, or a KnowledgeBaseError."""
    parts = name.split(".")
    if len(parts) != 4:
        raise KnowledgeBaseError(f"feature name {name!r} is not placement.sensor.channel.feature", fix="see knowledge_base.features")
    return parts[0], parts[1], parts[2], parts[3]


def glossary_entry(name: str, config: FeatureConfig, rate: float) -> GlossaryEntry:
    """The glossary entry of one feature name."""
    placement, sensor, channel, feature = parse_name(name)
    fields = dict(name=name, placement=placement, sensor=sensor, channel=channel, feature=feature)
    if feature in _STATS:
        return GlossaryEntry(**fields, **_per_signal(placement, sensor, channel, feature, config, rate))
    if feature == "corr" and "~" in placement:
        first, second = placement.split("~")
        what = "acceleration magnitudes" if sensor == "acc" else "rotation speeds"
        return GlossaryEntry(
            **fields, family="placement_corr", aspect="coordination", unit="-1..1",
            definition=f"Correlation between the {what} at the {place(first)} and the {place(second)} over the window.",
            high_means="the two body parts move together (in phase)", low_means="independent or opposite movement",
        )  # fmt: skip
    if feature == "corr":
        return GlossaryEntry(
            **fields, family="axis_corr", aspect="coordination", unit="-1..1",
            definition=f"Correlation between the {channel[0]} and {channel[1]} axes of the {place(placement)} "
            f"{'accelerometer' if sensor == 'acc' else 'gyroscope'} (0 if either is constant).",
            high_means="movement along one fixed direction across both axes", low_means="unrelated or opposed axes",
        )  # fmt: skip
    if feature == "intensity_ratio":
        return GlossaryEntry(
            **fields, family="intensity_ratio", aspect="intensity", unit="(m/s^2)/(rad/s)",
            definition=f"Variability of the {place(placement)} acceleration magnitude divided by its RMS rotation "
            "speed (each floored at 0.05 to ignore sensor noise).",
            high_means="translation (bouncing, impacts) dominates over turning", low_means="turning or swinging dominates",
        )  # fmt: skip
    if feature == "angle" and channel.startswith("gravity_"):
        axis = channel.split("_", 1)[1]
        return GlossaryEntry(
            **fields, family="gravity", aspect="posture", unit="deg",
            definition=f"Angle between the {place(placement)} sensor's {axis} axis and the average low-passed "
            f"acceleration (below {config.gravity_cutoff_hz:g} Hz), i.e. the upward direction: the sensor's posture.",
            high_means=f"the {axis} axis points downward (180 = straight down)", low_means=f"the {axis} axis points upward (0 = straight up)",
        )  # fmt: skip
    if feature == "tilt_std" and channel == "gravity":
        return GlossaryEntry(
            **fields, family="gravity", aspect="posture", unit="deg",
            definition=f"RMS angle between the momentary low-passed acceleration at the {place(placement)} and its "
            "window average: how much the body part's orientation changes within the window.",
            high_means="the posture changes (bending, swinging the trunk, getting up)", low_means="a steady posture",
        )  # fmt: skip
    raise KnowledgeBaseError(f"no glossary entry for feature {name!r}", fix="the name was not produced by FeatureExtractor")


def _per_signal(placement: str, sensor: str, channel: str, feature: str, config: FeatureConfig, rate: float) -> dict:
    template = _STATS[feature]
    unit_symbol = {"acc": "m/s^2", "gyro": "rad/s"}.get(sensor, "")
    cap = min(config.max_frequency_hz, rate / 2)
    text = dict(what=_signal_words(placement, sensor, channel), e1=f"{config.band_edges_hz[0]:g}",
                e2=f"{config.band_edges_hz[1]:g}", cap=f"{cap:g}")  # fmt: skip
    aspect = template.aspect
    high, low = template.high, template.low
    if sensor == "acc" and channel != "mag" and feature in ("mean", "median"):
        aspect = "posture"
        high = f"the {channel} axis points more upward (gravity reads positive on it)"
        low = f"the {channel} axis points more downward"
    elif sensor == "acc" and channel != "mag" and feature in GRAVITY_DOMINATED:
        aspect = "posture"  # at rest; a pair ranking says whether movement dominates for that pair
        high = f"the {channel} axis points more upward, or strong movement along it"
        low = f"the {channel} axis points more downward, or strong movement against it"
    return dict(
        family=template.family, aspect=aspect,
        unit=template.unit.replace("{u}", unit_symbol) if template.unit else "",
        definition=template.definition.format(**text), high_means=high, low_means=low,
    )  # fmt: skip
