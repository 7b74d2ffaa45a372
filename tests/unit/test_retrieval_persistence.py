"""Save → load → search identity and refusal of mismatched or incomplete saved indexes."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pandas as pd
import pytest

from retrieval import (
    FusedEmbeddingIndex,
    IndexManifest,
    MetadataFilter,
    MultiPlacementIndex,
    RetrievalError,
    VectorIndex,
    placeholder_metadata,
)

ENCODER = "tcn-3f9a2c"


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    metadata = placeholder_metadata(800, activities=rng.choice(["walking", "sitting"], 800))
    metadata["subject"] = rng.integers(1, 4, 800)
    metadata["energy"] = rng.random(800)
    metadata["note"] = [f"window {i}" for i in range(800)]
    return rng.standard_normal((800, 10)), metadata, rng.standard_normal((25, 10))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_save_load_search_is_identical(tmp_path, reference, kind, metric):
    vectors, metadata, queries = reference
    index = VectorIndex(10, metric, kind, hnsw_m=16, hnsw_ef_construction=40, hnsw_ef_search=48, encoder_hash=ENCODER)
    index.fit(vectors, metadata, ids=np.arange(800) * 7)
    query_filter = MetadataFilter(exclude_subjects=["2"])
    before = index.search(queries, k=12), index.search(queries, k=12, filter=query_filter)
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx", encoder_hash=ENCODER, dimension=10, metric=metric)
    after = loaded.search(queries, k=12), loaded.search(queries, k=12, filter=query_filter)
    for first, second in zip(before, after, strict=True):
        assert np.array_equal(first.ids, second.ids)
        assert np.array_equal(first.scores, second.scores, equal_nan=True)
    assert loaded.kind_ == kind and loaded.hnsw_ef_search == 48 and loaded.encoder_hash == ENCODER
    pd.testing.assert_frame_equal(loaded.metadata_, index.metadata_)
    assert np.array_equal(loaded.add(vectors[:2], metadata.iloc[:2]), [5594, 5595])


def test_saved_folder_layout_and_manifest(tmp_path, reference):
    vectors, metadata, _ = reference
    VectorIndex(10, "cosine", "flat", encoder_hash=ENCODER).fit(vectors, metadata).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.faiss", "manifest.json", "metadata.parquet"]
    manifest = IndexManifest.model_validate_json((tmp_path / "manifest.json").read_text())
    assert (manifest.count, manifest.dimension, manifest.metric, manifest.kind) == (800, 10, "cosine", "flat")
    assert manifest.faiss_version == faiss.__version__ and manifest.params.requested_kind == "flat"
    assert "energy" in manifest.metadata_columns
    assert pd.read_parquet(tmp_path / "metadata.parquet").index.name == "id"


def test_load_refuses_another_encoder_dimension_or_metric(tmp_path, reference):
    vectors, metadata, _ = reference
    VectorIndex(10, "cosine", encoder_hash=ENCODER).fit(vectors, metadata).save(tmp_path)
    with pytest.raises(RetrievalError, match="holds vectors from encoder 'tcn-3f9a2c', but the caller uses 'tcn-0000'"):
        VectorIndex.load(tmp_path, encoder_hash="tcn-0000")
    with pytest.raises(RetrievalError, match="encoder 'tcn-3f9a2c', but the caller uses None"):
        VectorIndex.load(tmp_path, encoder_hash=None)
    with pytest.raises(RetrievalError, match="dimension 10, but the caller's vectors have dimension 64"):
        VectorIndex.load(tmp_path, encoder_hash=ENCODER, dimension=64)
    with pytest.raises(RetrievalError, match="built for metric 'cosine', but the caller asks for 'l2'"):
        VectorIndex.load(tmp_path, encoder_hash=ENCODER, metric="l2")


def test_load_refuses_incomplete_or_inconsistent_folders(tmp_path, reference):
    vectors, metadata, _ = reference
    index = VectorIndex(10, encoder_hash=ENCODER).fit(vectors, metadata)
    index.save(tmp_path / "a")
    (tmp_path / "a" / "manifest.json").unlink()
    with pytest.raises(RetrievalError, match="not a complete saved index"):
        VectorIndex.load(tmp_path / "a", encoder_hash=ENCODER)
    index.save(tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["count"] = 799
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RetrievalError, match="disagrees with its manifest"):
        VectorIndex.load(tmp_path / "b", encoder_hash=ENCODER)
    (tmp_path / "b" / "manifest.json").write_text("{not json")
    with pytest.raises(RetrievalError, match="not a valid IndexManifest"):
        VectorIndex.load(tmp_path / "b", encoder_hash=ENCODER)
    index.save(tmp_path / "c")
    (tmp_path / "c" / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(RetrievalError, match="FAISS cannot read"):
        VectorIndex.load(tmp_path / "c", encoder_hash=ENCODER)


def test_multi_placement_save_load_is_identical_and_checked(tmp_path, reference):
    vectors, metadata, queries = reference
    by_placement = {"torso": vectors, "wrist_right": vectors[::-1] * 2 + 1}
    multi = MultiPlacementIndex(["torso", "wrist_right"], 10, encoder_hash=ENCODER, k_rrf=30)
    multi.fit(by_placement, metadata)
    query = {"torso": queries, "wrist_right": queries + 0.5}
    before = multi.search(query, k=8, filter=MetadataFilter(only_activities=["walking"]))
    multi.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "torso", "windows.parquet", "wrist_right"]
    loaded = MultiPlacementIndex.load(tmp_path, encoder_hash=ENCODER)
    after = loaded.search(query, k=8, filter=MetadataFilter(only_activities=["walking"]))
    assert loaded.k_rrf == 30
    for name in ("ids", "scores", "placement_ranks", "placement_scores"):
        assert np.array_equal(getattr(before, name), getattr(after, name), equal_nan=True), name
    pd.testing.assert_frame_equal(loaded.metadata_, multi.metadata_)
    with pytest.raises(RetrievalError, match="caller uses 'other'"):
        MultiPlacementIndex.load(tmp_path, encoder_hash="other")


def test_fused_embedding_save_load_is_identical(tmp_path, reference):
    vectors, metadata, queries = reference
    by_placement = {"torso": vectors, "thigh": vectors[::-1]}
    fused = FusedEmbeddingIndex(["torso", "thigh"], "concat", encoder_hash=ENCODER).fit(by_placement, metadata)
    query = {"torso": queries, "thigh": queries * 3}
    before = fused.search(query, k=5)
    fused.save(tmp_path)
    loaded = FusedEmbeddingIndex.load(tmp_path, encoder_hash=ENCODER)
    after = loaded.search(query, k=5)
    assert loaded.fusion == "concat"
    assert np.array_equal(before.ids, after.ids) and np.array_equal(before.scores, after.scores)
