"""`VectorIndex`: one FAISS index with stable int64 ids, a metadata table, metadata filters and persistence.

The FAISS index is always an `IndexIDMap2` (ids survive save/load and can be reconstructed) around an exact
`IndexFlat` or an `IndexHNSWFlat`. `kind="auto"` keeps search exact below `EXACT_SEARCH_MAX_VECTORS`
vectors, because exact search there costs only milliseconds and has no recall loss, and switches to HNSW
(rebuilding once from the stored vectors) when the index grows to that size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retrieval.errors import RetrievalError, describe_items
from retrieval.metadata import ID_NAME, MetadataFilter, prepare_metadata
from retrieval.results import MISSING_ID, Hit, SearchResult, iter_hits
from retrieval.vectors import METRICS, Metric, as_float32_rows, unit_rows

logger = logging.getLogger(__name__)

Kind = Literal["auto", "flat", "hnsw"]
ResolvedKind = Literal["flat", "hnsw"]
EXACT_SEARCH_MAX_VECTORS = 200_000
# HNSW defaults, from measurements with benchmarks/retrieval_scale.py on a shared 2-core machine (10^6 vectors,
# 128-d, single queries on one thread):
# - vectors from a random 16-d subspace (structured, like learned embeddings): recall@10 1.000, p50 1.2 ms,
#   build 8.4 min;
# - isotropic random unit vectors (no structure, the worst case): recall@10 0.35 at p50 1.95 ms. No setting
#   tried (M 32/48, efConstruction 200, efSearch up to 4096) reaches 0.95 within 2 ms there: M=32 needs
#   efSearch ~2500, i.e. distances to ~12% of the vectors (~50 ms under load: no faster than a 44 ms exact scan).
# efSearch=256 keeps a query near 2 ms even in the worst case; callers with other needs pass hnsw_* explicitly.
DEFAULT_HNSW_M = 32
DEFAULT_HNSW_EF_CONSTRUCTION = 128
DEFAULT_HNSW_EF_SEARCH = 256
INDEX_FILE, METADATA_FILE, MANIFEST_FILE = "index.faiss", "metadata.parquet", "manifest.json"
FORMAT_VERSION = 1


class IndexParams(BaseModel):
    """Construction parameters that a saved index must be rebuilt with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requested_kind: Kind
    hnsw_m: int = Field(ge=4, le=256)
    hnsw_ef_construction: int = Field(ge=8)
    hnsw_ef_search: int = Field(ge=1)


