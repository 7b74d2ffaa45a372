"""A rich progress bar for steps that take more than a second, and a no-op otherwise."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import Progress


class progress_bar:
    """Context manager yielding a function that advances the bar by one step."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self.enabled, self.label, self.total = enabled, label, total
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.stop()
