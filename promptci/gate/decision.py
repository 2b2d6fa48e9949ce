"""The merge gate: a sequential decision with a margin (the `promptci.gate` settings; docs/gate.md).

Per changed prompt, with D head's pool mean minus base's and δ the `margin`:
- fail: D < −δ is shown (head is worse than base by more than the margin), at confidence 1 − `significance`;
- pass: D > −δ is shown (head is not worse by more than the margin), at the same confidence;
- undecided: neither is shown yet; more pool items are drawn, a batch at a time, in an order seeded by
  `draw_seed` (the head version and a secret the pull request cannot read), up to the whole pool, where D is
  exact: pass iff D > −δ. Inconclusive only when `max_items` or the budget stops the run.
When base's full-pool scores are known (warmbase.KnownBase), head alone is scored, on items drawn by the
design-based active test (gate/activetest.py); otherwise base and head on the same items (gate/sequential.py), the
committed subset's items counting exactly. `min_score` is judged the same way on head's mean; with both
claims in play each is tested at α/2, so a wrong fail (or a wrong pass) has chance at most α.
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated

import numpy as np
import pydantic.dataclasses
from pydantic import Field

from .. import env
from ..files.records import RECORD, Unit
from ..files.settings import GateSettings
from . import activetest, repeats, sequential
from .stats import Comparison, compare
from .verdicts import Status

PASS, FAIL, UNDECIDED = Status.PASS, Status.FAIL, Status.UNDECIDED
INCONCLUSIVE, NEUTRAL = Status.INCONCLUSIVE, Status.NEUTRAL
BATCH = 20  # pool items added per look while undecided


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class Verdict:
    status: Status  # undecided only while items are still being added
    reason: str


@dataclass(frozen=True)
class Evidence:
    """Scores in the order compared: the committed subset's first (`fixed` of them), then the random sample."""

    head: Sequence[float]
    base: Sequence[float] | None  # None: a new prompt, judged on min_score alone
    fixed: int
    pool: int | None  # items in the pool (None: unknown, every item is treated as a random draw)
    paired: Sequence[float] | None = None  # each item's head − base when not the scores' (gate/repeats.py)


EPS = 1e-9  # rounding of means: a difference within this of −δ counts as −δ (not above it)


def draw_seed(head_sha: str, pool_sha: str) -> int:
    """The seed of the gate's draws: from the head version, the pool and `PROMPTCI_GATE_SECRET`, which a pull
    request cannot read, so no author can compute the order in advance while a re-run of the same head draws the
    same items (from the cache); without the secret, fresh randomness (recorded in the results)."""
    secret = env.gate_secret()
    if secret is None:
        return secrets.randbits(63)
    digest = hashlib.sha256(f"{secret}\0{head_sha}\0{pool_sha}".encode()).hexdigest()
    return int(digest[:15], 16)


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class Design:
    """How head's items were drawn when base's full-pool scores were known (results.json records it): the test
    is replayed from exactly these draws."""

    seed: Annotated[int, Field(ge=0)]
    base_mean: Unit  # base's mean over the whole pool, known
    pool: Annotated[int, Field(ge=1)]
    source: str  # where base's scores came from
    draws: tuple[activetest.Draw, ...]


