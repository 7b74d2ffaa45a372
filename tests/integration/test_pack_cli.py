"""`harlens build` (knowledge base only: the fast part), `harlens kb show|check`, and pack integrity."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harlens.cli import app
from harlens.pack import PackError, load_manifest, require_channels
from tests.conftest import require_dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kb_pack(tmp_path_factory):
    require_dataset("dsads")
    pack = tmp_path_factory.mktemp("packs") / "dsads-xsub"
    result = CliRunner().invoke(app, ["build", "--protocol", "dsads-xsub", "--out", str(pack), "--only", "knowledge_base"])
    assert result.exit_code == 0, result.output
    return pack


def test_manifest_describes_the_protocol_and_verifies(kb_pack):
    manifest = load_manifest(kb_pack)
    assert manifest.protocol == "dsads-xsub" and manifest.reference_windows == 6 * 19 * 60
    assert set(manifest.components) == {"knowledge_base"} and len(manifest.activities) == 19
    assert require_channels(manifest, manifest.channels[:6]) == manifest.channels[:6]
    with pytest.raises(PackError, match="share nothing"):
        require_channels(manifest, ["waist.acc.x"])


def test_tampered_pack_is_refused(kb_pack, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(kb_pack, copy)
    (copy / "knowledge_base" / "pairs.json").write_text("{}")
    with pytest.raises(PackError, match="changed"):
        load_manifest(copy)


def test_build_refuses_a_non_empty_folder(kb_pack):
    result = CliRunner().invoke(app, ["build", "--protocol", "dsads-xsub", "--out", str(kb_pack)])
    assert result.exit_code == 2 and "not empty" in result.output


def test_kb_show_puts_posture_first_for_lying_vs_sitting(kb_pack):
    result = CliRunner().invoke(app, ["kb", "show", str(kb_pack), "lying_on_back", "sitting", "--k", "3"])
    assert result.exit_code == 0, result.output
    first_row = next(line for line in result.output.splitlines() if line.startswith("│ 1 "))
    assert "torso" in first_row and ".acc." in first_row


def test_kb_check_on_a_user_csv(kb_pack, tmp_path):
    runner = CliRunner()
    csv = tmp_path / "p8.csv"
    assert runner.invoke(app, ["data", "export-demo", "--out", str(csv)]).exit_code == 0
    lying = runner.invoke(app, ["kb", "check", str(kb_pack), str(csv), "--at", "700", "--activity", "lying on back"])
    assert lying.exit_code == 0, lying.output
    assert "0 fail" in lying.output
    standing = runner.invoke(app, ["kb", "check", str(kb_pack), str(csv), "--at", "400", "--activity", "lying on back"])
    assert standing.exit_code == 0 and "0 fail" not in standing.output
    outside = runner.invoke(app, ["kb", "check", str(kb_pack), str(csv), "--at", "99999", "--activity", "sitting"])
    assert outside.exit_code == 2 and "outside the recording" in outside.output
