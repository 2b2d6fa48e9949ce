"""A design-based active sequential test of head's pool mean against base's known one (docs/gate.md).

When base's score on every pool item is known (warmbase.KnownBase), a pull request scores head alone, on items
drawn one at a time without replacement. Item i is drawn with probability q_i among the items not yet drawn,
mixing a share of uniform draws (chosen per batch from `SHARES`) with draws favouring items whose outcome is
uncertain; f_i predicts head's score on item i (base's score and the ledger of earlier versions, weighted by how well
each predicted head's scores so far).
After draw t, Des Raj's ordered estimator of the pool's total

    z_t = S_t + F_t + (y_t − f_t) / q_t      (S_t: the drawn items' scores, F_t: Σ f over the undrawn ones)

has conditional mean exactly the pool's total, whatever f and q are, as long as both were fixed before the draw.
A test by betting on z_t (Waudby-Smith & Ramdas) is then a nonnegative supermartingale under its null, and Ville's
inequality bounds its error at every look by α: the predictor may be wrong; only the draws must be random.

`draw` chooses the items and records (`Draw`) what the test needs; `reject` and `bounds` replay the test from
the records and the scores, so a results file is judged again exactly as drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, Field
from pydantic.dataclasses import dataclass

from ..files.records import RECORD, Unit, finite

SHARES = (0.3, 0.5, 0.7, 1.0)  # the shares of each draw's probability spread uniformly a batch may use (q ≥ 0.3/R)
ETA = 2.0  # the learning rate of the predictor's exponential weights: the square loss's exp-concavity on [0, 1]
LEAST_GAP = 0.01  # the smallest gap the design plans for (a margin of 0 still needs a scale)
CAP = 0.8  # the most of its capital a bet may risk on the worst outcome of one draw
PRIOR_VAR = 0.25  # the variance assumed before any draw, with the weight of one draw
PRIOR_WEIGHT = 4.0  # pseudo-items of the ledger's prior in each cell of the predictor
EPS = 1e-9  # rounding: a null exactly at the edge of what is possible is not rejected
GRID = np.linspace(-1.0, 1.0, 801)  # candidate means the printed bounds are read from: steps of 0.0025


@dataclass(frozen=True, config=RECORD)
class Draw:
    """One draw, as the test replays it: everything here was fixed before the item's score was known."""

    item: str
    q: Annotated[float, Field(gt=0.0, le=1.0)]  # its probability of being drawn, among the items not yet drawn
    f: Unit  # head's predicted score on it
    rest_f: Annotated[float, Field(ge=0.0), AfterValidator(finite)]  # Σ f over the items not yet drawn, this one too
    worst_low: Annotated[float, AfterValidator(finite)]  # min over those items of (lo − f)/q, less rest_f
    worst_high: Annotated[float, AfterValidator(finite)]  # max over those items of (hi − f)/q
    base: Unit | None = None  # base's known score on it, for the report