def decide_known(design: Design, head: Mapping[str, float | None], gate: GateSettings) -> tuple[Verdict, Comparison]:
    """The verdict from head's scores on the drawn items against base's known pool mean (gate/activetest.py). An item
    head failed to score counts as 0: the gate fails closed."""
    alpha = _alpha(gate, True)
    draws, n, pool, base = design.draws, len(design.draws), design.pool, design.base_mean
    y = [head.get(d.item) or 0.0 for d in draws]
    line = base - gate.margin
    if n == 0:
        return Verdict(UNDECIDED, "no item was scored"), compare([], [])
    exact = sum(y) / pool - base if n >= pool else None
    low, high = activetest.bounds(draws, y, pool, alpha, start=base)
    estimate = min(high, max(low, activetest.estimate(draws, y, pool)))  # weighted, it can leave what was kept
    b = (
        sequential.Bounds(exact, exact, exact, True)
        if exact is not None
        else sequential.Bounds(estimate - base, low - base, high - base, False)
    )
    told = f"head − base = {_points(b.mean)} ({_range(b, alpha)})"
    minimum = None
    if gate.min_score is not None:
        m = gate.min_score
        seen = f"head scores {estimate:.3f} on the pool (estimated from {n} items)"
        minimum = minimum_verdict(
            seen,
            exact + base >= m if exact is not None else activetest.reject(draws, y, pool, m, alpha, "above", base),
            exact + base < m if exact is not None else activetest.reject(draws, y, pool, m, alpha, "below", base),
            gate,
            alpha,
        )
    verdict = judge(
        activetest.reject(draws, y, pool, line, alpha, "above", base),
        activetest.reject(draws, y, pool, line, alpha, "below", base),
        exact,
        minimum,
        f"{n} of {pool} items drawn, base's scores from {design.source}",
        told,
        gate,
        alpha,
    )
    verdict = _with_power(verdict, pool, n, gate, alpha)
    comparison = Comparison(
        n=n,
        base_mean=base,
        head_mean=float(estimate),
        delta=float(b.mean),
        low=b.low,
        high=b.high,
        p_value=None,  # no fixed-sample p-value beside a sequential verdict
        method="design",
        improved=sum(d.base is not None and v > d.base for v, d in zip(y, draws)),
        regressed=sum(d.base is not None and v < d.base for v, d in zip(y, draws)),
    )
    return verdict, comparison


def draws_for(
    known: Mapping[str, float],
    ledger: Sequence[Mapping[str, float]],
    head: Mapping[str, float],
    drawn: Sequence[str],
    k: int,
    rng: random.Random,
    margin: float = 0.03,
) -> list[activetest.Draw]:
    """The next k draws: the predictor refitted to head's scores so far and the draw weights planned at the gap
    `margin` (activetest.weights), fixed for the batch; without a ledger, uniform draws with base's score as the
    predictor."""
    taken = set(drawn)
    remaining = [i for i in known if i not in taken]
    generator = np.random.default_rng(rng.getrandbits(63))
    if not ledger:
        return activetest.uniform(remaining, known, k, generator)
    f, spread = activetest.predictor(known, ledger, head)
    ids = list(known)
    return activetest.draw(remaining, dict(zip(ids, f)), dict(zip(ids, spread)), k, generator, known, margin)


def order(pool_ids: Sequence[str], subset_ids: Sequence[str], seed: int, salt: str) -> list[str]:
    """The pool items outside the subset, in the order they are added: uniformly random, seeded by `draw_seed`
    (and the pool's hash), so the sample is unbiased and a re-run adds the same items."""
    taken = set(subset_ids)
    rest = [i for i in pool_ids if i not in taken]
    random.Random(f"{seed}:{salt}").shuffle(rest)
    return rest


def next_items(ordered: Sequence[str], compared: Sequence[str], gate: GateSettings) -> list[str]:
    """The next batch to score: the first unscored items of the order, within max_items."""
    room = (gate.max_items if gate.max_items is not None else len(ordered) + len(compared)) - len(compared)
    done = set(compared)
    return [i for i in ordered if i not in done][: max(0, min(BATCH, room))]


KEPT_BACK = 2  # batches of the gate's random items kept back from the optimizer's budget


def kept_back(subset: int, pool: int, gate: GateSettings) -> int:
    """The random items kept back for the gate from the optimizer's budget, like the base/head comparison itself:
    the subset alone shows nothing about the rest of the pool, and two batches settle clear changes."""
    cap = pool if gate.max_items is None else gate.max_items
    return max(0, min(KEPT_BACK * BATCH, cap - subset, pool - subset))


def looks(fixed: int, total: int) -> list[int]:
    """The numbers of items at which the gate decided: the subset, then every batch, then what was scored."""
    points = list(range(fixed, total, BATCH)) if fixed else list(range(BATCH, total, BATCH))
    return [n for n in points if n > 0] + [total]


