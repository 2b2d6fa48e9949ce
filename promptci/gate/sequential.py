"""Anytime-valid tests and bounds on a pool's mean from items scored in a random order (docs/gate.md).

The gate looks at its evidence again after every batch of items, so a test at a fixed level would be
wrong more often than its level says (every look is another chance to err). These tests hold at every
look at once: each is a test by betting (Shafer 2021; Waudby-Smith & Ramdas 2023) whose capital is a
nonnegative supermartingale under the null, so by Ville's inequality it ever reaches 1/α with probability
at most α, however often it is looked at.

The only randomness used is the order: the items outside the fixed part (the committed subset, whose
values count exactly) are scored in a uniformly random order without replacement, and each bet is against
the null's mean of the items still unscored (Waudby-Smith & Ramdas 2020). Nothing is assumed about the
scores (values in [-1, 1]); when every item of the pool is scored the answer is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CAP = 0.8  # the most of its capital a bet may risk on one item (1 would allow ruin on one item)
PRIOR_VAR = 0.25  # the variance assumed before any item is seen, with the weight of one item
GRID = np.linspace(-1.0, 1.0, 801)  # the candidate means bounds are read from: steps of 0.0025
NEVER = np.inf


@dataclass(frozen=True)
class Bounds:
    """One-sided (1 − α) anytime-valid bounds on the pool's mean (each side at level α)."""

    mean: float  # the estimate: the fixed part exactly, the sample's mean for the rest
    low: float
    high: float
    exact: bool  # every item of the pool was scored: the bounds are the mean itself


def first_rejection(
    fixed_sum: float, fixed_n: int, sample: np.ndarray, pool: int | None, nulls: np.ndarray, alpha: float, side: str
) -> np.ndarray:
    """After how many sampled items the null "the pool's mean is ≤ m" (side "above") or "≥ m" (side "below")
    is first rejected at level α, for each null m and each row of `sample` (one random order per row);
    NEVER when it is not rejected within the row. `pool` counts the pool's items, the fixed ones included
    (None: treat every value, the fixed ones too, as a draw from an endless pool)."""
    x = np.atleast_2d(np.asarray(sample, dtype=float))
    reps, steps = x.shape
    nulls = np.asarray(nulls, dtype=float)[None, :]
    sign = 1.0 if side == "above" else -1.0
    first = np.full((reps, nulls.shape[1]), NEVER)
    if pool is None:
        rest, target = math.inf, nulls
        if fixed_n:  # the fixed values are draws like the others: fold them in as a prefix
            raise ValueError("with no pool size, pass the fixed values as part of the sample")
    else:
        rest = pool - fixed_n
        target = (pool * nulls - fixed_sum) / rest if rest else nulls  # the rest's mean under each null
        if rest == 0:
            exact = fixed_sum / pool
            first[:] = np.where(sign * (exact - nulls) > 0, 0, NEVER)
            return first
    threshold = math.log(1.0 / alpha)
    log_capital = np.zeros_like(first)
    seen = np.zeros((reps, 1))
    mean_hat = np.zeros((reps, 1))
    squares = np.zeros((reps, 1))
    for i in range(steps):
        if math.isinf(rest):
            mu = np.broadcast_to(target, first.shape)
        elif i >= rest:
            break
        else:
            mu = (rest * target - seen) / (rest - i)  # the null mean of the items not yet scored
        impossible = sign * mu < -1.0  # the unscored items would need a mean outside [-1, 1]
        first = np.where(impossible & np.isinf(first), i, first)
        gap = sign * (mean_hat - mu)
        room = np.clip(1.0 + sign * mu, 1e-12, None)  # how far the worst value lies against the bet
        var_hat = (PRIOR_VAR + squares) / (i + 1)
        bet = np.where(np.abs(mu) <= 1.0, np.clip(gap / (var_hat + gap * gap), 0.0, CAP / room), 0.0)  # aGRAPA
        xi = x[:, i : i + 1]
        log_capital = log_capital + np.log1p(np.clip(bet * sign * (xi - mu), -1.0 + 1e-12, None))
        first = np.where((log_capital >= threshold) & np.isinf(first), i + 1, first)
        squares = squares + (xi - mean_hat) ** 2
        seen = seen + xi
        mean_hat = seen / (i + 1)
    if pool is not None:  # (rest is finite)
        scored = min(steps, rest)
        if scored == rest:  # the whole pool: the mean is known
            exact_means = (fixed_sum + seen) / pool
            first = np.where((sign * (exact_means - nulls) > 0) & np.isinf(first), scored, first)
        else:
            mu = (rest * target - seen) / (rest - scored)
            first = np.where((sign * mu < -1.0) & np.isinf(first), scored, first)
    return first


