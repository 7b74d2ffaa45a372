"""The evidence table: every fact the decision and the explanation may use, as typed rows.

An explanation may cite only what is here; the verifier checks every number, feature and activity name
it mentions against these rows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

RowKind = Literal["feature", "neighbours", "attribute", "prototype", "score", "novelty", "context", "bout_neighbours", "bout_linear"]


class EvidenceRow(BaseModel):
    """One citable fact, with an id the LLM refers to (e.g. "E3")."""

    id: str
    kind: RowKind
    activity: str = Field(description="the candidate this row speaks for (or the pair 'a|b' for features)")
    feature: str | None = None
    feature_label: str | None = Field(default=None, description="plain-English name of the feature")
    unit: str | None = None
    value: float | None = Field(default=None, description="the query window's measured value")
    reference: dict[str, float] = Field(default_factory=dict, description="e.g. median, q25, q75 of the activity")
    percentile: float | None = Field(default=None, description="where the value falls in the activity's reference")
    holds: bool | None = Field(default=None, description="for attribute checks")
    attribute: str | None = Field(default=None, description="for attribute checks: which attribute (torso, intensity …)")
    statement: str = Field(description="the row as one sentence, numbers included")

    def numbers(self) -> list[float]:
        values = [v for v in (self.value, self.percentile) if v is not None]
        return values + list(self.reference.values())


class EvidenceTable(BaseModel):
    """All rows for one decision (a window or a timeline segment)."""

    candidates: list[str]
    probabilities: dict[str, float] = Field(default_factory=dict)
    rows: list[EvidenceRow] = Field(default_factory=list)

    def numbers(self) -> list[float]:
        values = [v for row in self.rows for v in row.numbers()]
        values += list(self.probabilities.values()) + [100 * p for p in self.probabilities.values()]
        return values

    def features(self) -> set[str]:
        return {row.feature for row in self.rows if row.feature} | {row.feature_label for row in self.rows if row.feature_label}

    def row(self, row_id: str) -> EvidenceRow | None:
        return next((r for r in self.rows if r.id == row_id), None)

    def failed_checks(self, activity: str, attributes: tuple[str, ...] | None = None) -> list[EvidenceRow]:
        """The activity's attribute checks that do not hold (only those of `attributes` when given)."""
        return [r for r in self.rows if r.kind == "attribute" and r.activity == activity and r.holds is False
                and (attributes is None or r.attribute in attributes)]  # fmt: skip
