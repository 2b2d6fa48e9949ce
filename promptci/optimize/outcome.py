"""What an optimizer run tried and found: its attempts, one per candidate, and its outcome."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..errors import InfraError
from ..files.evalresults import ItemResult
from ..files.records import Attempt
from ..models.budget import Budget


@dataclass
class Outcome:
    """What an optimizer run found. `best_text` is always a valid prompt file (the input when nothing won)."""

    initial_text: str
    best_text: str
    initial_score: float  # on the first subset
    best_score: float  # on the final subset
    initial_on_final: float  # the input prompt re-scored on the final subset, for a fair comparison
    steps_done: int
    stopped: str
    attempts: list[Attempt] = field(default_factory=list)
    best_after_step: list[str] = field(default_factory=list)  # the best prompt's text after step 0, 1, ...
    score_after_step: list[float] = field(default_factory=list)  # and its subset score then
    replacements: list[dict] = field(default_factory=list)
    subset_ids: list[str] = field(default_factory=list)
    judged_ids: list[str] = field(default_factory=list)  # the training items judged on besides the subset
    demonstrations: list[str] = field(default_factory=list)  # pool items the best prompt shows, chosen here
    fault: InfraError | None = None  # set when a model stayed unreachable
    scored: dict[str, dict[str, ItemResult]] = field(default_factory=dict, repr=False)  # each prompt tried, by sha
    initial_results: dict[str, ItemResult] = field(default_factory=dict, repr=False)  # the input's, by item
    best_results: dict[str, ItemResult] = field(default_factory=dict, repr=False)  # the best prompt's, by item

    @property
    def improved(self) -> bool:
        return self.best_text != self.initial_text

    def diff(self, before: str, after: str) -> str:
        """The best prompt as a unified diff against the input."""
        return "".join(
            difflib.unified_diff(
                self.initial_text.splitlines(keepends=True),
                self.best_text.splitlines(keepends=True),
                fromfile=before,
                tofile=after,
            )
        )

    def why_unchanged(self) -> str:
        """Why nothing was suggested, in one line: what was tried and what stopped each try."""
        if self.improved:
            return ""
        counts: dict[str, int] = {}
        for a in self.attempts:
            reason = a.why.split(":")[0]
            counts[reason] = counts.get(reason, 0) + 1
        tried = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        return (
            f"no candidate beat the input ({len(self.attempts)} tried: {tried}); stopped: {self.stopped}"
            if self.attempts
            else f"nothing was tried: {self.stopped}"
        )


class Stop(Exception):
    """Ends the run cleanly with the best prompt so far; the message says why."""

    @classmethod
    def spent(cls, budget: Budget) -> Stop:
        """The budget allows no more of the run's work."""
        return cls(f"budget spent ({budget.describe()}); kept the best prompt so far")