def rejected(
    fixed: Sequence[float],
    sample: Sequence[float],
    pool: int | None,
    nulls: Sequence[float] | np.ndarray,
    alpha: float,
    side: str,
) -> np.ndarray:
    """Whether each null is rejected by the end of one sample (see `first_rejection`)."""
    fixed_sum, fixed_n, x = float(sum(fixed)), len(fixed), list(sample)
    if pool is None:  # draws from an endless pool: the fixed values, in no random order of ours, get a fixed shuffle
        fixed_sum, fixed_n = 0.0, 0  # (a list sorted by score must not read as a run of luck); the sample keeps its
        # order, so each look extends the last one's sequence of bets (a shuffle of the whole list at every look
        # would make each look a new test, and the looks together wrong more often than α)
        x = list(np.random.default_rng(0).permutation(np.array(list(fixed), dtype=float))) + x
    return np.isfinite(
        first_rejection(
            fixed_sum,
            fixed_n,
            np.array([x]) if x else np.zeros((1, 0)),
            pool,
            np.asarray(nulls, dtype=float),
            alpha,
            side,
        )[0]
    )


def assess(
    fixed: Sequence[float],
    sample: Sequence[float],
    pool: int | None,
    alpha: float,
    *,
    above: float,
    below: float,
    lowest: float = -1.0,
    highest: float = 1.0,
) -> tuple[Bounds, bool, bool]:
    """The pool's mean with anytime-valid one-sided bounds (read off the grid, clipped to [lowest, highest], the
    range of the values), and whether the evidence shows the mean above `above` and below `below` (level α)."""
    n0, n = len(fixed), len(fixed) + len(sample)
    if pool is not None and n >= pool:
        exact = (sum(fixed) + sum(sample)) / pool
        return Bounds(exact, exact, exact, True), exact >= above, exact < below  # known: not worse includes equal
    if n == 0:
        return Bounds(math.nan, lowest, highest, False), False, False
    if pool is None or not sample:
        mean = (sum(fixed) + sum(sample)) / n
    else:
        mean = (sum(fixed) + (pool - n0) * sum(sample) / len(sample)) / pool
    up = rejected(fixed, sample, pool, np.append(GRID, above), alpha, "above")
    down = rejected(fixed, sample, pool, np.append(GRID, below), alpha, "below")
    low, high = _edges(up[:-1], down[:-1])
    return (
        Bounds(mean, min(max(low, lowest), highest), max(min(high, highest), lowest), False),
        bool(up[-1]),
        bool(down[-1]),
    )


def _edges(up: np.ndarray, down: np.ndarray) -> tuple[float, float]:
    """The bounds read off the grid: the low bound is the last of the values rejected from the bottom up without
    a gap (the high bound likewise from the top), so a bound never steps past a value the test kept."""
    lead = len(GRID) if up.all() else int(np.argmin(up))
    trail = len(GRID) if down.all() else int(np.argmin(down[::-1]))
    low = float(GRID[lead - 1]) if lead else -1.0
    high = float(GRID[len(GRID) - trail]) if trail else 1.0
    return min(low, high), max(low, high)
