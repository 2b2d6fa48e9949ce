"""The merge gate: from a paired comparison of head and base to pass, fail or not yet decided.

Policy (the `promptci.gate` settings, DESIGN.md §4 step 6):
- fail when head's mean is below `min_score`;
- fail when head is significantly worse than base (p < `significance`, exact McNemar or bootstrap);
- undecided when head is worse by more than `tolerance` but not significantly so: more items are
  needed (the pull-request flow scores further pool items in IPOMP order, then decides again);
- pass otherwise: head is better, the same, or worse within the tolerance.
When no more items can be scored, an undecided gate is settled by `settle()`: worse by more than the
tolerance fails, so a regression never passes for want of evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from .settings import GateSettings
from .stats import Comparison
from .verdicts import Status

PASS, FAIL, UNDECIDED, NEUTRAL = Status.PASS, Status.FAIL, Status.UNDECIDED, Status.NEUTRAL


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str


def below_minimum(mean: float | None, gate: GateSettings) -> bool:
    """The minimum-score rule, for the pull-request gate and `promptci eval` alike: no score is below any minimum."""
    return gate.min_score is not None and (mean is None or mean < gate.min_score)


def decide(c: Comparison, gate: GateSettings) -> Verdict:
    if c.n == 0:
        return Verdict(UNDECIDED, "no item was scored by both prompts")
    if below_minimum(c.head_mean, gate):
        return Verdict(FAIL, f"head scores {c.head_mean:.3f}, below the minimum {gate.min_score}")
    if c.delta < 0 and c.p_value < gate.significance:
        return Verdict(FAIL, f"head is significantly worse than base: {c.delta:+.3f} on {c.n} items "
                             f"(p = {c.p_value:.3g} < {gate.significance}, {c.method})")
    if c.delta < -gate.tolerance:
        return Verdict(UNDECIDED, f"head is worse by {-c.delta:.3f} (tolerance {gate.tolerance}) but not "
                                  f"significantly on {c.n} items (p = {c.p_value:.3g})")
    if c.delta < 0:
        return Verdict(PASS, f"head is worse by {-c.delta:.3f}, within the tolerance {gate.tolerance}")
    better = "better than" if c.delta > 0 else "as good as"
    significant = f", p = {c.p_value:.3g}" if c.delta > 0 else ""
    return Verdict(PASS, f"head is {better} base ({c.delta:+.3f} on {c.n} items{significant})")


def new_prompt(mean: float | None, n: int, gate: GateSettings) -> Verdict:
    """A prompt with no base version to compare with: only the minimum score applies."""
    passed = not below_minimum(mean, gate)
    scored = "no item scored" if mean is None else f"{mean:.3f} on {n} items"
    minimum = "" if gate.min_score is None else f" (minimum {gate.min_score})"
    return Verdict(PASS if passed else FAIL, f"new prompt: {scored}{minimum}")


def settle(verdict: Verdict) -> Verdict:
    """The final word when no more items can be scored: undecided means worse beyond the tolerance, so fail."""
    if verdict.status != UNDECIDED:
        return verdict
    return Verdict(FAIL, verdict.reason + "; no more items could be scored, so the gate fails on the estimate")


def overall(statuses: list[str | None]) -> Verdict:
    """The pull request's verdict from its prompts' verdict statuses: any failure fails it; prompts with no
    items are not gated, and a pull request with nothing but those is neutral."""
    failed = sum(1 for s in statuses if s == FAIL)
    if failed:
        return Verdict(FAIL, f"{failed} of {len(statuses)} prompts failed the gate")
    neutral = sum(1 for s in statuses if s == NEUTRAL)
    passed = len(statuses) - neutral
    aside = f"; {neutral} not gated (no items)" if neutral else ""
    if passed:
        return Verdict(PASS, f"{passed} prompt{'s' if passed != 1 else ''} passed the gate{aside}")
    if neutral:
        return Verdict(NEUTRAL, f"nothing gated: {neutral} changed prompt{'s' if neutral != 1 else ''} with no items")
    return Verdict(PASS, "no prompt file changed; nothing to gate")
