"""Whether a candidate prompt beats the current one: the quick filter, then a paired comparison.

Both look at the *judged items*: the evaluation subset and `filter_items` training items, so that the failures
are dozens where the subset alone has a handful (4 failures of 20 at 0.80, where one item is 25 points).
The quick filter is cheap: the candidate is scored on the current prompt's failures only, and is stopped when it
fixes too few to be accepted even if it broke nothing (fewer items than the sign test needs won, or less than
`min_gain`), or fewer than h_f of them (a stricter bar a user may set to save calls). A candidate that passes
is scored on every judged item and compared with the current prompt item by item: it must win more items than it
loses, by more than chance would (one-sided sign test on the items where the two differ, p ≤ `accept_p`), and
gain at least `min_gain` in mean. One item won of twenty is p = 0.5: noise, rejected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import binomtest

from ..files.evalresults import ItemResult
from ..files.settings import OptimizerSettings


def _score(results: Mapping[str, ItemResult], item: str) -> float:
    return results[item].score or 0.0


def failures(results: Mapping[str, ItemResult], ids: Sequence[str]) -> list[str]:
    """The items a prompt gets wrong (scores below 1), in the order given."""
    return [i for i in ids if _score(results, i) < 1.0]


def wins_needed(settings: OptimizerSettings, items: int) -> int:
    """The fewest items a candidate must win to be accepted, had it lost none: the sign test's p ≤ accept_p
    (0.5 to the power of the wins) and a gain of min_gain."""
    return max(math.ceil(math.log2(1 / settings.accept_p) - 1e-9), math.ceil(settings.min_gain * items - 1e-9), 1)


def quick_filter(
    candidate: Mapping[str, ItemResult], failed: Sequence[str], items: int, settings: OptimizerSettings
) -> tuple[float, str | None]:
    """The candidate's accuracy on the current prompt's failures, and why it is stopped here (None: it passes)."""
    fixed = sum(_score(candidate, i) for i in failed)
    share, needed = fixed / len(failed), wins_needed(settings, items)
    if fixed < needed:
        return share, (
            f"quick filter: fixes {fixed:g} of the {len(failed)} failures; acceptance needs at least {needed} items won"
        )
    if share < settings.quick_filter:
        return share, f"quick filter: {share:.2f} on the {len(failed)} failures < h_f {settings.quick_filter}"
    return share, None


@dataclass(frozen=True)
class Paired:
    """A candidate against the current prompt on the same items."""

    items: int
    wins: int  # items the candidate scores higher on
    losses: int
    gain: float  # in mean score

    @property
    def p(self) -> float:
        """One-sided sign test: how likely this many wins of the differing items are when neither prompt is better."""
        differing = self.wins + self.losses
        return float(binomtest(self.wins, differing, 0.5, alternative="greater").pvalue) if differing else 1.0

    def describe(self) -> str:
        return (
            f"{self.items} judged items: {self.wins} better, {self.losses} worse, gain {self.gain:+.3f}, "
            f"p = {self.p:.3f}"
        )


def paired(current: Mapping[str, ItemResult], candidate: Mapping[str, ItemResult], ids: Sequence[str]) -> Paired:
    diffs = [_score(candidate, i) - _score(current, i) for i in ids]
    return Paired(
        items=len(ids), wins=sum(d > 0 for d in diffs), losses=sum(d < 0 for d in diffs), gain=sum(diffs) / len(ids)
    )


def accepts(comparison: Paired, settings: OptimizerSettings) -> tuple[bool, str]:
    """Whether the comparison shows the candidate better, and the reason in words."""
    if comparison.gain <= 0 or comparison.gain < settings.min_gain - 1e-9:
        return False, f"not better: {comparison.describe()} (needs a gain of at least {settings.min_gain})"
    if comparison.p > settings.accept_p:
        return False, f"gain could be chance: {comparison.describe()} > {settings.accept_p}"
    return True, f"better: {comparison.describe()} ≤ {settings.accept_p}"
