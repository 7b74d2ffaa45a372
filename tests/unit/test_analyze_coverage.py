"""What `harlens analyze` tells a reviewer about the data it could not use."""

from __future__ import annotations

import numpy as np
import pytest

from harlens.analyze_commands import Coverage, _union_seconds
from recordings.recording import Gap


def _coverage(**changes) -> Coverage:
    base = dict(recording_s=600.0, analysed_s=600.0, placements_used=["torso", "thigh_left"], placements_missing=[],
                channels_missing=[], gaps=[])  # fmt: skip
    return Coverage(**(base | changes))


def test_a_complete_file_has_no_warnings():
    assert _coverage().warnings() == []


def test_missing_placements_name_both_sides_and_the_consequence():
    (warning,) = _coverage(placements_missing=["wrist_left"], channels_missing=["wrist_left.acc.x"]).warnings()
    assert "built with 3 placements" in warning and "has torso, thigh_left and lacks wrist_left" in warning
    assert "expect lower accuracy" in warning
    _, suggestion = _coverage(placements_missing=["wrist_left"], protocol="dsads-xsub").warnings()
    assert "`harlens build --protocol dsads-xsub --placements torso --placements thigh_left --out NEW_FOLDER`" in suggestion


def test_missing_channels_of_present_placements_are_named():
    (warning,) = _coverage(channels_missing=[f"torso.gyro.{a}" for a in "xyz"]).warnings()
    assert "lacks 3 of the pack's channels (torso.gyro.x, torso.gyro.y, torso.gyro.z)" in warning


def test_placements_the_pack_does_not_know_are_said_to_be_unused():
    (warning,) = _coverage(placements_ignored=["ankle_left"]).warnings()
    assert warning == "The file's ankle_left signals are not used: the pack was not built with that placement."


def test_gaps_say_where_how_long_and_what_was_done():
    gaps = [Gap(start_s=125.0, duration_s=16.0, action="split"), Gap(start_s=300.0, duration_s=0.2, action="interpolated")]
    warnings = _coverage(gaps=gaps, analysed_s=580.0).warnings()
    assert warnings[0] == "1 gap(s) without valid samples, not analysed: 0:02:05 (16.0 s)."
    assert warnings[1] == "1 short gap(s), 0.2 s in all, were interpolated."
    assert warnings[2].startswith("9.7 of the recording's 10.0 minutes lie in analysed windows")


@pytest.mark.parametrize(("starts", "length", "expected"), [
    ([0, 5, 10], 5.0, 15.0),  # back to back
    ([0, 2.5, 5], 5.0, 10.0),  # half overlapping
    ([10, 0], 5.0, 10.0),  # apart, unsorted
    ([], 5.0, 0.0),
])  # fmt: skip
def test_union_seconds_counts_overlaps_once(starts, length, expected):
    assert _union_seconds(np.array(starts, dtype=float), length) == pytest.approx(expected)


@pytest.mark.parametrize(("rows", "expected"), [
    ("0,0,0,9.8\n0.02,0,0,9.8\n", "2 samples over 0.02 s, and a window is 5 s"),  # no piece at all
    ("".join(f"{i / 50:.2f},0,0,9.8\n" for i in range(100)), "shorter than one 5-s window"),  # 2 s: a piece, no window
])  # fmt: skip
def test_a_file_too_short_for_one_window_is_refused_with_its_length(tmp_path, rows, expected):
    """The pack needs only its rate, window, stride and channels to decide this (a stand-in for pure logic)."""
    from types import SimpleNamespace

    from harlens.analyze_commands import prepare
    from recordings.errors import RecordingError
    from recordings.readers.table import TableOptions

    path = tmp_path / "short.csv"
    path.write_text("timestamp,ax,ay,az\n" + rows)
    pack = SimpleNamespace(sampling_rate_hz=25.0, window_s=5.0, stride_s=5.0, channels=["wrist.acc.x", "wrist.acc.y", "wrist.acc.z"])
    with pytest.raises(RecordingError, match=expected):
        prepare(path, pack, options=TableOptions(placement="wrist"))


@pytest.mark.parametrize(("t0", "t1", "first", "step", "count"), [
    (0.0, 1800.0, 0.0, 300.0, 7),  # half an hour: every 5 minutes
    (0.0, 86400.0, 0.0, 10800.0, 9),  # a day: every 3 hours
    (12.0, 47.0, 20.0, 10.0, 3),  # starting off a round time: ticks stay round
])  # fmt: skip
def test_plot_ticks_are_round_clock_times_at_most_ten(t0, t1, first, step, count):
    from harlens.analyze_commands import time_ticks

    ticks = time_ticks(t0, t1)
    assert ticks[0] == first and len(ticks) == count and len(ticks) <= 10
    assert np.allclose(np.diff(ticks), step) and t0 <= ticks[0] and ticks[-1] <= t1


def test_plot_caption_says_whose_signal_and_what_the_height_spans():
    from harlens.analyze_commands import PreparedRecording, plot_caption

    signal = np.linspace(9.0, 11.0, 101)
    prepared = PreparedRecording(windows=None, breaks=np.zeros(0), recording_id="x", signal=signal,
                                 signal_times=np.arange(101.0), coverage=_coverage(), signal_placement="wrist_left")  # fmt: skip
    caption = plot_caption(prepared)
    assert "acceleration magnitude at the wrist left" in caption and "9.0 to 11.0 m/s²" in caption
    from harlens.analyze_commands import plot_range

    assert plot_range(np.full(50, 9.8)) == pytest.approx((8.8, 10.8))  # a still sensor is drawn flat, not its noise
    empty = PreparedRecording(windows=None, breaks=np.zeros(0), recording_id="x", signal=np.zeros(0),
                              signal_times=np.zeros(0), coverage=_coverage())  # fmt: skip
    assert plot_caption(empty).startswith("No accelerometer to draw.")


def test_the_report_defines_each_cited_feature_once_in_first_cited_order():
    from types import SimpleNamespace

    from agent.evidence import EvidenceRow, EvidenceTable
    from harlens.analyze_commands import cited_features

    def row(i, feature, label="", kind="feature"):
        return EvidenceRow(id=f"E{i}", kind=kind, activity="sitting|standing", feature=feature, feature_label=label,
                           unit="m/s^2", value=1.0, statement=f"{feature} = 1")  # fmt: skip

    tables = {0: [row(1, "torso.acc.x.min", "Smallest torso x"), row(2, "thigh_left.acc.mag.std", "Spread")],
              1: [row(1, "thigh_left.acc.mag.std", "Spread"), row(2, None, kind="score")], 2: None}  # fmt: skip
    explanations = {i: rows and SimpleNamespace(evidence=EvidenceTable(candidates=["sitting"], rows=rows))
                    for i, rows in tables.items()}  # fmt: skip
    analysis = SimpleNamespace(segments=[SimpleNamespace(index=i) for i in tables], explanation_for=explanations.get)
    assert cited_features(analysis) == [("torso.acc.x.min", "Smallest torso x", "m/s^2"),
                                        ("thigh_left.acc.mag.std", "Spread", "m/s^2")]  # fmt: skip
