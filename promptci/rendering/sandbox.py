"""Jinja for report templates, bounded: a template a pull request may have written (`--template`) runs nothing it
does not need, and costs at most seconds and megabytes.

Jinja's sandbox keeps templates away from Python's internals; this adds what it leaves open. In a template
from outside, `include`, `import` and `extends` are refused when it is parsed (they read other files, and a
template that includes itself recurses without end); `range()` stops at `MAX_RANGE`; rendering stops with an error past
`MAX_OUTPUT` characters or `MAX_SECONDS` seconds, which also ends nested loops that print nothing.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from ..errors import InputError

MAX_RANGE = 10_000
MAX_OUTPUT = 8_000_000  # characters; the longest report (the job summary) is kept under 1 MiB
MAX_SECONDS = 10.0
REFUSED = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Extends: "extends",
}


class TooCostly(jinja2.TemplateError):
    """A template that ran past its time or output bounds."""


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TooCostly(f"range() of {len(numbers)} numbers, over the limit of {MAX_RANGE}")
    return numbers


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox with a short `range()`; for a template from outside (`untrusted`), no tags that load others."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, untrusted: bool, **options: Any) -> None:
        super().__init__(**options)
        self.untrusted = untrusted
        self.globals["range"] = _range

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """`'x' * 10**9` and `10 ** 10 ** 10` would take gigabytes or hours in one step: refused up front."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
                    raise TooCostly(f"a repetition of {len(seq) * times} items, over the limit of {MAX_OUTPUT}")
        elif isinstance(right, int) and abs(right) > 1000 and isinstance(left, (int, float)) and abs(left) > 1:
            raise TooCostly(f"a power with exponent {right}, over the limit of 1000")
        return super().call_binop(context, operator, left, right)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for kind, tag in REFUSED.items() if self.untrusted else ():
            found = next(tree.find_all(kind), None)
            if found is not None:
                raise jinja2.TemplateSyntaxError(
                    f"'{tag}' is not allowed in a report template (it reads other "
                    "files); put everything in one template",
                    found.lineno,
                    name,
                    filename,
                )
        return tree


def render(template: jinja2.Template, context: Mapping[str, Any], *, where: Any) -> str:
    """The template's text, or an InputError naming `where` when it fails or runs past the bounds."""
    chunks, size = [], 0
    try:
        with _deadline(MAX_SECONDS):
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise TooCostly(f"the output passed {MAX_OUTPUT} characters")
                chunks.append(chunk)
    except (jinja2.TemplateError, OverflowError, RecursionError, MemoryError) as exc:
        raise InputError(
            f"the report template failed: {exc or type(exc).__name__}",
            path=where,
            fix="fix the template (see docs/security.md for what a report template may do)",
        ) from None
    return "".join(chunks)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise TooCostly in the rendering thread after `seconds` (a timer signal: only the main thread can take one;
    elsewhere the output bound still holds)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    started = time.monotonic()

    def expire(signum: int, frame: Any) -> None:
        raise TooCostly(f"rendering took over {seconds:.0f} s (after {time.monotonic() - started:.1f} s)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
