"""The merge gate: a sequential decision with a margin (the `promptci.gate` settings; docs/gate.md).

Per changed prompt, from the scores of base and head on the same items:
- fail: head is worse than base (the pool's difference is below 0), shown at confidence 1 − `significance`;
- pass: head is not worse than base by more than `margin` (the difference is above −margin), shown at the
  same confidence: a pass needs evidence too;
- undecided: neither is shown yet; more pool items are scored, a batch at a time, in a seeded random order
  (`order`), until one is shown or `max_items` items are compared;
- inconclusive when the items run out: settled by `on_inconclusive` (`neutral` by default: the check
  neither blocks nor claims a pass).
`min_score` is judged the same way, on head's mean: below it fails, above it is needed to pass.
The committed subset's items count exactly (they are part of the pool); the other items are a random sample
of the rest, and the bounds (`sequential.py`) hold at every look, so looking after every batch costs nothing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pydantic.dataclasses

from . import sequential
from .records import RECORD
from .settings import GateSettings
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


def order(pool_ids: Sequence[str], subset_ids: Sequence[str], seed: int, salt: str) -> list[str]:
    """The pool items outside the subset, in the order they are added: uniformly random, seeded by the
    selection seed and the pool's hash, so a rerun adds the same items and the sample stays unbiased."""
    taken = set(subset_ids)
    rest = [i for i in pool_ids if i not in taken]
    random.Random(f"{seed}:{salt}").shuffle(rest)
    return rest


def next_items(ordered: Sequence[str], compared: Sequence[str], gate: GateSettings) -> list[str]:
    """The next batch to score: the first unscored items of the order, within max_items."""
    room = gate.max_items - len(compared)
    done = set(compared)
    return [i for i in ordered if i not in done][: max(0, min(BATCH, room))]


KEPT_BACK = 2  # batches of the gate's random items kept back from the optimizer's budget


def kept_back(subset: int, pool: int, gate: GateSettings) -> int:
    """The random items kept back for the gate from the optimizer's budget, like the base/head comparison itself:
    the subset alone shows nothing about the rest of the pool, and two batches settle clear changes."""
    return max(0, min(KEPT_BACK * BATCH, gate.max_items - subset, pool - subset))


def looks(fixed: int, total: int) -> list[int]:
    """The numbers of items at which the gate decided: the subset, then every batch, then what was scored."""
    points = list(range(fixed, total, BATCH)) if fixed else list(range(BATCH, total, BATCH))
    return [n for n in points if n > 0] + [total]


def decide(e: Evidence, gate: GateSettings) -> tuple[Verdict, Comparison]:
    """The verdict at one look, and the comparison with its anytime-valid bounds on the pool's difference."""
    n = len(e.head)
    alpha = gate.significance
    confidence = f"{100 * (1 - alpha):g}% confidence"
    if e.base is None:
        comparison = compare([], [])
        minimum = _minimum(e, gate, confidence)
        verdict = (
            Verdict(minimum.status, f"new prompt: {minimum.reason}")
            if minimum
            else Verdict(PASS, f"new prompt: {_mean(e.head, n)}; no minimum score is set")
        )
        return verdict, comparison
    diffs = [h - b for h, b in zip(e.head, e.base)]
    fixed, sample = diffs[: e.fixed], diffs[e.fixed :]
    b, within, worse = sequential.assess(fixed, sample, e.pool, alpha, above=-gate.margin, below=0.0)
    comparison = replace(compare(list(e.base), list(e.head)), low=b.low, high=b.high)
    if n == 0:
        return Verdict(UNDECIDED, "no item was scored by both prompts"), comparison
    minimum = _minimum(e, gate, confidence)
    told = f"head − base = {_points(b.mean)} ({_range(b)})"
    if minimum is not None and minimum.status == FAIL:
        return minimum, comparison
    aside = f"; {minimum.reason}" if minimum else ""
    if within and (minimum is None or minimum.status == PASS):
        return Verdict(
            PASS,
            f"head is not worse than base by more than {_points(gate.margin, sign=False)} "
            f"({confidence}, {n} items): {told}{aside}",
        ), comparison
    if worse and not within:
        return Verdict(FAIL, f"head is worse than base ({confidence}, {n} items): {told}"), comparison
    aside = f"; {minimum.reason}" if minimum else ""
    return Verdict(
        UNDECIDED,
        f"not yet shown worse, nor within the margin of {_points(gate.margin, sign=False)}, "
        f"on {n} items: {told}{aside}",
    ), comparison


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
    items: Sequence[str], fixed: int, base: Mapping | None, head: Mapping, pool: int | None, gate: GateSettings
) -> tuple[Verdict, Comparison | None]:
    """The verdict a run reached, derived again from its items in the order compared: the first look that
    decides, else inconclusive (the loop in the pull-request flow looks at the same points)."""
    verdict, comparison = Verdict(UNDECIDED, "no item was scored"), None
    for n in looks(fixed, len(items)):
        verdict, comparison = decide(evidence(items[:n], fixed, base, head, pool), gate)
        if verdict.status != UNDECIDED:
            return verdict, comparison
    why = (
        "the whole pool is scored"
        if pool is not None and len(items) >= pool
        else f"{len(items)} items compared (promptci.gate.max_items: {gate.max_items})"
        if len(items) >= gate.max_items
        else f"scoring stopped at {len(items)} items"
    )
    return settle(verdict, gate, why), comparison


