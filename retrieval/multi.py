"""Retrieval over several body placements: one index per placement fused by reciprocal-rank fusion (RRF),
and the single-index alternative over one fused vector per window, behind the same call signature.

Every reference window has ONE id shared by all placement indexes, so a window's ranks in the torso list and
in the wrist list can be added. RRF needs no score calibration between placements (ranks are comparable even
when one encoder's similarities are systematically higher), which is why it is the default strategy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field

from retrieval.errors import RetrievalError, describe_items
from retrieval.index import (
    DEFAULT_HNSW_EF_CONSTRUCTION,
    DEFAULT_HNSW_EF_SEARCH,
    DEFAULT_HNSW_M,
    FORMAT_VERSION,
    Kind,
    VectorIndex,
    allocate_ids,
    check_encoder,
    check_k,
    check_metric,
    read_manifest,
)
from retrieval.metadata import ID_NAME, MetadataFilter, prepare_metadata
from retrieval.results import MISSING_ID, FusedResult, Hit, SearchResult, iter_hits
from retrieval.vectors import EmbeddingFusion, Metric, fuse_embeddings

logger = logging.getLogger(__name__)

DEFAULT_K_RRF = 60
DEFAULT_DEPTH = 50
MANIFEST_FILE, WINDOWS_FILE, FUSED_FOLDER = "manifest.json", "windows.parquet", "fused"
_PLACEMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def reciprocal_rank_fusion(
    ranked_ids: Sequence[np.ndarray], k: int, k_rrf: int = DEFAULT_K_RRF
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse P ranked id lists (each (Q, depth_p), best first, -1 = empty) into the k best ids per query.

    score(id) = Σ_p 1/(k_rrf + rank_p(id)) with ranks starting at 1; an id absent from a list adds nothing.
    Returns ids (Q, k) int64 (-1 padded), scores (Q, k) float64 (NaN padded) and ranks (Q, k, P) int32
    (0 = absent from that list). Ties go to the smaller id. Each id's terms are summed smallest first, so
    the result does not depend on the order of the lists, not even in the last bit.
    """
    check_k(k)
    if not ranked_ids:
        raise RetrievalError("no ranked lists to fuse", fix="pass at least one (Q, depth) id array")
    lists = [np.asarray(ids, dtype=np.int64) for ids in ranked_ids]
    n_queries = lists[0].shape[0]
    if any(ids.ndim != 2 or ids.shape[0] != n_queries for ids in lists):
        raise RetrievalError(f"ranked lists must be (Q, depth) arrays with the same Q; got {[i.shape for i in lists]}")
    query, neighbour, source, rank = _flatten_ranked(lists)
    out_ids = np.full((n_queries, k), MISSING_ID, dtype=np.int64)
    out_scores = np.full((n_queries, k), np.nan, dtype=np.float64)
    out_ranks = np.zeros((n_queries, k, len(lists)), dtype=np.int32)
    if query.size == 0:
        return out_ids, out_scores, out_ranks
    contribution = 1.0 / (k_rrf + rank)
    order = np.lexsort((contribution, neighbour, query))
    query, neighbour, source, rank, contribution = (a[order] for a in (query, neighbour, source, rank, contribution))
    starts_group = np.r_[True, (query[1:] != query[:-1]) | (neighbour[1:] != neighbour[:-1])]
    group_of_entry = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    fused = np.add.reduceat(contribution, starts)
    group_query, group_id = query[starts], neighbour[starts]
    group_ranks = np.zeros((starts.size, len(lists)), dtype=np.int32)
    group_ranks[group_of_entry, source] = rank
    best_first = np.lexsort((group_id, -fused, group_query))
    ordered_query = group_query[best_first]
    position = np.arange(best_first.size) - np.searchsorted(ordered_query, ordered_query, side="left")
    keep = position < k
    rows, slots, chosen = ordered_query[keep], position[keep], best_first[keep]
    out_ids[rows, slots] = group_id[chosen]
    out_scores[rows, slots] = fused[chosen]
    out_ranks[rows, slots] = group_ranks[chosen]
    return out_ids, out_scores, out_ranks


