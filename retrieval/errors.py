"""The one exception type of the retrieval package.

Every misuse of an index (wrong dimension, non-finite vectors, duplicate ids, a saved index built for another
encoder …) surfaces as a :class:`RetrievalError` that says what was wrong and what to do, so the caller fixes
the input instead of getting a silently wrong neighbour list.
"""

from __future__ import annotations

from collections.abc import Sequence

_MAX_LISTED = 10


class RetrievalError(ValueError):
    """Input or a saved index that the retrieval package cannot use as asked."""

    def __init__(self, problem: str, *, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} — fix: {fix}" if fix else problem)


def describe_items(items: Sequence[object], limit: int = _MAX_LISTED) -> str:
    """List the first few offending items (row indices, ids, names) so a message stays readable."""
    shown = ", ".join(repr(item) if isinstance(item, str) else str(item) for item in list(items)[:limit])
    hidden = len(items) - limit
    return f"[{shown}, … {hidden} more]" if hidden > 0 else f"[{shown}]"
