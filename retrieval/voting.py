"""kNN vote over retrieval results, and a one-call comparison of the RRF and fused-embedding strategies.

The vote works on any result (one index, or fused placements), so the same code scores encoder embeddings
and standardised knowledge-base features. Class scores follow a caller-given `classes` order, like
scikit-learn's `classes_`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import accuracy_score, f1_score

from retrieval.errors import RetrievalError, describe_items
from retrieval.index import Kind, VectorIndex, check_k
from retrieval.metadata import placeholder_metadata
from retrieval.multi import DEFAULT_K_RRF, FusedEmbeddingIndex, MultiPlacementIndex
from retrieval.results import MISSING_ID, FusedResult, SearchResult
from retrieval.vectors import EmbeddingFusion, Metric

Weighting = Literal["rrf", "uniform", "similarity"]


def knn_vote(
    result: SearchResult | FusedResult,
    reference_labels: pd.Series | Mapping[int, str],
    k: int,
    *,
    classes: Sequence[str],
    weighting: Weighting = "rrf",
    k_rrf: int = DEFAULT_K_RRF,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted label per query and vote shares (Q, len(classes)) from the first k neighbours.

    Weights: `uniform` 1 each; `rrf` 1/(k_rrf + rank) for one index, the fused RRF score for a fused result;
    `similarity` the similarity clipped at 0 (cosine/ip) or 1/(1 + squared distance) (l2).
    Shares sum to 1 per query; ties go to the class listed first in `classes`.
    """
    check_k(k)
    if k > result.k:
        raise RetrievalError(f"k={k} but the result holds only {result.k} neighbours per query", fix="search deeper")
    class_list = _class_list(classes)
    ids = result.ids[:, :k]
    valid = ids != MISSING_ID
    _require_neighbours(valid)
    codes = _class_codes(_labels_of(reference_labels, ids[valid]), class_list)
    weights = _weights(result, k, weighting, k_rrf)[valid]
    votes = np.zeros((result.n_queries, len(class_list)), dtype=np.float64)
    np.add.at(votes, (np.nonzero(valid)[0], codes), weights)
    totals = votes.sum(axis=1)
    weightless = np.flatnonzero(totals <= 0)
    if weightless.size:
        raise RetrievalError(
            f"queries {describe_items(weightless.tolist())} have no positive vote weight (all similarities <= 0)",
            fix="use weighting='rrf' or 'uniform'",
        )
    shares = votes / totals[:, None]
    return np.asarray(class_list, dtype=object)[shares.argmax(axis=1)], shares


def _class_list(classes: Sequence[str]) -> list[str]:
    class_list = [str(c) for c in classes] if not isinstance(classes, str) else []
    if not class_list or len(set(class_list)) != len(class_list):
        raise RetrievalError(f"classes must be a non-empty list of unique labels, got {classes!r}")
    return class_list


def _require_neighbours(valid: np.ndarray) -> None:
    empty = np.flatnonzero(~valid.any(axis=1))
    if empty.size:
        raise RetrievalError(
            f"queries {describe_items(empty.tolist())} have no neighbours to vote with (a filter excluded everything)",
            fix="loosen the filter or drop those queries",
        )


def _labels_of(reference_labels: pd.Series | Mapping[int, str], ids: np.ndarray) -> np.ndarray:
    labels = reference_labels if isinstance(reference_labels, pd.Series) else pd.Series(dict(reference_labels))
    found = labels.reindex(ids)
    missing = ids[found.isna().to_numpy()]
    if missing.size:
        raise RetrievalError(
            f"no reference label for ids {describe_items(np.unique(missing).tolist())}",
            fix="pass labels keyed by the index ids (e.g. index.metadata_['activity'])",
        )
    return found.astype(str).to_numpy()


def _class_codes(labels: np.ndarray, class_list: list[str]) -> np.ndarray:
    codes = pd.Index(class_list).get_indexer(labels).astype(np.int64)
    unknown = np.unique(labels[codes < 0])
    if unknown.size:
        raise RetrievalError(
            f"neighbour labels {describe_items(unknown.tolist())} are not in classes",
            fix="add them to classes, or filter the search with only_activities=classes",
        )
    return codes


