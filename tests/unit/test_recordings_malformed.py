"""Property-based: whatever bytes a user hands the table reader, the only failure is a RecordingError,
and a returned recording is complete and consistent (never half-loaded)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recordings.errors import RecordingError
from recordings.readers.table import TableOptions, read_table
from recordings.recording import Recording

HEADERS = ["timestamp", "time", "t", "ax", "ay", "az", "gx", "gy", "gz", "acc_x", "acc_y", "acc_z", "label", "foo", "", "ax"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(lambda v: f"{v:g}"),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", "NaN", "abc", "1e309", "2024-01-01T00:00:00Z", "0x10", '"', "1,5", " ", "\t", "-"]),
)
DELIMS = st.sampled_from([",", ";", "\t", " ", "|"])


@st.composite
def csv_text(draw):
    delimiter = draw(DELIMS)
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=0, max_size=8))
    n_rows = draw(st.integers(0, 12))
    rows = [draw(st.lists(CELLS, min_size=0, max_size=9)) for _ in range(n_rows)]
    return "\n".join([delimiter.join(header)] + [delimiter.join(r) for r in rows])


def _assert_complete(rec: Recording) -> None:
    assert rec.samples.dtype == np.float32
    assert rec.samples.shape == (rec.n_samples, len(rec.meta.channels))
    assert rec.times_s.shape == (rec.n_samples,)
    assert np.all(np.diff(rec.times_s) > 0)
    assert 1.0 <= rec.meta.sampling_rate_hz <= 2000.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_text(), rate=st.one_of(st.none(), st.floats(0.001, 5000)))
def test_malformed_csv_raises_only_recording_error(tmp_path, text, rate):
    path = tmp_path / "fuzz.csv"
    path.write_text(text)
    try:
        rec = read_table(path, TableOptions(sampling_rate_hz=rate))
    except RecordingError as exc:
        assert str(path) in str(exc)
        return
    _assert_complete(rec)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_recording_error(tmp_path, blob):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(b"timestamp,ax,ay,az\n" + blob)
    try:
        rec = read_table(path)
    except RecordingError:
        return
    _assert_complete(rec)


@st.composite
def corrupted_valid_csv(draw):
    """A valid 50 Hz recording with a few random corruptions (cells, missing fields, swapped rows)."""
    n = draw(st.integers(2, 60))
    rows = [[f"{i * 0.02:.2f}", "0.01", "-0.02", "1.0", "0.1", "0.0", "-0.1"] for i in range(n)]
    for _ in range(draw(st.integers(0, 3))):
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, 6))
        action = draw(st.sampled_from(["cell", "drop", "extra", "swap", "dup"]))
        if action == "cell" and j < len(rows[i]):
            rows[i][j] = draw(CELLS)
        elif action == "drop":
            rows[i] = rows[i][:j]
        elif action == "extra":
            rows[i] = rows[i] + ["9"]
        elif action == "swap" and i + 1 < n:
            rows[i], rows[i + 1] = rows[i + 1], rows[i]
        elif action == "dup":
            rows.insert(i, list(rows[i]))
    return "\n".join(["timestamp,ax,ay,az,gx,gy,gz"] + [",".join(r) for r in rows])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=corrupted_valid_csv())
def test_corrupted_recordings_load_whole_or_fail_typed(tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_text(text)
    try:
        rec = read_table(path)
    except RecordingError as exc:
        assert exc.path == str(path)
        return
    _assert_complete(rec)
    assert rec.meta.channels == [f"wrist.{s}.{a}" for s in ("acc", "gyro") for a in "xyz"]
