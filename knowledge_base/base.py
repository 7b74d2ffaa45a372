"""The knowledge base: pairwise discriminative features, per-activity feature statistics, attribute checks.

Built once from the reference windows of a protocol (about ten seconds for DSADS), saved as human-readable
JSON plus one Parquet table and a manifest of sha256 hashes, and refused on load if any file changed or the
feature code no longer produces the same feature names.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, UTC
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.base import BaseEstimator

from knowledge_base.attributes import (
    AttributeCalibration,
    FeatureTable,
    PredicateColumn,
    PredicateResult,
    calibrate_attributes,
    derived_glossary,
    evaluate_predicates,
    results_for_window,
)
from knowledge_base.errors import KnowledgeBaseError, listed
from knowledge_base.features import FeatureExtractor
from knowledge_base.models import FAMILIES, FeatureConfig, GlossaryEntry
from knowledge_base.voting import pairwise_votes, reference_percentile
from knowledge_base.pairwise import (
    STAT_COLUMNS,
    PairRanking,
    RankedFeature,
    check_feature_matrix,
    class_statistics,
    rank_pairs,
)
from recordings.channels import AXES
from recordings.datasets import file_sha256
from recordings.vocabulary import AttributeSignature, Vocabulary, load_vocabulary
from recordings.windows import Windows

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
AXIS_QUANTILES = {"min", "max", "p10", "p25", "p75", "p90", "rms"}
MANIFEST = "manifest.json"
FILES = ("config.json", "glossary.json", "pairs.json", "attributes.json", "class_stats.parquet")


class ActivityInfo(BaseModel):
    """What the base knows about an activity, with or without reference data."""

    model_config = ConfigDict(extra="forbid")

    name: str
    display: str
    synonyms: list[str] = Field(default_factory=list)
    attributes: AttributeSignature
    reference_windows: int = Field(description="0 for an activity known only from its description")


class BuildInfo(BaseModel):
    """Where the base came from and how long it took."""

    model_config = ConfigDict(extra="forbid")

    created_utc: str
    n_windows: int
    subjects: list[str]
    protocol: str | None = None
    protocol_digest: str | None = None
    fold: int | None = None
    channels: list[str]
    sampling_rate_hz: float
    window_timepoints: int
    feature_seconds: float
    pairwise_seconds: float
    total_seconds: float


class KnowledgeBaseManifest(BaseModel):
    """sha256 of every file; loading refuses a base whose files do not match."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["harlens.knowledge_base"] = "harlens.knowledge_base"
    format_version: int
    created_utc: str
    files: dict[str, str]
    n_features: int
    n_activities: int
    n_pairs: int
    protocol: str | None = None
    protocol_digest: str | None = None
    build_seconds: float


class FeatureStats(BaseModel):
    """Robust statistics of one feature over one activity's reference windows."""

    model_config = ConfigDict(extra="forbid")

    activity: str
    feature: str
    count: int
    mean: float
    std: float
    min: float
    q05: float
    q25: float
    median: float
    q75: float
    q95: float
    max: float


