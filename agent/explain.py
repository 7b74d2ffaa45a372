"""Stage 4: explanations a clinician can check, per timeline segment and on demand.

The LLM writes 2–3 sentences citing evidence rows; the verifier checks every number, feature name and
activity name against the table; a failing text is re-asked once with the verifier's findings; a text that
still fails is replaced by a deterministic explanation rendered from the rows. The result always says which
of the three happened, and only verified text is ever shown as the LLM's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.decide import evidence_for_prompt
from agent.evidence import EvidenceTable
from agent.llm.base import LLMBackend, Message
from agent.llm.cache import ResponseCache
from agent.llm.structured import Attempt, ask_structured
from agent.prompting import conversation, quoted, render
from agent.verifier import VerificationReport, verify

Status = Literal["verified", "verified-after-reask", "template", "template-no-llm"]


class ExplanationText(BaseModel):
    """What the LLM must return."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=20, max_length=400)
    evidence_ids: list[str] = Field(default_factory=list, max_length=10)


class Explanation(BaseModel):
    activity: str
    status: Status = Field(description="verified LLM text, verified after one re-ask, or the template fallback")
    text: str
    cited: list[str] = Field(default_factory=list)
    evidence: EvidenceTable
    verification: VerificationReport
    rejected: list[str] = Field(default_factory=list, description="LLM texts that failed the verifier")
    attempts: list[Attempt] = Field(default_factory=list)


def template_explanation(table: EvidenceTable) -> tuple[str, list[str]]:
    """A deterministic explanation from the rows: the leader's probability, its neighbours (or, for an activity
    without reference data, the seen gate's reading), the strongest contrasting feature and an attribute
    check (the first that fails, since a contradiction is what a reviewer must see; else the first), each
    sentence citing its row."""
    leader = table.candidates[0]
    sentences, cited = [], []

    def first(kind: str, activity: str | None = None, prefix: bool = False):
        for row in table.rows:
            if row.kind == kind and (activity is None or row.activity == activity or (prefix and row.activity.startswith(f"{activity}|"))):
                return row
        return None

    neighbours = first("neighbours", leader)
    novelty = first("novelty") if neighbours is None else None  # no reference data: say why it is still the answer
    check = next(iter(table.failed_checks(leader)), None) or first("attribute", leader)
    for row in (first("score", leader), neighbours, first("context", leader), first("bout_neighbours", leader),
                first("bout_linear", leader), novelty,
                first("feature", leader, prefix=True), check):  # fmt: skip
        if row is not None:
            sentences.append(f"{row.statement} ({row.id}).")
            cited.append(row.id)
    if not sentences:
        sentences.append(f"Recognised as {leader}.")
    return " ".join(sentences), cited


PROMPT_ROWS = 10  # what 2–3 sentences can use; every row costs prompt tokens, which dominate a local model's time
_LEADER_KINDS = ("score", "neighbours", "context", "bout_neighbours", "bout_linear", "novelty")


def rows_for_prompt(table: EvidenceTable, most: int = PROMPT_ROWS) -> EvidenceTable:
    """The table as the explaining LLM sees it: at most `most` rows, in table order with their ids, chosen most
    relevant first: the decided activity's own rows, its contrasting features, its failed checks and its first
    holding one (what a clinician checks against the signal), the runner-up's probability and neighbours, then
    the rest. The verifier still checks the text against the whole table."""
    leader = table.candidates[0]
    runner_up = table.candidates[1] if len(table.candidates) > 1 else None
    holding = [r for r in table.rows if r.kind == "attribute" and r.activity == leader and r.holds]

    def rank(row) -> int:
        if row.activity == leader and row.kind in _LEADER_KINDS:
            return 0
        if row.kind == "feature" and row.activity.startswith(f"{leader}|"):
            return 1
        if row.kind == "attribute" and row.activity == leader and row.holds is False:
            return 2
        if holding and row is holding[0]:
            return 3
        return 4 if row.activity == runner_up and row.kind in ("score", "neighbours") else 5

    order = sorted(range(len(table.rows)), key=lambda i: (rank(table.rows[i]), i))[:most]
    return table.model_copy(update={"rows": [table.rows[i] for i in sorted(order)]})


def explain(
    table: EvidenceTable,
    activity_names: dict[str, str],
    backend: LLMBackend | None,
    context: str = "",
    also_allowed: set[str] = frozenset(),
    cache: ResponseCache | None = None,
) -> Explanation:
    """Explain the decision `table.candidates[0]`; see the module docstring for the three outcomes."""
    leader = table.candidates[0]
    attempts: list[Attempt] = []
    rejected: list[str] = []
    if backend is not None:
        others = quoted({a: p for a, p in table.probabilities.items() if a != leader})
        messages = conversation("explain_system", "explain_user", activity=leader,
                                probability=f"{table.probabilities.get(leader, 0.0):.2f}", others=others,
                                evidence=evidence_for_prompt(rows_for_prompt(table)), context=quoted(context))  # fmt: skip
        for round_ in range(2):
            result = ask_structured(backend, messages, ExplanationText, max_reasks=0, max_tokens=160, cache=cache)
            attempts += result.attempts
            if not result.ok:
                if result.attempts and result.attempts[-1].error_kind in ("unavailable", "timeout", "model_missing"):
                    break  # a dead backend: straight to the template
                continue  # off-schema: the second round is a fresh try
            report = verify(result.output.text, table, activity_names, also_allowed, decision=leader, require_citation=True)
            if report.passed:
                status = "verified" if round_ == 0 else "verified-after-reask"
                return Explanation(activity=leader, status=status, text=result.output.text,
                                   cited=result.output.evidence_ids, evidence=table, verification=report,
                                   rejected=rejected, attempts=attempts)  # fmt: skip
            rejected.append(result.output.text)
            messages = messages + [Message(role="assistant", content=result.attempts[-1].text),
                                   Message(role="user", content=render("explain_reask", findings=report.feedback()))]  # fmt: skip
    text, cited = template_explanation(table)
    report = verify(text, table, activity_names, also_allowed, decision=leader, require_citation=True)
    return Explanation(activity=leader, status="template" if backend is not None else "template-no-llm", text=text,
                       cited=cited, evidence=table, verification=report, rejected=rejected, attempts=attempts)  # fmt: skip
