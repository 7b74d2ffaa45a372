"""Class-conditional neighbour evidence on a small example whose numbers can be checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrieval import (
    EvidenceTable,
    FusedEmbeddingIndex,
    FeatureTable,
    MetadataFilter,
    MultiPlacementIndex,
    RetrievalError,
    VectorIndex,
    class_conditional_evidence,
    placeholder_metadata,
)

# id: (vector, activity, subject, cadence_hz) — the query is (1, 0), so cosine similarity = first coordinate
REFERENCE = {
    0: ((1.0, 0.0), "walking", "s1", 1.0),
    1: ((0.8, 0.6), "walking", "s2", 3.0),
    2: ((0.6, 0.8), "walking", "s2", 5.0),
    3: ((0.0, 1.0), "sitting", "s1", 0.0),
    4: ((-1.0, 0.0), "sitting", "s3", 0.5),
    5: ((0.28, 0.96), "running", "s3", 2.0),
}
ORDER = list(REFERENCE)


@pytest.fixture
def index() -> VectorIndex:
    metadata = placeholder_metadata(len(ORDER), activities=[REFERENCE[i][1] for i in ORDER])
    metadata["subject"] = [REFERENCE[i][2] for i in ORDER]
    metadata["start_s"] = [10.0 * i for i in ORDER]
    vectors = np.array([REFERENCE[i][0] for i in ORDER])
    return VectorIndex(2, "cosine", "flat").fit(vectors, metadata, ids=np.array(ORDER) + 100)


@pytest.fixture
def features() -> FeatureTable:
    cadence = [REFERENCE[i][3] for i in ORDER]
    frame = pd.DataFrame({"cadence_hz": cadence, "double_cadence": np.array(cadence) * 2}, index=np.array(ORDER) + 100)
    return FeatureTable.from_frame(frame)


def test_hand_checked_similarity_and_feature_statistics(index, features):
    table = class_conditional_evidence(
        index,
        np.array([[1.0, 0.0]]),
        [["walking", "sitting"]],
        n_neighbours=2,
        features=features,
        feature_names=["cadence_hz"],
    )
    walking, sitting = table.queries[0].candidates
    assert [n.id for n in walking.neighbours] == [100, 101]
    assert walking.similarity.max == pytest.approx(1.0) and walking.similarity.min == pytest.approx(0.8)
    assert walking.similarity.mean == pytest.approx(0.9)
    cadence = walking.features["cadence_hz"]  # over cadences [1, 3]
    assert (cadence.mean, cadence.std) == (pytest.approx(2.0), pytest.approx(1.0))
    assert [cadence.q10, cadence.q25, cadence.q50, cadence.q75, cadence.q90] == pytest.approx([1.2, 1.5, 2.0, 2.5, 2.8])
    assert [n.id for n in sitting.neighbours] == [103, 104]
    sitting_similarity = (sitting.similarity.max, sitting.similarity.mean, sitting.similarity.min)
    assert sitting_similarity == pytest.approx((0.0, -0.5, -1.0), abs=1e-6)
    assert sitting.features["cadence_hz"].mean == pytest.approx(0.25)
    assert set(walking.features) == {"cadence_hz"} and table.feature_names == ["cadence_hz"]
    assert walking.neighbours[1].subject == "s2" and walking.neighbours[1].start_s == 10.0


def test_candidate_deep_in_the_ranking_still_gets_its_neighbours(index, features):
    table = class_conditional_evidence(index, np.array([[1.0, 0.0]]), [["sitting"]], n_neighbours=1, features=features)
    sitting = table.queries[0].candidates[0]
    assert sitting.n_neighbours == 1 and sitting.neighbours[0].id == 103
    assert sitting.features["double_cadence"].std == 0.0


def test_missing_and_small_classes_are_reported_not_raised(index, features):
    table = class_conditional_evidence(
        index,
        np.array([[1.0, 0.0], [0.0, 1.0]]),
        [["jumping", "running", "walking"], ["walking"]],
        n_neighbours=3,
        features=features,
    )
    jumping, running, walking = table.queries[0].candidates
    assert jumping.n_neighbours == 0 and jumping.neighbours == [] and jumping.similarity is None
    assert "no reference windows of activity 'jumping'" in jumping.note
    assert running.n_neighbours == 1 and "only 1 reference windows" in running.note
    assert running.similarity.max == pytest.approx(0.28)
    assert walking.n_neighbours == 3 and walking.note is None
    cadence = walking.features["cadence_hz"]  # over cadences [1, 3, 5]
    assert (cadence.mean, cadence.std, cadence.q10, cadence.q90) == pytest.approx((3.0, np.sqrt(8 / 3), 1.4, 4.6))
    other = table.queries[1].candidates[0]
    assert [n.id for n in other.neighbours] == [102, 101, 100]


def test_base_filter_applies_to_every_candidate(index, features):
    table = class_conditional_evidence(
        index,
        np.array([[1.0, 0.0]]),
        [["walking", "running"]],
        n_neighbours=2,
        features=features,
        base_filter=MetadataFilter(exclude_subjects=["s1", "s3"]),
    )
    walking, running = table.queries[0].candidates
    assert [n.id for n in walking.neighbours] == [101, 102]
    assert running.n_neighbours == 0 and "pass the filter" in running.note


def test_table_round_trips_through_json(index, features):
    table = class_conditional_evidence(
        index, np.array([[1.0, 0.0]]), [["walking", "jumping"]], n_neighbours=2, features=features
    )
    again = EvidenceTable.model_validate_json(table.model_dump_json())
    assert again == table
    assert table.strategy == "single_index" and "cosine similarity" in table.similarity_meaning


def test_multi_placement_evidence_keeps_per_placement_ranks():
    rng = np.random.default_rng(4)
    metadata = placeholder_metadata(60, activities=np.repeat(["walking", "sitting", "lying"], 20))
    vectors = {"torso": rng.standard_normal((60, 4)), "thigh": rng.standard_normal((60, 4))}
    multi = MultiPlacementIndex(["torso", "thigh"], 4).fit(vectors, metadata)
    queries = {p: v[[0, 25]] for p, v in vectors.items()}
    table = class_conditional_evidence(multi, queries, [["walking", "lying"], ["sitting"]], n_neighbours=4)
    walking = table.queries[0].candidates[0]
    assert table.strategy == "rrf" and walking.n_neighbours == 4
    assert walking.neighbours[0].id == 0 and walking.neighbours[0].placement_rank == {"thigh": 1, "torso": 1}
    assert walking.fused_score.max == pytest.approx(2 / 61)
    assert all(metadata.loc[n.id, "activity"] == "walking" for n in walking.neighbours)
    sitting = table.queries[1].candidates[0]
    assert sitting.neighbours[0].id == 25 and sitting.similarity.max == pytest.approx(1.0)
    fused_scores = [n.fused_score for n in sitting.neighbours]
    assert fused_scores == sorted(fused_scores, reverse=True)


def test_feature_table_problems_are_explained(index):
    with pytest.raises(RetrievalError, match=r"NaN/infinite for ids \[101\] in features \['cadence_hz'\]"):
        FeatureTable(np.arange(100, 106), np.array([[1.0], [np.nan], [1], [1], [1], [1]]), ("cadence_hz",))
    partial = FeatureTable(np.arange(100, 104), np.ones((4, 1)), ("cadence_hz",))
    with pytest.raises(RetrievalError, match=r"no row for reference ids \[104\]"):
        class_conditional_evidence(index, np.array([[-1.0, 0.0]]), [["sitting"]], n_neighbours=2, features=partial)
    with pytest.raises(RetrievalError, match=r"features \['tilt'\] are not in the feature table"):
        class_conditional_evidence(
            index, np.array([[1.0, 0.0]]), [["sitting"]], features=partial, feature_names=["tilt"]
        )
    with pytest.raises(RetrievalError, match="one list of activity names per query"):
        class_conditional_evidence(index, np.array([[1.0, 0.0]]), [["sitting"], ["walking"]])
    with pytest.raises(RetrievalError, match="repeats an activity"):
        class_conditional_evidence(index, np.array([[1.0, 0.0]]), [["sitting", "sitting"]])


def test_fused_embedding_index_gives_single_similarity_evidence():
    rng = np.random.default_rng(8)
    metadata = placeholder_metadata(40, activities=np.repeat(["walking", "sitting"], 20))
    vectors = {"torso": rng.standard_normal((40, 4)), "thigh": rng.standard_normal((40, 4))}
    fused = FusedEmbeddingIndex(["torso", "thigh"]).fit(vectors, metadata)
    table = class_conditional_evidence(fused, {p: v[[30]] for p, v in vectors.items()}, [["sitting", "walking"]])
    sitting, walking = table.queries[0].candidates
    assert table.strategy == "fused_embedding"
    assert sitting.neighbours[0].id == 30 and sitting.similarity.max == pytest.approx(1.0)
    assert sitting.fused_score is None and sitting.neighbours[0].placement_rank is None
    assert all(20 > n.id for n in walking.neighbours) and walking.n_neighbours == 5
