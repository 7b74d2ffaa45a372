"""Recording model, channels, windows, resampling, gap repair, vocabulary and the PAMAP2 format."""

from __future__ import annotations

import re

import numpy as np
import pytest

from recordings.channels import Channel, canonical_placement, channels_of, motion_channels, placement_family
from recordings.errors import RecordingError
from recordings.readers.pamap2 import read_pamap2_file
from recordings.recording import UNLABELLED, Recording, RecordingMeta
from recordings.signal import repair_gaps, resample
from recordings.vocabulary import load_vocabulary
from recordings.windows import concat_windows, make_windows

UNITS = {"acc": "m/s^2", "gyro": "rad/s"}


def _recording(samples, rate=10.0, labels=None, activities=(), channels=None):
    channels = channels or motion_channels("wrist")[: samples.shape[1]]
    meta = RecordingMeta(id="r", sampling_rate_hz=rate, channels=channels, units=UNITS, activities=list(activities))
    return Recording(meta, samples, labels=labels)


@pytest.mark.parametrize("text, expected", [("Chest", "torso"), ("hip", "waist"), ("Right Arm", "upper_arm_right"), ("shin", "ankle"), ("upper_arm_left", "upper_arm_left")])
def test_placement_synonyms(text, expected):
    assert canonical_placement(text) == expected


def test_unknown_placement_and_bad_channel_names_are_typed_errors():
    with pytest.raises(RecordingError, match="unknown body placement"):
        canonical_placement("elbow pit")
    with pytest.raises(RecordingError, match="placement.sensor.axis"):
        Channel.parse("torso-acc-x")
    assert placement_family("thigh_left") == "thigh"


def test_channels_of_some_placements_keep_the_given_channel_order():
    channels = [*motion_channels("wrist"), *motion_channels("torso"), *motion_channels("thigh")]
    assert channels_of(channels, ("thigh", "wrist")) == [*motion_channels("wrist"), *motion_channels("thigh")]
    assert channels_of(channels, ["ankle"]) == []


def test_recording_refuses_wrong_units_shapes_and_time():
    meta = RecordingMeta(id="r", sampling_rate_hz=10, channels=["wrist.acc.x"], units={"acc": "g"})
    with pytest.raises(RecordingError, match="canonical"):
        Recording(meta, np.zeros((5, 1)))
    good = RecordingMeta(id="r", sampling_rate_hz=10, channels=["wrist.acc.x"], units=UNITS)
    with pytest.raises(RecordingError, match="expected"):
        Recording(good, np.zeros((5, 2)))
    with pytest.raises(RecordingError, match="increasing"):
        Recording(good, np.zeros((3, 1)), times_s=np.array([0.0, 0.2, 0.1]))


def test_windows_majority_label_and_purity():
    labels = np.array([0] * 8 + [1] * 12, dtype=np.int16)
    rec = _recording(np.arange(60, dtype=np.float32).reshape(20, 3), labels=labels, activities=("sit", "walk"))
    win = make_windows(rec, window_s=1.0, stride_s=0.5, min_purity=0.8)
    assert win.data.shape == (3, 3, 10)
    np.testing.assert_array_equal(win.data[1, 0], np.arange(15, 45, 3))  # channel-first, stride 5 samples
    np.testing.assert_allclose(win.purity, [0.8, 0.7, 1.0])
    np.testing.assert_array_equal(win.labels, [0, UNLABELLED, 1])
    np.testing.assert_allclose(win.start_s, [0.0, 0.5, 1.0])


def test_windows_relabel_and_concat_onto_a_shared_vocabulary():
    a = make_windows(_recording(np.zeros((20, 3)), labels=np.zeros(20), activities=("walk",)), 1.0)
    b = make_windows(_recording(np.zeros((20, 3)), labels=np.zeros(20), activities=("run",)), 1.0)
    both = concat_windows([a, b], activities=("run", "walk"))
    assert list(both.label_names) == ["walk", "walk", "run", "run"]


def test_resample_keeps_a_sine_and_removes_aliasing_content():
    rate, n = 100.0, 2000
    t = np.arange(n) / rate
    slow, fast = np.sin(2 * np.pi * 2 * t), np.sin(2 * np.pi * 40 * t)  # 40 Hz is above the new Nyquist
    rec = _recording(np.column_stack([slow, fast, slow]).astype(np.float32), rate=rate)
    out = resample(rec, 25.0)
    assert out.meta.sampling_rate_hz == 25.0 and out.n_samples == 500
    inner = slice(50, -50)
    np.testing.assert_allclose(out.samples[inner, 0], np.sin(2 * np.pi * 2 * out.times_s[inner]), atol=0.02)
    assert np.abs(out.samples[inner, 1]).max() < 0.05
    assert "polyphase" in out.meta.conversions[-1]


