"""Progress on long work: a live bar on a terminal, a plain line every 10% in CI logs."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def interactive() -> bool:
    """A person is watching: stderr is a terminal and this is not a CI job."""
    return sys.stderr.isatty() and not os.environ.get("CI")


class ItemProgress:
    """Counts finished items of one task; use as a context manager and call advance()."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._started = time.perf_counter()
        self._next_report = 0.1
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> "ItemProgress":
        if interactive():
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                                 transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, *_: Any) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        elif self.total and self.done / self.total >= self._next_report - 1e-9:
            elapsed = time.perf_counter() - self._started
            print(f"{self.label}: {self.done}/{self.total} items ({100 * self.done // self.total}%), "
                  f"{elapsed:.1f} s", file=sys.stderr, flush=True)
            self._next_report += 0.1

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