def decide(e: Evidence, gate: GateSettings) -> tuple[Verdict, Comparison]:
    """The verdict at one look, and the comparison with its anytime-valid bounds on the pool's difference."""
    n = len(e.head)
    alpha = _alpha(gate, e.base is not None)
    if e.base is None:
        comparison = compare([], [])
        minimum = _minimum(e, gate, alpha)
        verdict = (
            Verdict(minimum.status, f"new prompt: {minimum.reason}")
            if minimum
            else Verdict(PASS, f"new prompt: {_mean(e.head, n)}; no minimum score is set")
        )
        return verdict, comparison
    diffs = list(e.paired) if e.paired is not None else [h - b for h, b in zip(e.head, e.base)]
    fixed, sample = diffs[: e.fixed], diffs[e.fixed :]
    line = -gate.margin
    b, within, worse = sequential.assess(fixed, sample, e.pool, alpha, above=line, below=line)
    comparison = replace(  # the pool's means as the test estimates them (the subset counted exactly), so the
        compare(list(e.base), list(e.head)),  # columns, Δ and its bounds say one thing; no fixed-sample p-value
        base_mean=_pool_mean(e.base, e.fixed, e.pool),
        head_mean=_pool_mean(e.head, e.fixed, e.pool),
        delta=b.mean,
        low=b.low,
        high=b.high,
        p_value=None,
    )
    if n == 0:
        return Verdict(UNDECIDED, "no item was scored by both prompts"), comparison
    told = f"head − base = {_points(b.mean)} ({_range(b, alpha)})"
    exact = b.mean if b.exact else None
    scored = f"{n} items, base's scores from this run"
    verdict = judge(within, worse, exact, _minimum(e, gate, alpha), scored, told, gate, alpha)
    return _with_power(verdict, e.pool, n, gate, alpha), comparison


def _pool_mean(values: Sequence[float], fixed: int, pool: int | None) -> float:
    """The pool's mean as sequential.assess estimates it: the first `fixed` values exactly, the rest a uniform
    sample of the other items (a plain mean with an endless pool)."""
    n = len(values)
    if not n:
        return math.nan
    if pool is None or n == fixed or n >= pool:
        return sum(values) / (pool if pool is not None and n >= pool else n)
    return (sum(values[:fixed]) + (pool - fixed) * sum(values[fixed:]) / (n - fixed)) / pool


def judge(
    shown_not_worse: bool,
    shown_worse: bool,
    exact: float | None,
    minimum: Verdict | None,
    scored: str,
    told: str,
    gate: GateSettings,
    alpha: float,
) -> Verdict:
    """The rule, in one place: fail when D < −δ is shown, pass when D > −δ is shown (and min_score, if set, is
    shown met), undecided otherwise; with every pool item scored D is exact: pass iff D > −δ. Both shown (one
    of them wrongly) fails: the gate fails closed."""
    confidence = f"{100 * (1 - alpha):g}% confidence"
    margin = _points(gate.margin, sign=False)
    if minimum is not None and minimum.status == FAIL:
        return minimum
    aside = f"; {minimum.reason}" if minimum else ""
    if exact is not None:
        if exact > -gate.margin + EPS:
            return Verdict(
                PASS, f"head is not worse than base by more than {margin} (every pool item scored): {told}{aside}"
            )
        return Verdict(FAIL, f"head is worse than base by {margin} or more (every pool item scored): {told}")
    if shown_worse:
        return Verdict(FAIL, f"head is worse than base by more than {margin} ({confidence}, {scored}): {told}")
    if shown_not_worse and (minimum is None or minimum.status == PASS):
        return Verdict(
            PASS, f"head is not worse than base by more than {margin} ({confidence}, {scored}): {told}{aside}"
        )
    return Verdict(
        UNDECIDED,
        f"not yet shown worse than base by more than {margin}, nor shown not worse, on {scored}: {told}{aside}",
    )


DETECT_REPS = 1000  # simulated orders behind the detectable drop
DETECT_SURE = 0.95 + 2 * (0.95 * 0.05 / DETECT_REPS) ** 0.5  # 95% with two standard errors of simulation to spare


def detectable(pool: int, n: int, gate: GateSettings, alpha: float) -> float | None:
    """The smallest drop (a share of the pool) that a run of n uniformly drawn items, looking every batch, would have
    failed with 95% probability, for a head that only loses items: measured by simulating the paired test
    (gate/sequential.py) on DETECT_REPS seeded orders. None when even losing every item would not be caught."""
    if n <= 0 or pool <= 0:
        return None
    rng = np.random.default_rng(0)

    def caught(k: int) -> bool:
        d = np.zeros(pool)
        d[:k] = -1.0
        rows = np.array([rng.permutation(d)[:n] for _ in range(DETECT_REPS)])
        line = np.array([-gate.margin])
        fail, wrong = (
            np.ceil(sequential.first_rejection(0.0, 0, rows, pool, line, alpha, side)[:, 0] / BATCH) * BATCH
            for side in ("below", "above")
        )  # the looks at which each is shown: a pass shown at an earlier look stops the run first
        return bool(np.mean((fail <= n) & (fail <= wrong)) >= DETECT_SURE)

    low, high = max(1, int(np.ceil(gate.margin * pool))), pool
    if not caught(high):
        return None
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if caught(mid) else (mid + 1, high)
    return low / pool


