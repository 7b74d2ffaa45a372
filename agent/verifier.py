"""The explanation verifier: every number, feature name and activity name in a text must come from the
evidence table (numbers within a rounding-aware tolerance)."""

from __future__ import annotations

import re
from typing import Iterable

from pydantic import BaseModel, Field

from agent.evidence import EvidenceTable

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?")
_FEATURE_NAME = re.compile(r"\b[a-z_]+(?:~[a-z_]+)?\.[a-z]+(?:\.[a-z0-9_]+)+\b")
_ROW_ID = re.compile(r"\bE\d+\b")
_ALWAYS_ALLOWED = {0.0, 1.0, 2.0, 3.0}  # counting words as digits ("2 features", "3 neighbours")


class Finding(BaseModel):
    kind: str = Field(description="number, feature, activity or row")
    text: str
    ok: bool
    note: str = ""


class VerificationReport(BaseModel):
    passed: bool
    findings: list[Finding] = Field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def feedback(self) -> str:
        """What to tell the LLM when re-asking."""
        return "; ".join(f"{f.kind} '{f.text}' {f.note}" for f in self.failures[:6])


def _tolerance(token: str, value: float) -> float:
    """Half a unit of the last written digit, or 2% — whichever is larger."""
    decimals = len(token.split(".")[1].rstrip("%")) if "." in token else 0
    return max(0.5 * 10.0 ** (-decimals), 0.02 * abs(value))


def _number_ok(token: str, known: Iterable[float]) -> bool:
    value = float(token.rstrip("%"))
    if value in _ALWAYS_ALLOWED and "." not in token:
        return True
    return any(abs(value - k) <= _tolerance(token, k) for k in known)


def verify(
    text: str,
    table: EvidenceTable,
    activity_names: dict[str, str],
    also_allowed: set[str] = frozenset(),
    decision: str | None = None,
    require_citation: bool = False,
) -> VerificationReport:
    """Check `text` against `table`. `activity_names` maps every way to say an activity (name, display,
    synonym, lower case) to its canonical name, so any activity the text names is recognised; it must be a
    candidate or in `also_allowed` (e.g. a candidate's parent: "cycling" for upright cycling).

    Facts alone do not make an explanation: with `decision`, the text must name the decided activity, and
    with `require_citation` it must cite at least one evidence row — a text that only restates the decision
    ("sitting is a behaviour") explains nothing a clinician can check."""
    findings: list[Finding] = []
    if require_citation and not _ROW_ID.search(text):
        findings.append(Finding(kind="citation", text=text[:40], ok=False, note="cites no evidence row (E1, E2, …)"))
    known = table.numbers()
    cleaned = _ROW_ID.sub(" ", text)
    for row_id in _ROW_ID.findall(text):
        ok = table.row(row_id) is not None
        findings.append(Finding(kind="row", text=row_id, ok=ok, note="" if ok else "is not an evidence row"))
    for feature in _FEATURE_NAME.findall(cleaned):
        ok = feature in table.features()
        findings.append(Finding(kind="feature", text=feature, ok=ok, note="" if ok else "is not in the evidence"))
        cleaned = cleaned.replace(feature, " ")
    for token in _NUMBER.findall(cleaned):
        ok = _number_ok(token, known)
        findings.append(Finding(kind="number", text=token, ok=ok, note="" if ok else "matches no evidence value"))
    lowered = f" {text.lower()} "
    for phrase in sorted(activity_names, key=len, reverse=True):
        if re.search(rf"(?<![a-z_]){re.escape(phrase)}(?![a-z_])", lowered):
            canonical = activity_names[phrase]
            ok = canonical in table.candidates or canonical in also_allowed
            findings.append(Finding(kind="activity", text=phrase, ok=ok, note="" if ok else "is not a candidate"))
            lowered = lowered.replace(phrase, " ")
    if decision is not None and not any(f.kind == "activity" and activity_names.get(f.text) == decision for f in findings):
        findings.append(Finding(kind="decision", text=decision, ok=False, note="the decided activity is never named"))
    return VerificationReport(passed=all(f.ok for f in findings), findings=findings)