def evidence(items: Sequence[str], fixed: int, base: Mapping | None, head: Mapping, pool: int | None) -> Evidence:
    """The scores of the items that both prompts scored (an item either failed to score is left out)."""
    kept = [i for i in items if head[i].score is not None and (base is None or base[i].score is not None)]
    dropped = len(items) - len(kept)
    kept_set = set(kept)
    kept_fixed = sum(1 for i in items[:fixed] if i in kept_set)
    return Evidence(
        head=[head[i].score for i in kept],
        base=None if base is None else [base[i].score for i in kept],
        fixed=kept_fixed,
        pool=None if pool is None else pool - dropped,
    )


def _minimum(e: Evidence, gate: GateSettings, confidence: str) -> Verdict | None:
    """min_score on head's mean: fail when shown below, pass when shown at or above, else undecided."""
    if gate.min_score is None:
        return None
    fixed, sample = list(e.head[: e.fixed]), list(e.head[e.fixed :])
    if not len(e.head):
        return Verdict(UNDECIDED, "no item scored")
    wide = [[2 * v - 1 for v in part] for part in (fixed, sample)]  # scores in [0, 1] onto the tests' [-1, 1]
    m = 2 * gate.min_score - 1
    w, above, below = sequential.assess(wide[0], wide[1], e.pool, gate.significance, above=m, below=m)
    b = sequential.Bounds((w.mean + 1) / 2, (w.low + 1) / 2, (w.high + 1) / 2, w.exact)
    scored = f"head scores {_mean(e.head, len(e.head))} ({_range(b, points=False)})"
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
    verdict = _minimum(Evidence(head=scores, base=None, fixed=len(scores), pool=len(scores)), gate, "")
    return verdict is not None and verdict.status == FAIL


def _points(value: float, sign: bool = True) -> str:
    """A difference of mean scores in points (hundredths): "+1.5 points", or "3 points" for a margin."""
    return f"{100 * value:+.1f} points" if sign else f"{100 * value:.1f}".removesuffix(".0") + " points"


def _range(b: sequential.Bounds, points: bool = True) -> str:
    if b.exact:
        return "exact: every pool item scored"
    if points:
        return f"on the whole pool between {100 * b.low:+.1f} and {100 * b.high:+.1f}"
    return f"on the whole pool between {b.low:.3f} and {b.high:.3f}"


def _mean(scores: Sequence[float], n: int) -> str:
    return "no item scored" if not n else f"{sum(scores) / n:.3f} on {n} items"


def overall(statuses: list[str | None]) -> Verdict:
    """The pull request's verdict from its prompts' verdict statuses: any failure fails it; else any inconclusive
    prompt makes it inconclusive (not blocked, not passed); prompts with no items, and deleted ones (removals.py),
    are not gated, and a pull request with nothing but those is neutral."""
    failed = sum(1 for s in statuses if s == FAIL)
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