def _weights(result: SearchResult | FusedResult, k: int, weighting: Weighting, k_rrf: int) -> np.ndarray:
    shape = (result.n_queries, k)
    if weighting == "uniform":
        return np.ones(shape)
    if weighting == "rrf":
        if isinstance(result, FusedResult):
            return result.scores[:, :k].astype(np.float64)
        return np.broadcast_to(1.0 / (k_rrf + np.arange(1, k + 1)), shape)
    if weighting == "similarity":
        similarity = result.similarities[:, :k].astype(np.float64)
        return 1.0 / (1.0 - similarity) if result.metric == "l2" else np.clip(similarity, 0.0, None)
    raise RetrievalError(f"unknown weighting {weighting!r}", fix="use 'rrf', 'uniform' or 'similarity'")


class StrategyScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    strategy: str
    macro_f1: float
    accuracy: float
    predictions: list[str]


class KnnComparison(BaseModel):
    """kNN-vote scores of several retrieval strategies on the same reference and query vectors."""

    model_config = ConfigDict(frozen=True)

    classes: list[str]
    k: int
    weighting: Weighting
    metric: Metric
    fusion: EmbeddingFusion
    n_reference: int
    n_queries: int
    strategies: dict[str, StrategyScore]


def compare_knn_strategies(
    reference_vectors: Mapping[str, ArrayLike],
    reference_labels: ArrayLike,
    query_vectors: Mapping[str, ArrayLike],
    query_labels: ArrayLike,
    *,
    k: int = 10,
    weighting: Weighting = "rrf",
    metric: Metric = "cosine",
    fusion: EmbeddingFusion = "mean",
    kind: Kind = "flat",
    k_rrf: int = DEFAULT_K_RRF,
    depth: int | None = None,
    classes: Sequence[str] | None = None,
    per_placement: bool = True,
) -> KnnComparison:
    """Macro-F1 and predictions of kNN vote for `rrf` (per-placement indexes fused) and `fused_embedding`
    (one index over fused vectors), plus `placement:<name>` single-placement baselines if `per_placement`.

    Works for encoder embeddings (metric='cosine') and standardised features (e.g. metric='l2',
    fusion='concat_raw'). Macro-F1 is scikit-learn's, over the labels present in truth or predictions.
    """
    truth = np.asarray(query_labels).astype(str)
    reference = np.asarray(reference_labels).astype(str)
    class_list = sorted(set(reference.tolist())) if classes is None else _class_list(classes)
    metadata = placeholder_metadata(len(reference), activities=reference)
    placements = sorted(reference_vectors)
    multi = MultiPlacementIndex(
        placements, {p: np.shape(reference_vectors[p])[1] for p in placements}, metric, kind, k_rrf=k_rrf
    ).fit(reference_vectors, metadata)
    fused = FusedEmbeddingIndex(placements, fusion, metric, kind).fit(reference_vectors, metadata)
    labels = multi.metadata_["activity"]
    results: dict[str, SearchResult | FusedResult] = {
        "rrf": multi.search(query_vectors, k, depth=depth),
        "fused_embedding": fused.search(query_vectors, k),
    }
    if per_placement:
        for placement in placements:
            index: VectorIndex = multi.indexes_[placement]
            results[f"placement:{placement}"] = index.search(query_vectors[placement], k)
    strategies = {}
    for name, result in results.items():
        predicted, _ = knn_vote(result, labels, k, classes=class_list, weighting=weighting, k_rrf=k_rrf)
        strategies[name] = _score(name, truth, predicted)
    return KnnComparison(
        classes=class_list,
        k=k,
        weighting=weighting,
        metric=metric,
        fusion=fusion,
        n_reference=len(reference),
        n_queries=len(truth),
        strategies=strategies,
    )


def _score(name: str, truth: np.ndarray, predicted: np.ndarray) -> StrategyScore:
    if truth.shape != predicted.shape:
        raise RetrievalError(f"{truth.size} query labels for {predicted.size} queries", fix="give one label per query")
    return StrategyScore(
        strategy=name,
        macro_f1=float(f1_score(truth, predicted.astype(str), average="macro", zero_division=0)),
        accuracy=float(accuracy_score(truth, predicted.astype(str))),
        predictions=predicted.astype(str).tolist(),
    )
