"""The hierarchical pipeline over a batch of windows: candidates → evidence → decision → timeline →
explanations, with a typed trace of every stage.

    analyzer = Analyzer(components, AnalyzerSettings(decision=DecisionSettings(policy="auto")), backend)
    analysis = analyzer.analyze(windows, recording_id="p8.csv")
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from pydantic import BaseModel, Field

from agent.candidates import CandidateSet, FusionModel, fuse_with_reading, select_candidates
from agent.context import ContextSources, context_votes, provisional_bouts, top_k_text
from agent.decide import DecisionSettings, WindowDecision, ask_llm, decide, windows_for_llm
from agent.evidence import EvidenceTable
from agent.evidence_builder import BoutContext, build_evidence
from agent.explain import Explanation, explain
from agent.llm.base import LLMBackend
from agent.llm.cache import ResponseCache
from agent.llm.structured import Attempt
from agent.sources import ReferenceComponents, WindowEvidence, score_sources
from agent.timeline import DEFAULT_EXPECTED_BOUT_S, Segment, durations, segment_windows, smooth_decisions, switch_cost
from knowledge_base.attributes import POSTURE_ATTRIBUTES
from recordings.vocabulary import Vocabulary, load_vocabulary
from recordings.windows import Windows


class AnalyzerSettings(BaseModel):
    decision: DecisionSettings = Field(default_factory=DecisionSettings)
    expected_bout_s: float = Field(default=DEFAULT_EXPECTED_BOUT_S, ge=0, description="prior mean duration of one activity bout; "
                                   "sets the cost of switching activity between windows (0 = decide each window alone)")
    bout_context: bool = Field(default=True, description="second pass: add the context knowledge base's votes on each "
                               "window's features averaged over its provisional bout (False: each window from itself)")
    explain_limit: int = Field(default=4, ge=0, description="segments explained by the LLM (longest first); "
                               "4 keeps an hour of recording within a minute with the bundled model")
    features_per_pair: int = Field(default=2, ge=1)
    context: str = Field(default="", description="user notes about the recording; quoted data in prompts")


class WindowRecord(BaseModel):
    """One window in the trace."""

    index: int
    start_s: float
    candidates: list[str]
    probabilities: list[float]
    smoothed: str = Field(description="the evidence decision after timeline smoothing")
    decision: WindowDecision


class SegmentExplanation(BaseModel):
    segment: int
    explanation: Explanation


class StageTiming(BaseModel):
    stage: str
    seconds: float


class Totals(BaseModel):
    windows: int
    llm_calls: int
    tokens: int
    llm_calls_per_window: float
    tokens_per_window: float
    windows_per_s: float
    explanations: dict[str, int] = Field(description="count per status (verified, verified-after-reask, template…)")
    decided_by: dict[str, int]


class AnalysisTrace(BaseModel):
    """Everything that happened, in order: what a clinician's review shows and a researcher audits."""

    recording: str
    protocol: str | None = None
    backend: str | None
    settings: AnalyzerSettings
    fusion: dict[str, float | str]
    timings: list[StageTiming] = Field(default_factory=list)
    windows: list[WindowRecord] = Field(default_factory=list)
    explanations: list[SegmentExplanation] = Field(default_factory=list)
    totals: Totals | None = None


class Analysis(BaseModel):
    recording: str
    window_s: float
    segments: list[Segment]
    durations_s: dict[str, float]
    decisions: list[str]
    confidences: list[float]
    start_s: list[float]
    trace: AnalysisTrace

    def explanation_for(self, segment: int) -> Explanation | None:
        return next((e.explanation for e in self.trace.explanations if e.segment == segment), None)


def activity_phrases(vocabulary: Vocabulary) -> dict[str, str]:
    """Every way a text may name an activity (name, display, synonyms, spaced name) → canonical name."""
    phrases: dict[str, str] = {}
    for activity in vocabulary.activities:
        for phrase in [activity.name, activity.name.replace("_", " "), activity.display, *activity.synonyms]:
            phrases.setdefault(phrase.lower(), activity.name)
    return phrases