def _with_power(verdict: Verdict, pool: int | None, n: int, gate: GateSettings, alpha: float) -> Verdict:
    """A pass says what its items could have caught (`detectable`); the whole pool scored catches any drop."""
    if verdict.status != PASS or pool is None or n >= pool:
        return verdict
    drop = detectable(pool, n, gate, alpha)
    if drop is None:
        return verdict
    return Verdict(
        PASS,
        f"{verdict.reason}; drops of {_points(drop, sign=False)} or more would have been caught with 95% probability "
        f"(a head that only loses items, {n} uniform draws)",
    )


def _alpha(gate: GateSettings, compared: bool) -> float:
    """Each claim's level: α, or α/2 when min_score and the comparison with base are both tested, so that a
    wrong fail (either test's) keeps chance at most α."""
    return gate.significance / 2 if compared and gate.min_score is not None else gate.significance


def settle(verdict: Verdict, gate: GateSettings, why: str) -> Verdict:
    """The final word when no more items will be scored (`why`): undecided is inconclusive, which
    `on_inconclusive` turns into a failure, a pass, or a neutral result that neither blocks nor claims a pass."""
    if verdict.status != UNDECIDED:
        return verdict
    reason = f"inconclusive: {verdict.reason}; {why}"
    if gate.on_inconclusive == "fail":
        return Verdict(FAIL, f"{reason} (promptci.gate.on_inconclusive: fail)")
    if gate.on_inconclusive == "pass":
        return Verdict(PASS, f"{reason} (promptci.gate.on_inconclusive: pass; no evidence that head is not worse)")
    return Verdict(INCONCLUSIVE, reason)


def replay(
    items: Sequence[str],
    fixed: int,
    base: Mapping | None,
    head: Mapping,
    pool: int | None,
    gate: GateSettings,
    targeted: int | None = None,
) -> tuple[Verdict, Comparison | None]:
    """The verdict a run reached, derived again from its items in the order compared: the first look that
    decides, else inconclusive (the loop in the pull-request flow looks at the same points)."""
    verdict, comparison = Verdict(UNDECIDED, "no item was scored"), None
    for n in looks(fixed, len(items)):
        verdict, comparison = decide(evidence(items[:n], fixed, base, head, pool, targeted), gate)
        if verdict.status != UNDECIDED:
            return verdict, comparison
    why = (
        "the whole pool is scored"
        if pool is not None and len(items) >= pool
        else f"{len(items)} items compared (promptci.gate.max_items: {gate.max_items})"
        if gate.max_items is not None and len(items) >= gate.max_items
        else f"scoring stopped at {len(items)} items"
    )
    return settle(verdict, gate, why), comparison


def evidence(
    items: Sequence[str], fixed: int, base: Mapping | None, head: Mapping, pool: int | None, targeted: int | None = None
) -> Evidence:
    """The scores of the items that both prompts scored (an item either failed to score is left out). `targeted`
    (r, with targeted repeats): each item's difference is its value over its first r draws (gate/repeats.py), and
    each side's score its first draw, the one every item has whatever the others' outcomes (a mean over the draws
    that disagreement bought would be biased); draws made later, for `promptci.protected`, change neither."""
    kept = [i for i in items if head[i].score is not None and (base is None or base[i].score is not None)]
    dropped = len(items) - len(kept)
    kept_set = set(kept)
    kept_fixed = sum(1 for i in items[:fixed] if i in kept_set)
    score = repeats.first if targeted else (lambda item: item.score)
    return Evidence(
        head=[score(head[i]) for i in kept],
        base=None if base is None else [score(base[i]) for i in kept],
        fixed=kept_fixed,
        pool=None if pool is None else pool - dropped,
        paired=[repeats.paired(base[i], head[i], targeted) for i in kept] if targeted and base is not None else None,
    )