class IndexManifest(BaseModel):
    """`manifest.json` of a saved index: what the vectors are and how the index was built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    dimension: int = Field(gt=0)
    metric: Metric
    kind: ResolvedKind
    params: IndexParams
    encoder_hash: str | None
    count: int = Field(ge=0)
    faiss_version: str
    created: datetime
    metadata_columns: list[str]


@dataclass(frozen=True)
class _Selection:
    """A FAISS selector for one filter, plus the ids it admits.

    FAISS selectors and search parameters hold raw pointers to each other; keeping every Python object
    here for the duration of a search keeps them alive.
    """

    selector: Any
    selected_ids: np.ndarray
    parts: tuple[Any, ...]


class VectorIndex:
    """Nearest-neighbour search over reference vectors with metadata, filters and save/load.

    `metric`: `cosine` (vectors are L2-normalised once at add and at query time; score = cosine similarity),
    `ip` (raw inner product) or `l2` (score = negated squared Euclidean distance, so higher is better).
    `kind`: `flat` (exact), `hnsw` (approximate; `hnsw_m`, `hnsw_ef_construction`, `hnsw_ef_search`) or
    `auto` (exact below `EXACT_SEARCH_MAX_VECTORS` vectors, HNSW at or above).
    `encoder_hash` names the encoder (or feature set) that produced the vectors; `load` refuses a mismatch.
    """

    def __init__(
        self,
        dimension: int,
        metric: Metric = "cosine",
        kind: Kind = "auto",
        *,
        hnsw_m: int = DEFAULT_HNSW_M,
        hnsw_ef_construction: int = DEFAULT_HNSW_EF_CONSTRUCTION,
        hnsw_ef_search: int = DEFAULT_HNSW_EF_SEARCH,
        encoder_hash: str | None = None,
    ) -> None:
        self.dimension = dimension
        self.metric = metric
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self.hnsw_ef_search = hnsw_ef_search
        self.encoder_hash = encoder_hash

    # ----------------------------------------------------------------------------------------------- building
    def fit(self, vectors: ArrayLike, metadata: pd.DataFrame, ids: ArrayLike | None = None) -> VectorIndex:
        """Build the index from scratch (any previous content is dropped)."""
        self._check_params()
        for fitted in ("index_", "metadata_", "kind_"):
            self.__dict__.pop(fitted, None)
        self.add(vectors, metadata, ids)
        return self

    def add(self, vectors: ArrayLike, metadata: pd.DataFrame, ids: ArrayLike | None = None) -> np.ndarray:
        """Add vectors with one metadata row each; returns their ids (given, or sequential after the largest)."""
        self._check_params()
        rows = self.prepare_vectors(vectors, what="vectors")
        new_ids = self._new_ids(ids, len(rows))
        table = prepare_metadata(metadata, new_ids)
        self._ensure_capacity(len(self) + len(rows))
        self.index_.add_with_ids(rows, new_ids)
        previous = getattr(self, "metadata_", None)
        self.metadata_ = table if previous is None else pd.concat([previous, table])
        logger.debug("added %d vectors (total %d, %s)", len(rows), len(self), self.kind_)
        return new_ids

    def prepare_vectors(self, vectors: ArrayLike, *, what: str) -> np.ndarray:
        """Validated float32 rows in the form the index stores and searches (unit rows for cosine)."""
        rows = as_float32_rows(vectors, dimension=self.dimension, what=what)
        if rows.shape[0] == 0:
            raise RetrievalError(f"{what} are empty (0 rows)", fix="pass at least one vector")
        return unit_rows(rows, what=what) if self.metric == "cosine" else rows

    def _check_params(self) -> None:
        if not isinstance(self.dimension, int | np.integer) or self.dimension <= 0:
            raise RetrievalError(f"dimension must be a positive int, got {self.dimension!r}")
        if self.metric not in METRICS:
            raise RetrievalError(f"unknown metric {self.metric!r}", fix=f"use one of {list(METRICS)}")
        if self.kind not in ("auto", "flat", "hnsw"):
            raise RetrievalError(f"unknown index kind {self.kind!r}", fix="use 'auto', 'flat' or 'hnsw'")
        try:
            self._params()
        except ValidationError as error:
            raise RetrievalError(f"invalid HNSW parameters: {error}", fix="see VectorIndex's docstring") from error

    def _params(self) -> IndexParams:
        return IndexParams(
            requested_kind=self.kind,
            hnsw_m=self.hnsw_m,
            hnsw_ef_construction=self.hnsw_ef_construction,
            hnsw_ef_search=self.hnsw_ef_search,
        )

    def _new_ids(self, ids: ArrayLike | None, n_rows: int) -> np.ndarray:
        existing = self.ids_ if hasattr(self, "index_") else np.empty(0, dtype=np.int64)
        return allocate_ids(ids, n_rows, existing)

    def _ensure_capacity(self, total: int) -> None:
        """Create the FAISS index on first add; under `auto`, move to HNSW once the total reaches the threshold."""
        wanted: ResolvedKind = "hnsw" if self.kind == "hnsw" or (
            self.kind == "auto" and total >= EXACT_SEARCH_MAX_VECTORS
        ) else "flat"
        if not hasattr(self, "index_"):
            self.index_ = self._new_faiss_index(wanted)
            self.kind_ = wanted
        elif wanted != self.kind_:
            self._rebuild_as(wanted)

    def _new_faiss_index(self, kind: ResolvedKind) -> faiss.IndexIDMap2:
        faiss_metric = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        if kind == "flat":
            base = faiss.IndexFlat(self.dimension, faiss_metric)
        else:
            base = faiss.IndexHNSWFlat(self.dimension, self.hnsw_m, faiss_metric)
            base.hnsw.efConstruction = self.hnsw_ef_construction
            base.hnsw.efSearch = self.hnsw_ef_search
        return faiss.IndexIDMap2(base)

    def _rebuild_as(self, kind: ResolvedKind) -> None:
        logger.info("index reached %d vectors: rebuilding as %s (kind='auto')", len(self), kind)
        ids = self.ids_
        vectors = self.index_.index.reconstruct_n(0, len(ids))
        index = self._new_faiss_index(kind)
        index.add_with_ids(vectors, ids)
        self.index_, self.kind_ = index, kind

    # ------------------------------------------------------------------------------------------------ queries
    def search(self, queries: ArrayLike, k: int = 10, filter: MetadataFilter | None = None) -> SearchResult:
        """The k best neighbours of every query row (optionally only among vectors passing `filter`)."""
        self._require_fitted()
        return self.search_prepared(self.prepare_vectors(queries, what="queries"), k, filter)

    def search_prepared(self, rows: np.ndarray, k: int, filter: MetadataFilter | None = None) -> SearchResult:
        """`search` for rows already returned by `prepare_vectors` (avoids normalising twice)."""
        self._require_fitted()
        self._check_prepared(rows)
        check_k(k)
        selection = self._selection(filter) if filter is not None else None
        if selection is None:
            distances, ids = self.index_.search(rows, k, params=self._search_parameters(None, k))
        elif selection.selected_ids.size == 0:
            distances = np.zeros((len(rows), k), dtype=np.float32)
            ids = np.full((len(rows), k), MISSING_ID, dtype=np.int64)
        elif self._exact_is_cheaper(selection.selected_ids.size, k):
            distances, ids = self._search_subset_exactly(rows, k, selection.selected_ids)
        else:
            params = self._search_parameters(selection, k)
            distances, ids = self.index_.search(rows, k, params=params)
        return self._as_result(distances, ids)

    def scores_for(self, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact scores (Q, k) of prepared query rows against the stored vectors of `ids` (Q, k); NaN for -1."""
        self._require_fitted()
        self._check_prepared(rows)
        if ids.shape[:1] != rows.shape[:1] or ids.ndim != 2:
            raise RetrievalError(f"ids {ids.shape} must be (Q, k) for {rows.shape[0]} query rows")
        scores = np.full(ids.shape, np.nan, dtype=np.float32)
        valid = ids != MISSING_ID
        if not valid.any():
            return scores
        self._require_known(np.unique(ids[valid]))
        stored = self.index_.reconstruct_batch(np.ascontiguousarray(ids[valid], dtype=np.int64))
        query_rows = rows[np.nonzero(valid)[0]]
        if self.metric == "l2":
            scores[valid] = -np.sum((query_rows - stored) ** 2, axis=1)
        else:
            scores[valid] = np.einsum("ij,ij->i", query_rows, stored)
        return scores

    def _check_prepared(self, rows: np.ndarray) -> None:
        """FAISS reads raw memory: rows that skipped `prepare_vectors` must at least have its layout."""
        layout_ok = isinstance(rows, np.ndarray) and rows.dtype == np.float32 and rows.flags.c_contiguous
        if not layout_ok or rows.ndim != 2 or rows.shape[1] != self.dimension:
            raise RetrievalError(
                f"prepared rows must be C-contiguous float32 (n, {self.dimension}); got "
                f"{getattr(rows, 'shape', None)} {getattr(rows, 'dtype', type(rows).__name__)}",
                fix="pass the output of prepare_vectors(), or call search() with raw vectors",
            )

    def contains(self, ids: ArrayLike) -> np.ndarray:
        """Boolean mask: which of `ids` are in this index (any shape; -1 is never contained)."""
        self._require_fitted()
        wanted = np.asarray(ids, dtype=np.int64)
        found = self.metadata_.index.get_indexer(wanted.ravel()) >= 0
        return found.reshape(wanted.shape)

    def reconstruct(self, ids: ArrayLike) -> np.ndarray:
        """The stored vectors for `ids` (unit-normalised for cosine)."""
        self._require_fitted()
        wanted = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).ravel())
        self._require_known(wanted)
        return self.index_.reconstruct_batch(wanted)

    def iter_hits(self, result: SearchResult) -> Iterator[list[Hit]]:
        """Per query, its neighbours joined with this index's metadata."""
        self._require_fitted()
        return iter_hits(result, self.metadata_)

    def _selection(self, filter: MetadataFilter) -> _Selection | None:
        """FAISS selectors for a filter: `only_*` → IDSelectorBatch, `exclude_*` → IDSelectorNot(Batch), And-ed."""
        constraints = filter.constraints()
        if not constraints:
            return None
        parts: list[Any] = []
        combined = None
        for column, values, keep_matching in constraints:
            matching_ids = self.metadata_.index.to_numpy()[self.metadata_[column].isin(values).to_numpy()]
            batch = faiss.IDSelectorBatch(np.ascontiguousarray(matching_ids, dtype=np.int64))
            selector = batch if keep_matching else faiss.IDSelectorNot(batch)
            parts.extend([batch, selector])
            combined = selector if combined is None else faiss.IDSelectorAnd(combined, selector)
            parts.append(combined)
        selected_ids = self.metadata_.index.to_numpy()[filter.mask(self.metadata_)]
        return _Selection(combined, np.ascontiguousarray(selected_ids, dtype=np.int64), tuple(parts))

    def _search_parameters(self, selection: _Selection | None, k: int) -> Any:
        selector = selection.selector if selection is not None else None
        if self.kind_ == "flat":
            return faiss.SearchParameters(sel=selector) if selector is not None else None
        ef_search = max(self.hnsw_ef_search, k)
        if selection is not None:
            # a filter admitting a fraction s of the graph needs about ef/s candidates for the same recall
            ef_search = math.ceil(ef_search * len(self) / selection.selected_ids.size)
            return faiss.SearchParametersHNSW(efSearch=ef_search, sel=selector)
        return faiss.SearchParametersHNSW(efSearch=ef_search)

    def _exact_is_cheaper(self, n_selected: int, k: int) -> bool:
        """A filter keeping a fraction s makes an HNSW walk visit ~ef/s · M vectors; scan the subset if smaller."""
        if self.kind_ == "flat":
            return False
        graph_visits = math.ceil(max(self.hnsw_ef_search, k) * len(self) / n_selected) * self.hnsw_m
        return graph_visits >= n_selected

    def _search_subset_exactly(
        self, rows: np.ndarray, k: int, selected_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss_metric = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        subset = faiss.IndexFlat(self.dimension, faiss_metric)
        subset.add(self.index_.reconstruct_batch(selected_ids))
        distances, positions = subset.search(rows, k)
        ids = np.where(positions >= 0, selected_ids[np.maximum(positions, 0)], MISSING_ID)
        return distances, ids

    def _as_result(self, distances: np.ndarray, ids: np.ndarray) -> SearchResult:
        scores = 0.0 - distances if self.metric == "l2" else distances.copy()
        scores[ids == MISSING_ID] = np.nan
        return SearchResult(ids=ids, scores=scores, metric=self.metric)

    # ---------------------------------------------------------------------------------------------- state
    @property
    def ids_(self) -> np.ndarray:
        """Ids in insertion order."""
        self._require_fitted()
        return faiss.vector_to_array(self.index_.id_map).astype(np.int64)

    def __len__(self) -> int:
        return int(self.index_.ntotal) if hasattr(self, "index_") else 0

    def _require_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise RetrievalError(
                "the index is empty", fix="call fit(vectors, metadata) or VectorIndex.load(path, …) first"
            )

    def _require_known(self, ids: np.ndarray) -> None:
        unknown = ids[self.metadata_.index.get_indexer(ids) < 0]
        if unknown.size:
            raise RetrievalError(
                f"ids {describe_items(unknown.tolist())} are not in the index", fix="use ids the index returned"
            )

    def manifest(self) -> IndexManifest:
        self._require_fitted()
        return IndexManifest(
            dimension=self.dimension,
            metric=self.metric,
            kind=self.kind_,
            params=self._params(),
            encoder_hash=self.encoder_hash,
            count=len(self),
            faiss_version=faiss.__version__,
            created=datetime.now(UTC),
            metadata_columns=list(self.metadata_.columns),
        )

    # -------------------------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write `index.faiss`, `metadata.parquet` and (last, so a half-written folder never loads) `manifest.json`."""
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST_FILE).unlink(missing_ok=True)
        faiss.write_index(self.index_, str(folder / INDEX_FILE))
        self.metadata_.to_parquet(folder / METADATA_FILE, index=True)
        (folder / MANIFEST_FILE).write_text(self.manifest().model_dump_json(indent=2), encoding="utf-8")
        logger.info("saved %d-vector %s index to %s", len(self), self.kind_, folder)
        return folder

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        encoder_hash: str | None,
        dimension: int | None = None,
        metric: Metric | None = None,
    ) -> VectorIndex:
        """Load a saved index, refusing one built for another encoder, dimension or metric than the caller's."""
        folder = Path(path)
        manifest = read_manifest(folder / MANIFEST_FILE, IndexManifest)
        _check_expectations(folder, manifest, encoder_hash, dimension, metric)
        index = cls(
            manifest.dimension,
            manifest.metric,
            manifest.params.requested_kind,
            hnsw_m=manifest.params.hnsw_m,
            hnsw_ef_construction=manifest.params.hnsw_ef_construction,
            hnsw_ef_search=manifest.params.hnsw_ef_search,
            encoder_hash=manifest.encoder_hash,
        )
        index.index_ = _read_faiss_index(folder / INDEX_FILE, manifest)
        index.kind_ = manifest.kind
        index.metadata_ = _read_metadata(folder / METADATA_FILE, index.ids_)
        return index


