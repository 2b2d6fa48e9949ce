"""IPOMP stage 2 (ALGORITHMS.md §1.3): refine a subset from how prompts actually scored on it.

Items whose score rows (label probabilities, or 0/1 correctness when a provider gives none) move
together across the prompts scored are redundant: they rank prompts the same way. Redundant items
are grouped by average-linkage agglomerative clustering on 1 − similarity, cut at 1 − CT; a share β
of the grouped items is replaced (at least one member of every group stays, so no kind of item
disappears), each by the unused pool item least similar to it in embedding space. The subset keeps
its size and its order; every replacement is recorded with the correlation that made it redundant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.base import BaseEstimator

from .base import largest_remainder


@dataclass(frozen=True)
class Replacement:
    """One swap: the subset position's old and new pool indices, and why."""

    removed: int
    added: int
    redundant_with: int
    similarity: float  # between the removed item's and its group-mate's score rows
    embedding_cosine: float  # between the removed and the added item

    def why(self, ids: list[str] | None = None, metric: str = "correlation") -> str:
        name = (lambda i: ids[i]) if ids else str
        return (f"replaced {name(self.removed)}: redundant with {name(self.redundant_with)} "
                f"({metric} {self.similarity:.2f}); {name(self.added)} is the unused item least similar to it "
                f"(cosine {self.embedding_cosine:.2f})")


class Refiner(BaseEstimator):
    """Stage 2 of IPOMP. `refine()` returns the new subset and one Replacement per swap."""

    def __init__(self, threshold: float = 0.9, replace_share: float = 0.5, correlation: str = "pearson",
                 random_state: int = 0) -> None:
        self.threshold = threshold
        self.replace_share = replace_share
        self.correlation = correlation
        self.random_state = random_state

    def redundant_groups(self, performance: np.ndarray) -> list[list[int]]:
        """Groups (≥ 2 members, as row positions) of subset items whose score rows are alike."""
        similarity = item_similarity(performance, self.correlation)
        if len(similarity) < 2:
            return []
        distance = np.clip(1.0 - similarity, 0.0, 2.0)
        np.fill_diagonal(distance, 0.0)
        tree = linkage(squareform(distance, checks=False), method="average")
        labels = fcluster(tree, t=1.0 - self.threshold, criterion="distance")
        groups = [np.flatnonzero(labels == g).tolist() for g in np.unique(labels)]
        return sorted((g for g in groups if len(g) >= 2), key=lambda g: g[0])

    def refine(self, subset: np.ndarray, performance: np.ndarray, embeddings: np.ndarray,
               available: np.ndarray) -> tuple[np.ndarray, list[Replacement]]:
        """subset: pool indices (N); performance: N rows of scores across prompts; embeddings: the pool's;
        available: pool indices that may come in (not in the subset, never removed before)."""
        original = np.asarray(subset, dtype=int)
        subset = original.copy()
        groups = self.redundant_groups(np.asarray(performance, dtype=float))
        total = int(round(self.replace_share * sum(len(g) for g in groups)))
        if not groups or total == 0 or len(available) == 0:
            return subset, []
        similarity = item_similarity(np.asarray(performance, dtype=float), self.correlation)
        quota = largest_remainder(total, np.array([len(g) for g in groups]), at_least_one=False)
        quota = np.minimum(quota, [len(g) - 1 for g in groups])
        rng = np.random.default_rng(self.random_state)
        pool_left = np.asarray(available, dtype=int).copy()
        replacements: list[Replacement] = []
        for group, count in zip(groups, quota):
            for row in sorted(int(r) for r in rng.choice(group, size=int(count), replace=False)):
                if len(pool_left) == 0:
                    return subset, replacements
                mates = [m for m in group if m != row]
                mate = max(mates, key=lambda m: similarity[row, m])
                removed = int(subset[row])
                cosines = embeddings[pool_left] @ embeddings[removed]
                pick = int(np.argmin(cosines))
                added = int(pool_left[pick])
                pool_left = np.delete(pool_left, pick)
                subset[row] = added
                replacements.append(Replacement(removed=removed, added=added, redundant_with=int(original[mate]),
                                                similarity=float(similarity[row, mate]),
                                                embedding_cosine=float(cosines[pick])))
        return subset, replacements


def item_similarity(performance: np.ndarray, correlation: str = "pearson") -> np.ndarray:
    """Pairwise similarity of items' score rows.

    pearson: the correlation of the rows after the average row is taken away. Label probabilities share
    the model's prior (every row says "mostly play_music"), so raw rows all correlate near 1 and every
    item would look redundant; what tells items apart is how each deviates from the typical item across
    prompts and labels. (Measured on the bundled example with two prompts: raw rows put 19 of 20 items
    in redundant groups, one of 14 items with 6 different answers; centred rows grouped 11, by answer.)
    cosine: the raw rows, as the IPOMP authors' code does with its gold-slot encoding.
    A row that is constant as scored (every prompt right, or every prompt wrong) says nothing about how
    prompts rank and is similar to nothing (ALGORITHMS.md §1.3), and so is an all-zero row under cosine."""
    rows = np.asarray(performance, dtype=float)
    if correlation == "pearson":
        dead = np.ptp(rows, axis=1) <= 1e-12
        centred = rows - rows.mean(axis=0, keepdims=True) if len(rows) > 2 else rows
        centred = centred - centred.mean(axis=1, keepdims=True)
    elif correlation == "cosine":
        dead = np.zeros(len(rows), dtype=bool)
        centred = rows
    else:
        raise ValueError(f"correlation must be pearson or cosine, not {correlation!r}")
    norms = np.linalg.norm(centred, axis=1)
    safe = np.where(norms > 1e-12, norms, 1.0)
    unit = centred / safe[:, None]
    similarity = unit @ unit.T
    dead |= norms <= 1e-12
    similarity[dead, :] = 0.0
    similarity[:, dead] = 0.0
    return np.clip(similarity, -1.0, 1.0)
