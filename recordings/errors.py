"""The one exception type of the recordings package.

Every problem with input data surfaces as a :class:`RecordingError` that says what was wrong, where
(file, line, column) and what to do, so a user can fix the file instead of reading a traceback.
"""

from __future__ import annotations

from pathlib import Path


class RecordingError(ValueError):
    """Input data that cannot be turned into a canonical recording (or a protocol that cannot be built)."""

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: str | int | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = f"{', '.join(where)}: {self.problem}" if where else self.problem
        if self.fix:
            text += f" — fix: {self.fix}"
        return text


class DataNotFoundError(RecordingError):
    """A dataset or file that should exist under the data root does not."""
