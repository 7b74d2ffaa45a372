"""The generic CSV/Parquet reader on small real files written by the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from harlens.cli import app
from recordings.errors import RecordingError
from recordings.readers.table import TableOptions, read_table
from recordings.signal import repair_gaps

G = 9.80665


def _frame(n=200, rate=50.0, acc_scale=1.0, gyro_scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    acc = np.column_stack([0.1 * rng.standard_normal(n), 0.1 * rng.standard_normal(n), np.ones(n)]) * acc_scale
    gyro = 0.5 * np.column_stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t), np.zeros(n)]) * gyro_scale
    return t, acc, gyro


def _write(tmp_path, header, rows, name="rec.csv", sep=","):
    path = tmp_path / name
    lines = [sep.join(header)] + [sep.join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_detects_short_headers_seconds_and_g(tmp_path):
    t, acc, gyro = _frame()
    path = _write(tmp_path, ["timestamp", "ax", "ay", "az", "gx", "gy", "gz"], np.column_stack([t, acc, gyro]))
    rec = read_table(path)
    assert rec.meta.channels == [f"wrist.{s}.{a}" for s in ("acc", "gyro") for a in "xyz"]
    assert rec.meta.sampling_rate_hz == pytest.approx(50.0)
    assert np.median(np.linalg.norm(rec.samples[:, :3], axis=1)) == pytest.approx(G, rel=0.02)
    assert any("g -> m/s^2" in c for c in rec.meta.conversions)


def test_long_headers_milliseconds_deg_per_s_and_placement(tmp_path):
    t, acc, gyro = _frame(acc_scale=G, gyro_scale=180 / np.pi * 40)
    header = ["time_ms", "accelerometer_x", "accelerometer_y", "accelerometer_z", "gyroscope_x", "gyroscope_y", "gyroscope_z"]
    path = _write(tmp_path, header, np.column_stack([t * 1000, acc, gyro]))
    rec = read_table(path, TableOptions(placement="hip"))
    assert rec.meta.placements == ["waist"]
    assert rec.meta.sampling_rate_hz == pytest.approx(50.0)
    assert np.abs(rec.samples[:, 3:]).max() == pytest.approx(20.0, rel=0.01)  # 40 * 0.5 rad/s
    assert any("deg/s -> rad/s" in c for c in rec.meta.conversions)


def test_nanosecond_epoch_and_iso_timestamps_agree(tmp_path):
    t, acc, gyro = _frame(acc_scale=G)
    epoch_ns = (1_700_000_000 + t) * 1e9
    a = read_table(_write(tmp_path, ["ts", "acc_x", "acc_y", "acc_z"], np.column_stack([epoch_ns.astype(np.int64), acc]), "a.csv"))
    iso = pd.to_datetime(epoch_ns.astype(np.int64), unit="ns", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = [[s, *r] for s, r in zip(iso, acc)]
    b = read_table(_write(tmp_path, ["timestamp", "acc_x", "acc_y", "acc_z"], rows, "b.csv"))
    assert a.meta.sampling_rate_hz == pytest.approx(50.0)
    assert b.meta.sampling_rate_hz == pytest.approx(50.0)
    assert a.meta.start_time == b.meta.start_time
    np.testing.assert_allclose(a.samples, b.samples)


def test_canonical_multi_placement_headers_and_labels(tmp_path):
    t, acc, gyro = _frame(acc_scale=G)
    header = ["t", "torso.acc.x", "torso.acc.y", "torso.acc.z", "thigh_left.acc.x", "thigh_left.acc.y", "thigh_left.acc.z", "activity"]
    labels = ["walking"] * 100 + ["sitting"] * 100
    rows = [[*a, *b, c] for a, b, c in zip(np.column_stack([t, acc]), acc, labels)]
    rec = read_table(_write(tmp_path, header, rows))
    assert rec.meta.placements == ["torso", "thigh_left"]
    assert rec.meta.activities == ["walking", "sitting"]
    assert (rec.labels[:100] == 0).all() and (rec.labels[100:] == 1).all()


def test_explicit_mapping_semicolon_and_no_time_column(tmp_path):
    _, acc, _ = _frame(acc_scale=G)
    path = _write(tmp_path, ["A", "B", "C"], acc, sep=";")
    rec = read_table(path, TableOptions(columns={"A": "ankle.acc.x", "B": "ankle.acc.y", "C": "ankle.acc.z"}, sampling_rate_hz=20))
    assert rec.meta.channels == ["ankle.acc.x", "ankle.acc.y", "ankle.acc.z"]
    assert rec.duration_s == pytest.approx(10.0)


def test_parquet_in_small_chunks_matches_csv(tmp_path):
    t, acc, gyro = _frame(n=1000, acc_scale=G)
    frame = pd.DataFrame(np.column_stack([t, acc, gyro]), columns=["timestamp", "ax", "ay", "az", "gx", "gy", "gz"])
    frame.to_parquet(tmp_path / "r.parquet")
    frame.to_csv(tmp_path / "r.csv", index=False)
    a = read_table(tmp_path / "r.parquet", TableOptions(chunk_rows=97))
    b = read_table(tmp_path / "r.csv", TableOptions(chunk_rows=101))
    np.testing.assert_allclose(a.samples, b.samples, rtol=1e-6)
    assert a.meta.source_format == "parquet" and b.meta.source_format == "csv"


def test_jittered_timestamps_are_regularised(tmp_path):
    t, acc, _ = _frame(n=500, acc_scale=G)
    jitter = t + np.random.default_rng(1).uniform(-0.004, 0.004, t.size)
    jitter[0] = 0.0
    rec = read_table(_write(tmp_path, ["timestamp", "ax", "ay", "az"], np.column_stack([np.sort(jitter), acc])))
    assert np.allclose(np.diff(rec.times_s), 1 / rec.meta.sampling_rate_hz)
    assert any("uniform" in c for c in rec.meta.conversions)


@pytest.mark.parametrize(
    "content, needle, line",
    [
        ("", "empty", None),
        ("timestamp,ax,ay,az\n", "fewer than two data rows", None),
        ("timestamp;ax;ay;az\n0;0;0;1\n", None, 1),  # with an explicit wrong delimiter below
        ("timestamp,foo,bar\n0,1,2\n0.02,1,2\n", "no accelerometer", 1),
        ("timestamp,ax,ay\n0,0,0\n0.02,0,0\n", "lacks axis", 1),
        ("timestamp,ax,ay,az\n0,0,0,1\n0.02,0,x,1\n0.04,0,0,1\n", "non-numeric", 3),
        ("timestamp,ax,ay,az\n0,0,0,1\n0.02,0,0,1\n0.02,0,0,1\n", "duplicated", 4),
        ("timestamp,ax,ay,az\n0,0,0,1\n0.04,0,0,1\n0.02,0,0,1\n", "backwards", 4),
        ("timestamp,ax,ay,az\n0,0,0,1\n0.00001,0,0,1\n0.00002,0,0,1\n", "sampling rate", None),
        ('timestamp,ax,ay,az\n0,0,0,"\n', "malformed row", None),  # unclosed quote on the first data row
    ],
)
def test_bad_input_names_file_line_and_fix(tmp_path, content, needle, line):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    options = TableOptions(delimiter=",") if needle is None else None
    with pytest.raises(RecordingError) as info:
        read_table(path, options)
    error = info.value
    assert error.path == str(path)
    if needle:
        assert needle in str(error)
    if line is not None:
        assert error.line == line


def test_wrong_delimiter_suggests_the_right_one(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("timestamp;ax;ay;az\n0;0;0;1\n0.02;0;0;1\n")
    with pytest.raises(RecordingError, match="';'"):
        read_table(path, TableOptions(delimiter=","))


def test_ragged_row_is_reported_with_its_line(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("timestamp,ax,ay,az\n0,0,0,1\n0.02,0,0,1,5,6\n0.04,0,0,1\n")
    with pytest.raises(RecordingError) as info:
        read_table(path)
    assert info.value.line == 3


def test_mostly_empty_column_is_an_error(tmp_path):
    rows = [[i * 0.02, "", 0, 1] for i in range(50)] + [[1 + i * 0.02, 0, 0, 1] for i in range(10)]
    path = _write(tmp_path, ["timestamp", "ax", "ay", "az"], rows)
    with pytest.raises(RecordingError, match="empty or NaN") as info:
        read_table(path)
    assert info.value.column == "ax"


def test_short_nan_runs_interpolated_long_ones_split(tmp_path):
    t, acc, _ = _frame(n=1000, acc_scale=G)
    acc[100:105, 0] = np.nan  # 0.1 s: interpolated
    acc[500:600, 1] = np.nan  # 2 s: split
    rec = read_table(_write(tmp_path, ["timestamp", "ax", "ay", "az"], np.column_stack([t, acc])))
    pieces = repair_gaps(rec, max_interpolate_s=0.5)
    assert len(pieces) == 2
    assert [g.action for g in pieces[0].meta.gaps] == ["interpolated", "split"]
    assert all(np.isfinite(p.samples).all() for p in pieces)
    assert pieces[1].times_s[0] == pytest.approx(12.0)  # times keep their offset in the recording


def test_readings_beyond_any_imu_range_become_gaps(tmp_path):
    t, acc, gyro = _frame(n=500, acc_scale=G)
    acc[100, 2] = 3.0e38  # a corrupted cell: would overflow float32 arithmetic downstream
    gyro[300:302, 0] = -1.0e6
    rec = read_table(_write(tmp_path, ["timestamp", "ax", "ay", "az", "gx", "gy", "gz"], np.column_stack([t, acc, gyro])))
    assert np.isnan(rec.samples[100, 2]) and np.isnan(rec.samples[300:302, 3]).all()
    assert np.isfinite(rec.samples[101:300]).all()
    notes = [c for c in rec.meta.conversions if "treated as missing" in c]
    assert notes == [
        "1 reading(s) of 'az' beyond ±4000 m/s^2 (first at 2.00 s) treated as missing",
        "2 reading(s) of 'gx' beyond ±100 rad/s (first at 6.00 s) treated as missing",
    ]
    (piece,) = repair_gaps(rec)
    assert [g.action for g in piece.meta.gaps] == ["interpolated", "interpolated"]
    assert np.abs(piece.samples[:, :3]).max() < 2 * G


def test_a_column_mostly_beyond_range_is_refused_with_its_unit(tmp_path):
    t, acc, gyro = _frame(acc_scale=G)
    path = _write(tmp_path, ["timestamp", "ax", "ay", "az", "gx", "gy", "gz"], np.column_stack([t, acc, gyro * 1e5]))
    with pytest.raises(RecordingError, match="beyond any wearable sensor's range") as info:
        read_table(path, TableOptions(gyro_unit="rad/s"))
    assert info.value.column == "gx"
    assert "--gyro-unit" in str(info.value)


def test_inspect_reports_the_out_of_range_reading_and_keeps_the_recording_whole(tmp_path):
    t, acc, gyro = _frame(n=500)
    gyro[299, 2] = 3.0e38
    path = _write(tmp_path, ["timestamp", "ax", "ay", "az", "gx", "gy", "gz"], np.column_stack([t, acc, gyro]))
    inspected = CliRunner().invoke(app, ["data", "inspect", str(path), "--placement", "wrist"], terminal_width=200)
    assert inspected.exit_code == 0, inspected.output
    assert "1 reading(s) of 'gz' beyond ±100 rad/s (first at 5.98 s) treated as missing" in inspected.output
    assert "1 interpolated, 0 long (recording kept whole)" in inspected.output