def check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise RetrievalError(f"k must be a positive int, got {k!r}", fix="ask for at least one neighbour")


def allocate_ids(ids: ArrayLike | None, n_rows: int, existing: np.ndarray) -> np.ndarray:
    """The caller's ids checked (non-negative, unique, new), or sequential ids after the largest existing one."""
    if ids is None:
        start = int(existing.max()) + 1 if existing.size else 0
        return np.arange(start, start + n_rows, dtype=np.int64)
    given = np.asarray(ids)
    if given.shape != (n_rows,) or given.dtype.kind not in "iu":
        raise RetrievalError(
            f"ids must be a 1-D integer array of length {n_rows}; got shape {given.shape}, dtype {given.dtype}",
            fix="give one integer id per vector, or leave ids=None for sequential ids",
        )
    given = given.astype(np.int64)
    _reject_bad_ids(given, existing)
    return given


def _reject_bad_ids(given: np.ndarray, existing: np.ndarray) -> None:
    negative = np.flatnonzero(given < 0)
    if negative.size:
        raise RetrievalError(
            f"ids must be non-negative (-1 marks an empty result slot); "
            f"rows {describe_items(negative.tolist())} are negative",
            fix="use ids >= 0",
        )
    values, counts = np.unique(given, return_counts=True)
    repeated = values[counts > 1]
    if repeated.size:
        raise RetrievalError(
            f"ids {describe_items(repeated.tolist())} appear more than once in this batch", fix="give unique ids"
        )
    clashing = np.intersect1d(given, existing)
    if clashing.size:
        raise RetrievalError(
            f"ids {describe_items(clashing.tolist())} are already in the index",
            fix="use new ids, or leave ids=None for sequential ids",
        )


