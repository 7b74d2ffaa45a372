"""Feature extraction on synthetic signals whose true values are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from knowledge_base import FAMILIES, FeatureExtractor, KnowledgeBaseError
from knowledge_base.glossary import parse_name

RATE = 25.0
T = 125
TORSO = ("torso.acc.x", "torso.acc.y", "torso.acc.z", "torso.gyro.x", "torso.gyro.y", "torso.gyro.z")
DSADS_LIKE = tuple(
    f"{p}.{s}.{a}" for p in ("torso", "wrist_right", "wrist_left", "thigh_right", "thigh_left")
    for s in ("acc", "gyro") for a in "xyz"
)  # fmt: skip


def features_of(data: np.ndarray, channels=TORSO, rate=RATE, **params) -> dict[str, np.ndarray]:
    extractor = FeatureExtractor(show_progress=False, **params).fit(data, channels=channels, sampling_rate_hz=rate)
    values = extractor.transform(data)
    return {name: values[:, i] for i, name in enumerate(extractor.feature_names_)}


def still_torso(n: int = 1, gravity=(9.81, 0.0, 0.0), n_time: int = T) -> np.ndarray:
    data = np.zeros((n, 6, n_time), np.float32)
    data[:, :3, :] = np.asarray(gravity, np.float32)[None, :, None]
    return data


def sine(frequency: float, amplitude: float = 1.0, rate: float = RATE, n_time: int = T, phase: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(n_time) / rate + phase)).astype(np.float32)


def test_two_hertz_sine_gives_its_frequency_period_and_regularity():
    data = still_torso()
    data[0, 0] += sine(2.0, amplitude=3.0)
    f = features_of(data)
    assert f["torso.acc.x.dominant_freq"][0] == pytest.approx(2.0, abs=0.03)
    assert f["torso.acc.x.acf_peak_lag"][0] == pytest.approx(0.5, abs=0.02)
    assert f["torso.acc.x.acf_peak_height"][0] > 0.95
    assert f["torso.acc.x.band_mid_ratio"][0] > 0.95  # 2 Hz lies in the 0.5–3 Hz band
    assert f["torso.acc.x.std"][0] == pytest.approx(3.0 / np.sqrt(2), rel=0.02)
    assert f["torso.acc.x.mean"][0] == pytest.approx(9.81, abs=0.05)
    assert f["torso.acc.x.mean_crossing_rate"][0] == pytest.approx(4.0, abs=0.25)  # two crossings per cycle
    assert f["torso.acc.x.kurtosis"][0] == pytest.approx(-1.5, abs=0.1)
    assert f["torso.acc.x.spectral_entropy"][0] < 0.35
    assert f["torso.acc.x.dominant_power"][0] > 0.8
    # the band powers add up to the variance
    bands = sum(f[f"torso.acc.x.band_{b}_power"][0] for b in ("low", "mid", "high"))
    assert bands == pytest.approx(f["torso.acc.x.std"][0] ** 2, rel=0.05)


@pytest.mark.parametrize("frequency", [0.6, 1.3, 2.7, 4.1])
def test_dominant_frequency_follows_the_sine(frequency):
    data = still_torso()
    data[0, 3] = sine(frequency)
    assert features_of(data)["torso.gyro.x.dominant_freq"][0] == pytest.approx(frequency, abs=0.05)


def test_second_peak_finds_the_weaker_tone():
    data = still_torso()
    data[0, 4] = sine(1.0, 2.0) + sine(3.0, 1.0)
    f = features_of(data)
    assert f["torso.gyro.y.dominant_freq"][0] == pytest.approx(1.0, abs=0.05)
    assert f["torso.gyro.y.second_freq"][0] == pytest.approx(3.0, abs=0.05)
    assert f["torso.gyro.y.dominant_power"][0] > f["torso.gyro.y.second_power"][0] > 0.1


def test_welch_segments_keep_the_dominant_frequency():
    data = still_torso()
    data[0, 0] += sine(2.0)
    f = features_of(data, spectrum_segment_s=2.0)
    assert f["torso.acc.x.dominant_freq"][0] == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(
    "gravity, angles",
    [
        ((9.81, 0.0, 0.0), (0.0, 90.0, 90.0)),
        ((0.0, 0.0, -9.81), (90.0, 90.0, 180.0)),
        ((9.81 * np.cos(np.radians(30)), 0.0, 9.81 * np.sin(np.radians(30))), (30.0, 90.0, 60.0)),
    ],
)
def test_gravity_angles_follow_a_known_direction(gravity, angles):
    f = features_of(still_torso(gravity=gravity))
    measured = [f[f"torso.acc.gravity_{axis}.angle"][0] for axis in "xyz"]
    assert measured == pytest.approx(angles, abs=0.1)
    assert f["torso.acc.gravity.tilt_std"][0] == pytest.approx(0.0, abs=0.01)


def test_tilt_std_grows_when_the_posture_swings():
    data = still_torso(gravity=(0.0, 0.0, 0.0))
    angle = np.radians(30) * np.sin(2 * np.pi * 0.25 * np.arange(T) / RATE)  # slow ±30° swing
    data[0, 0], data[0, 2] = 9.81 * np.cos(angle), 9.81 * np.sin(angle)
    assert features_of(data)["torso.acc.gravity.tilt_std"][0] > 10.0


def test_constant_input_gives_finite_defined_values():
    f = features_of(still_torso(n=2))
    assert all(np.isfinite(v).all() for v in f.values())
    for name in ("torso.gyro.x.std", "torso.gyro.x.skewness", "torso.gyro.x.kurtosis", "torso.gyro.x.dominant_freq",
                 "torso.gyro.x.spectral_entropy", "torso.gyro.x.acf_peak_height", "torso.gyro.xy.corr",
                 "torso.acc.xy.corr", "torso.acc.x.jerk_rms"):  # fmt: skip
        assert f[name][0] == 0.0, name
    assert f["torso.accgyro.mag.intensity_ratio"][0] == pytest.approx(1.0, rel=1e-3)  # both at their noise floors


def test_correlations_are_plus_and_minus_one_for_identical_and_mirrored_axes():
    data = still_torso()
    data[0, 3] = sine(1.0)
    data[0, 4] = sine(1.0)
    data[0, 5] = -sine(1.0)
    f = features_of(data)
    assert f["torso.gyro.xy.corr"][0] == pytest.approx(1.0, abs=1e-5)
    assert f["torso.gyro.xz.corr"][0] == pytest.approx(-1.0, abs=1e-5)


def test_ramp_gives_its_slope_and_jerk():
    data = still_torso()
    data[0, 3] = 0.4 * np.arange(T) / RATE  # 0.4 rad/s per second
    f = features_of(data)
    assert f["torso.gyro.x.slope"][0] == pytest.approx(0.4, rel=1e-3)
    assert f["torso.gyro.x.jerk_rms"][0] == pytest.approx(0.4, rel=1e-3)


def test_names_are_unique_parseable_documented_and_deterministic():
    extractor = FeatureExtractor().fit(np.zeros((1, 30, T), np.float32), channels=DSADS_LIKE, sampling_rate_hz=RATE)
    names = extractor.feature_names_
    assert len(names) == len(set(names)) > 1000
    glossary = extractor.glossary()
    assert [entry.name for entry in glossary] == names
    for entry in glossary:
        assert parse_name(entry.name) == (entry.placement, entry.sensor, entry.channel, entry.feature)
        assert entry.definition and entry.high_means and entry.low_means
    again = FeatureExtractor().fit(np.zeros((1, 30, T), np.float32), channels=DSADS_LIKE, sampling_rate_hz=RATE)
    assert again.feature_names_ == names
    assert "torso~wrist_right.acc.mag.corr" in names and "thigh_left.accgyro.mag.intensity_ratio" in names


def test_families_can_be_switched_off():
    full = FeatureExtractor().fit(np.zeros((1, 6, T), np.float32), channels=TORSO, sampling_rate_hz=RATE)
    no_spectral = FeatureExtractor(families=tuple(f for f in FAMILIES if f != "spectral")).fit(
        np.zeros((1, 6, T), np.float32), channels=TORSO, sampling_rate_hz=RATE
    )
    assert not any(n.endswith(".dominant_freq") for n in no_spectral.feature_names_)
    assert len(full.feature_names_) - len(no_spectral.feature_names_) == 8 * 12  # 8 signals x 12 spectral stats
    only_gravity = features_of(still_torso(), families=("gravity",))
    assert sorted(only_gravity) == sorted([f"torso.acc.gravity_{a}.angle" for a in "xyz"] + ["torso.acc.gravity.tilt_std"])
    with pytest.raises(KnowledgeBaseError, match="unknown feature families"):
        FeatureExtractor(families=("time", "wavelets")).fit(np.zeros((1, 6, T)), channels=TORSO, sampling_rate_hz=RATE)


def test_any_placement_set_rate_and_length_works():
    waist = tuple(c.replace("torso", "waist") for c in TORSO)
    data = still_torso(n=3, n_time=128)
    data[:, 0] += sine(1.8, rate=50.0, n_time=128)
    f = features_of(data, channels=waist, rate=50.0)
    assert f["waist.acc.x.dominant_freq"][0] == pytest.approx(1.8, abs=0.1)
    wrist_acc_only = ("wrist.acc.x", "wrist.acc.y", "wrist.acc.z")
    g = features_of(np.random.default_rng(0).normal(size=(2, 3, 80)).astype(np.float32), channels=wrist_acc_only, rate=20.0)
    assert "wrist.acc.mag.std" in g and not any(".gyro." in n or "accgyro" in n for n in g)
    single_axis = features_of(np.ones((1, 1, 50), np.float32), channels=("thigh.gyro.z",), rate=10.0)
    assert "thigh.gyro.z.mean" in single_axis and not any(".mag." in n for n in single_axis)


def test_chunking_and_threads_do_not_change_values():
    data = np.random.default_rng(1).normal(size=(37, 30, T)).astype(np.float32)
    reference = FeatureExtractor(chunk_size=1000, n_jobs=1).fit(data, channels=DSADS_LIKE, sampling_rate_hz=RATE)
    chunked = FeatureExtractor(chunk_size=5, n_jobs=2).fit(data, channels=DSADS_LIKE, sampling_rate_hz=RATE)
    np.testing.assert_allclose(chunked.transform(data), reference.transform(data), rtol=1e-5, atol=1e-5)


def test_bad_input_is_refused_with_a_clear_message():
    extractor = FeatureExtractor().fit(still_torso(), channels=TORSO, sampling_rate_hz=RATE)
    broken = still_torso(n=3)
    broken[1, 2, 10] = np.nan
    with pytest.raises(KnowledgeBaseError, match=r"windows \[1\] contain NaN"):
        extractor.transform(broken)
    with pytest.raises(KnowledgeBaseError, match="does not match"):
        extractor.transform(np.zeros((2, 5, T), np.float32))
    with pytest.raises(KnowledgeBaseError, match="not fitted"):
        FeatureExtractor().transform(still_torso())
    with pytest.raises(KnowledgeBaseError, match="no accelerometer or gyroscope"):
        FeatureExtractor().fit(np.zeros((1, 1, T)), channels=("torso.hr.value",), sampling_rate_hz=RATE)
    with pytest.raises(KnowledgeBaseError, match="channel names and sampling rate"):
        FeatureExtractor().fit(still_torso())


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float32, (3, 6, 50), elements=st.floats(-200, 200, width=32)),
    st.sampled_from([0, 1, 2]),
)
def test_features_are_always_finite(data, constant_row):
    data = data.copy()
    data[constant_row] = data[constant_row, :, :1]  # one window of constant channels
    values = FeatureExtractor().fit(data, channels=TORSO, sampling_rate_hz=RATE).transform(data)
    assert np.isfinite(values).all()