class KnowledgeBase(BaseEstimator):
    """Pairwise rankings, class statistics and attribute calibration learned from reference windows."""

    def __init__(
        self,
        top_k: int = 10,
        instability_penalty: float = 0.5,
        max_redundancy: float = 0.9,
        n_candidates: int = 60,
        families: tuple[str, ...] = FAMILIES,
        band_edges_hz: tuple[float, float] = (0.5, 3.0),
        max_frequency_hz: float = 12.5,
        gravity_cutoff_hz: float = 0.5,
        spectrum_segment_s: float | None = None,
        n_jobs: int = 1,
        show_progress: bool = True,
    ) -> None:
        self.top_k = top_k
        self.instability_penalty = instability_penalty
        self.max_redundancy = max_redundancy
        self.n_candidates = n_candidates
        self.families = families
        self.band_edges_hz = band_edges_hz
        self.max_frequency_hz = max_frequency_hz
        self.gravity_cutoff_hz = gravity_cutoff_hz
        self.spectrum_segment_s = spectrum_segment_s
        self.n_jobs = n_jobs
        self.show_progress = show_progress

    # ----------------------------------------------------------------------------------------- building

    def new_extractor(self) -> FeatureExtractor:
        return FeatureExtractor(
            families=self.families, band_edges_hz=self.band_edges_hz, max_frequency_hz=self.max_frequency_hz,
            gravity_cutoff_hz=self.gravity_cutoff_hz, spectrum_segment_s=self.spectrum_segment_s,
            n_jobs=self.n_jobs, show_progress=self.show_progress,
        )  # fmt: skip

    def fit(self, windows: Windows, vocabulary: Vocabulary | None = None, features: np.ndarray | None = None) -> KnowledgeBase:
        """Build from labelled reference windows; `features` may be precomputed with `self.transform`."""
        started = time.perf_counter()
        vocabulary = vocabulary or load_vocabulary()
        features = self._reference_features(windows, features)
        feature_seconds = time.perf_counter() - started
        labels = np.asarray(windows.labels)
        activities = tuple(windows.activities)
        present = np.bincount(labels, minlength=len(activities))
        self.activities_ = tuple(a for a, n in zip(activities, present) if n > 0)
        rankings = rank_pairs(
            features, labels, windows.subjects, activities, self.feature_names_, top_k=self.top_k,
            instability_penalty=self.instability_penalty, max_redundancy=self.max_redundancy,
            n_candidates=self.n_candidates, show_progress=self.show_progress,
        )  # fmt: skip
        pairwise_seconds = time.perf_counter() - started - feature_seconds
        self.class_stats_ = class_statistics(features, labels, activities, self.feature_names_)
        self.calibration_ = calibrate_attributes(features, self.feature_names_, labels, activities, vocabulary, windows.window_s)
        self.glossary_ = {e.name: e for e in self.extractor_.glossary() + derived_glossary(self.calibration_)}
        medians = self.class_stats_.pivot(index="activity", columns="feature", values="median")
        self.pairs_ = {r.key: _with_aspects(r, self.glossary_, medians) for r in rankings}
        self.activity_info_ = _activity_info(vocabulary, dict(zip(activities, present.tolist())))
        self.build_info_ = _build_info(windows, feature_seconds, pairwise_seconds, time.perf_counter() - started)
        log.info("knowledge base: %d features, %d activities, %d pairs in %.1f s", len(self.feature_names_),
                 len(self.activities_), len(self.pairs_), self.build_info_.total_seconds)  # fmt: skip
        return self

    def _reference_features(self, windows: Windows, features: np.ndarray | None) -> np.ndarray:
        """Fit the extractor on the reference schema; compute (or check) the reference features."""
        if len(windows) == 0:
            raise KnowledgeBaseError("no reference windows", fix="pass the labelled reference windows of a protocol")
        self.extractor_ = self.new_extractor().fit(windows)
        self.feature_names_ = list(self.extractor_.feature_names_)
        features = self.extractor_.transform(windows) if features is None else np.asarray(features, dtype=np.float32)
        check_feature_matrix(features, np.asarray(windows.labels), windows.subjects, self.feature_names_)
        return features

    def transform(self, windows: Windows | np.ndarray) -> np.ndarray:
        """Features of windows with the reference channel schema (as used by pairs and class statistics)."""
        self._check_fitted()
        return self.extractor_.transform(windows)

    def query_features(self, windows: Windows) -> tuple[np.ndarray, list[str]]:
        """Features of windows with *their own* channels (any placement set), for attribute checks."""
        self._check_fitted()
        if abs(windows.sampling_rate_hz - self.extractor_.sampling_rate_hz_) > 1e-6:
            raise KnowledgeBaseError(
                f"windows at {windows.sampling_rate_hz:g} Hz, the base was built at {self.extractor_.sampling_rate_hz_:g} Hz",
                fix="resample the recording to the base's rate before windowing (see reports.window_at)",
            )
        extractor = self.new_extractor().set_params(show_progress=False).fit(windows)
        return extractor.transform(windows), list(extractor.feature_names_)

    # ----------------------------------------------------------------------------------------- queries

    def resolve_activity(self, name: str) -> str:
        """Canonical name of an activity known to the base (name, display text or synonym)."""
        self._check_fitted()
        key = name.strip().lower().replace("-", "_")
        for info in self.activity_info_.values():
            spelled = {info.name, info.display.lower(), info.name.replace("_", " ")} | {s.lower() for s in info.synonyms}
            if key in spelled or key.replace("_", " ") in spelled:
                return info.name
        raise KnowledgeBaseError(
            f"unknown activity {name!r}",
            fix=f"use one of {listed(sorted(self.activity_info_), limit=40)}",
        )

    def pair(self, first: str, second: str) -> PairRanking:
        """The ranking of an unordered pair, with both activities in the reference data."""
        a, b = self.resolve_activity(first), self.resolve_activity(second)
        if a == b:
            raise KnowledgeBaseError(f"{a!r} compared with itself", fix="name two different activities")
        for key in ((a, b), (b, a)):
            if key in self.pairs_:
                return self.pairs_[key]
        missing = [x for x in (a, b) if x not in self.activities_]
        raise KnowledgeBaseError(
            f"no pairwise ranking for {a!r} and {b!r}: {listed(missing)} had no reference windows",
            fix="pairs exist only between activities seen in the reference data; use `check` for unseen ones",
        )

    def top_features(self, first: str, second: str, k: int | None = None) -> list[RankedFeature]:
        features = self.pair(first, second).features
        return features[: k if k is not None else len(features)]

    def class_stats(self, activity: str) -> pd.DataFrame:
        """Statistics of every feature over one activity's reference windows, indexed by feature."""
        name = self.resolve_activity(activity)
        rows = self.class_stats_[self.class_stats_["activity"] == name]
        if rows.empty:
            raise KnowledgeBaseError(f"{name!r} has no reference windows", fix="statistics exist for seen activities only")
        return rows.set_index("feature")[list(STAT_COLUMNS)]

    def feature_stats(self, activity: str, feature: str) -> FeatureStats:
        stats = self.class_stats(activity)
        if feature not in stats.index:
            raise KnowledgeBaseError(f"unknown feature {feature!r}", fix="see the glossary (kb.glossary_)")
        row = stats.loc[feature]
        values = {c: float(row[c]) for c in STAT_COLUMNS if c != "count"}
        return FeatureStats(activity=self.resolve_activity(activity), feature=feature, count=int(row["count"]), **values)

    def pairwise_votes(self, features: np.ndarray, activities: list[str] | None = None, k: int = 5) -> np.ndarray:
        """(N, A) share of one-vs-one wins per activity from each pair's top-k features (see `voting`)."""
        self._check_fitted()
        names = [self.resolve_activity(a) for a in (activities or list(self.activities_))]
        return pairwise_votes(np.asarray(features), self.feature_names_, names, self.pairs_, self.class_stats_, k)

    def percentile(self, activity: str, feature: str, value: float) -> float:
        """Where `value` falls (0–100) in the activity's reference distribution of `feature`."""
        stats = self.class_stats(activity)
        if feature not in stats.index:
            raise KnowledgeBaseError(f"unknown feature {feature!r}", fix="see the glossary (kb.glossary_)")
        return reference_percentile(stats.loc[feature], value)

    def evaluate(self, features: np.ndarray, activity: str, names: list[str] | None = None) -> list[PredicateColumn]:
        """The activity's predicates on many windows' features (reference names unless `names` given)."""
        name = self.resolve_activity(activity)
        table = FeatureTable(features, names if names is not None else self.feature_names_)
        return evaluate_predicates(table, self.activity_info_[name].attributes, self.calibration_)

    def check(self, window_features: np.ndarray, activity: str, names: list[str] | None = None) -> list[PredicateResult]:
        """Each predicate of the activity on one window: measured value, condition, holds."""
        row = np.asarray(window_features, dtype=np.float64).reshape(1, -1)
        return results_for_window(self.evaluate(row, activity, names), 0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "pairs_"):
            raise KnowledgeBaseError("the knowledge base is not built", fix="call fit(windows) or KnowledgeBase.load(folder)")

    # ----------------------------------------------------------------------------------------- persistence

    def save(self, folder: str | Path) -> KnowledgeBaseManifest:
        """Write JSON + Parquet + manifest.json (sha256 of each file) into `folder`."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "config.json", {
            "format_version": FORMAT_VERSION,
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()},
            "feature_config": self.extractor_.config_.model_dump(mode="json"),
            "channels": list(self.extractor_.channels_),
            "sampling_rate_hz": self.extractor_.sampling_rate_hz_,
            "feature_names": self.feature_names_,
            "activities": list(self.activities_),
            "build": self.build_info_.model_dump(mode="json"),
        })  # fmt: skip
        _write_json(folder / "glossary.json", [e.model_dump(mode="json") for e in self.glossary_.values()])
        _write_json(folder / "pairs.json", [p.model_dump(mode="json") for p in self.pairs_.values()])
        _write_json(folder / "attributes.json", {
            "calibration": self.calibration_.model_dump(mode="json"),
            "activities": [info.model_dump(mode="json") for info in self.activity_info_.values()],
        })  # fmt: skip
        self.class_stats_.to_parquet(folder / "class_stats.parquet", index=False)
        manifest = KnowledgeBaseManifest(
            format_version=FORMAT_VERSION, created_utc=self.build_info_.created_utc,
            files={name: file_sha256(folder / name) for name in FILES}, n_features=len(self.feature_names_),
            n_activities=len(self.activities_), n_pairs=len(self.pairs_), protocol=self.build_info_.protocol,
            protocol_digest=self.build_info_.protocol_digest, build_seconds=self.build_info_.total_seconds,
        )  # fmt: skip
        _write_json(folder / MANIFEST, manifest.model_dump(mode="json"))
        return manifest

    @classmethod
    def load(cls, folder: str | Path) -> KnowledgeBase:
        """Read a saved base, refusing changed files, an unknown format or feature names the code no longer makes."""
        folder = Path(folder)
        manifest = _read_manifest(folder)
        for name in FILES:
            if name not in manifest.files:
                raise KnowledgeBaseError(f"the manifest does not list {name}", where=folder / MANIFEST, fix="rebuild the base")
            path = folder / name
            if not path.is_file():
                raise KnowledgeBaseError("file missing", where=path, fix="rebuild the knowledge base (harlens build)")
            if file_sha256(path) != manifest.files[name]:
                raise KnowledgeBaseError(
                    "file does not match its sha256 in manifest.json (edited or corrupted)",
                    where=path, fix="rebuild the knowledge base; never edit its files by hand",
                )  # fmt: skip
        config = _read_json(folder / "config.json")
        kb = cls(**_params(config["params"], folder))
        try:
            kb._restore(config, folder)
        except (ValidationError, KeyError, TypeError) as exc:
            raise KnowledgeBaseError(f"unreadable content: {exc}", where=folder, fix="rebuild the knowledge base") from None
        return kb

    def _restore(self, config: dict, folder: Path) -> None:
        feature_config = FeatureConfig.model_validate(config["feature_config"])
        channels = tuple(config["channels"])
        rate = float(config["sampling_rate_hz"])
        empty = np.zeros((0, len(channels), 1), np.float32)
        self.extractor_ = self.new_extractor().fit(empty, channels=channels, sampling_rate_hz=rate)
        if self.extractor_.config_ != feature_config or self.extractor_.feature_names_ != config["feature_names"]:
            raise KnowledgeBaseError(
                "the feature code no longer produces the feature names this base was built with",
                where=folder / "config.json", fix="rebuild the knowledge base with the installed harlens",
            )  # fmt: skip
        self.feature_names_ = list(config["feature_names"])
        self.activities_ = tuple(config["activities"])
        self.build_info_ = BuildInfo.model_validate(config["build"])
        self.glossary_ = {e["name"]: GlossaryEntry.model_validate(e) for e in _read_json(folder / "glossary.json")}
        pairs = [PairRanking.model_validate(p) for p in _read_json(folder / "pairs.json")]
        self.pairs_ = {p.key: p for p in pairs}
        attributes = _read_json(folder / "attributes.json")
        self.calibration_ = AttributeCalibration.model_validate(attributes["calibration"])
        self.activity_info_ = {a["name"]: ActivityInfo.model_validate(a) for a in attributes["activities"]}
        self.class_stats_ = pd.read_parquet(folder / "class_stats.parquet")


# --------------------------------------------------------------------------------------------- helpers


def build_knowledge_base(windows: Windows, vocabulary: Vocabulary | None = None, **params) -> KnowledgeBase:
    """KnowledgeBase(**params).fit(windows, vocabulary): the one call a pack build needs."""
    return KnowledgeBase(**params).fit(windows, vocabulary)


def pair_aspect(entry: GlossaryEntry, first: str, second: str, medians: pd.DataFrame) -> str:
    """What kind of difference a feature shows for one pair.

    A quantile of one accelerometer axis reads gravity (posture) when both activities barely move along that
    axis compared with the gap between them, and movement (intensity) otherwise: the thigh's x-axis upper
    quartile differs between running and walking because of running's swings, not because of posture.
    """
    if entry.sensor != "acc" or entry.channel not in AXES or entry.feature not in AXIS_QUANTILES:
        return entry.aspect
    spread = f"{entry.placement}.acc.{entry.channel}.std"
    if spread not in medians.columns:
        return entry.aspect
    movement = max(medians.at[first, spread], medians.at[second, spread])
    gap = abs(medians.at[first, entry.name] - medians.at[second, entry.name])
    return "posture" if movement < 0.5 * gap else "intensity"


def _with_aspects(ranking: PairRanking, glossary: dict[str, GlossaryEntry], medians: pd.DataFrame) -> PairRanking:
    features = [f.model_copy(update={"aspect": pair_aspect(glossary[f.name], ranking.first, ranking.second, medians)})
                for f in ranking.features]  # fmt: skip
    return ranking.model_copy(update={"features": features})


def _activity_info(vocabulary: Vocabulary, windows_per_activity: dict[str, int]) -> dict[str, ActivityInfo]:
    infos = {
        a.name: ActivityInfo(name=a.name, display=a.display, synonyms=list(a.synonyms), attributes=a.attributes,
                             reference_windows=int(windows_per_activity.get(a.name, 0)))  # fmt: skip
        for a in vocabulary.activities
    }
    for name, count in windows_per_activity.items():
        if name not in infos and count > 0:
            infos[name] = ActivityInfo(name=name, display=name.replace("_", " "), attributes=AttributeSignature(),
                                       reference_windows=int(count))  # fmt: skip
    return infos


def _build_info(windows: Windows, feature_seconds: float, pairwise_seconds: float, total: float) -> BuildInfo:
    meta = windows.meta or {}
    return BuildInfo(
        created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        n_windows=len(windows), subjects=sorted({str(s) for s in windows.subjects}),
        protocol=meta.get("protocol"), protocol_digest=meta.get("protocol_digest"), fold=meta.get("fold"),
        channels=list(windows.channels), sampling_rate_hz=float(windows.sampling_rate_hz),
        window_timepoints=windows.n_timepoints, feature_seconds=round(feature_seconds, 3),
        pairwise_seconds=round(pairwise_seconds, 3), total_seconds=round(total, 3),
    )  # fmt: skip


def _params(stored: dict, folder: Path) -> dict:
    known = set(KnowledgeBase().get_params())
    unknown = sorted(set(stored) - known)
    if unknown:
        raise KnowledgeBaseError(f"unknown build parameters {unknown}", where=folder / "config.json", fix="rebuild the base")
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in stored.items()}


def _write_json(path: Path, payload) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(f"not valid JSON: {exc.msg} (line {exc.lineno})", where=path, fix="rebuild the base") from None


def _read_manifest(folder: Path) -> KnowledgeBaseManifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise KnowledgeBaseError("no knowledge base here (manifest.json missing)", where=folder,
                                 fix="point at a folder written by KnowledgeBase.save or a pack's knowledge_base/")  # fmt: skip
    try:
        manifest = KnowledgeBaseManifest.model_validate(_read_json(path))
    except ValidationError as exc:
        raise KnowledgeBaseError(f"invalid manifest: {exc.errors()[0]['msg']}", where=path, fix="rebuild the base") from None
    if manifest.format_version != FORMAT_VERSION:
        raise KnowledgeBaseError(
            f"format version {manifest.format_version}, this code reads {FORMAT_VERSION}", where=path,
            fix="rebuild the knowledge base with the installed harlens",
        )  # fmt: skip
    return manifest
