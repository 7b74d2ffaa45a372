"""harlens: retrieval — FAISS indexes per placement, metadata tables and filters, reciprocal-rank fusion,
class-conditional neighbour evidence and kNN votes. Activities are opaque metadata strings here."""

from retrieval.errors import RetrievalError
from retrieval.evidence import (
    CandidateEvidence,
    EvidenceTable,
    FeatureStats,
    FeatureTable,
    NeighbourEvidence,
    QueryEvidence,
    SummaryStats,
    class_conditional_evidence,
)
from retrieval.index import EXACT_SEARCH_MAX_VECTORS, IndexManifest, IndexParams, VectorIndex
from retrieval.metadata import REQUIRED_COLUMNS, MetadataFilter, placeholder_metadata
from retrieval.multi import (
    FusedEmbeddingIndex,
    FusedEmbeddingManifest,
    MultiPlacementIndex,
    MultiPlacementManifest,
    reciprocal_rank_fusion,
)
from retrieval.results import FusedResult, Hit, PlacementMatch, SearchResult
from retrieval.vectors import fuse_embeddings
from retrieval.voting import KnnComparison, StrategyScore, compare_knn_strategies, knn_vote

__all__ = [
    "EXACT_SEARCH_MAX_VECTORS",
    "REQUIRED_COLUMNS",
    "CandidateEvidence",
    "EvidenceTable",
    "FeatureStats",
    "FeatureTable",
    "FusedEmbeddingIndex",
    "FusedEmbeddingManifest",
    "FusedResult",
    "Hit",
    "IndexManifest",
    "IndexParams",
    "KnnComparison",
    "MetadataFilter",
    "MultiPlacementIndex",
    "MultiPlacementManifest",
    "NeighbourEvidence",
    "PlacementMatch",
    "QueryEvidence",
    "RetrievalError",
    "SearchResult",
    "StrategyScore",
    "SummaryStats",
    "VectorIndex",
    "class_conditional_evidence",
    "compare_knn_strategies",
    "fuse_embeddings",
    "knn_vote",
    "placeholder_metadata",
    "reciprocal_rank_fusion",
]
