"""The dual-phase prompt optimizer with IPOMP in the loop (ALGORITHMS.md §2–§4).

`units` cuts a prompt into editable pieces, `framing` says what the optimizer model is asked and
checks its replies, `dualphase` runs the search. `split()` decides which pool items the optimizer
is judged on, which it may learn from, and which it never sees (the held-out slice).
"""

from __future__ import annotations

import random
from typing import Sequence

from ..evalset import Pool
from ..llm import LOCAL_PREFIX
from .dualphase import Attempt, DualPhase, Outcome, Split

__all__ = ["Attempt", "DualPhase", "Outcome", "Split", "split", "style_for"]


def split(pool: Pool, subset_ids: Sequence[str], *, holdout: int, seed: int) -> Split:
    """V is the subset; the other items are shuffled (seeded) into a held-out slice of up to `holdout`
    items (at most half of them) and the training items the optimizer may learn from."""
    index = {item.id: i for i, item in enumerate(pool.items)}
    subset = tuple(index[i] for i in subset_ids)
    rest = [i for i in range(len(pool)) if i not in set(subset)]
    random.Random(seed).shuffle(rest)
    cut = min(holdout, len(rest) // 2)
    return Split(subset=subset, training=tuple(sorted(rest[cut:])), holdout=tuple(sorted(rest[:cut])))


def style_for(model: str, configured: str = "auto") -> str:
    """How to ask the optimizer model: `completion` for the embedded base model, `instruct` for chat models."""
    if configured != "auto":
        return configured
    return "completion" if model.startswith(LOCAL_PREFIX) else "instruct"
