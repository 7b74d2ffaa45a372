"""Class-conditional neighbour evidence: for each query and each candidate activity, the nearest reference
windows OF THAT ACTIVITY, how similar they are, and statistics of caller-supplied features over them.

This is the table an agent cites, so every number is traceable: neighbour ids (and their provenance) are
included, statistics are plain functions of those neighbours' rows in the caller's feature table, and a
candidate without reference data gets an explicit entry with `n_neighbours == 0` instead of an error.

Neighbours are gathered with a filter restricted to the candidate activity (a FAISS IDSelector), so every
candidate that has reference data gets its R neighbours however far down the unfiltered ranking they sit.
With several placements, ranks are therefore RRF ranks *within* the candidate's reference windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict

from retrieval.errors import RetrievalError, describe_items
from retrieval.index import VectorIndex, check_k
from retrieval.metadata import MetadataFilter
from retrieval.multi import FusedEmbeddingIndex, MultiPlacementIndex
from retrieval.results import FusedResult, SearchResult
from retrieval.vectors import Metric

AnyIndex = VectorIndex | MultiPlacementIndex | FusedEmbeddingIndex
Queries = ArrayLike | Mapping[str, ArrayLike]
QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
_SIMILARITY_MEANING: dict[Metric, str] = {
    "cosine": "cosine similarity (1 = same direction)",
    "ip": "inner product",
    "l2": "negated squared Euclidean distance (0 = identical, more negative = farther)",
}


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Feature values per reference window, keyed by the index's ids; retrieval only reads them.

    `values` (N, F) must be finite: a statistic over a NaN would be silently NaN in the agent's table.
    """

    ids: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]
    _sorted_ids: np.ndarray = field(init=False, repr=False, compare=False)
    _order: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids)
        values = np.asarray(self.values, dtype=np.float64)
        names = tuple(self.names)
        shapes_ok = ids.ndim == 1 and ids.size > 0 and values.ndim == 2 and values.shape == (ids.size, len(names))
        if not shapes_ok or ids.dtype.kind not in "iu":
            raise RetrievalError(
                f"feature table needs ids (N >= 1,) ints, values (N, F) and F names; got ids {ids.shape} {ids.dtype}, "
                f"values {values.shape}, {len(names)} names",
                fix="align one row of feature values with each reference id and name every column",
            )
        _check_unique(ids.astype(np.int64), "feature table ids")
        _check_unique(np.asarray(names, dtype=object), "feature names")
        _check_finite(values, ids, names)
        order = np.argsort(ids, kind="stable")
        for name, value in (("ids", ids.astype(np.int64)), ("values", values), ("names", names)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_sorted_ids", self.ids[order])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> FeatureTable:
        """A DataFrame indexed by reference id with one numeric column per feature."""
        non_numeric = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if non_numeric:
            raise RetrievalError(
                f"feature columns {non_numeric} are not numeric", fix="keep only numeric feature columns"
            )
        return cls(frame.index.to_numpy(), frame.to_numpy(dtype=np.float64), tuple(str(c) for c in frame.columns))

    def positions(self, names: Sequence[str]) -> np.ndarray:
        """Column positions of the requested feature names."""
        lookup = {name: i for i, name in enumerate(self.names)}
        unknown = [name for name in names if name not in lookup]
        if unknown:
            raise RetrievalError(
                f"features {unknown} are not in the feature table", fix=f"choose from {list(self.names)}"
            )
        return np.array([lookup[name] for name in names], dtype=np.int64)

    def rows(self, ids: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Feature values (..., len(columns)) for an array of ids (every id must be in the table)."""
        flat = np.asarray(ids, dtype=np.int64).ravel()
        where = np.minimum(np.searchsorted(self._sorted_ids, flat), self._sorted_ids.size - 1)
        missing = np.unique(flat[self._sorted_ids[where] != flat])
        if missing.size:
            raise RetrievalError(
                f"the feature table has no row for reference ids {describe_items(missing.tolist())}",
                fix="compute features for every window in the index (same ids)",
            )
        return self.values[self._order[where]][:, columns].reshape(*np.shape(ids), columns.size)


class SummaryStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    max: float
    mean: float
    min: float


class FeatureStats(BaseModel):
    """Statistics of one feature over a candidate's neighbours (std is the population std, ddof=0)."""

    model_config = ConfigDict(frozen=True)

    mean: float
    std: float
    q10: float
    q25: float
    q50: float
    q75: float
    q90: float


class NeighbourEvidence(BaseModel):
    """One reference window behind a candidate's statistics."""

    model_config = ConfigDict(frozen=True)

    id: int
    rank: int
    similarity: float
    fused_score: float | None = None
    placement_similarity: dict[str, float | None] | None = None
    placement_rank: dict[str, int | None] | None = None
    dataset: str
    subject: str
    recording: str
    start_s: float


class CandidateEvidence(BaseModel):
    """Evidence for one candidate activity of one query."""

    model_config = ConfigDict(frozen=True)

    activity: str
    n_neighbours: int
    note: str | None = None
    neighbours: list[NeighbourEvidence]
    similarity: SummaryStats | None
    fused_score: SummaryStats | None = None
    features: dict[str, FeatureStats]


class QueryEvidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    query: int
    candidates: list[CandidateEvidence]


class EvidenceTable(BaseModel):
    """All queries' evidence plus what the numbers mean, ready for `model_dump_json()`."""

    model_config = ConfigDict(frozen=True)

    strategy: Literal["single_index", "rrf", "fused_embedding"]
    metric: Metric
    similarity_meaning: str
    n_neighbours_requested: int
    feature_names: list[str]
    queries: list[QueryEvidence]


def class_conditional_evidence(
    index: AnyIndex,
    queries: Queries,
    candidates: Sequence[Sequence[str]],
    *,
    n_neighbours: int = 5,
    features: FeatureTable | None = None,
    feature_names: Sequence[str] | None = None,
    base_filter: MetadataFilter | None = None,
    depth: int | None = None,
) -> EvidenceTable:
    """Per query and candidate activity: its top-`n_neighbours` reference windows and their statistics.

    `queries`: (Q, D) for a VectorIndex, {placement: (Q, D)} for the multi-placement indexes.
    `candidates[q]`: the activity strings to gather evidence for, in the order they should be reported.
    `base_filter`: applied to every candidate (e.g. exclude the query's own subject or recording).
    `depth`: per-placement search depth for RRF (MultiPlacementIndex only).
    """
    check_k(n_neighbours)
    n_queries = _query_count(queries)
    lists = _candidate_lists(candidates, n_queries)
    names = _feature_names(features, feature_names)
    columns = features.positions(names) if features is not None else np.empty(0, dtype=np.int64)
    with_data = _activities_with_data(index.metadata_, base_filter)
    entries: dict[tuple[int, str], CandidateEvidence] = {}
    for activity in sorted({a for candidate_list in lists for a in candidate_list}):
        rows = np.array([q for q, candidate_list in enumerate(lists) if activity in candidate_list])
        if activity not in with_data:
            note = f"no reference windows of activity {activity!r}" + (" pass the filter" if base_filter else "")
            entries.update({(int(q), activity): _no_evidence(activity, note) for q in rows})
            continue
        narrowed = (base_filter or MetadataFilter()).with_only_activity(activity)
        result = _search(index, _take_rows(queries, rows), n_neighbours, narrowed, depth)
        found = _evidence_for(result, activity, index.metadata_, features, columns, names, n_neighbours)
        entries.update({(int(q), activity): entry for q, entry in zip(rows, found, strict=True)})
    return EvidenceTable(
        strategy=_strategy_of(index),
        metric=index.metric,
        similarity_meaning=_SIMILARITY_MEANING[index.metric],
        n_neighbours_requested=n_neighbours,
        feature_names=list(names),
        queries=[QueryEvidence(query=q, candidates=[entries[(q, a)] for a in lists[q]]) for q in range(n_queries)],
    )


def _evidence_for(
    result: SearchResult | FusedResult,
    activity: str,
    metadata: pd.DataFrame,
    features: FeatureTable | None,
    columns: np.ndarray,
    names: Sequence[str],
    requested: int,
) -> list[CandidateEvidence]:
    """Vectorised statistics for one candidate over a batch of queries, then one model per query."""
    counts = result.valid.sum(axis=1)
    similarities = result.similarities.astype(np.float64)
    similarity_stats = _summaries(similarities, counts)
    fused = isinstance(result, FusedResult)
    fused_stats = _summaries(result.scores.astype(np.float64), counts) if fused else None
    feature_stats = None
    if features is not None and columns.size:
        values = np.full((*result.ids.shape, columns.size), np.nan)
        values[result.valid] = features.rows(result.ids[result.valid], columns)
        feature_stats = _feature_summaries(values, counts)
    provenance = _provenance(metadata, result)
    entries = []
    for q, count in enumerate(counts):
        if count == 0:
            entries.append(_no_evidence(activity, f"the search returned no windows of activity {activity!r}"))
            continue
        entries.append(
            CandidateEvidence(
                activity=activity,
                n_neighbours=int(count),
                note=None if count == requested else f"only {count} reference windows of {activity!r} found",
                neighbours=[_neighbour(result, q, slot, similarities, provenance) for slot in range(count)],
                similarity=SummaryStats(**dict(zip(("max", "mean", "min"), similarity_stats[q].tolist(), strict=True))),
                fused_score=(
                    SummaryStats(**dict(zip(("max", "mean", "min"), fused_stats[q].tolist(), strict=True)))
                    if fused_stats is not None
                    else None
                ),
                features=_feature_models(feature_stats, q, names),
            )
        )
    return entries


def _summaries(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(Q, 3) max, mean, min over each row's first `count` values (filled slots come first)."""
    out = np.full((values.shape[0], 3), np.nan)
    for count in np.unique(counts[counts > 0]):
        rows = counts == count
        block = values[rows, :count]
        out[rows] = np.stack([block.max(axis=1), block.mean(axis=1), block.min(axis=1)], axis=1)
    return out


def _feature_summaries(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(Q, 7, F) mean, std, q10, q25, q50, q75, q90 over each row's first `count` neighbours."""
    out = np.full((values.shape[0], 2 + len(QUANTILES), values.shape[2]), np.nan)
    for count in np.unique(counts[counts > 0]):
        rows = counts == count
        block = values[rows, :count]
        quantiles = np.quantile(block, QUANTILES, axis=1)
        out[rows] = np.concatenate([block.mean(axis=1)[None], block.std(axis=1)[None], quantiles]).transpose(1, 0, 2)
    return out


def _feature_models(feature_stats: np.ndarray | None, q: int, names: Sequence[str]) -> dict[str, FeatureStats]:
    if feature_stats is None:
        return {}
    keys = ("mean", "std", "q10", "q25", "q50", "q75", "q90")
    return {
        name: FeatureStats(**dict(zip(keys, feature_stats[q, :, f].tolist(), strict=True)))
        for f, name in enumerate(names)
    }


def _provenance(metadata: pd.DataFrame, result: SearchResult | FusedResult) -> dict[int, tuple[str, str, str, float]]:
    ids = np.unique(result.ids[result.valid])
    rows = metadata.loc[ids, ["dataset", "subject", "recording", "start_s"]]
    return {
        int(i): (str(d), str(s), str(r), float(t))
        for i, d, s, r, t in zip(ids, rows["dataset"], rows["subject"], rows["recording"], rows["start_s"], strict=True)
    }


def _neighbour(
    result: SearchResult | FusedResult, q: int, slot: int, similarities: np.ndarray, provenance: dict
) -> NeighbourEvidence:
    neighbour_id = int(result.ids[q, slot])
    dataset, subject, recording, start_s = provenance[neighbour_id]
    fused_fields = {}
    if isinstance(result, FusedResult):
        scores, ranks = result.placement_scores[q, slot], result.placement_ranks[q, slot]
        fused_fields = {
            "fused_score": float(result.scores[q, slot]),
            "placement_similarity": {p: _finite_or_none(scores[i]) for i, p in enumerate(result.placements)},
            "placement_rank": {p: int(ranks[i]) or None for i, p in enumerate(result.placements)},
        }
    return NeighbourEvidence(
        id=neighbour_id,
        rank=slot + 1,
        similarity=float(similarities[q, slot]),
        dataset=dataset,
        subject=subject,
        recording=recording,
        start_s=start_s,
        **fused_fields,
    )


def _strategy_of(index: AnyIndex) -> Literal["single_index", "rrf", "fused_embedding"]:
    if isinstance(index, MultiPlacementIndex):
        return "rrf"
    return "fused_embedding" if isinstance(index, FusedEmbeddingIndex) else "single_index"


def _no_evidence(activity: str, note: str) -> CandidateEvidence:
    return CandidateEvidence(activity=activity, n_neighbours=0, note=note, neighbours=[], similarity=None, features={})


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _search(
    index: AnyIndex, queries: Queries, k: int, filter: MetadataFilter, depth: int | None
) -> SearchResult | FusedResult:
    if isinstance(index, MultiPlacementIndex):
        return index.search(queries, k, filter, depth=depth)
    return index.search(queries, k, filter)


def _query_count(queries: Queries) -> int:
    if isinstance(queries, Mapping):
        counts = {p: np.shape(v)[0] if np.ndim(v) else 0 for p, v in queries.items()}
        if not counts or len(set(counts.values())) != 1:
            raise RetrievalError(f"query placements have different or no row counts {counts}", fix="align the queries")
        return next(iter(counts.values()))
    return int(np.shape(queries)[0]) if np.ndim(queries) else 0


def _take_rows(queries: Queries, rows: np.ndarray) -> Queries:
    if isinstance(queries, Mapping):
        return {p: np.asarray(v)[rows] for p, v in queries.items()}
    return np.asarray(queries)[rows]


def _candidate_lists(candidates: Sequence[Sequence[str]], n_queries: int) -> list[list[str]]:
    if isinstance(candidates, str) or len(candidates) != n_queries:
        raise RetrievalError(
            f"candidates must be one list of activity names per query ({n_queries} queries)",
            fix="pass e.g. [['walking', 'running'], ['sitting']]",
        )
    lists = []
    for q, candidate_list in enumerate(candidates):
        if isinstance(candidate_list, str) or not all(isinstance(a, str) for a in candidate_list):
            raise RetrievalError(f"candidates[{q}] must be a list of activity strings, got {candidate_list!r}")
        if len(set(candidate_list)) != len(candidate_list):
            raise RetrievalError(f"candidates[{q}] repeats an activity: {list(candidate_list)}", fix="list each once")
        lists.append(list(candidate_list))
    return lists


def _feature_names(features: FeatureTable | None, feature_names: Sequence[str] | None) -> list[str]:
    if features is None:
        if feature_names:
            raise RetrievalError("feature_names given without a feature table", fix="pass features=FeatureTable(...)")
        return []
    return list(features.names if feature_names is None else feature_names)


def _activities_with_data(metadata: pd.DataFrame, base_filter: MetadataFilter | None) -> set[str]:
    keep = base_filter.mask(metadata) if base_filter is not None else np.ones(len(metadata), dtype=bool)
    return set(metadata["activity"].to_numpy()[keep].tolist())


def _check_unique(values: np.ndarray, what: str) -> None:
    uniques, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        raise RetrievalError(f"{what} repeat: {describe_items(uniques[counts > 1].tolist())}", fix="make them unique")


def _check_finite(values: np.ndarray, ids: np.ndarray, names: Sequence[str]) -> None:
    bad_rows, bad_columns = np.nonzero(~np.isfinite(values))
    if bad_rows.size:
        raise RetrievalError(
            f"feature values are NaN/infinite for ids {describe_items(np.unique(ids[bad_rows]).tolist())} "
            f"in features {describe_items(sorted({names[c] for c in bad_columns}))}",
            fix="impute those values or drop the features before building evidence",
        )
