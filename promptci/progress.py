"""Progress of long work on stderr, from one reporter for the whole process (stdout is for results).

Long work says what it does through `step()` (a phase: loading a model, an optimizer step) and
`count()` (items of a known total: scoring, embedding). On a terminal a live bar shows the counts;
elsewhere (CI logs, pipes) counts are plain lines, at most one every `interval` seconds, each led by
the time since the first line. A watchdog thread says what is still going on whenever nothing was
printed for `quiet` seconds, so no step is silent for long, even while one model call or a library
load holds the main thread.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

INTERVAL = 15.0  # the most often a count prints a plain line
QUIET = 20.0  # the longest a step may go without a line


def interactive() -> bool:
    """A person is watching: stderr is a terminal and this is not a CI job."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def duration(seconds: float) -> str:
    """'42 s', '3 min 5 s', '1 h 2 min': short enough for a log line."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _one_line(text: str) -> str:
    """Untrusted text (a path, a prompt name) on one line with no control characters."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


class Counter:
    """Items of one task done so far; `status()` says how many, how fast, and how long is left."""

    def __init__(self, reporter: Reporter, label: str, total: int, unit: str) -> None:
        self.reporter, self.label, self.total, self.unit = reporter, _one_line(label), total, unit
        self.done = 0
        self.started = time.monotonic()
        self.task: Any = None  # the live bar's task, on a terminal

    def advance(self, *_: Any, n: int = 1) -> None:
        self.done += n
        self.reporter._advanced(self, n)

    def status(self) -> str:
        elapsed = time.monotonic() - self.started
        text = f"{self.label}: {self.done}/{self.total} {self.unit}"
        if self.done and elapsed > 0:
            rate = self.done / elapsed
            text += f" · {rate:.1f} {self.unit}/s" if rate >= 1 else f" · {1 / rate:.1f} s each"
            if self.done < self.total:
                text += f" · about {duration((self.total - self.done) / rate)} left"
        elif not self.done:
            text += f" · {duration(elapsed)} so far"
        return text


class _Step:
    def __init__(self, text: str) -> None:
        self.text = _one_line(text)
        self.started = time.monotonic()

    def status(self) -> str:
        return f"still {self.text} ({duration(time.monotonic() - self.started)} so far)"


class Reporter:
    """Writes progress lines; thread-safe (the watchdog writes too). `live`: None decides by the terminal."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval: float = INTERVAL,
        quiet: float = QUIET,
        live: bool | None = None,
    ) -> None:
        self._stream = stream  # None: sys.stderr when writing, so a redirected stderr is honoured
        self.interval, self.quiet, self._live = interval, quiet, live
        self._lock = threading.RLock()
        self._first: float | None = None
        self._last = time.monotonic()
        self._doing: list[_Step | Counter] = []
        self._watchdog: threading.Thread | None = None
        self._console: Any = None
        self._bar: Any = None
        self._broken = False

    @property
    def live(self) -> bool:
        return interactive() if self._live is None else self._live

    def note(self, text: str) -> None:
        """One line now: what is starting, or what just finished."""
        self._write(_one_line(text))

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """A phase of work that may take a while: said now, and said again while it lasts."""
        self.note(text)
        with self._doing_this(_Step(text)):
            yield

    @contextmanager
    def count(self, label: str, total: int, unit: str = "items") -> Iterator[Counter]:
        """Count `total` items of one task: a bar on a terminal, a line every `interval` seconds elsewhere,
        and a last line when the task took long enough to have printed one."""
        counter = Counter(self, label, total, unit)
        with self._lock:
            if self.live:
                counter.task = self._progress_bar().add_task(counter.label, total=total)
        printed = self._last
        try:
            with self._doing_this(counter):
                yield counter
        finally:
            with self._lock:
                if counter.task is not None:
                    self._bar.remove_task(counter.task)
                    if not self._bar.tasks:
                        self._bar.stop()
                        self._bar = None
                elif self._last != printed and counter.done >= counter.total:
                    self._write(
                        f"{counter.label}: {counter.done}/{counter.total} {counter.unit} in "
                        f"{duration(time.monotonic() - counter.started)}"
                    )

    # ---- internals ---------------------------------------------------------------------------------

    @contextmanager
    def _doing_this(self, activity: _Step | Counter) -> Iterator[None]:
        with self._lock:
            self._doing.append(activity)
            self._start_watchdog()
        try:
            yield
        finally:
            with self._lock:
                self._doing.remove(activity)

    def _advanced(self, counter: Counter, n: int) -> None:
        with self._lock:
            if counter.task is not None:
                self._bar.advance(counter.task, n)
            elif time.monotonic() - self._last >= self.interval:
                self._write(counter.status())

    def _write(self, text: str) -> None:
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                self._first = now
            elapsed = int(now - self._first)
            line = f"[{elapsed // 60}:{elapsed % 60:02d}] {text}"
            self._last = now
            if self._broken:
                return
            try:
                if self.live:
                    self._terminal().print(line)
                else:
                    stream = self._stream or sys.stderr
                    stream.write(line + "\n")
                    stream.flush()
            except (OSError, ValueError):  # stderr closed or a broken pipe: progress is not worth failing for
                self._broken = True

    def _terminal(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self._stream, stderr=self._stream is None, markup=False, highlight=False, emoji=False
            )
        return self._console

    def _progress_bar(self) -> Any:
        if self._bar is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self._terminal(),
                transient=True,
            )
            self._bar.start()
        return self._bar

    def _start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="promptci-progress", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.quiet / 4))
            with self._lock:
                if not self._doing or time.monotonic() - self._last < self.quiet:
                    continue
                current = self._doing[-1]
                if isinstance(current, Counter) and current.task is not None:
                    self._last = time.monotonic()  # the live bar shows it
                    continue
                self._write(current.status())


reporter = Reporter()


def note(text: str) -> None:
    reporter.note(text)


def step(text: str) -> Any:
    return reporter.step(text)


def count(label: str, total: int, unit: str = "items") -> Any:
    return reporter.count(label, total, unit)
