"""Whether a suggested prompt is shown better than head, by the gate's own sequential test, on items the optimizer
never saw (the held-out slice), scored in a seeded random order a batch at a time until the test decides.

A suggestion is "shown better" when the test rejects "suggestion − head ≤ 0" at the gate's significance α, with
bounds that hold at every look (gate/sequential.py), so scoring stops as soon as it can: a suggestion that is
better by noise is shown better at most α of the time. The scoring also stops, "not shown better", once the test
shows that the gain is below the gate's margin, the smallest change the gate counts as worth acting on.
The held-out items are a random sample of the pool's distribution, so the test treats them as draws from an
endless pool, in the order they were scored: the claim is about inputs like the pool's, not about those items.

`sequential_test` is the one door to the gate's test: when the gate's internals change, re-point it there.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Final, Literal

import numpy as np
from pydantic import Field
from pydantic.dataclasses import dataclass

from ..files.evalresults import ItemResult
from ..files.records import RECORD, Count, Signed, Unit
from ..files.settings import GateSettings
from ..gate import decision, sequential

BATCH = decision.BATCH  # held-out items scored per look, as the gate adds pool items
BETTER: Final = "better"
NOT_SHOWN: Final = "not shown better"

Scores = Callable[[Sequence[str]], Awaitable[tuple[Sequence[ItemResult], Sequence[ItemResult]]]]
"""Scores head and the suggestion on held-out item ids (same order): every item, or an InfraError."""


@dataclass(frozen=True, config=RECORD)
class Verdict:
    """The suggestion against head on held-out items: the gain (suggestion − head, mean of 0–1 scores), its
    anytime-valid bounds (each one-sided at confidence 1 − α, so together a 1 − 2α interval), and whether it is
    shown better."""

    status: Literal["better", "not shown better"]
    reason: str
    gain: Signed
    low: Signed
    high: Signed
    items: Count  # held-out items scored by both
    significance: Annotated[float, Field(gt=0.0, lt=1.0)]
    margin: Unit
    head: Unit | None = None  # the two means on those items (None: no item)
    best: Unit | None = None

    @property
    def better(self) -> bool:
        return self.status == BETTER


def sequential_test(diffs: Sequence[float], settings: GateSettings) -> tuple[sequential.Bounds, bool, bool]:
    """The gate's betting test on paired differences in the order drawn, as from an endless pool: the bounds (read
    off the gate's grid), whether the mean is shown above 0, and whether it is shown below the margin (level α)."""
    sample = np.array([list(diffs)], dtype=float) if len(diffs) else np.zeros((1, 0))
    alpha = settings.significance

    def rejected(threshold: float, side: str) -> np.ndarray:
        nulls = np.append(sequential.GRID, threshold)
        return np.isfinite(sequential.first_rejection(0.0, 0, sample, None, nulls, alpha, side)[0])

    up, down = rejected(0.0, "above"), rejected(settings.margin, "below")
    low = float(sequential.GRID[up[:-1]].max()) if up[:-1].any() else -1.0
    high = float(sequential.GRID[down[:-1]].min()) if down[:-1].any() else 1.0
    mean = float(sample.mean()) if len(diffs) else math.nan
    return sequential.Bounds(mean, low, high, False), bool(up[-1]), bool(down[-1])


def order(ids: Sequence[str], seed: int) -> list[str]:
    """The held-out items in the order they are scored: seeded, so a re-run scores the same items (from the cache)."""
    shuffled = list(ids)
    random.Random(f"suggestion:{seed}").shuffle(shuffled)
    return shuffled


async def decide(
    ids: Sequence[str],
    scores: Scores,
    settings: GateSettings,
    seed: int,
    room: int | None,
    allows: Callable[[int], bool] | None = None,
) -> Verdict:
    """Score a batch of held-out items at a time (`BATCH`, two calls per item, at most `room` calls; None: no
    limit) until the test decides, the items run out, or `allows` (a dollar limit, say) refuses the next batch."""
    todo = order(ids, seed)
    if room is not None:
        todo = todo[: max(0, room // 2)]
    head: list[float] = []
    best: list[float] = []
    bounds, above, below = sequential.Bounds(math.nan, -1.0, 1.0, False), False, False
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        if allows is not None and not allows(2 * len(batch)):
            break
        h, b = await scores(batch)
        for x, y in zip(h, b):
            if x.score is not None and y.score is not None:
                head.append(x.score)
                best.append(y.score)
        bounds, above, below = sequential_test([y - x for x, y in zip(head, best)], settings)
        if above or below:
            break
    return verdict(head, best, bounds, above, below, settings)


def verdict(
    head: Sequence[float],
    best: Sequence[float],
    bounds: sequential.Bounds,
    above: bool,
    below: bool,
    settings: GateSettings,
) -> Verdict:
    n = len(head)
    confidence = f"{100 * (1 - settings.significance):g}% confidence"
    gain = (sum(best) - sum(head)) / n if n else math.nan
    told = (
        f"{_points(gain)} on {n} held-out items, between {_points(bounds.low)} and {_points(bounds.high)} "
        f"(each bound one-sided at {confidence})"
    )
    status: Literal["better", "not shown better"]
    if above:
        status, reason = BETTER, f"shown better than head ({confidence}): {told}"
    elif below:
        status, reason = NOT_SHOWN, f"shown to gain less than the margin of {_points(settings.margin)}: {told}"
    elif n:
        status, reason = NOT_SHOWN, f"not shown better than head at {confidence}: {told}"
    else:
        status, reason = NOT_SHOWN, "no held-out item could be scored"
    return Verdict(
        status=status,
        reason=reason,
        gain=gain,
        low=bounds.low,
        high=bounds.high,
        items=n,
        significance=settings.significance,
        margin=settings.margin,
        head=sum(head) / n if n else None,
        best=sum(best) / n if n else None,
    )


def _points(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:+.1f} points"
