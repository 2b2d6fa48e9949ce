"""Which pool items the optimizer is judged on (the subset V), which it may learn from, and which it never sees."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..files.evalset import Pool


@dataclass(frozen=True)
class Split:
    """Pool indices: the evaluation subset V, what the optimizer may learn from, and the held-out slice.
    `judged` are training items every candidate is also judged on (never shown as demonstrations)."""

    subset: tuple[int, ...]
    training: tuple[int, ...]
    holdout: tuple[int, ...]
    judged: tuple[int, ...] = ()


def split(pool: Pool, subset_ids: Sequence[str], *, holdout: int, seed: int, judged: int = 0) -> Split:
    """V is the subset; the other items are shuffled (seeded) into a held-out slice of up to `holdout`
    items (at most half of them) and the training items the optimizer may learn from, of which up to
    `judged` (at most half) are judged on with the subset."""
    index = {item.id: i for i, item in enumerate(pool.items)}
    subset = tuple(index[i] for i in subset_ids)
    rest = [i for i in range(len(pool)) if i not in set(subset)]
    random.Random(seed).shuffle(rest)
    cut = min(holdout, len(rest) // 2)
    training = rest[cut:]
    return Split(
        subset=subset,
        training=tuple(sorted(training)),
        holdout=tuple(sorted(rest[:cut])),
        judged=tuple(sorted(training[: min(judged, len(training) // 2)])),
    )
