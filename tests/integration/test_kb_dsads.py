"""The knowledge base on real DSADS (dsads-xsub: reference p1–p6, held-out p7–p8)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from knowledge_base import KnowledgeBase, check_recording, load_knowledge_base, show_pair
from knowledge_base.attributes import FeatureTable, calibrate_attributes, evaluate_predicates
from recordings.datasets import dataset_dir
from recordings.errors import DataNotFoundError
from recordings.protocols import load_split
from recordings.io import read_recording
from recordings.vocabulary import load_vocabulary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def split():
    try:
        return load_split("dsads-xsub")
    except DataNotFoundError as exc:
        pytest.skip(f"DSADS is not available: {exc}")


@pytest.fixture(scope="module")
def kb(split) -> KnowledgeBase:
    return KnowledgeBase(show_progress=False).fit(split.reference)


@pytest.fixture(scope="module")
def reference_features(kb, split) -> np.ndarray:
    return kb.transform(split.reference)


@pytest.fixture(scope="module")
def test_features(kb, split) -> np.ndarray:
    return kb.transform(split.test)


def windows_of(split_part, activity: str) -> np.ndarray:
    return split_part.labels == split_part.activities.index(activity)


def all_hold(columns) -> np.ndarray:
    return np.all(np.stack([c.holds for c in columns if c.checkable]), axis=0)


def test_the_base_is_complete_and_built_within_a_minute(kb):
    assert len(kb.activities_) == 19 and len(kb.pairs_) == 171
    assert len(kb.feature_names_) > 1000 and set(kb.feature_names_) <= set(kb.glossary_)
    assert all(len(p.features) == 10 for p in kb.pairs_.values())
    assert kb.build_info_.total_seconds < 60.0
    assert kb.build_info_.protocol == "dsads-xsub" and kb.build_info_.subjects == [f"dsads-p{i}" for i in range(1, 7)]


def test_lying_on_back_and_sitting_are_separated_first_by_torso_orientation(kb):
    top = kb.top_features("lying_on_back", "sitting", 1)[0]
    assert kb.glossary_[top.name].placement == "torso" and top.aspect == "posture", top.name
    assert top.auroc == pytest.approx(1.0) and top.worst_fold_auroc == pytest.approx(1.0)


def test_running_and_walking_on_the_treadmill_are_separated_by_intensity_or_cadence(kb):
    top = kb.top_features("running_treadmill", "walking_treadmill_flat", 1)[0]
    assert top.aspect in ("intensity", "rhythm"), top.name
    assert top.auroc > 0.99


def test_top_features_separate_pairs_on_held_out_people(kb, split, test_features):
    """The top-ranked feature alone, read in its ranked direction, separates the pair on p7–p8."""
    column = {name: i for i, name in enumerate(kb.feature_names_)}
    rng = np.random.default_rng(0)
    top_scores, random_scores = [], []
    for (first, second), ranking in kb.pairs_.items():
        rows = windows_of(split.test, first) | windows_of(split.test, second)
        best = ranking.features[0]
        is_higher = split.test.labels[rows] == split.test.activities.index(best.higher)
        top_scores.append(roc_auc_score(is_higher, test_features[rows, column[best.name]]))
        other = rng.integers(len(column))
        score = roc_auc_score(is_higher, test_features[rows, other])
        random_scores.append(max(score, 1 - score))  # even given its best direction
    assert np.mean(top_scores) > 0.95
    assert np.mean(top_scores) > np.mean(random_scores) + 0.1
    assert np.mean(np.array(top_scores) > 0.9) > 0.85


def test_lying_on_back_predicates_hold_on_held_out_lying_and_fail_on_standing(kb, test_features, split):
    columns = kb.evaluate(test_features, "lying_on_back")
    by_name = {f"{c.attribute}:{c.expected}": c for c in columns}
    lying, standing = windows_of(split.test, "lying_on_back"), windows_of(split.test, "standing")
    assert by_name["torso:horizontal"].holds[lying].mean() > 0.99
    assert by_name["lying_side:back"].holds[lying].mean() > 0.99
    assert all_hold(columns)[lying].mean() > 0.9
    assert by_name["torso:horizontal"].holds[standing].mean() < 0.01
    assert all_hold(columns)[standing].mean() < 0.01


def test_lying_on_back_is_recognised_from_its_description_alone(kb, reference_features, split):
    """Recalibrate without any lying-on-the-back window (as in dsads-zsl fold 0) and check held-out windows."""
    activities = split.reference.activities
    unseen = activities.index("lying_on_back")
    keep = split.reference.labels != unseen
    calibration = calibrate_attributes(reference_features[keep], kb.feature_names_, split.reference.labels[keep],
                                       activities, load_vocabulary(), split.reference.window_s)  # fmt: skip
    assert "lying_on_back" not in calibration.seen_activities
    assert calibration.posture.side_sources["back"].startswith("derived")
    table = FeatureTable(kb.transform(split.test), kb.feature_names_)
    columns = evaluate_predicates(table, kb.activity_info_["lying_on_back"].attributes, calibration)
    lying = windows_of(split.test, "lying_on_back")
    assert all_hold(columns)[lying].mean() > 0.9
    others = ~lying & ~windows_of(split.test, "lying_on_right_side")
    assert all_hold(columns)[others].mean() < 0.01


def test_each_activity_matches_its_own_description_more_than_others(kb, test_features, split):
    own, other = [], []
    for activity in split.test.activities:
        holds = all_hold(kb.evaluate(test_features, activity))
        mine = windows_of(split.test, activity)
        own.append(holds[mine].mean())
        other.append(holds[~mine].mean())
    assert np.mean(own) > 0.6 and np.mean(other) < 0.2
    assert np.mean(np.array(own) > np.array(other)) >= 0.85


def test_saved_base_answers_the_cli_questions(kb, tmp_path):
    manifest = kb.save(tmp_path / "kb")
    assert manifest.n_pairs == 171 and set(manifest.files) >= {"pairs.json", "class_stats.parquet"}
    loaded = load_knowledge_base(tmp_path / "kb")
    report = show_pair(loaded, "lying on the back", "sitting", k=5)
    assert report.features[0].first.median != report.features[0].second.median
    assert "lying_on_back" in report.to_text()
    try:
        folder = dataset_dir("dsads") / "a12" / "p8"
    except DataNotFoundError as exc:
        pytest.skip(f"DSADS is not available: {exc}")
    recording, kind = read_recording(folder)  # what `harlens kb check PACK RECORDING` reads
    assert kind == "dsads"
    running = check_recording(loaded, recording, 100.0, "running_treadmill")
    assert running.n_fails == 0 and running.n_not_checkable == 0, running.to_text()
    as_sitting = check_recording(loaded, recording, 100.0, "sitting")
    assert as_sitting.n_fails >= 3
    assert "fails" in as_sitting.to_text()
