"""Embeddings that cannot tell a pool's items apart, found before stage 1 leans on them.

MiniLM reads emoji, most non-Latin scripts and much code as one unknown token, so a pool of such inputs
gets one vector for every item; K-means then warns and farthest-point selection picks arbitrary items.
Here the pool is called weak when it has fewer distinct input texts, or fewer distinct vectors (cosine
≥ NEAR_IDENTICAL counts as the same), than the subset needs; the caller falls back to a selection that
needs no embeddings (stratified by expected answer, else seeded random) and says so in every `why`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NEAR_IDENTICAL = 0.99


def distinct_vectors(vectors: np.ndarray, enough: int) -> int:
    """How many groups of near-identical vectors there are, counting no further than `enough` (so a healthy
    pool costs about `enough` passes over it, not a quadratic comparison)."""
    leaders: list[np.ndarray] = []
    for v in np.asarray(vectors, dtype=np.float32):
        if not leaders or float(np.max(np.stack(leaders) @ v)) < NEAR_IDENTICAL:
            leaders.append(v)
            if len(leaders) >= enough:
                break
    return len(leaders)


def weakness(texts: Sequence[str], vectors: np.ndarray, need: int, model: str) -> str | None:
    """Why these embeddings cannot choose `need` different items (None when they can), in a few words."""
    distinct_texts = len(set(texts))
    if distinct_texts < need:
        return f"only {distinct_texts} distinct input texts among {len(texts)} items, fewer than the {need} needed"
    found = distinct_vectors(vectors, need)
    if found < need:
        return (
            f"{model} gives {found} distinct vector{'s' if found != 1 else ''} for {distinct_texts} different "
            f"input texts, fewer than the {need} needed"
        )
    return None
