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
from agent.sources import ATTRIBUTE_WEIGHTS, posture_contradicted
from harlens.cli import app
from harlens.pack import PackError, open_pack, outdated_reason, reuse_or_rebuild, stale_reason
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
    decided = activities[probabilities.argmax(axis=1)]
    flagged = posture_contradicted(components.knowledge_base, evidence.features, decided, set(components.seen))
    assert flagged.any() and not flagged[np.isin(decided, components.seen)].any()  # only unseen decisions


def test_an_unseen_decision_cites_the_seen_gate_and_its_template_passes_the_verifier(zsl_pack):
    from agent.explain import explain

    _, components = open_pack(zsl_pack)
    split = load_split("dsads-zsl", 0)
    analyzer = Analyzer(components, AnalyzerSettings(), protocol="dsads-zsl")
    truth = np.asarray(split.test.label_names, dtype=object).astype(str)
    evidence, probabilities, sets = analyzer.score(split.test)
    assert evidence.novelty is not None and len(evidence.novelty.seen_probability) == len(truth)
    p_seen = evidence.novelty.seen_probability
    is_unseen = np.isin(truth, list(split.unseen))
    assert p_seen[is_unseen].mean() < p_seen[~is_unseen].mean()  # the gate reads the unseen windows as such
    window = int(np.flatnonzero([s.activities[0] in split.unseen for s in sets])[0])
    table = analyzer.evidence_table(evidence.features[window], sets[window], analyzer.neighbour_counts(evidence, [window]),
                                    analyzer.gate_reading(evidence, [window]))  # fmt: skip
    row = next(r for r in table.rows if r.kind == "novelty")
    assert row.value == pytest.approx(round(float(p_seen[window]), 2))
    assert row.reference["nearest_cosine"] == pytest.approx(round(float(evidence.scores.centroid[window].max()), 2))
    explanation = explain(table, analyzer.phrases, None)
    assert f"({row.id})" in explanation.text and explanation.verification.passed


def test_unseen_segments_are_flagged_exactly_when_their_posture_checks_fail(zsl_pack):
    """p8's elevator and lying recordings are where fold 0's unseen decisions contradict their descriptions
    (a standing window called lying on the back); the flag must mark those segments and no others."""
    from knowledge_base.attributes import POSTURE_ATTRIBUTES

    _, components = open_pack(zsl_pack)
    test = load_split("dsads-zsl", 0).test
    keep = np.flatnonzero(test.subjects.astype(str) == "dsads-p8")
    analysis = Analyzer(components, AnalyzerSettings(), protocol="dsads-zsl").analyze(test.subset(keep), "p8")
    explanations = {e.segment: e.explanation for e in analysis.trace.explanations}
    flagged = 0
    for segment in analysis.segments:
        explanation = explanations[segment.index]
        failing = explanation.evidence.failed_checks(segment.activity, POSTURE_ATTRIBUTES)
        contradicted = segment.activity not in components.seen and bool(failing)
        assert ("posture-contradicts-description" in segment.flags) == contradicted, segment
        flagged += contradicted
        if contradicted:  # and its explanation cites a check that fails
            cited = {row.id for row in explanation.evidence.failed_checks(segment.activity)} & set(explanation.cited)
            assert cited and explanation.verification.passed, explanation.text
    assert flagged > 0, "no unseen segment of p8 contradicted its posture: the flag was never exercised"


def _with_edited_fusion(pack, folder, edit):
    import shutil

    shutil.copytree(pack, folder)
    path = folder / "fusion" / "fusion.json"
    stored = json.loads(path.read_text())
    edit(stored)
    path.write_text(json.dumps(stored))
    return folder


def test_zero_shot_pack_without_a_gate_is_refused_with_a_rebuild_command(zsl_pack, tmp_path):
    copy = _with_edited_fusion(zsl_pack, tmp_path / "old-pack", lambda stored: stored.pop("seen_gate"))
    with pytest.raises(PackError, match="harlens build --protocol dsads-zsl --fold 0"):
        open_pack(copy, verify=False)


def test_a_gate_fitted_on_other_signals_is_refused_not_misapplied(zsl_pack, tmp_path):
    def rename_signal(stored):
        stored["seen_gate"]["signals"] = ["unseen_margin", "some_older_signal"]

    copy = _with_edited_fusion(zsl_pack, tmp_path / "other-signals", rename_signal)
    with pytest.raises(PackError, match=r"some_older_signal.*harlens build --protocol dsads-zsl --fold 0"):
        open_pack(copy, verify=False)


def test_a_pack_is_outdated_only_when_this_code_would_train_its_encoder_otherwise(zsl_pack):
    assert outdated_reason(zsl_pack, encoder_epochs=2) is None
    assert "epochs" in outdated_reason(zsl_pack, encoder_epochs=30)


def test_runs_reuse_only_a_current_pack_of_their_protocol_and_say_why_not(zsl_pack, tmp_path):
    assert stale_reason(zsl_pack, "dsads-zsl", 0, encoder_epochs=2) is None
    assert "dsads-zsl fold 0, not dsads-xsub fold None" in stale_reason(zsl_pack, "dsads-xsub", None, encoder_epochs=2)
    assert "dsads-zsl fold 0, not dsads-zsl fold 1" in stale_reason(zsl_pack, "dsads-zsl", 1, encoder_epochs=2)
    assert "epochs" in stale_reason(zsl_pack, "dsads-zsl", 0, encoder_epochs=30)
    assert "placements all, not ['torso']" in stale_reason(zsl_pack, "dsads-zsl", 0, 2, placements=("torso",))
    assert "no pack there" in stale_reason(tmp_path / "empty", "dsads-zsl", 0)
    edited = _with_edited_fusion(zsl_pack, tmp_path / "edited", lambda stored: stored.update(attribute_weight=-1.0))
    assert "files changed since the pack was built" in stale_reason(edited, "dsads-zsl", 0, encoder_epochs=2)
    manifest_before = (zsl_pack / "manifest.json").read_bytes()
    messages: list[str] = []
    assert reuse_or_rebuild("dsads-zsl", zsl_pack, 0, progress=messages.append, encoder_epochs=2) is True
    assert messages == [] and (zsl_pack / "manifest.json").read_bytes() == manifest_before
