"""The explanation verifier and the timeline (pure logic)."""

from __future__ import annotations

import numpy as np

from agent.evidence import EvidenceRow, EvidenceTable
from agent.timeline import durations, segment_windows
from agent.verifier import verify

NAMES = {"running on a treadmill": "running_treadmill", "running_treadmill": "running_treadmill",
         "walking on a treadmill": "walking_treadmill_flat", "walking": "walking", "sitting": "sitting"}  # fmt: skip


def _table():
    return EvidenceTable(
        candidates=["running_treadmill", "walking_treadmill_flat"],
        probabilities={"running_treadmill": 0.81, "walking_treadmill_flat": 0.19},
        rows=[
            EvidenceRow(
                id="E1", kind="feature", activity="running_treadmill|walking_treadmill_flat",
                feature="torso.acc.mag.dominant_freq", feature_label="torso step frequency", unit="Hz", value=2.71,
                reference={"running_treadmill": 2.68, "walking_treadmill_flat": 1.83}, percentile=55.0,
                statement="torso step frequency 2.71 Hz; running 2.68, walking 1.83",
            )  # fmt: skip
        ],
    )


def test_faithful_text_passes():
    text = "The torso step frequency of 2.71 Hz (E1) matches running on a treadmill (median 2.68 Hz) rather than walking on a treadmill (1.83 Hz); probability 81%."
    report = verify(text, _table(), NAMES, also_allowed={"walking"})
    assert report.passed, report.failures


def test_invented_number_feature_row_and_activity_fail():
    text = "Cadence was 3.4 Hz (E7) in torso.acc.x.kurtosis, unlike sitting."
    report = verify(text, _table(), NAMES)
    kinds = sorted(f.kind for f in report.failures)
    assert kinds == ["activity", "feature", "number", "row"]
    assert "3.4" in report.feedback()


def test_rounding_is_tolerated_but_not_drift():
    assert verify("about 2.7 Hz", _table(), NAMES).passed
    assert not verify("about 2.9 Hz", _table(), NAMES).passed


def test_segments_merge_runs_and_clip_overlaps():
    labels = ["sit", "sit", "walk", "walk", "walk", "sit"]
    conf = np.array([0.9, 0.7, 0.8, 0.8, 0.5, 0.6])
    starts = np.arange(6) * 2.5
    segments = segment_windows(labels, conf, starts, window_s=5.0)
    assert [(s.activity, s.n_windows) for s in segments] == [("sit", 2), ("walk", 3), ("sit", 1)]
    assert segments[0].end_s == 5.0 and segments[1].start_s == 5.0 and segments[-1].end_s == 17.5
    assert segments[0].confidence == np.float64(0.8).item()
    assert list(durations(segments).items()) == [("sit", 10.0), ("walk", 7.5)]


def test_segments_do_not_cross_recording_pieces():
    segments = segment_windows(["a", "a"], np.ones(2), np.array([0.0, 100.0]), 5.0, np.array(["p1", "p2"]))
    assert len(segments) == 2
