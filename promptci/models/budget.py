"""A hard limit on model use, checked before work starts, so a run stops cleanly instead of overshooting.

Calls are the client's uncached calls (cache hits are free; a benchmark that must spend the same on every
re-run counts them too, `count_hits=True`); dollars are litellm's prices. Work asks
`allows(n)` before it may make up to n more calls: the call limit is never crossed, and the dollar
limit is checked against the average price of the calls made so far. A prompt's own limits (the base's
`promptci.budget`) sit inside the run's (`--max-calls`, `--max-usd`): a budget with a `parent` allows only what
both allow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .llm import ModelClient


@dataclass
class Budget:
    client: ModelClient
    max_calls: int | None = None
    max_usd: float | None = None
    count_hits: bool = False
    reserved: int = 0  # calls kept back for later work of higher priority (the PR flow's subset refresh)
    parent: Budget | None = None  # the run's limits, when this is one prompt's

    def __post_init__(self) -> None:
        self._calls0 = self._requests()
        self._usd0 = self.client.counters.cost_usd

    def _requests(self) -> int:
        c = self.client.counters
        return c.calls + (c.cache_hits if self.count_hits else 0)

    @property
    def calls(self) -> int:
        return self._requests() - self._calls0

    @property
    def usd(self) -> float:
        return self.client.counters.cost_usd - self._usd0

    @contextmanager
    def keeping_back(self, calls: int) -> Iterator[None]:
        """While in the block, `calls` more are kept back for later work of higher priority."""
        self.reserved += calls
        try:
            yield
        finally:
            self.reserved -= calls

    def allows(self, calls: int) -> bool:
        """Whether up to `calls` more uncached calls fit in what is left (less what is reserved)."""
        if self.parent is not None and not self.parent.allows(calls + self.reserved):
            return False
        calls += self.reserved
        if self.max_calls is not None and self.calls + calls > self.max_calls:
            return False
        if self.max_usd is not None:
            per_call = self.usd / self.calls if self.calls else 0.0
            if self.usd + per_call * calls > self.max_usd:
                return False
        return True

    @property
    def left(self) -> int | None:
        """Calls left under the limit, less what is reserved (None: no call limit)."""
        own = None if self.max_calls is None else max(0, self.max_calls - self.calls - self.reserved)
        run = None if self.parent is None else self.parent.left
        run = None if run is None else max(0, run - self.reserved)
        return own if run is None else run if own is None else min(own, run)

    @property
    def limited(self) -> bool:
        """Whether any limit binds here (this budget's or its parent's)."""
        return self.max_calls is not None or self.max_usd is not None or bool(self.parent and self.parent.limited)

    def describe(self) -> str:
        limits = []
        if self.max_calls is not None:
            limits.append(f"{self.calls} of {self.max_calls} calls")
        if self.max_usd is not None:
            limits.append(f"${self.usd:.4f} of ${self.max_usd:.2f}")
        if self.parent is not None and self.parent.limited:  # a prompt's limits inside the run's
            limits.append(f"the run: {self.parent.describe()}" if limits else self.parent.describe())
        return ", ".join(limits) or f"{self.calls} calls, no limit"


def holdout_size(wanted: int, calls_left: int | None) -> int:
    """Items for the optimizer's held-out check: as asked, but under a call limit at most half the calls left
    (two per item, the input prompt's and the suggestion's), so that the search keeps the other half."""
    return wanted if calls_left is None else min(wanted, calls_left // 4)


def judged_size(wanted: int, calls_left: int | None) -> int:
    """Training items every optimizer candidate is judged on besides the subset: as asked, but under a call limit
    at most an eighth of the calls left, so that a few candidates can be judged."""
    return wanted if calls_left is None else min(wanted, calls_left // 8)
