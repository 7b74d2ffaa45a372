"""harlens: knowledge_base — named features with a glossary, pairwise discriminative features per activity
pair, per-activity feature statistics, and attribute predicates for activities with or without data."""

from knowledge_base.attributes import AttributeCalibration, PredicateResult
from knowledge_base.base import FeatureStats, KnowledgeBase, KnowledgeBaseManifest, build_knowledge_base
from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.features import FeatureExtractor
from knowledge_base.models import FAMILIES, FeatureConfig, GlossaryEntry
from knowledge_base.pairwise import PairRanking, RankedFeature
from knowledge_base.reports import (
    CheckReport,
    PairReport,
    check_recording,
    check_window,
    load_knowledge_base,
    show_pair,
    window_at,
)

__all__ = [
    "FAMILIES", "AttributeCalibration", "CheckReport", "FeatureConfig", "FeatureExtractor", "FeatureStats",
    "GlossaryEntry", "KnowledgeBase", "KnowledgeBaseError", "KnowledgeBaseManifest", "PairRanking", "PairReport",
    "PredicateResult", "RankedFeature", "build_knowledge_base", "check_recording", "check_window",
    "load_knowledge_base", "show_pair", "window_at",
]  # fmt: skip