def predictor(
    known: Mapping[str, float], ledger: Sequence[Mapping[str, float]], head: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Head's predicted score per item, as arrays (f, uncertainty) over `known`'s items in its order. Before any of
    head's scores, and without a ledger, base's own score: most edits change few items. Then an exponentially
    weighted average (square loss, rate `ETA`) of base, each ledger version and the ledger's cell model (`_cells`),
    each weighted by how well it predicted head's scores so far: an edit that changes nothing follows base, one like
    an earlier version follows it."""
    ids = list(known)
    b = np.array([known[i] for i in ids], dtype=float)
    if not ledger or not head:
        return b, np.zeros_like(b)
    versions = np.array([[v.get(i, known[i]) for i in ids] for v in ledger], dtype=float)
    seen = np.array([i in head for i in ids])
    y = np.array([head.get(i, 0.0) for i in ids], dtype=float)
    experts = np.vstack([b, versions, _cells(b, versions, y, seen)])
    loss = ((experts[:, seen] - y[seen]) ** 2).sum(axis=1)
    trust = np.exp(-ETA * (loss - loss.min()))
    f = np.clip(trust @ experts / trust.sum(), 0.0, 1.0)
    return f, np.sqrt(f * (1 - f))


def _cells(b: np.ndarray, versions: np.ndarray, y: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Cells of (base's score on the item, how often the ledger's versions disagreed with it: never, up to a
    quarter, more); each cell's mean of the ledger's versions as a prior, updated with head's scores in it so far."""
    flips = np.abs(versions - b).mean(axis=0)
    cell = (b >= 0.5).astype(int) * 3 + np.digitize(flips, [1e-9, 0.25])
    f = np.empty_like(b)
    for c in np.unique(cell):
        members = cell == c
        prior = versions[:, members].mean()
        f[members] = (PRIOR_WEIGHT * prior + y[members & seen].sum()) / (PRIOR_WEIGHT + (members & seen).sum())
    return np.clip(f, 0.0, 1.0)


def weights(f: np.ndarray, uncertainty: np.ndarray, margin: float) -> np.ndarray:
    """The batch's draw probabilities: a share ρ of `SHARES` uniform, the rest ∝ uncertainty, ρ chosen to maximise
    a bet's predicted growth per draw at a gap of the margin g, min(g²/2v, CAP·g/L): v the estimate's variance the
    predictor expects, L the worst case one draw can cost. Sure predictions make v small and L the limit, so the
    draws move toward uniform; uncertain ones make v the limit, so they favour the uncertain items."""
    n = len(f)
    if uncertainty.sum() <= 0:
        return np.full(n, 1.0 / n)
    g, best, chosen = max(margin, LEAST_GAP), -1.0, np.full(n, 1.0 / n)
    for share in SHARES:
        q = (1 - share) * uncertainty / uncertainty.sum() + share / n
        v = float((uncertainty**2 / q).sum()) / n**2
        worst = float((np.maximum(f, 1 - f) / q).max()) / n
        growth = min(g * g / (2 * v) if v > 0 else math.inf, CAP * g / worst)
        if growth > best:
            best, chosen = growth, q
    return chosen


def draw(
    remaining: Sequence[str],
    f: Mapping[str, float],
    uncertainty: Mapping[str, float],
    k: int,
    rng: np.random.Generator,
    base: Mapping[str, float] | None = None,
    margin: float = 0.03,
) -> list[Draw]:
    """k draws without replacement from `remaining`, with the predictor and the weights fixed for the batch."""
    lo, hi = 0.0, 1.0
    ids = list(remaining)
    fv = np.array([f[i] for i in ids], dtype=float)
    chosen = weights(fv, np.array([uncertainty[i] for i in ids], dtype=float), margin)
    left = np.ones(len(ids), dtype=bool)
    out = []
    for _ in range(min(k, len(ids))):
        q = np.where(left, chosen, 0.0)
        q = q / q.sum()
        live = np.flatnonzero(left)
        pick = int(rng.choice(len(ids), p=q))
        out.append(
            Draw(
                item=ids[pick],
                q=float(q[pick]),
                f=float(fv[pick]),
                rest_f=float(fv[live].sum()),
                worst_low=float(((lo - fv[live]) / q[live]).min()),
                worst_high=float(((hi - fv[live]) / q[live]).max()),
                base=None if base is None else float(base[ids[pick]]),
            )
        )
        left[pick] = False
    return out


def uniform(remaining: Sequence[str], known: Mapping[str, float], k: int, rng: np.random.Generator) -> list[Draw]:
    """k uniform draws, base's score as the predictor: the test without a ledger."""
    return draw(remaining, known, dict.fromkeys(remaining, 0.0), k, rng, known)


def first_crossing(
    draws: Sequence[Draw],
    y: Sequence[float] | np.ndarray,
    pool: int,
    nulls: np.ndarray,
    alpha: float,
    side: str,
    start: float,
    fixed: tuple[float, int] = (0.0, 0),
) -> np.ndarray:
    """After how many draws each null ("the pool's mean is ≤ m" for side "above", "≥ m" for "below") is first
    rejected at level α (inf: not within the draws). The bet is on u_t, z's estimate of the undrawn items' mean,
    against the null's mean μ_t of them, aGRAPA-sized from the draws so far (a prior guess `start` of the pool's
    mean) and capped by the draw's exact worst case. Scores lie in [0, 1]. `fixed`: the sum and count of items
    taken whole before any draw (a take-all stratum; the draws are then from the rest)."""
    sign = 1.0 if side == "above" else -1.0
    yv = np.asarray(y, dtype=float)
    log_k = np.zeros_like(nulls, dtype=float)
    first = np.full(nulls.shape, np.inf)
    threshold = math.log(1 / alpha)
    seen, total_w, est, squares = fixed[0], 1.0 / pool**2, start, 0.0  # est: the pool mean, inverse-variance weighted
    for t, (d, yt) in enumerate(zip(draws, yv)):
        r = pool - fixed[1] - t
        mu = (pool * nulls - seen) / r
        impossible = (mu < -EPS) if sign > 0 else (mu > 1.0 + EPS)  # the undrawn items could not average this
        first = np.where(impossible & np.isinf(first), t, first)
        u_min, u_max = (d.rest_f + d.worst_low) / r, (d.rest_f + d.worst_high) / r
        predicted = (pool * est - seen) / r
        gap = sign * (predicted - mu)
        var = (PRIOR_VAR + squares) / (t + 1)
        room = np.clip(mu - u_min if sign > 0 else u_max - mu, 1e-12, None)
        bet = np.where(np.abs(mu - 0.5) <= 0.5, np.clip(gap / (var + gap * gap), 0.0, CAP / room), 0.0)
        u = (d.rest_f + (yt - d.f) / d.q) / r
        log_k += np.log1p(np.clip(bet * sign * (u - mu), -1 + 1e-12, None))
        first = np.where((log_k >= threshold) & np.isinf(first), t + 1, first)
        squares += (u - predicted) ** 2
        w = 1.0 / r**2
        est, total_w = (est * total_w + (seen + r * u) / pool * w) / (total_w + w), total_w + w
        seen += yt
    return first


def _capital(
    draws: Sequence[Draw], y: np.ndarray, pool: int, nulls: np.ndarray, alpha: float, side: str, start: float
) -> np.ndarray:
    """Whether each null is rejected at some draw (see `first_crossing`)."""
    return np.isfinite(first_crossing(draws, y, pool, nulls, alpha, side, start))


def estimate(draws: Sequence[Draw], y: Sequence[float], pool: int) -> float:
    """The pool's mean by Des Raj's ordered estimator: the mean of z_1 … z_t, each unbiased for the pool's total
    (z_t alone, one item weighted by 1/q, can land anywhere), and exact once every item is drawn."""
    if not draws:
        return math.nan
    yv = np.asarray(y, dtype=float)
    seen = np.concatenate([[0.0], np.cumsum(yv)[:-1]])
    z = [s + d.rest_f + (v - d.f) / d.q for s, d, v in zip(seen, draws, yv)]
    return float(yv.sum() / pool) if len(draws) >= pool else float(np.mean(z) / pool)


def reject(
    draws: Sequence[Draw], y: Sequence[float], pool: int, m: float, alpha: float, side: str, start: float = 0.5
) -> bool:
    """Whether the draws show the pool's mean above m (side "above") or below m ("below") at level α."""
    return bool(_capital(draws, np.asarray(y, dtype=float), pool, np.array([m]), alpha, side, start)[0])


def bounds(
    draws: Sequence[Draw], y: Sequence[float], pool: int, alpha: float, start: float = 0.5
) -> tuple[float, float]:
    """One-sided (1 − α) bounds on the pool's mean, each the edge of the values that are all rejected beyond it, so
    a printed bound never steps past a value the test kept (together a 1 − 2α interval)."""
    yv = np.asarray(y, dtype=float)
    grid = GRID[GRID >= 0]
    up = _capital(draws, yv, pool, grid, alpha, "above", start)  # rejected "mean ≤ m": the low values
    down = _capital(draws, yv, pool, grid, alpha, "below", start)  # rejected "mean ≥ m": the high values
    lead = len(grid) if up.all() else int(np.argmin(up))
    trail = len(grid) if down.all() else int(np.argmin(down[::-1]))
    low = grid[lead - 1] if lead else 0.0
    high = grid[len(grid) - trail] if trail else 1.0
    return float(min(low, high)), float(max(low, high))
