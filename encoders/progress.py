"""Progress reporting for anything slower than a second (training epochs, folds x seeds), via rich.

One :class:`Progress` object is passed down the call chain so nested steps (an evaluation's runs, each
run's epochs) show as bars in one live display; `Progress(enabled=False)` is silent for tests and
library use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress


class Progress:
    """A thin, optional wrapper over `rich.progress.Progress` that owns its live display."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._rich: RichProgress | None = None
        self._depth = 0

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[str], None]]:
        """A bar of `total` steps; yields `advance(note)` which moves it one step and shows `note`."""
        if not self.enabled:
            yield lambda note="": None
            return
        if self._rich is None:
            self._rich = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"), transient=True,
            )
            self._rich.start()
        self._depth += 1
        task_id = self._rich.add_task(description, total=total, note="")
        try:
            yield lambda note="": self._rich.update(task_id, advance=1, note=note)
        finally:
            self._rich.remove_task(task_id)
            self._depth -= 1
            if self._depth == 0:
                self._rich.stop()
                self._rich = None
