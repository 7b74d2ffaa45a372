"""Stage 3: the decision, by policy.

- `evidence`: the calibrated fusion decides (no LLM);
- `llm`: the LLM picks one of the window's candidates (an enum), given the evidence table;
- `auto`: the LLM only for the windows whose evidence margin is below a threshold, never more than a set
  share of all windows (the most uncertain first).
Whatever the LLM does — time out, answer off-schema, pick outside the candidates — the window falls back to
the evidence decision and says so. Prompts come from `prompts/`; evidence enters them as quoted data.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from agent.candidates import CandidateSet
from agent.evidence import EvidenceTable
from agent.llm.base import LLMBackend
from agent.llm.cache import ResponseCache
from agent.llm.structured import Attempt, ask_structured
from agent.prompting import conversation, quoted

Policy = Literal["evidence", "llm", "auto"]
DecidedBy = Literal["evidence", "llm", "evidence-fallback"]


class DecisionSettings(BaseModel):
    policy: Policy = "evidence"
    margin_threshold: float = Field(default=0.3, ge=0, le=1, description="auto: consult the LLM below this margin")
    max_llm_share: float = Field(default=0.25, ge=0, le=1, description="auto: at most this share of windows")
    max_reasks: int = Field(default=1, ge=0)


class WindowDecision(BaseModel):
    activity: str
    decided_by: DecidedBy
    evidence_activity: str
    attempts: list[Attempt] = Field(default_factory=list)
    llm_choice: str | None = None


def choice_model(candidates: list[str]) -> type[BaseModel]:
    """The LLM's answer: one of exactly these candidates, and the rows it relied on."""
    return create_model(
        "ActivityChoice",
        __config__=ConfigDict(extra="forbid"),
        activity=(Literal[tuple(candidates)], ...),
        evidence_ids=(list[str], Field(default_factory=list, max_length=8)),
    )


def evidence_for_prompt(table: EvidenceTable) -> str:
    """The evidence rows as quoted JSON data (id + statement): nothing in them can act as an instruction."""
    return quoted([{"id": row.id, "fact": row.statement} for row in table.rows])


def ask_llm(backend: LLMBackend, candidates: CandidateSet, table: EvidenceTable, context: str,
            max_reasks: int, cache: ResponseCache | None) -> tuple[str | None, list[Attempt]]:  # fmt: skip
    """The LLM's pick among the candidates, or None (with the attempts that say why)."""
    listed = quoted({a: round(p, 2) for a, p in zip(candidates.activities, candidates.probabilities)})
    messages = conversation("decide_system", "decide_user", candidates=listed,
                            evidence=evidence_for_prompt(table), context=quoted(context))  # fmt: skip
    result = ask_structured(backend, messages, choice_model(candidates.activities), max_reasks=max_reasks,
                            max_tokens=96, cache=cache)  # fmt: skip
    return (result.output.activity if result.ok else None), result.attempts


def windows_for_llm(sets: list[CandidateSet], settings: DecisionSettings) -> list[int]:
    """Which windows the policy sends to the LLM, most uncertain first."""
    if settings.policy == "evidence":
        return []
    if settings.policy == "llm":
        return list(range(len(sets)))
    margins = np.array([s.margin for s in sets])
    uncertain = np.flatnonzero(margins < settings.margin_threshold)
    budget = int(np.floor(settings.max_llm_share * len(sets)))
    return sorted(uncertain[np.argsort(margins[uncertain], kind="stable")][:budget].tolist())


def decide(evidence_choice: str, llm_choice: str | None, attempts: list[Attempt], asked: bool) -> WindowDecision:
    if not asked:
        return WindowDecision(activity=evidence_choice, decided_by="evidence", evidence_activity=evidence_choice)
    if llm_choice is None:
        return WindowDecision(activity=evidence_choice, decided_by="evidence-fallback",
                              evidence_activity=evidence_choice, attempts=attempts)  # fmt: skip
    return WindowDecision(activity=llm_choice, decided_by="llm", evidence_activity=evidence_choice,
                          attempts=attempts, llm_choice=llm_choice)  # fmt: skip
