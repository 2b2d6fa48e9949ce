"""Demonstrations chosen from labelled data, as DSPy's LabeledFewShot and KNN few-shot choose them.

A demonstration shows the task model an input and its gold answer. The levers that work with any task model,
however poorly the optimizer model writes, are which examples it sees: ones like the inputs it gets wrong,
showing every answer it may give, none a near copy of another. Candidates are always training items
(never the subset, the held-out slice or the items every candidate is judged on); the caller says which.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..files.evalset import Pool


def choose(pool: Pool, rows: Sequence[int], embeddings: np.ndarray, *, near: Sequence[int], k: int) -> list[int]:
    """Up to k of `rows` (pool rows with a gold answer) to show as demonstrations, in order.

    First one per answer, the answers of the `near` items (the failures) first, most frequent first, then the
    others: each the row nearest the failures with that answer (or all of them). Then, while slots are left,
    the row nearest each failure in turn with that failure's answer. An open-ended task (more distinct answers
    than 2k) skips the first pass. A row whose input is a chosen row's is never chosen (inputs compared, not
    embeddings: a weak embedding model gives different inputs the same vector)."""
    rows = [r for r in rows if pool.items[r].expected is not None]
    near = [n for n in near if pool.items[n].expected is not None]
    if not rows or k <= 0:
        return []
    answer = {r: str(pool.items[r].expected) for r in [*rows, *near]}
    counts = Counter(answer[n] for n in near)
    labels = sorted({answer[r] for r in rows}, key=lambda a: (-counts[a], a))
    chosen: list[int] = []

    def take(candidates: list[int], targets: Sequence[int]) -> None:
        shown = {_input(pool, c) for c in chosen}
        free = [r for r in candidates if _input(pool, r) not in shown]
        if free:
            centre = embeddings[list(targets)].mean(axis=0) if len(targets) else embeddings[rows].mean(axis=0)
            chosen.append(free[int(np.argmax(embeddings[free] @ centre))])

    if len(labels) <= 2 * k:
        for label in labels[:k]:
            take([r for r in rows if answer[r] == label], [n for n in near if answer[n] == label] or list(near))
    for n in near:
        if len(chosen) >= k:
            break
        take([r for r in rows if answer[r] == answer[n]] or rows, [n])
    return chosen[:k]


def spread(pool: Pool, rows: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """k of `rows` in a seeded order, one per answer before any answer repeats: examples shown to the optimizer
    model, so that it sees what the answers are."""
    order = list(rows)
    rng.shuffle(order)
    chosen: list[int] = []
    for row in order:
        if str(pool.items[row].expected) not in {str(pool.items[c].expected) for c in chosen}:
            chosen.append(row)
    return (chosen + [r for r in order if r not in chosen])[:k]


def _input(pool: Pool, row: int) -> str:
    """An item's input, as what makes two demonstrations the same: every field but the answer."""
    data = pool.items[row].data
    return "\n".join(" ".join(str(data[k]).split()).casefold() for k in sorted(data) if k != "expected")