def test_resample_refuses_gaps_and_absurd_rates():
    samples = np.ones((50, 3), dtype=np.float32)
    samples[10, 0] = np.nan
    with pytest.raises(RecordingError, match="repair_gaps"):
        resample(_recording(samples), 5.0)
    with pytest.raises(RecordingError, match="plausible"):
        resample(_recording(np.ones((50, 3))), 1e6)


def test_repair_gaps_splits_on_time_jumps():
    times = np.concatenate([np.arange(30) / 10, 100 + np.arange(30) / 10])
    meta = RecordingMeta(id="r", sampling_rate_hz=10, channels=motion_channels("wrist")[:3], units=UNITS)
    pieces = repair_gaps(Recording(meta, np.ones((60, 3)), times_s=times))
    assert [p.n_samples for p in pieces] == [30, 30]
    assert pieces[1].times_s[0] == pytest.approx(100.0)
    assert pieces[0].meta.gaps[0].action == "split"


def test_bundled_vocabulary_maps_every_dataset_label():
    vocabulary = load_vocabulary()
    assert len(vocabulary.dataset_labels("dsads")) == 19
    assert len(vocabulary.dataset_labels("hapt")) == 12
    assert len(vocabulary.dataset_labels("pamap2")) == 18
    assert vocabulary.for_dataset_label("dsads", "a03").name == "lying_on_back"
    assert vocabulary["lying_on_back"].attributes.torso == "horizontal"
    for activity in vocabulary.activities:
        sentences = re.findall(r"[.!?](?:\s|$)", activity.description)
        assert 1 <= len(sentences) <= 3, activity.name


def test_user_vocabulary_extends_without_code(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        "activities:\n  - name: tooth_brushing\n    display: brushing teeth\n"
        "    description: Standing still while one wrist oscillates quickly side to side near the face.\n"
        "    attributes: {torso: upright, periodic: true, cadence_hz: [3.0, 5.0], moving_parts: [arms]}\n"
    )
    vocabulary = load_vocabulary(extra)
    assert vocabulary["brushing teeth"].name == "tooth_brushing"
    assert "sitting" in vocabulary


def test_bad_user_vocabulary_is_a_typed_error_naming_the_field(tmp_path):
    extra = tmp_path / "bad.yaml"
    extra.write_text("activities:\n  - name: Bad Name\n    display: x\n    description: too short\n")
    with pytest.raises(RecordingError, match="activities.0.name") as info:
        load_vocabulary(extra)
    assert info.value.path == str(extra)
    broken = tmp_path / "broken.yaml"
    broken.write_text("activities: [\n")
    with pytest.raises(RecordingError, match="YAML"):
        load_vocabulary(broken)


def test_pamap2_file_heart_rate_nan_runs_and_transients(tmp_path):
    n = 3000  # 30 s at 100 Hz
    rng = np.random.default_rng(0)
    table = rng.normal(size=(n, 54))
    table[:, 0] = 5.0 + np.arange(n) / 100.0
    table[:, 1] = np.where(np.arange(n) < 1000, 0, 4)  # 10 s transient, then walking
    table[:, 2] = np.nan
    table[::11, 2] = 120.0
    table[1500:1520, 3:20] = np.nan  # 0.2 s hand dropout: interpolated
    table[2000:2200, 37:54] = np.nan  # 2 s ankle dropout: split
    path = tmp_path / "subject108.dat"
    np.savetxt(path, table, fmt="%.6f")
    vocabulary = load_vocabulary()
    rec = read_pamap2_file(path, vocabulary.dataset_labels("pamap2"))
    assert rec.meta.subject == "pamap2-108"
    assert rec.meta.channels[-1] == "torso.hr.value"
    assert (rec.labels[:1000] == UNLABELLED).all()
    assert rec.meta.activities[rec.labels[2500]] == "walking"
    pieces = repair_gaps(rec)
    assert len(pieces) == 2
    assert all(np.isfinite(p.samples).all() for p in pieces)
    assert np.all(pieces[0].samples[:, -1] == 120.0)  # heart rate held between readings
    assert sorted(g.action for g in pieces[0].meta.gaps) == ["interpolated", "split"]
