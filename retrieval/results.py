"""Typed search results: batched arrays for computation, per-hit pydantic models for people and agents.

Score convention, the same everywhere in the package: **higher is better**. For `cosine` a score is the cosine
similarity, for `ip` the inner product, for `l2` the *negated squared* Euclidean distance. Slots past the last
match (a filter left fewer than k vectors) hold id -1 and a NaN score; use `valid` to mask them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from retrieval.errors import RetrievalError
from retrieval.metadata import REQUIRED_COLUMNS
from retrieval.vectors import Metric

MISSING_ID = -1


def _frozen(array: np.ndarray, dtype: type) -> np.ndarray:
    copy = np.array(array, dtype=dtype, copy=True, order="C")
    copy.setflags(write=False)
    return copy


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Neighbours of Q queries in one index: `ids` (Q, k) int64 and `scores` (Q, k) float32, best first."""

    ids: np.ndarray
    scores: np.ndarray
    metric: Metric

    def __post_init__(self) -> None:
        if self.ids.ndim != 2 or self.ids.shape != self.scores.shape:
            raise RetrievalError(f"ids {self.ids.shape} and scores {self.scores.shape} must be equal (Q, k) arrays")
        object.__setattr__(self, "ids", _frozen(self.ids, np.int64))
        object.__setattr__(self, "scores", _frozen(self.scores, np.float32))

    @property
    def valid(self) -> np.ndarray:
        """(Q, k) True where a slot holds a real neighbour."""
        return self.ids != MISSING_ID

    @property
    def similarities(self) -> np.ndarray:
        """The per-neighbour similarity (same as `scores` for a single index)."""
        return self.scores

    @property
    def n_queries(self) -> int:
        return int(self.ids.shape[0])

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])


@dataclass(frozen=True, eq=False)
class FusedResult:
    """Multi-placement neighbours fused by reciprocal-rank fusion, with the per-placement evidence kept.

    `scores` (Q, k) float64 are fused RRF scores Σ_p 1/(k_rrf + rank_p). `placement_ranks` (Q, k, P) int32 hold
    each neighbour's 1-based rank in each placement's list (0 = not within the searched depth);
    `placement_scores` (Q, k, P) float32 its exact score against that placement's query vector, even when it
    was beyond the depth (NaN when the window has no vector for that placement). `similarities` (Q, k) is
    the mean of `placement_scores` over the placements the window has.
    """

    ids: np.ndarray
    scores: np.ndarray
    placements: tuple[str, ...]
    placement_ranks: np.ndarray
    placement_scores: np.ndarray
    metric: Metric
    k_rrf: int
    depth: int

    def __post_init__(self) -> None:
        n_placements = len(self.placements)
        expected = (*self.ids.shape, n_placements)
        if self.ids.shape != self.scores.shape or self.placement_ranks.shape != expected:
            raise RetrievalError(
                f"inconsistent fused result shapes: ids {self.ids.shape}, scores {self.scores.shape}, "
                f"ranks {self.placement_ranks.shape} for {n_placements} placements"
            )
        if self.placement_scores.shape != expected:
            raise RetrievalError(f"placement_scores {self.placement_scores.shape} should be {expected}")
        object.__setattr__(self, "ids", _frozen(self.ids, np.int64))
        object.__setattr__(self, "scores", _frozen(self.scores, np.float64))
        object.__setattr__(self, "placement_ranks", _frozen(self.placement_ranks, np.int32))
        object.__setattr__(self, "placement_scores", _frozen(self.placement_scores, np.float32))

    @property
    def valid(self) -> np.ndarray:
        return self.ids != MISSING_ID

    @property
    def similarities(self) -> np.ndarray:
        """(Q, k) mean score over the placements that hold the neighbour; NaN in empty slots."""
        known = np.isfinite(self.placement_scores)
        counts = known.sum(axis=-1)
        totals = np.where(known, self.placement_scores, 0.0).sum(axis=-1)
        mean = np.full(self.ids.shape, np.nan, dtype=np.float32)
        np.divide(totals, counts, out=mean, where=counts > 0)
        return mean

    @property
    def n_queries(self) -> int:
        return int(self.ids.shape[0])

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])


class PlacementMatch(BaseModel):
    """How one fused neighbour looked from one placement."""

    model_config = ConfigDict(frozen=True)

    rank: int | None
    score: float


class Hit(BaseModel):
    """One neighbour of one query, joined with its metadata row."""

    model_config = ConfigDict(frozen=True)

    query: int
    rank: int
    id: int
    score: float
    dataset: str
    subject: str
    activity: str
    recording: str
    placement: str | None
    start_s: float
    extra: dict[str, Any]
    placements: dict[str, PlacementMatch] | None = None


def iter_hits(result: SearchResult | FusedResult, metadata: pd.DataFrame) -> Iterator[list[Hit]]:
    """Per query, the list of its real neighbours (empty slots skipped) as :class:`Hit` models."""
    rows = _metadata_rows(result, metadata)
    fused = isinstance(result, FusedResult)
    for query in range(result.n_queries):
        hits = []
        for slot in np.flatnonzero(result.valid[query]):
            neighbour_id = int(result.ids[query, slot])
            hits.append(_hit(result, query, slot, neighbour_id, rows[neighbour_id], fused))
        yield hits


def _metadata_rows(result: SearchResult | FusedResult, metadata: pd.DataFrame) -> dict[int, dict[str, Any]]:
    wanted = np.unique(result.ids[result.valid])
    unknown = wanted[metadata.index.get_indexer(wanted) < 0]
    if unknown.size:
        raise RetrievalError(
            f"result ids {unknown[:10].tolist()} are not in the metadata table",
            fix="join a result with the metadata of the index that produced it",
        )
    table = metadata.loc[wanted]
    records = table.to_dict("records")
    return {int(i): {k: _plain(v) for k, v in row.items()} for i, row in zip(wanted, records, strict=True)}


def _hit(result: SearchResult | FusedResult, query: int, slot: int, neighbour_id: int, row: dict, fused: bool) -> Hit:
    extra = {k: v for k, v in row.items() if k not in REQUIRED_COLUMNS}
    placements = None
    if fused:
        placements = {
            name: PlacementMatch(
                rank=int(result.placement_ranks[query, slot, p]) or None,
                score=float(result.placement_scores[query, slot, p]),
            )
            for p, name in enumerate(result.placements)
        }
    return Hit(
        query=query,
        rank=slot + 1,
        id=neighbour_id,
        score=float(result.scores[query, slot]),
        dataset=row["dataset"],
        subject=row["subject"],
        activity=row["activity"],
        recording=row["recording"],
        placement=None if fused else row["placement"],
        start_s=float(row["start_s"]),
        extra=extra,
        placements=placements,
    )


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars so hits serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value