def _flatten_ranked(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query, id, list position, 1-based rank) for every filled slot of every list."""
    parts = []
    for position, ids in enumerate(lists):
        query, slot = np.nonzero(ids != MISSING_ID)
        parts.append((query, ids[query, slot], np.full(query.size, position), slot + 1))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))  # type: ignore[return-value]


class MultiPlacementManifest(BaseModel):
    """`manifest.json` of a saved multi-placement set; each placement has its own index folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    strategy: str = "rrf"
    placements: list[str]
    dimensions: dict[str, int]
    metric: Metric
    k_rrf: int = Field(gt=0)
    encoder_hash: str | None
    count: int = Field(ge=0)
    faiss_version: str
    created: datetime


class MultiPlacementIndex:
    """One :class:`VectorIndex` per placement, searched separately and fused with RRF.

    `placements`: names such as "torso", "wrist_right" (also used as subfolder names when saving).
    `dimension`: one int for all placements, or {placement: int}. `metric`, `kind` and the HNSW parameters
    apply to every placement index. `k_rrf` is the RRF constant (60 as in Cormack et al.).
    """

    def __init__(
        self,
        placements: Sequence[str],
        dimension: int | Mapping[str, int],
        metric: Metric = "cosine",
        kind: Kind = "auto",
        *,
        k_rrf: int = DEFAULT_K_RRF,
        hnsw_m: int = DEFAULT_HNSW_M,
        hnsw_ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION,
        hnsw_ef_search: int = DEFAULT_HNSW_EF_SEARCH,
        encoder_hash: str | None = None,
    ) -> None:
        self.placements = placements
        self.dimension = dimension
        self.metric = metric
        self.kind = kind
        self.k_rrf = k_rrf
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self.hnsw_ef_search = hnsw_ef_search
        self.encoder_hash = encoder_hash

    # ----------------------------------------------------------------------------------------------- building
    def fit(
        self, vectors_by_placement: Mapping[str, ArrayLike], metadata: pd.DataFrame, ids: ArrayLike | None = None
    ) -> MultiPlacementIndex:
        """Build from scratch: {placement: (N, D)} vectors of the same N windows, one metadata row per window."""
        self._check_params()
        self.__dict__.pop("indexes_", None)
        self.__dict__.pop("metadata_", None)
        self.add(vectors_by_placement, metadata, ids)
        return self

    def add(
        self, vectors_by_placement: Mapping[str, ArrayLike], metadata: pd.DataFrame, ids: ArrayLike | None = None
    ) -> np.ndarray:
        """Add windows that all have the placements given (add windows missing a placement in another call)."""
        self._check_params()
        present = self._known_placements(vectors_by_placement, what="vectors")
        if not isinstance(metadata, pd.DataFrame):
            raise RetrievalError(f"metadata must be a pandas DataFrame, got {type(metadata).__name__}")
        indexes = getattr(self, "indexes_", {})
        children = {p: indexes[p] if p in indexes else self._new_child(p) for p in present}
        rows = {p: children[p].prepare_vectors(vectors_by_placement[p], what=f"{p!r} vectors") for p in present}
        n_rows = _common_row_count(rows)
        existing = self.metadata_.index.to_numpy() if hasattr(self, "metadata_") else np.empty(0, dtype=np.int64)
        new_ids = allocate_ids(ids, n_rows, existing)
        windows = prepare_metadata(metadata.assign(placement=",".join(present)), new_ids)
        for placement in present:
            children[placement].add(rows[placement], windows.assign(placement=placement), new_ids)
        self.indexes_ = {**indexes, **children}
        self.metadata_ = windows if existing.size == 0 else pd.concat([self.metadata_, windows])
        return new_ids

    def _new_child(self, placement: str) -> VectorIndex:
        return VectorIndex(
            self._dimension_of(placement),
            self.metric,
            self.kind,
            hnsw_m=self.hnsw_m,
            hnsw_ef_construction=self.hnsw_ef_construction,
            hnsw_ef_search=self.hnsw_ef_search,
            encoder_hash=self.encoder_hash,
        )

    def _dimension_of(self, placement: str) -> int:
        if isinstance(self.dimension, Mapping):
            return self.dimension[placement]
        return self.dimension

    def _check_params(self) -> None:
        placements = list(self.placements)
        if not placements or isinstance(self.placements, str):
            raise RetrievalError(f"placements must be a non-empty list of names, got {self.placements!r}")
        bad = [p for p in placements if not isinstance(p, str) or not _PLACEMENT_NAME.match(p)]
        if bad or len(set(placements)) != len(placements):
            raise RetrievalError(
                f"placement names must be unique and made of letters, digits, '_', '.', '-'; got {placements}",
                fix="use names like 'torso' or 'wrist_right'",
            )
        if isinstance(self.dimension, Mapping) and set(self.dimension) != set(placements):
            raise RetrievalError(
                f"dimension mapping covers {sorted(self.dimension)} but placements are {sorted(placements)}",
                fix="give one dimension per placement (or a single int for all)",
            )
        if not isinstance(self.k_rrf, int) or self.k_rrf <= 0:
            raise RetrievalError(f"k_rrf must be a positive int, got {self.k_rrf!r}", fix="use the usual 60")

    def _known_placements(self, by_placement: Mapping[str, ArrayLike], *, what: str) -> list[str]:
        if not isinstance(by_placement, Mapping) or not by_placement:
            raise RetrievalError(
                f"{what} must be a non-empty dict {{placement: (n, D) array}}, got {type(by_placement).__name__}",
                fix=f"key the arrays by placement name, from {sorted(self.placements)}",
            )
        unknown = sorted(set(by_placement) - set(self.placements))
        if unknown:
            raise RetrievalError(
                f"{what} name placements {unknown} that this index does not have ({sorted(self.placements)})",
                fix="drop those placements or build an index that includes them",
            )
        return sorted(by_placement)

    # ------------------------------------------------------------------------------------------------ queries
    def search(
        self,
        queries_by_placement: Mapping[str, ArrayLike],
        k: int = 10,
        filter: MetadataFilter | None = None,
        depth: int | None = None,
    ) -> FusedResult:
        """Search every placement the queries have, `depth` deep (default max(k, 50)), and fuse with RRF."""
        self._require_fitted()
        check_k(k)
        depth = max(k, DEFAULT_DEPTH) if depth is None else depth
        if depth < k:
            raise RetrievalError(f"depth {depth} is smaller than k {k}", fix="search at least k deep per placement")
        present = self._searchable_placements(queries_by_placement)
        rows = {p: self.indexes_[p].prepare_vectors(queries_by_placement[p], what=f"{p!r} queries") for p in present}
        _common_row_count(rows)
        ranked = [self.indexes_[p].search_prepared(rows[p], depth, filter).ids for p in present]
        ids, fused, ranks = reciprocal_rank_fusion(ranked, k, self.k_rrf)
        scores = np.stack([self._placement_scores(p, rows[p], ids) for p in present], axis=-1)
        return FusedResult(
            ids=ids,
            scores=fused,
            placements=tuple(present),
            placement_ranks=ranks,
            placement_scores=scores,
            metric=self.metric,
            k_rrf=self.k_rrf,
            depth=depth,
        )

    def _searchable_placements(self, queries_by_placement: Mapping[str, ArrayLike]) -> list[str]:
        present = self._known_placements(queries_by_placement, what="queries")
        empty = [p for p in present if p not in self.indexes_]
        if empty:
            raise RetrievalError(
                f"no reference vectors were added for placements {empty}", fix="drop them from the query"
            )
        return present

    def _placement_scores(self, placement: str, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact scores of fused neighbours in one placement; NaN for windows that lack this placement."""
        index = self.indexes_[placement]
        return index.scores_for(rows, np.where(index.contains(ids), ids, MISSING_ID))

    def iter_hits(self, result: FusedResult) -> Iterator[list[Hit]]:
        """Per query, the fused neighbours joined with the window metadata and their per-placement ranks/scores."""
        self._require_fitted()
        return iter_hits(result, self.metadata_)

    def _require_fitted(self) -> None:
        if not hasattr(self, "indexes_"):
            raise RetrievalError(
                "the multi-placement index is empty", fix="call fit(...) or MultiPlacementIndex.load(...)"
            )

    def __len__(self) -> int:
        return len(self.metadata_) if hasattr(self, "metadata_") else 0

    # -------------------------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """One subfolder per placement (a saved VectorIndex), `windows.parquet`, then `manifest.json`."""
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST_FILE).unlink(missing_ok=True)
        for placement, index in self.indexes_.items():
            index.save(folder / placement)
        self.metadata_.to_parquet(folder / WINDOWS_FILE, index=True)
        manifest = MultiPlacementManifest(
            placements=sorted(self.indexes_),
            dimensions={p: index.dimension for p, index in self.indexes_.items()},
            metric=self.metric,
            k_rrf=self.k_rrf,
            encoder_hash=self.encoder_hash,
            count=len(self),
            faiss_version=faiss.__version__,
            created=datetime.now(UTC),
        )
        (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        logger.info("saved %d windows over placements %s to %s", len(self), manifest.placements, folder)
        return folder

    @classmethod
    def load(cls, path: str | Path, *, encoder_hash: str | None, metric: Metric | None = None) -> MultiPlacementIndex:
        """Load a saved set, refusing another encoder or metric (each placement index is checked as well)."""
        folder = Path(path)
        manifest: MultiPlacementManifest = read_manifest(folder / MANIFEST_FILE, MultiPlacementManifest)
        check_encoder(folder, manifest.encoder_hash, encoder_hash)
        check_metric(folder, manifest.metric, metric)
        indexes = {
            p: VectorIndex.load(
                folder / p, encoder_hash=encoder_hash, dimension=manifest.dimensions[p], metric=manifest.metric
            )
            for p in manifest.placements
        }
        first = next(iter(indexes.values()))
        multi = cls(
            manifest.placements,
            manifest.dimensions,
            manifest.metric,
            first.kind,
            k_rrf=manifest.k_rrf,
            hnsw_m=first.hnsw_m,
            hnsw_ef_construction=first.hnsw_ef_construction,
            hnsw_ef_search=first.hnsw_ef_search,
            encoder_hash=manifest.encoder_hash,
        )
        multi.indexes_ = indexes
        multi.metadata_ = _read_windows(folder / WINDOWS_FILE, indexes, manifest.count)
        return multi


def _common_row_count(rows: Mapping[str, np.ndarray]) -> int:
    counts = {p: r.shape[0] for p, r in rows.items()}
    if len(set(counts.values())) != 1:
        raise RetrievalError(
            f"placements have different row counts {counts}", fix="give every placement the same windows"
        )
    return next(iter(counts.values()))


def _read_windows(path: Path, indexes: Mapping[str, VectorIndex], count: int) -> pd.DataFrame:
    if not path.is_file():
        raise RetrievalError(f"{path} is missing", fix="re-save the multi-placement index")
    windows = pd.read_parquet(path)
    known = windows.index.to_numpy()
    strays = {p: index.ids_[~np.isin(index.ids_, known)] for p, index in indexes.items()}
    strays = {p: s for p, s in strays.items() if s.size}
    if windows.index.name != ID_NAME or len(windows) != count or strays:
        raise RetrievalError(
            f"{path} does not match the placement indexes (rows {len(windows)}, manifest {count}, "
            f"ids missing from it: { {p: describe_items(s.tolist()) for p, s in strays.items()} })",
            fix="re-save the multi-placement index (folders were mixed up)",
        )
    return windows


class FusedEmbeddingManifest(BaseModel):
    """`manifest.json` of a saved fused-embedding index (the index itself is in the `fused` subfolder)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    strategy: str = "fused_embedding"
    placements: list[str]
    fusion: EmbeddingFusion
    encoder_hash: str | None
    created: datetime


class FusedEmbeddingIndex:
    """The alternative to RRF: one index over one fused vector per window (see :func:`fuse_embeddings`).

    Same call signature as :class:`MultiPlacementIndex` (dicts of per-placement arrays), so both strategies
    can be compared on identical inputs. Queries must provide every placement the index was built with.
    """

    def __init__(
        self,
        placements: Sequence[str],
        fusion: EmbeddingFusion = "mean",
        metric: Metric = "cosine",
        kind: Kind = "auto",
        *,
        hnsw_m: int = DEFAULT_HNSW_M,
        hnsw_ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION,
        hnsw_ef_search: int = DEFAULT_HNSW_EF_SEARCH,
        encoder_hash: str | None = None,
    ) -> None:
        self.placements = placements
        self.fusion = fusion
        self.metric = metric
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self.hnsw_ef_search = hnsw_ef_search
        self.encoder_hash = encoder_hash

    def fit(
        self, vectors_by_placement: Mapping[str, ArrayLike], metadata: pd.DataFrame, ids: ArrayLike | None = None
    ) -> FusedEmbeddingIndex:
        fused = self.fuse(vectors_by_placement, what="vectors")
        self.index_ = VectorIndex(
            fused.shape[1],
            self.metric,
            self.kind,
            hnsw_m=self.hnsw_m,
            hnsw_ef_construction=self.hnsw_ef_construction,
            hnsw_ef_search=self.hnsw_ef_search,
            encoder_hash=self.encoder_hash,
        ).fit(fused, metadata.assign(placement="fused"), ids)
        return self

    def fuse(self, vectors_by_placement: Mapping[str, ArrayLike], *, what: str) -> np.ndarray:
        """The fused vectors for {placement: (n, D)} arrays covering exactly this index's placements."""
        given = sorted(vectors_by_placement) if isinstance(vectors_by_placement, Mapping) else None
        if given != sorted(self.placements):
            raise RetrievalError(
                f"{what} give placements {given}, but the fused index needs exactly {sorted(self.placements)}",
                fix="provide every placement (the fused vector is undefined without all of them)",
            )
        return fuse_embeddings(vectors_by_placement, self.fusion)

    def search(
        self, queries_by_placement: Mapping[str, ArrayLike], k: int = 10, filter: MetadataFilter | None = None
    ) -> SearchResult:
        self._require_fitted()
        return self.index_.search(self.fuse(queries_by_placement, what="queries"), k, filter)

    def iter_hits(self, result: SearchResult) -> Iterator[list[Hit]]:
        self._require_fitted()
        return self.index_.iter_hits(result)

    @property
    def metadata_(self) -> pd.DataFrame:
        self._require_fitted()
        return self.index_.metadata_

    def __len__(self) -> int:
        return len(self.index_) if hasattr(self, "index_") else 0

    def _require_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise RetrievalError(
                "the fused-embedding index is empty", fix="call fit(...) or FusedEmbeddingIndex.load(...)"
            )

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST_FILE).unlink(missing_ok=True)
        self.index_.save(folder / FUSED_FOLDER)
        manifest = FusedEmbeddingManifest(
            placements=sorted(self.placements),
            fusion=self.fusion,
            encoder_hash=self.encoder_hash,
            created=datetime.now(UTC),
        )
        (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | Path, *, encoder_hash: str | None, metric: Metric | None = None) -> FusedEmbeddingIndex:
        folder = Path(path)
        manifest: FusedEmbeddingManifest = read_manifest(folder / MANIFEST_FILE, FusedEmbeddingManifest)
        check_encoder(folder, manifest.encoder_hash, encoder_hash)
        index = VectorIndex.load(folder / FUSED_FOLDER, encoder_hash=encoder_hash, metric=metric)
        fused = cls(
            manifest.placements,
            manifest.fusion,
            index.metric,
            index.kind,
            hnsw_m=index.hnsw_m,
            hnsw_ef_construction=index.hnsw_ef_construction,
            hnsw_ef_search=index.hnsw_ef_search,
            encoder_hash=manifest.encoder_hash,
        )
        fused.index_ = index
        return fused
