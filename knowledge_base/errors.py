"""The one exception type of the knowledge_base package.

Every problem (windows that do not match a knowledge base, a tampered or stale saved base, an activity the
base does not know, too little reference data) surfaces as a :class:`KnowledgeBaseError` that says what was
wrong, where, and what to do, so the caller fixes the input instead of reading a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_MAX_LISTED = 8


class KnowledgeBaseError(ValueError):
    """Input or a saved knowledge base that the knowledge_base package cannot use as asked."""

    def __init__(self, problem: str, *, where: str | Path | None = None, fix: str | None = None) -> None:
        self.problem = problem
        self.where = str(where) if where is not None else None
        self.fix = fix
        text = f"{self.where}: {problem}" if self.where else problem
        super().__init__(f"{text} — fix: {fix}" if fix else text)


def listed(items: Sequence[object], limit: int = _MAX_LISTED) -> str:
    """The first few items of a list, so an error message stays readable."""
    items = list(items)
    shown = ", ".join(str(item) for item in items[:limit])
    hidden = len(items) - limit
    return f"[{shown}, … {hidden} more]" if hidden > 0 else f"[{shown}]"
