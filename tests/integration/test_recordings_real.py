"""Real DSADS and UCI HAPT through readers, protocols and the `harlens data` commands."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from harlens.cli import app
from recordings.datasets import data_root, labelled_activities
from recordings.io import read_recording
from recordings.protocols import PROTOCOLS, get_protocol, load_split, window_counts
from tests.conftest import require_dataset

pytestmark = pytest.mark.integration


def test_dsads_has_152_recordings_of_19_activities_and_8_subjects(dsads_recordings):
    assert len(dsads_recordings) == 19 * 8
    assert {r.meta.subject for r in dsads_recordings} == {f"dsads-p{i}" for i in range(1, 9)}
    assert len({labelled_activities(r)[0] for r in dsads_recordings}) == 19
    assert all(r.n_samples == 60 * 125 for r in dsads_recordings)
    torso_gravity = np.median(np.linalg.norm(dsads_recordings[0].samples[:, :3], axis=1))
    assert torso_gravity == pytest.approx(9.8, abs=0.5)  # sitting: gravity only, in m/s²


def test_hapt_has_61_experiments_30_users_and_gravity_in_si(hapt_recordings):
    assert len(hapt_recordings) == 61
    assert len({r.meta.subject for r in hapt_recordings}) == 30
    walking = [r for r in hapt_recordings if r.meta.id == "hapt/exp01_user01"][0]
    assert np.median(np.linalg.norm(walking.samples[:, :3], axis=1)) == pytest.approx(9.8, abs=0.4)
    assert (walking.labels == -1).any() and set(labelled_activities(walking)) >= {"walking", "standing"}


def test_dsads_zsl_folds_cover_every_activity_exactly_once():
    spec = get_protocol("dsads-zsl")
    unseen = [a for fold in spec.unseen_folds for a in fold]
    assert sorted(unseen) == sorted(spec.activities) and len(spec.activities) == 19
    assert spec.n_folds == 5


def test_dsads_xsub_split_is_by_subject_and_balanced(dsads_recordings):
    split = load_split("dsads-xsub", recordings=dsads_recordings)
    assert split.reference.data.shape == (6 * 19 * 60, 30, 125)
    assert split.test.data.shape == (2 * 19 * 60, 30, 125)
    assert set(split.reference.subjects) & set(split.test.subjects) == set()
    assert set(window_counts(split.test).values()) == {120}


def test_dsads_zsl_reference_holds_only_seen_activities(dsads_recordings):
    split = load_split("dsads-zsl", fold=2, recordings=dsads_recordings)
    reference = set(split.reference.label_names)
    assert reference == set(split.seen) and not reference & set(split.unseen)
    assert set(split.test.label_names) == set(get_protocol("dsads-zsl").activities)


def test_hapt_xsub_uses_the_uci_har_user_split(hapt_recordings):
    split = load_split("hapt-xsub", recordings=hapt_recordings)
    assert {s for s in split.test.subjects} == {f"hapt-{u:02d}" for u in (2, 4, 9, 10, 12, 13, 18, 20, 24)}
    assert split.test.data.shape[1:] == (6, 128)
    assert set(split.test.label_names) == set(get_protocol("hapt-xsub").activities)
    with_transitions = load_split("hapt-xsub-transitions", recordings=hapt_recordings)
    assert window_counts(with_transitions.test)["stand_to_lie"] > 0


def test_protocols_are_deterministic():
    assert get_protocol("dsads-zsl").digest == get_protocol("dsads-zsl").digest
    assert len({spec.digest for spec in PROTOCOLS.values()}) == len(PROTOCOLS)


def test_read_recording_detects_real_formats():
    require_dataset("dsads")
    root = data_root()
    folder, kind = read_recording(root / "dsads" / "a12" / "p3")
    assert kind == "dsads" and folder.duration_s == pytest.approx(300.0)
    assert folder.meta.activities == ["running_treadmill"]
    segment, _ = read_recording(root / "dsads" / "a12" / "p3" / "s05.txt.gz")
    np.testing.assert_array_equal(segment.samples, folder.samples[4 * 125 : 5 * 125])
    require_dataset("hapt")
    hapt, kind = read_recording(root / "hapt" / "RawData" / "gyro_exp01_user01.txt.gz")
    assert kind == "hapt" and hapt.meta.sampling_rate_hz == 50.0


def test_cli_data_list_reports_segments_experiments_and_users():
    require_dataset("dsads")
    require_dataset("hapt")
    result = CliRunner().invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    dsads_row = next(line for line in result.output.splitlines() if "dsads" in line and "yes" in line)
    assert "9120" in dsads_row and "19" in dsads_row and " 8 " in dsads_row
    hapt_row = next(line for line in result.output.splitlines() if "hapt" in line and "yes" in line)
    assert "61" in hapt_row and "30" in hapt_row


def test_cli_protocol_and_inspect_of_an_exported_user_csv(tmp_path):
    require_dataset("dsads")
    runner = CliRunner()
    protocol = runner.invoke(app, ["data", "protocol", "dsads-zsl", "--no-counts"])
    assert protocol.exit_code == 0 and "exactly once" in protocol.output
    csv = tmp_path / "p8.csv"
    assert runner.invoke(app, ["data", "export-demo", "--out", str(csv), "--subject", "p8"]).exit_code == 0
    inspected = runner.invoke(app, ["data", "inspect", str(csv)])
    assert inspected.exit_code == 0, inspected.output
    assert "5700.0 s" in inspected.output and "25 Hz" in inspected.output and "playing_basketball" in inspected.output
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,ax,ay,az\n0,0,0,1\n0.02,0,zz,1\n")
    failed = runner.invoke(app, ["data", "inspect", str(bad)])
    assert failed.exit_code == 2 and "line 3" in failed.output and "non-numeric" in failed.output


def test_export_demo_keeps_the_first_minutes_and_refuses_more_than_recorded(tmp_path):
    require_dataset("dsads")
    runner = CliRunner()
    csv = tmp_path / "p8_2min.csv"
    assert runner.invoke(app, ["data", "export-demo", "--out", str(csv), "--minutes", "2"]).exit_code == 0
    inspected = runner.invoke(app, ["data", "inspect", str(csv)])
    assert inspected.exit_code == 0 and "120.0 s" in inspected.output, inspected.output
    too_long = runner.invoke(app, ["data", "export-demo", "--out", str(tmp_path / "x.csv"), "--minutes", "96"])
    assert too_long.exit_code == 2 and "minutes must be in (0, 95.0]" in too_long.output
    assert not (tmp_path / "x.csv").exists()