def _minimum(e: Evidence, gate: GateSettings, alpha: float) -> Verdict | None:
    """min_score on head's mean: fail when shown below, pass when shown at or above, else undecided."""
    if gate.min_score is None:
        return None
    fixed, sample = list(e.head[: e.fixed]), list(e.head[e.fixed :])
    if not len(e.head):
        return Verdict(UNDECIDED, "no item scored")
    wide = [[2 * v - 1 for v in part] for part in (fixed, sample)]  # scores in [0, 1] onto the tests' [-1, 1]
    m = 2 * gate.min_score - 1
    w, above, below = sequential.assess(wide[0], wide[1], e.pool, alpha, above=m, below=m)
    b = sequential.Bounds((w.mean + 1) / 2, (w.low + 1) / 2, (w.high + 1) / 2, w.exact)
    return minimum_verdict(
        f"head scores {b.mean:.3f} on the whole pool ({len(e.head)} items)"
        if b.exact
        else f"head scores {b.mean:.3f} on the pool (from {len(e.head)} items; {_range(b, alpha, points=False)})",
        above,
        below,
        gate,
        alpha,
    )


def minimum_verdict(scored: str, above: bool, below: bool, gate: GateSettings, alpha: float) -> Verdict:
    confidence = f"{100 * (1 - alpha):g}% confidence"
    if below:
        return Verdict(FAIL, f"{scored}: below the minimum {gate.min_score} ({confidence})")
    if not above:
        return Verdict(UNDECIDED, f"{scored}: not yet shown to reach the minimum {gate.min_score}")
    return Verdict(PASS, f"{scored}: at least the minimum {gate.min_score} ({confidence})")


def below_minimum(scores: Sequence[float], gate: GateSettings) -> bool:
    """`promptci eval`'s exit code, by the gate's minimum-score rule (`_minimum`) on the scores a run has, taken as
    the whole population: eval reports on what it scored. No score at all is below any minimum."""
    if gate.min_score is None:
        return False
    if not scores:
        return True
    verdict = _minimum(Evidence(head=scores, base=None, fixed=len(scores), pool=len(scores)), gate, gate.significance)
    return verdict is not None and verdict.status == FAIL


def _points(value: float, sign: bool = True) -> str:
    """A difference of mean scores in points (hundredths): "+1.5 points", or "3 points" for a margin."""
    return f"{100 * value:+.1f} points" if sign else f"{100 * value:.1f}".removesuffix(".0") + " points"


def _range(b: sequential.Bounds, alpha: float, points: bool = True) -> str:
    """The two one-sided (1 − α) bounds, labelled for what they are together: a (1 − 2α) interval."""
    if b.exact:
        return "exact: every pool item scored"
    level = f"{100 * (1 - 2 * alpha):g}%"
    if points:
        return f"{level} interval for the whole pool: {100 * b.low:+.1f} to {100 * b.high:+.1f}"
    return f"{level} interval for the whole pool: {b.low:.3f} to {b.high:.3f}"


def _mean(scores: Sequence[float], n: int) -> str:
    return "no item scored" if not n else f"{sum(scores) / n:.3f} on {n} items"


def overall(statuses: list[str | None]) -> Verdict:
    """The pull request's verdict from its prompts' verdict statuses: any failure fails it; else any inconclusive
    prompt makes it inconclusive (not blocked, not passed); prompts with no items, and deleted ones (gate/removals.py),
    are not gated, and a pull request with nothing but those is neutral."""
    failed = sum(1 for s in statuses if s in (FAIL, None))  # a prompt without a verdict never passes
    if failed:
        return Verdict(FAIL, f"{failed} of {len(statuses)} prompts failed the gate")
    neutral = sum(1 for s in statuses if s == NEUTRAL)
    unsure = sum(1 for s in statuses if s in (INCONCLUSIVE, UNDECIDED))
    passed = len(statuses) - neutral - unsure
    aside = f"; {neutral} not gated (no items, or deleted)" if neutral else ""
    if unsure:
        return Verdict(
            INCONCLUSIVE,
            f"{unsure} prompt{'s' if unsure != 1 else ''} inconclusive (neither shown worse "
            f"nor shown within the margin), {passed} passed{aside}",
        )
    if passed:
        return Verdict(PASS, f"{passed} prompt{'s' if passed != 1 else ''} passed the gate{aside}")
    if neutral:
        return Verdict(
            NEUTRAL, f"nothing gated: {neutral} changed prompt{'s' if neutral != 1 else ''} with no items, or deleted"
        )
    return Verdict(PASS, "no prompt file changed; nothing to gate")
