"""A zero-shot pack end to end on real data: a quick dsads-zsl fold-0 pack (2 encoder epochs) fits its seen
gate and attribute weight on pseudo-unseen reference activities, and then sends test windows of the four
activities it has no labelled data for to those activities."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.candidates import seen_unseen_accuracy
from agent.pipeline import Analyzer, AnalyzerSettings
from agent.sources import ATTRIBUTE_WEIGHTS
from harlens.cli import app
from harlens.pack import PackError, open_pack
from recordings.protocols import load_split
from tests.conftest import require_dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def zsl_pack(tmp_path_factory):
    require_dataset("dsads")
    folder = tmp_path_factory.mktemp("packs") / "dsads-zsl-f0"
    result = CliRunner().invoke(app, ["build", "--protocol", "dsads-zsl", "--fold", "0", "--out", str(folder),
                                      "--encoder-epochs", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


def test_zero_shot_pack_fits_a_gate_and_recognises_unseen_test_activities(zsl_pack):
    manifest, components = open_pack(zsl_pack)
    fusion = components.fusion
    assert fusion.seen_gate is not None and np.isfinite(fusion.seen_gate.coef).all()
    assert fusion.attribute_weight in ATTRIBUTE_WEIGHTS and 0 < fusion.reference_h <= 1
    split = load_split("dsads-zsl", 0)
    truth = np.asarray(split.test.label_names, dtype=object).astype(str)
    evidence, probabilities, _ = Analyzer(components, AnalyzerSettings(), protocol="dsads-zsl").score(split.test)
    activities, unseen = np.asarray(components.activities), list(split.unseen)
    seen = sorted(set(truth) - set(unseen))
    seen_acc, unseen_acc, h = seen_unseen_accuracy(activities[probabilities.argmax(axis=1)], truth, seen, unseen)
    prototype_only = seen_unseen_accuracy(activities[evidence.scores.prototype.argmax(axis=1)], truth, seen, unseen)[2]
    # a 2-epoch encoder: weak, but neither side may be swallowed, and the gate must beat the raw prototypes
    # (which answer a seen activity for almost every window)
    assert seen_acc > 0.15 and unseen_acc > 0.3 and h > 0.3, (seen_acc, unseen_acc, h)
    assert h > prototype_only + 0.2, (h, prototype_only)
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_zero_shot_pack_without_a_gate_is_refused_with_a_rebuild_command(zsl_pack, tmp_path):
    import shutil

    copy = tmp_path / "old-pack"
    shutil.copytree(zsl_pack, copy)
    path = copy / "fusion" / "fusion.json"
    stored = json.loads(path.read_text())
    stored.pop("seen_gate")
    path.write_text(json.dumps(stored))
    with pytest.raises(PackError, match="harlens build --protocol dsads-zsl --fold 0"):
        open_pack(copy, verify=False)
