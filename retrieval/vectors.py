"""Checks and transforms for the vectors that go into an index or a query.

FAISS trusts its input: a NaN row, a float64 array or a wrong width silently produce garbage neighbours.
Everything that reaches FAISS therefore passes through :func:`as_float32_rows` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from retrieval.errors import RetrievalError, describe_items

Metric = Literal["cosine", "l2", "ip"]
METRICS: tuple[Metric, ...] = ("cosine", "l2", "ip")
EmbeddingFusion = Literal["mean", "concat", "concat_raw"]


def as_float32_rows(values: ArrayLike, *, dimension: int | None, what: str) -> np.ndarray:
    """A C-contiguous float32 (n, dimension) copy-if-needed of `values`, with every row finite."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise RetrievalError(
            f"{what} must be a 2-D array (n_rows, {dimension or 'dimension'}); got shape {array.shape}",
            fix="stack the vectors into one matrix (use x.reshape(1, -1) for a single vector)",
        )
    if dimension is not None and array.shape[1] != dimension:
        raise RetrievalError(
            f"{what} have dimension {array.shape[1]} but the index has dimension {dimension}",
            fix="use vectors from the same encoder/feature set the index was built with",
        )
    if array.dtype.kind not in "fiu":
        raise RetrievalError(
            f"{what} have dtype {array.dtype}; expected real numbers",
            fix="convert the vectors to a float array",
        )
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are reported just below
        rows = np.ascontiguousarray(array, dtype=np.float32)
    bad_rows = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if bad_rows.size:
        raise RetrievalError(
            f"{what} contain NaN or infinite values (or values beyond float32 range) at rows "
            f"{describe_items(bad_rows.tolist())}",
            fix="drop or repair those rows before indexing or searching",
        )
    return rows


def unit_rows(rows: np.ndarray, *, what: str) -> np.ndarray:
    """Rows scaled to unit L2 norm; rows without a direction (norm 0) are an error, not a NaN."""
    norms = np.linalg.norm(rows, axis=1)
    bad_rows = np.flatnonzero(~np.isfinite(norms) | (norms == 0))
    if bad_rows.size:
        raise RetrievalError(
            f"{what} have zero norm (or a norm that overflows float32) at rows {describe_items(bad_rows.tolist())}; "
            "cosine similarity is undefined for them",
            fix="drop those rows, or use metric='l2' if all-zero vectors are meaningful",
        )
    return np.ascontiguousarray(rows / norms[:, None], dtype=np.float32)


def fuse_embeddings(vectors_by_placement: Mapping[str, ArrayLike], method: EmbeddingFusion = "mean") -> np.ndarray:
    """One vector per window from its per-placement vectors, for the single-index ("fused embedding") strategy.

    `mean`: mean of the L2-normalised placement vectors, normalised again (needs equal dimensions).
    `concat`: L2-normalised placement vectors side by side, divided by sqrt(P) so the result has unit norm.
    `concat_raw`: plain concatenation (for standardised feature vectors searched with metric='l2').
    Placements are always taken in sorted name order, so the same inputs give the same vector.
    """
    if not vectors_by_placement:
        raise RetrievalError("no placement vectors given to fuse", fix="pass {placement: (n, D) array, ...}")
    placements = sorted(vectors_by_placement)
    blocks = [as_float32_rows(vectors_by_placement[p], dimension=None, what=f"{p!r} vectors") for p in placements]
    n_rows = {block.shape[0] for block in blocks}
    if len(n_rows) != 1:
        sizes = {p: block.shape[0] for p, block in zip(placements, blocks, strict=True)}
        raise RetrievalError(f"placements have different row counts {sizes}", fix="align the windows across placements")
    if method == "concat_raw":
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)
    units = [unit_rows(block, what=f"{p!r} vectors") for p, block in zip(placements, blocks, strict=True)]
    if method == "concat":
        return np.ascontiguousarray(np.hstack(units) / np.sqrt(len(units)), dtype=np.float32)
    if method == "mean":
        widths = {unit.shape[1] for unit in units}
        if len(widths) != 1:
            raise RetrievalError(
                f"'mean' fusion needs equal dimensions across placements, got {sorted(widths)}",
                fix="use method='concat' for placements with different dimensions",
            )
        return unit_rows(np.mean(units, axis=0, dtype=np.float32), what="mean-fused vectors")
    raise RetrievalError(f"unknown fusion method {method!r}", fix="use 'mean', 'concat' or 'concat_raw'")