def read_manifest(path: Path, model: type[BaseModel]) -> Any:
    """Parse a manifest file into `model`, turning a missing or malformed file into a RetrievalError."""
    if not path.is_file():
        raise RetrievalError(
            f"{path} does not exist, so {path.parent} is not a complete saved index",
            fix="point at a folder written by save() (a save that was interrupted leaves no manifest)",
        )
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        raise RetrievalError(f"{path} is not a valid {model.__name__}: {error}", fix="re-save the index") from error


def _check_expectations(
    folder: Path, manifest: IndexManifest, encoder_hash: str | None, dimension: int | None, metric: Metric | None
) -> None:
    check_encoder(folder, manifest.encoder_hash, encoder_hash)
    check_metric(folder, manifest.metric, metric)
    if dimension is not None and manifest.dimension != dimension:
        raise RetrievalError(
            f"{folder} has dimension {manifest.dimension}, but the caller's vectors have dimension {dimension}",
            fix="rebuild the index from the caller's vectors",
        )


def check_encoder(folder: Path, stored: str | None, expected: str | None) -> None:
    """Refuse vectors from another encoder: their neighbours would be meaningless, not just worse."""
    if stored != expected:
        raise RetrievalError(
            f"{folder} holds vectors from encoder {stored!r}, but the caller uses {expected!r}",
            fix="rebuild the index with the current encoder, or load it with the encoder that built it",
        )


