"""Targeted repeats: where the gate draws more answers for a sampled or judged prompt, and what an item then counts.

Base and head are drawn once per item. Where the two first draws agree (both pass or both fail), the item counts
their plain difference h₁ − b₁. Where they disagree, each side is drawn r − 1 more times, and the item counts

    V = the mean of (H_d − B_d) over the sample indices d (of the r) whose two draws disagree,

which is E[h₁ − b₁ | the first draws disagree, the multiset of the r pairs (H_d, B_d)]: the pairs are
exchangeable, so the first is any of them with equal chance, and V is a conditional expectation of h₁ − b₁ whose
expectation is the item's expected-score difference exactly (the tower rule), whatever r and whatever the item.
Pairs are kept by sample index because base's and head's draw d share a seed (llm.py), which couples them: mixing
draws across indices would be biased towards "no difference" under that coupling. Averaging all the draws instead
would be biased too (it pulls disagreeing items towards "no difference"). V is an average of differences in
[−1, 1], so each item is an independent bounded draw of the difference and the gate's endless-mode betting test
stays valid, with less variance where answers are noisy. Graded scores are handled by the same formula: the
trigger is pass/fail (draws.PASS_SCORE), and an agreeing item's h₁ − b₁ is its own unbiased value.

Only a pull request's paired comparison of a sampled or judged prompt repeats (`rounds`); a deterministic prompt
with exact checks is drawn once, as before. docs/gate.md, "Output noise", has the argument and the measured rates.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..promptfile import PromptFile
from . import draws

DEFAULT = 3
"""r when `promptci.repeats` is 1: on an item with even chances on both sides, two more draws a side cut its
value's variance from 0.5 to 0.29 (r = 5: 0.19) for 4 calls, and only on the items whose first draws disagree.
Measured against fixed draws in benchmarks/README.md (noise.py, noise_validity.py)."""


EXPECTED_SHARE = 1 / 3
"""The forecast's share of items whose first draws disagree: 0.04 to 0.53 over the 18 pairs of prompts in
benchmarks/noise.py's sampled draws, a third on average."""


def rounds(head: PromptFile, base: PromptFile | None) -> int | None:
    """r, the draws a side gets on an item whose first draws disagree (`promptci.repeats` when above 1, else
    DEFAULT; head's settings are the reference's in a pull request); None: no targeted repeats (a new prompt has no
    pair, and exact scores need no second draw)."""
    if base is None or not draws.noisy([head, base]):
        return None
    return head.settings.repeats if head.settings.repeats > 1 else DEFAULT


def draws_per_item(prompt: PromptFile, repeats: int, paired: bool) -> tuple[float, int]:
    """The calls a compared item costs a side, expected and at most (the forecast's): one for exact scores and for
    drawn labels (draws.free); for sampled or judged ones r where the first draws disagree (EXPECTED_SHARE of the
    items expected) when base and head are paired, else `repeats` (promptci.repeats) on every item."""
    if not draws.noisy([prompt]) or draws.free(prompt):
        return 1.0, 1
    if not paired:
        return float(repeats), repeats
    r = repeats if repeats > 1 else DEFAULT
    return 1 + EXPECTED_SHARE * (r - 1), r


def scores(item: draws.Scored) -> list[float]:
    """An item's draws' scores, the first draw first (one draw: its score)."""
    found = [d.score for d in item.draws] if item.draws else [item.score]
    return [s for s in found if s is not None]


def disagree(base: draws.Scored, head: draws.Scored) -> bool:
    """Whether the two first draws disagree: one passes, the other fails."""
    b, h = scores(base), scores(head)
    return bool(b and h) and draws.passes(b[0]) != draws.passes(h[0])


def value(base: Sequence[float], head: Sequence[float]) -> float:
    """The item's unbiased head − base (the module's docstring): h₁ − b₁ where the first draws agree, else the mean
    difference over the sample indices whose two draws disagree."""
    if draws.passes(base[0]) == draws.passes(head[0]):
        return head[0] - base[0]
    pairs = [h - b for b, h in zip(base, head) if draws.passes(h) != draws.passes(b)]
    return sum(pairs) / len(pairs)  # never empty: the first draws are such a pair


def paired(base: draws.Scored, head: draws.Scored, r: int) -> float:
    """`value` of two scored items as recorded (their first r draws, else their one score)."""
    return value(scores(base)[:r], scores(head)[:r])


def first(item: draws.Scored) -> float:
    """An item's first draw's score: unbiased for its expected score whatever was drawn after it."""
    return scores(item)[0]


def to_repeat(ids: Sequence[str], base: dict, head: dict, r: int) -> list[str]:
    """The items whose first draws disagree and that do not have their r draws yet."""
    return [
        i
        for i in ids
        if i in base and i in head and disagree(base[i], head[i]) and min(len(base[i].draws), len(head[i].draws)) < r
    ]


def repeated(ids: Sequence[str], base: dict, head: dict) -> int:
    """How many of these items were drawn again (their first draws disagreed)."""
    return sum(1 for i in ids if i in base and i in head and disagree(base[i], head[i]))
