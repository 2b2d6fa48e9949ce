"""What a pull-request run is about to do, said before it starts: how many prompts, about how many model
calls, and roughly how long on this machine.

Rough on purpose: the optimizer stops early once the subset has no failures, answers from the cache
cost nothing, and an undecided verdict may score more items. The per-call times are what the demo
measured (benchmarks/README.md, `pr_flow.py`: 298 calls in 116 s on 2 cores with the embedded model).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import promptfile, subsetfile
from .errors import InputError
from .gitdiff import Change
from .plan import pool_size

LOCAL_SECONDS_PER_CALL_2_CORES = 0.4
REMOTE_SECONDS_PER_CALL = 1.0  # divided by the prompt's concurrency
START_SECONDS = 10.0  # imports, loading the models, embedding a pool


@dataclass(frozen=True)
class Forecast:
    prompts: int
    calls: int
    seconds: float
    optimize: bool

    def describe(self) -> str:
        plural = "s" if self.prompts != 1 else ""
        work = "score, base against head" + (", and improve" if self.optimize else "")
        return (f"plan: {self.prompts} changed prompt{plural} to {work}; about "
                f"{self.calls} model calls (answers already in the cache are free), {rough(self.seconds)}")


def forecast(changes: Sequence[Change], tree: Path, *, optimize: bool, refresh: bool, steps: int | None,
             model: str | None, subset_size: int | None, max_calls: int | None) -> Forecast:
    """The calls and time of a run over these changes (a prompt that does not load counts for nothing)."""
    calls, seconds = 0, START_SECONDS
    for change in changes:
        if change.new_text is None:
            continue
        try:
            head = promptfile.parse(change.new_text, tree / change.new_path)
            n = _subset_size(head, pool_size(change, tree), subset_size)
        except InputError:
            continue  # the prompt is reported as failed in its turn
        compare = n * (2 if change.old_text is not None else 1)
        extra = 0
        if optimize and head.settings.optimizer.enabled:
            extra += _optimizer_calls(n, head.settings.optimizer.steps if steps is None else steps,
                                      head.settings.optimizer.attempts)
        if refresh:
            extra += 2 * min(head.settings.selection.max_replacements,
                             math.ceil(head.settings.selection.replace_share * n))
        if max_calls is not None:
            extra = max(0, min(extra, max_calls - compare))  # the budget never cuts the comparison
        calls += compare + extra
        seconds += (compare + extra) * seconds_per_call(model or head.model or "", head.settings.concurrency)
    return Forecast(prompts=len(changes), calls=calls, seconds=seconds, optimize=optimize)


def rough(seconds: float) -> str:
    """'under a minute on this machine (2 CPU cores)', 'roughly 3 minutes on ...'."""
    minutes = round(seconds / 60)
    time = "under a minute" if seconds < 60 else f"roughly {minutes} minute{'s' if minutes != 1 else ''}"
    return f"{time} on this machine ({os.cpu_count() or 1} CPU cores)"


def _subset_size(prompt: promptfile.PromptFile, pool: int, asked: int | None) -> int:
    path = subsetfile.path_for(prompt)
    if path.exists():
        try:
            return len(subsetfile.read(path).items)
        except InputError:
            pass
    return min(asked or prompt.settings.selection.size, pool)


def _optimizer_calls(n: int, steps: int, attempts: int) -> int:
    """Phase 1 (a few requests and the new instruction on the subset), then per step each attempt's request
    and its score on the failures (about a quarter of the subset), and one candidate on the whole subset."""
    failures = math.ceil(n / 4)
    return 5 + n + steps * (attempts * (1 + failures) + failures)


def seconds_per_call(model: str, concurrency: int) -> float:
    """About how long one uncached call takes, calls in flight taken into account."""
    if model.startswith("local/"):
        return LOCAL_SECONDS_PER_CALL_2_CORES * 2 / min(max(os.cpu_count() or 1, 1), 8)
    return REMOTE_SECONDS_PER_CALL / concurrency