def check_metric(folder: Path, stored: Metric, expected: Metric | None) -> None:
    if expected is not None and stored != expected:
        raise RetrievalError(
            f"{folder} was built for metric {stored!r}, but the caller asks for {expected!r}",
            fix="rebuild the index with the wanted metric",
        )


def _read_faiss_index(path: Path, manifest: IndexManifest) -> faiss.IndexIDMap2:
    if not path.is_file():
        raise RetrievalError(f"{path} is missing", fix="re-save the index")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as error:
        raise RetrievalError(f"FAISS cannot read {path}: {error}", fix="re-save the index") from error
    expected_metric = faiss.METRIC_L2 if manifest.metric == "l2" else faiss.METRIC_INNER_PRODUCT
    expected_inner = faiss.IndexHNSWFlat if manifest.kind == "hnsw" else faiss.IndexFlat
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
    if not isinstance(inner, expected_inner):
        found = f"{type(index).__name__} over {type(inner).__name__}" if inner is not None else type(index).__name__
        raise RetrievalError(
            f"{path} holds a {found}, but its manifest says IndexIDMap2 over {expected_inner.__name__}",
            fix="re-save the index",
        )
    if (index.ntotal, index.d, index.metric_type) != (manifest.count, manifest.dimension, expected_metric):
        raise RetrievalError(
            f"{path} disagrees with its manifest: it has {index.ntotal} vectors of dimension {index.d} "
            f"(manifest: {manifest.count} of dimension {manifest.dimension}) or another metric",
            fix="re-save the index (files from different saves were mixed)",
        )
    return index


def _read_metadata(path: Path, ids: np.ndarray) -> pd.DataFrame:
    if not path.is_file():
        raise RetrievalError(f"{path} is missing", fix="re-save the index")
    table = pd.read_parquet(path)
    if table.index.name != ID_NAME or not np.array_equal(table.index.to_numpy(), ids):
        raise RetrievalError(
            f"{path} is not keyed by the index's ids in insertion order", fix="re-save the index (files were mixed up)"
        )
    return table
