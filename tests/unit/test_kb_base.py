"""The knowledge base end to end on small synthetic recordings: build, attribute checks, persistence, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Group

from knowledge_base import (
    KnowledgeBase,
    KnowledgeBaseError,
    check_recording,
    check_window,
    load_knowledge_base,
    show_pair,
    window_at,
)
from knowledge_base.attributes import (
    FeatureTable,
    _pool_adjacent_violators,
    expectation_phrase,
    level_boundaries,
    measure_phrase,
)
from recordings.datasets import file_sha256
from recordings.recording import Recording, RecordingMeta
from recordings.vocabulary import load_vocabulary
from recordings.windows import Windows

RATE, T = 25.0, 125
CHANNELS = tuple(f"{p}.{s}.{a}" for p in ("torso", "thigh_right") for s in ("acc", "gyro") for a in "xyz")
ACTIVITIES = ("standing", "sitting", "lying_on_back", "walking")
#: unit gravity-reaction directions (torso, thigh) in each sensor's frame; x runs along the body, z out of the chest
POSTURES = {
    "standing": ((1.0, 0.0, 0.05), (1.0, 0.0, 0.0)),
    "sitting": ((np.cos(np.radians(15)), 0.0, np.sin(np.radians(15))), (0.05, 0.0, 1.0)),
    "lying_on_back": ((0.05, 0.0, 1.0), (0.05, 0.0, 1.0)),
    "walking": ((1.0, 0.0, 0.05), (1.0, 0.0, 0.0)),
    "lying_on_right_side": ((0.05, -1.0, 0.0), (0.05, -1.0, 0.0)),
}


def synthetic_window(activity: str, rng: np.random.Generator, subject: int = 0, rate: float = RATE, n: int = T) -> np.ndarray:
    """(12, n) torso + right-thigh acc/gyro of one activity; walking steps at ~1.8 Hz."""
    t = np.arange(n) / rate
    window = np.zeros((12, n), np.float32)
    for block, direction in zip((0, 6), POSTURES[activity]):
        unit = np.asarray(direction) / np.linalg.norm(direction)
        unit = unit + np.array([0.0, 0.03 * subject, 0.0])
        window[block : block + 3] = 9.81 * (unit / np.linalg.norm(unit))[:, None]
        window[block : block + 3] += rng.normal(0, 0.02, (3, n))
        window[block + 3 : block + 6] = rng.normal(0, 0.01, (3, n))
    if activity == "walking":
        step = 1.8 + 0.05 * rng.normal()
        phase = rng.uniform(0, 2 * np.pi)
        window[0] += 2.5 * np.sin(2 * np.pi * step * t + phase)
        window[6] += 4.0 * np.sin(2 * np.pi * step * t + phase)
        window[3:6] += 0.8 * np.sin(np.pi * step * t + phase)
        window[9:12] += 2.0 * np.sin(np.pi * step * t + phase)
    return window


def synthetic_windows(n_subjects: int = 3, per_cell: int = 12, seed: int = 0, activities=ACTIVITIES) -> Windows:
    rng = np.random.default_rng(seed)
    data, labels, subjects = [], [], []
    for s in range(n_subjects):
        for k, activity in enumerate(activities):
            for _ in range(per_cell):
                data.append(synthetic_window(activity, rng, s))
                labels.append(k)
                subjects.append(f"s{s}")
    n = len(data)
    return Windows(
        data=np.stack(data), channels=CHANNELS, sampling_rate_hz=RATE, activities=tuple(activities),
        labels=np.array(labels, np.int16), purity=np.ones(n, np.float32), subjects=np.array(subjects, dtype=object),
        recording_ids=np.array([f"rec-{s}" for s in subjects], dtype=object), start_s=np.arange(n) * 5.0,
        meta={"protocol": "synthetic", "protocol_digest": "0" * 16},
    )  # fmt: skip


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase(show_progress=False, top_k=5).fit(synthetic_windows(), load_vocabulary())


@pytest.fixture(scope="module")
def saved(kb, tmp_path_factory):
    folder = tmp_path_factory.mktemp("kb")
    kb.save(folder)
    return folder


def one_window(activity: str, seed: int = 99) -> np.ndarray:
    return synthetic_window(activity, np.random.default_rng(seed), subject=1)[None]


def test_build_ranks_every_pair_and_stores_statistics(kb):
    assert len(kb.pairs_) == 6
    assert kb.activities_ == ACTIVITIES
    lying = kb.top_features("sitting", "lying on the back", 3)
    assert lying[0].auroc == pytest.approx(1.0) and lying[0].name.startswith("torso.")
    stats = kb.class_stats("walking")
    assert stats.loc["torso.acc.mag.dominant_freq", "median"] == pytest.approx(1.8, abs=0.1)
    assert stats.loc["torso.acc.x.mean", "count"] == 36
    assert kb.build_info_.protocol == "synthetic" and kb.build_info_.n_windows == 144


def test_posture_calibration_derives_an_unseen_lying_side(kb):
    posture = kb.calibration_.posture
    assert posture.placement == "torso"
    assert np.asarray(posture.upright_direction) @ np.array([1.0, 0.0, 0.0]) > 0.99
    assert posture.side_sources["back"].startswith("measured")
    assert posture.side_sources["right"].startswith("derived")
    # front x left = up with up = +x and front (back-lying reading) = +z gives left = up x front = -y
    assert np.asarray(posture.side_directions["right"]) @ np.array([0.0, -1.0, 0.0]) > 0.95


def test_predicates_hold_for_the_described_posture_and_fail_otherwise(kb):
    lying = {r.attribute + ":" + r.expected: r for r in kb.check(kb.transform(one_window("lying_on_back"))[0], "lying_on_back")}
    assert lying["torso:horizontal"].holds and lying["lying_side:back"].holds
    assert lying["torso:horizontal"].value > 80
    assert all(r.holds for r in lying.values()), [r.statement for r in lying.values() if not r.holds]
    standing = kb.check(kb.transform(one_window("standing"))[0], "lying_on_back")
    assert not next(r for r in standing if r.attribute == "torso").holds


def test_an_activity_without_data_is_checked_from_its_description(kb):
    assert kb.activity_info_["lying_on_right_side"].reference_windows == 0
    results = kb.check(kb.transform(one_window("lying_on_right_side"))[0], "lying on the right side")
    by_attribute = {r.attribute: r for r in results}
    assert by_attribute["torso"].holds and by_attribute["lying_side"].holds
    on_back = kb.check(kb.transform(one_window("lying_on_back"))[0], "lying_on_right_side")
    assert not next(r for r in on_back if r.attribute == "lying_side").holds


def test_walking_predicates_use_rhythm_and_cadence(kb):
    results = {r.attribute: r for r in kb.check(kb.transform(one_window("walking"))[0], "walking")}
    assert results["periodic"].holds and results["cadence_hz"].holds
    assert results["cadence_hz"].value == pytest.approx(1.8, abs=0.15)
    still = {r.attribute: r for r in kb.check(kb.transform(one_window("standing"))[0], "walking")}
    assert not still["periodic"].holds and not still["cadence_hz"].holds


def test_checks_read_as_plain_words_for_every_activity(kb):
    """What a clinician reads in an evidence row: no code vocabulary ('periodic not rhythmic', 'cadence_hz'), and
    without numbers the expectation carries none (the row's condition states the bounds once)."""
    code_words = ("periodic", "cadence_hz", "moving_parts", "lying_side", "not rhythmic", "_")
    for source in (*ACTIVITIES, "lying_on_right_side"):
        features = kb.transform(one_window(source))[0]
        for activity in (*ACTIVITIES, "lying_on_right_side"):
            for result in kb.check(features, activity):
                words = expectation_phrase(result.attribute, result.expected, numbers=False)
                assert not any(code in words for code in code_words), (result.attribute, result.expected, words)
                assert not any(ch.isdigit() for ch in words), words
                assert measure_phrase(result.attribute, result.feature) != "measured", result.attribute
    assert expectation_phrase("periodic", "not rhythmic") == "no rhythmic movement"
    assert expectation_phrase("lying_side", "right") == "lying on the right side"
    assert expectation_phrase("moving_parts", "legs still") == "the legs still"


def test_missing_placements_are_not_checkable_rather_than_guessed(kb):
    window = one_window("lying_on_back")
    thigh_only = Windows(
        data=window[:, 6:], channels=CHANNELS[6:], sampling_rate_hz=RATE, activities=(), labels=np.full(1, -1, np.int16),
        purity=np.zeros(1, np.float32), subjects=np.array([""], dtype=object), recording_ids=np.array(["x"], dtype=object),
        start_s=np.zeros(1),
    )  # fmt: skip
    report = check_window(kb, thigh_only, "lying_on_back")
    torso = next(r for r in report.results if r.attribute == "torso")
    assert not torso.checkable and torso.holds is None and "not checkable" in torso.statement
    assert report.n_not_checkable >= 2 and report.window.placements == ["thigh_right"]


def test_save_load_round_trip(kb, saved):
    loaded = load_knowledge_base(saved)
    assert loaded.pairs_ == kb.pairs_
    assert loaded.feature_names_ == kb.feature_names_
    assert loaded.calibration_ == kb.calibration_
    assert loaded.class_stats_.equals(kb.class_stats_)
    features = kb.transform(one_window("walking"))[0]
    assert loaded.check(features, "walking") == kb.check(features, "walking")
    assert json.loads((saved / "pairs.json").read_text())[0]["features"][0]["rank"] == 1
    assert not list(saved.glob("*.pkl")) and not list(saved.glob("*.pickle"))


def test_a_pack_folder_is_accepted(saved, tmp_path):
    pack = tmp_path / "pack"
    (pack / "knowledge_base").mkdir(parents=True)
    for file in saved.iterdir():
        (pack / "knowledge_base" / file.name).write_bytes(file.read_bytes())
    assert len(load_knowledge_base(pack).pairs_) == 6
    with pytest.raises(KnowledgeBaseError, match="no knowledge base found"):
        load_knowledge_base(tmp_path)


def copy_of(saved, tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for file in saved.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    return folder


def test_a_changed_file_is_refused(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    pairs = json.loads((folder / "pairs.json").read_text())
    pairs[0]["features"][0]["threshold"] = 123.0
    (folder / "pairs.json").write_text(json.dumps(pairs))
    with pytest.raises(KnowledgeBaseError, match="sha256"):
        load_knowledge_base(folder)
    (folder / "pairs.json").unlink()
    with pytest.raises(KnowledgeBaseError, match="file missing"):
        load_knowledge_base(folder)


def test_stale_feature_code_and_unknown_format_are_refused(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["feature_names"][0] = "torso.acc.x.renamed"
    (folder / "config.json").write_text(json.dumps(config))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["config.json"] = file_sha256(folder / "config.json")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(KnowledgeBaseError, match="feature code no longer produces"):
        load_knowledge_base(folder)
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(KnowledgeBaseError, match="format version 99"):
        load_knowledge_base(folder)


def test_show_pair_reports_both_typical_values(kb):
    report = show_pair(kb, "walking", "standing", k=3)
    assert report.first == "walking" and len(report.features) == 3
    top = report.features[0]
    assert top.first.activity == "walking" and top.second.activity == "standing"
    assert top.first.q25 <= top.first.median <= top.first.q75
    assert isinstance(report.render(), Group)
    text = report.to_text()
    assert top.name in text and "standing" in text and "AUROC" in text and top.definition[:30] in text


def test_check_window_renders_every_predicate(kb):
    windows = synthetic_windows(n_subjects=1, per_cell=1, seed=5)
    report = check_window(kb, windows, "sitting", index=1)
    assert report.activity == "sitting" and report.window.recording_id == "rec-s0"
    assert report.n_holds + report.n_fails + report.n_not_checkable == len(report.results)
    assert next(r for r in report.results if r.attribute == "torso").holds
    text = report.to_text()
    assert "torso.acc.gravity.inclination" in text and "hold" in text


def test_unknown_activities_and_unseen_pairs_are_explained(kb):
    with pytest.raises(KnowledgeBaseError, match="unknown activity 'moonwalking'"):
        kb.check(np.zeros(len(kb.feature_names_)), "moonwalking")
    with pytest.raises(KnowledgeBaseError, match="use `check` for unseen"):
        kb.pair("walking", "lying_on_right_side")
    assert kb.resolve_activity("Supine") == "lying_on_back"


def test_check_recording_cuts_a_window_at_the_requested_time(kb):
    rng = np.random.default_rng(7)
    samples = np.concatenate([synthetic_window("standing", rng, rate=50.0, n=1000), synthetic_window("lying_on_back", rng, rate=50.0, n=1000)], axis=1)
    meta = RecordingMeta(id="user/demo", sampling_rate_hz=50.0, channels=list(CHANNELS), units={"acc": "m/s^2", "gyro": "rad/s"})
    recording = Recording(meta, samples.T)
    window = window_at(kb, recording, 30.0)
    assert window.data.shape == (1, 12, T) and window.sampling_rate_hz == RATE
    assert window.start_s[0] == pytest.approx(27.5, abs=0.05)
    report = check_recording(kb, recording, 30.0, "lying_on_back")
    assert next(r for r in report.results if r.attribute == "torso").holds
    periodic = next(r for r in report.results if r.attribute == "periodic")
    assert f"{periodic.value:.3g} (on -1..1)" in report.to_text()  # a scale, not a unit glued to the value
    assert f"= {periodic.value:.3g} (on -1..1), expected" in periodic.statement  # the statement reads it the same way
    early = check_recording(kb, recording, 5.0, "lying_on_back")
    assert not next(r for r in early.results if r.attribute == "torso").holds
    with pytest.raises(KnowledgeBaseError, match="outside the recording"):
        window_at(kb, recording, 100.0)


def test_intensity_levels_are_interpolated_and_unordered_ones_pooled():
    bounds, notes = level_boundaries({"rest": -1.5, "low": -0.4, "moderate": 0.4, "high": 0.2, "very_high": 0.9})
    assert bounds["moderate"] == bounds["high"] == pytest.approx((-0.05, 0.6))
    assert "pooled" in notes["high"]
    assert bounds["rest"][0] == -np.inf and bounds["very_high"][1] == np.inf
    bounds, notes = level_boundaries({"rest": -1.5, "moderate": 0.5})
    assert bounds["low"] == pytest.approx((-1.0, 0.0)) and notes["low"] == "interpolated"
    assert level_boundaries({"rest": 0.0}) is None
    fitted, blocks = _pool_adjacent_violators(np.array([1.0, 3.0, 2.0, 4.0]), np.ones(4))
    assert fitted.tolist() == [1.0, 2.5, 2.5, 4.0] and blocks == [[0], [1, 2], [3]]


def test_feature_table_rejects_mismatched_names():
    with pytest.raises(KnowledgeBaseError, match="3 feature columns for 2 names"):
        FeatureTable(np.zeros((1, 3)), ["a.b.c.d", "a.b.c.e"])