class Analyzer:
    """Runs the pipeline for one pack; `backend=None` means no LLM (policy `evidence`, template explanations)."""

    def __init__(self, components: ReferenceComponents, settings: AnalyzerSettings | None = None,
                 backend: LLMBackend | None = None, cache: ResponseCache | None = None,
                 vocabulary: Vocabulary | None = None, progress=None, protocol: str | None = None) -> None:  # fmt: skip
        if components.fusion is None:
            raise ValueError("the components carry no fitted fusion; open a complete pack")
        self.components = components
        self.settings = settings or AnalyzerSettings()
        if backend is None and self.settings.decision.policy != "evidence":
            raise ValueError(f"policy {self.settings.decision.policy!r} needs an LLM backend; use policy 'evidence' "
                             "or pass --llm local|openai")  # fmt: skip
        self.backend = backend
        self.cache = cache
        self.vocabulary = vocabulary or load_vocabulary()
        self.phrases = activity_phrases(self.vocabulary)
        self.progress = progress or (lambda message: None)
        self.protocol = protocol

    # ------------------------------------------------------------------------------------------ stages
    def score(self, windows: Windows, breaks: np.ndarray | None = None) -> tuple[WindowEvidence, np.ndarray, list[CandidateSet]]:
        """Pass one (every source on each window), then pass two (the bout context, `agent.context`) when the
        pack has one and the settings ask for it. Windows are ordered by recording id and start time;
        `breaks` (in the windows' order) start a new piece that no bout crosses."""
        fusion = self.fusion_for(windows)
        evidence = score_sources(self.components, windows, fusion.settings, np.asarray(fusion.centroids, np.float32))
        probabilities, evidence.novelty = fuse_with_reading(evidence.scores, fusion)
        if self.context_applies(windows):
            bouts = provisional_bouts(probabilities, windows.recording_ids, windows.start_s, self.components.stride_s,
                                      breaks, self.settings.expected_bout_s)  # fmt: skip
            sources = ContextSources(self.components.context_knowledge_base, self.components.context_neighbours,
                                     self.components.context_linear)  # fmt: skip
            scores = evidence.scores
            scores.context, scores.context_neighbours, scores.context_linear = context_votes(
                sources, evidence.features, list(self.components.knowledge_base.feature_names_), bouts,
                windows.start_s, fusion.context_half_width_s, list(self.components.seen), fusion.settings.pairwise_k,
            )  # fmt: skip
            probabilities, evidence.novelty = fuse_with_reading(evidence.scores, fusion)
        return evidence, probabilities, select_candidates(probabilities, fusion.activities, fusion.settings)

    def fusion_for(self, windows: Windows) -> FusionModel:
        """The pack's fusion with the source weights fitted for these windows' placements (one or a few
        placements of a multi-placement pack have weights of their own)."""
        return self.components.fusion.for_placements(windows.placements)

    def context_unused_reason(self, windows: Windows) -> str | None:
        """Why the second pass is skipped for these windows: its weight was fitted with every channel of the
        pack present, and on a recording without some of them its votes mislead (torso-only windows with a
        5-placement pack: macro-F1 0.43 without the context, 0.35 with it, on a 2-epoch pack)."""
        missing = [c for c in self.components.channels if c not in set(windows.channels)]
        if missing:
            return (f"the recording lacks {len(missing)} of the pack's {len(self.components.channels)} channels; "
                    "a pack built for its placements has a bout context of its own")  # fmt: skip
        return None

    def context_applies(self, windows: Windows) -> bool:
        """Whether pass two runs on these windows: the pack has a context and nothing makes it unusable."""
        return self.uses_context and self.context_unused_reason(windows) is None

    @property
    def uses_context(self) -> bool:
        fusion = self.components.fusion
        knowledge_base = fusion.context_weight > 0 and self.components.context_knowledge_base is not None
        neighbours = fusion.context_neighbours_weight > 0 and self.components.context_neighbours is not None
        linear = fusion.context_linear_weight > 0 and self.components.context_linear is not None
        return self.settings.bout_context and fusion.context_half_width_s is not None and (knowledge_base or neighbours or linear)

    def evidence_table(self, features: np.ndarray, candidates: CandidateSet, neighbour_counts: Counter,
                       novelty: tuple[float, float] | None = None, context: BoutContext | None = None) -> EvidenceTable:  # fmt: skip
        k = self.components.fusion.settings.neighbours_k
        return build_evidence(self.components.knowledge_base, features, candidates, neighbour_counts,
                              k, self.settings.features_per_pair, novelty=novelty, context=context)  # fmt: skip

    def bout_context(self, evidence: WindowEvidence, rows: list[int]) -> BoutContext | None:
        """The second pass's vote shares over `rows` (a window or a segment), None without a bout context."""
        scores, neighbours = evidence.scores, self.components.context_neighbours
        if scores.context is None:
            return None

        def mean_shares(matrix: np.ndarray | None) -> dict[str, float]:
            return {} if matrix is None else dict(zip(self.components.seen, matrix[rows].mean(axis=0).tolist()))

        near = scores.context_neighbours if neighbours is not None else None
        return BoutContext(shares=mean_shares(scores.context), neighbour_shares=mean_shares(near),
                           n_neighbours=0 if near is None else neighbours.k,
                           linear_probabilities=mean_shares(scores.context_linear),
                           half_width_s=float(self.components.fusion.context_half_width_s))  # fmt: skip

    @staticmethod
    def gate_reading(evidence: WindowEvidence, rows: list[int]) -> tuple[float, float] | None:
        """The seen gate's reading of `rows` (None when every activity has reference data)."""
        return None if evidence.novelty is None else evidence.novelty.summary(rows)

    def neighbour_counts(self, evidence: WindowEvidence, rows: list[int]) -> Counter:
        labels = self.components.reference_labels.to_numpy()
        ids = evidence.neighbour_ids[rows]
        return Counter(labels[ids[ids >= 0]].tolist())

    # ------------------------------------------------------------------------------------------ run
    def analyze(self, windows: Windows, recording_id: str, breaks: np.ndarray | None = None) -> Analysis:
        """Windows in time order; `breaks[i]` True where a new piece starts (a gap or another file)."""
        breaks = _checked_breaks(windows, breaks)
        trace = AnalysisTrace(recording=recording_id, protocol=self.protocol, backend=self.backend.model_id if self.backend else None,
                              settings=self.settings, fusion=self._fusion_summary(windows))  # fmt: skip
        started = time.perf_counter()
        clock = _Clock(trace)
        self.progress(f"scoring {len(windows)} windows (features, encoder, retrieval, pairwise votes)")
        evidence, probabilities, sets = self.score(windows, breaks)
        clock.mark("candidates")
        activities = self.components.fusion.activities
        cost = switch_cost(self.settings.expected_bout_s, self.components.stride_s, len(activities))
        smoothed = smooth_decisions(np.log(probabilities + 1e-12), cost, breaks)
        decisions = self.decide_windows(evidence, sets, [activities[i] for i in smoothed])
        clock.mark("decision")
        chosen = [d.activity for d in decisions]
        confidence = probabilities[np.arange(len(windows)), [activities.index(a) for a in chosen]]
        segments = segment_windows(chosen, confidence, windows.start_s, windows.window_s,
                                   np.cumsum(breaks))  # fmt: skip
        trace.windows = [
            WindowRecord(index=i, start_s=float(windows.start_s[i]), candidates=s.activities, probabilities=s.probabilities,
                         smoothed=activities[smoothed[i]], decision=d)  # fmt: skip
            for i, (s, d) in enumerate(zip(sets, decisions))
        ]
        trace.explanations = self._explain_segments(segments, evidence, probabilities)
        clock.mark("explanations")
        tables = {e.segment: e.explanation.evidence for e in trace.explanations}
        for segment in segments:
            segment.flags += self._flags(segment, decisions, tables[segment.index])
        trace.totals = _totals(trace, len(windows), time.perf_counter() - started)
        return Analysis(recording=recording_id, window_s=windows.window_s, segments=segments,
                        durations_s=durations(segments), decisions=chosen, confidences=confidence.tolist(),
                        start_s=windows.start_s.astype(float).tolist(), trace=trace)  # fmt: skip

    def decide_windows(self, evidence: WindowEvidence, sets: list[CandidateSet], evidence_choices: list[str]) -> list[WindowDecision]:
        """Stage 3 for every window: the evidence choice, or the LLM's where the policy asks it."""
        asked = set(windows_for_llm(sets, self.settings.decision))
        decisions = []
        for i, (candidates, evidence_choice) in enumerate(zip(sets, evidence_choices)):
            choice, attempts = None, []
            if i in asked:
                self.progress(f"asking the LLM about window {i} ({len(decisions)}/{len(sets)})")
                table = self.evidence_table(evidence.features[i], candidates, self.neighbour_counts(evidence, [i]),
                                            self.gate_reading(evidence, [i]), self.bout_context(evidence, [i]))  # fmt: skip
                choice, attempts = ask_llm(self.backend, candidates, table, self.settings.context,
                                           self.settings.decision.max_reasks, self.cache)  # fmt: skip
            decisions.append(decide(evidence_choice, choice, attempts, i in asked))
        return decisions

    def _explain_segments(self, segments: list[Segment], evidence: WindowEvidence, probabilities: np.ndarray) -> list[SegmentExplanation]:
        ranked = sorted(segments, key=lambda s: -s.duration_s)
        with_llm = {s.index for s in ranked[: self.settings.explain_limit]} if self.backend else set()
        out = []
        for number, segment in enumerate(segments, 1):
            self.progress(f"explaining segment {number}/{len(segments)} ({segment.activity})")
            table = self.segment_evidence(segment, evidence, probabilities)
            explanation = explain(table, self.phrases, self.backend if segment.index in with_llm else None,
                                  self.settings.context, self._parents(table.candidates), self.cache)  # fmt: skip
            if self.backend and segment.index not in with_llm:
                explanation.status = "template"
            out.append(SegmentExplanation(segment=segment.index, explanation=explanation))
        return out

    def segment_evidence(self, segment: Segment, evidence: WindowEvidence, probabilities: np.ndarray) -> EvidenceTable:
        """Evidence for a whole segment: median features, mean probabilities, pooled neighbours; the
        segment's activity leads."""
        rows = segment.window_indices
        activities = self.components.fusion.activities
        mean = probabilities[rows].mean(axis=0)
        sets = select_candidates(mean[None, :], activities, self.components.fusion.settings)[0]
        kept = [segment.activity] + [a for a in sets.activities if a != segment.activity]
        kept = kept[: self.components.fusion.settings.max_candidates]
        candidates = CandidateSet(activities=kept, probabilities=[float(mean[activities.index(a)]) for a in kept])
        features = column_medians(evidence.features[rows])
        counts = self.neighbour_counts(evidence, rows)
        scale = len(rows)
        per_window = Counter({a: int(round(c / scale)) for a, c in counts.items()})
        return self.evidence_table(features, candidates, per_window, self.gate_reading(evidence, rows),
                                   self.bout_context(evidence, rows))  # fmt: skip

    def explain_window(self, windows: Windows, index: int, breaks: np.ndarray | None = None) -> tuple[CandidateSet, Explanation]:
        """On demand: one window's candidates and its explained decision (evidence policy). With a bout context
        every window is scored, so the window sees the same bout as in `analyze`."""
        rows = np.arange(len(windows)) if self.context_applies(windows) else np.array([index])
        evidence, probabilities, sets = self.score(windows.subset(rows), None if breaks is None else breaks[rows])
        at = int(np.flatnonzero(rows == index)[0])
        table = self.evidence_table(evidence.features[at], sets[at], self.neighbour_counts(evidence, [at]),
                                    self.gate_reading(evidence, [at]), self.bout_context(evidence, [at]))  # fmt: skip
        return sets[at], explain(table, self.phrases, self.backend, self.settings.context,
                                 self._parents(table.candidates), self.cache)  # fmt: skip

    # ------------------------------------------------------------------------------------------ helpers
    def _parents(self, candidates: list[str]) -> set[str]:
        names = set(self.vocabulary.names)
        return {self.vocabulary[a].parent for a in candidates if a in names and self.vocabulary[a].parent}

    def _flags(self, segment: Segment, decisions: list[WindowDecision], table: EvidenceTable) -> list[str]:
        flags = []
        if segment.activity not in self.components.seen:
            flags.append("unseen-activity")
            # unseen only: for a seen activity its reference data outweighs the description (such checks
            # fail on right decisions), while unseen decisions that fail them are mostly wrong (README, Results)
            if table.failed_checks(segment.activity, POSTURE_ATTRIBUTES):
                flags.append("posture-contradicts-description")
        by = Counter(decisions[i].decided_by for i in segment.window_indices)
        if by.get("llm"):
            flags.append("llm-decided")
        if by.get("evidence-fallback"):
            flags.append("llm-failed-evidence-used")
        if segment.confidence < 0.5:
            flags.append("low-confidence")
        return flags

    def _fusion_summary(self, windows: Windows) -> dict[str, float | str]:
        fusion, context_unused = self.fusion_for(windows), self.context_unused_reason(windows)
        summary = {**{f"weight {k}": v for k, v in fusion.weights.items()}, "temperature": fusion.temperature,
                   "fitted_on": fusion.fitted_on}  # fmt: skip
        if fusion is not self.components.fusion:  # for_placements returns the pack's own fusion when it applies
            summary["weights fitted for"] = f"{'+'.join(windows.placements)} alone, on the same held-out folds"
        if self.uses_context and context_unused:
            summary["bout context"] = f"not used: {context_unused}"
        elif self.uses_context:
            summary |= {"weight bout context": fusion.context_weight, "weight bout neighbours": fusion.context_neighbours_weight,
                        "weight bout linear model": fusion.context_linear_weight,
                        "bout context half-width s": fusion.context_half_width_s,
                        "bout context features": top_k_text(fusion.context_neighbours_top_k),
                        "bout context fitted_on": fusion.context_fitted_on or ""}  # fmt: skip
        if fusion.seen_gate is not None:
            gate = fusion.seen_gate
            summary |= {"unseen attribute weight": fusion.attribute_weight, "held-out H": fusion.reference_h or float("nan"),
                        **{f"seen gate {name}": coef for name, coef in zip(gate.signals, gate.coef)}}  # fmt: skip
        return summary


class _Clock:
    def __init__(self, trace: AnalysisTrace) -> None:
        self.trace, self.last = trace, time.perf_counter()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.trace.timings.append(StageTiming(stage=stage, seconds=now - self.last))
        self.last = now


def _attempts(trace: AnalysisTrace) -> list[Attempt]:
    window_attempts = [a for w in trace.windows for a in w.decision.attempts]
    return window_attempts + [a for e in trace.explanations for a in e.explanation.attempts]


def _totals(trace: AnalysisTrace, n_windows: int, seconds: float) -> Totals:
    attempts = [a for a in _attempts(trace) if not a.cached and a.error_kind not in ("unavailable", "model_missing")]
    tokens = sum(a.usage.total for a in attempts)
    return Totals(
        windows=n_windows, llm_calls=len(attempts), tokens=tokens,
        llm_calls_per_window=len(attempts) / max(n_windows, 1), tokens_per_window=tokens / max(n_windows, 1),
        windows_per_s=n_windows / max(seconds, 1e-9),
        explanations=dict(Counter(e.explanation.status for e in trace.explanations)),
        decided_by=dict(Counter(w.decision.decided_by for w in trace.windows)),
    )  # fmt: skip


def column_medians(values: np.ndarray) -> np.ndarray:
    """Median of each column over its finite values; NaN (without numpy's all-NaN warning) for a column
    with none, as for the channels of a placement the recording lacks."""
    out = np.full(values.shape[1], np.nan)
    present = np.isfinite(values).any(axis=0)
    out[present] = np.nanmedian(values[:, present], axis=0)
    return out


def _checked_breaks(windows: Windows, breaks: np.ndarray | None) -> np.ndarray:
    """Piece starts, also wherever time goes backwards; windows must be in time order within a piece."""
    breaks = np.zeros(len(windows), dtype=bool) if breaks is None else np.asarray(breaks, dtype=bool).copy()
    if breaks.shape != (len(windows),):
        raise ValueError(f"breaks has shape {breaks.shape}, expected ({len(windows)},)")
    if len(windows):
        breaks[0] = True
        breaks[1:] |= np.diff(windows.start_s) <= 0
    return breaks
