"""IPOMP stage 2 (docs/algorithms.md, "Stage 2"): refine a subset from how prompts actually scored on it.

Items whose score rows (label probabilities, or 0/1 correctness when a provider gives none) move
together across the prompts scored are redundant: they rank prompts the same way. Redundant items
are grouped by average-linkage agglomerative clustering on 1 − similarity, cut at 1 − CT; a share β
of the grouped items is replaced (at least one member of every group stays, so no kind of item
disappears), each by the unused pool item least similar to it in embedding space. The subset keeps
its size and its order; every replacement is recorded with the correlation that made it redundant.

Between pull requests the same step acts only on evidence: the score matrix may hold NaN
for "not scored" (the subset file's ledger of many prompts, see selection/subsets.py), a pair of items is
judged only on the prompts that scored both and only when there are at least `min_prompts` of them,
at most `max_replacements` items change per call, and with `labels` (the pool's stage-1 clusters) an
item is replaced only from its own cluster, so the subset's cluster coverage never changes.
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
    prompts: int = 0  # how many prompts scored both (0: a complete matrix, every prompt)
    cluster: int | None = None  # the stage-1 cluster both items belong to, when replacements keep clusters

    def why(self, ids: list[str] | None = None, metric: str = "correlation") -> str:
        name = (lambda i: ids[i]) if ids else str
        over = f" over {self.prompts} prompts" if self.prompts else ""
        where = f"unused item of its cluster {self.cluster}" if self.cluster is not None else "unused item"
        return (
            f"replaced {name(self.removed)}: redundant with {name(self.redundant_with)} "
            f"({metric} {self.similarity:.2f}{over}); {name(self.added)} is the {where} least similar to it "
            f"(cosine {self.embedding_cosine:.2f})"
        )


class Refiner(BaseEstimator):
    """Stage 2 of IPOMP. `refine()` returns the new subset and one Replacement per swap."""

    def __init__(
        self,
        threshold: float = 0.9,
        replace_share: float = 0.5,
        correlation: str = "pearson",
        random_state: int = 0,
        min_prompts: int = 0,
        max_replacements: int | None = None,
    ) -> None:
        self.threshold = threshold
        self.replace_share = replace_share
        self.correlation = correlation
        self.random_state = random_state
        self.min_prompts = min_prompts
        self.max_replacements = max_replacements

    def similarity(self, performance: np.ndarray) -> np.ndarray:
        """Item-by-item similarity: as IPOMP scores one run, or on the evidence when a minimum is set."""
        if self.min_prompts or np.isnan(performance).any():
            return evidence_similarity(performance, self.min_prompts)
        return item_similarity(performance, self.correlation)

    def redundant_groups(self, performance: np.ndarray) -> list[list[int]]:
        """Groups (≥ 2 members, as row positions) of subset items whose score rows are alike."""
        similarity = self.similarity(np.asarray(performance, dtype=float))
        if len(similarity) < 2:
            return []
        distance = np.clip(1.0 - similarity, 0.0, 2.0)
        np.fill_diagonal(distance, 0.0)
        tree = linkage(squareform(distance, checks=False), method="average")
        labels = fcluster(tree, t=1.0 - self.threshold, criterion="distance")
        groups = [np.flatnonzero(labels == g).tolist() for g in np.unique(labels)]
        return sorted((g for g in groups if len(g) >= 2), key=lambda g: g[0])

    def refine(
        self,
        subset: np.ndarray,
        performance: np.ndarray,
        embeddings: np.ndarray,
        available: np.ndarray,
        labels: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[Replacement]]:
        """subset: pool indices (N); performance: N rows of scores across prompts (NaN: not scored);
        embeddings: the pool's; available: pool indices that may come in (not in the subset, never removed
        before); labels: the pool's clusters, to replace an item only from its own cluster."""
        original = np.asarray(subset, dtype=int)
        subset = original.copy()
        performance = np.asarray(performance, dtype=float)
        groups = self.redundant_groups(performance)
        total = round(self.replace_share * sum(len(g) for g in groups))
        if self.max_replacements is not None:
            total = min(total, self.max_replacements)
        if not groups or total == 0 or len(available) == 0:
            return subset, []
        similarity = self.similarity(performance)
        shared = _shared_counts(performance) if self.min_prompts or np.isnan(performance).any() else None
        quota = largest_remainder(total, np.array([len(g) for g in groups]), at_least_one=False)
        quota = np.minimum(quota, [len(g) - 1 for g in groups])
        rng = np.random.default_rng(self.random_state)
        pool_left = np.asarray(available, dtype=int).copy()
        replacements: list[Replacement] = []
        for group, count in zip(groups, quota):
            for row in sorted(int(r) for r in rng.choice(group, size=int(count), replace=False)):
                removed = int(subset[row])
                cluster = None if labels is None else int(labels[removed])
                candidates = (
                    np.flatnonzero(labels[pool_left] == cluster) if labels is not None else np.arange(len(pool_left))
                )
                if len(candidates) == 0:
                    continue  # its cluster has nothing left to give: the item stays, coverage is kept
                mates = [m for m in group if m != row]
                mate = max(mates, key=lambda m: similarity[row, m])
                cosines = embeddings[pool_left[candidates]] @ embeddings[removed]
                pick = int(candidates[int(np.argmin(cosines))])
                added = int(pool_left[pick])
                pool_left = np.delete(pool_left, pick)
                subset[row] = added
                replacements.append(
                    Replacement(
                        removed=removed,
                        added=added,
                        redundant_with=int(original[mate]),
                        similarity=float(similarity[row, mate]),
                        embedding_cosine=float(np.min(cosines)),
                        prompts=int(shared[row, mate]) if shared is not None else 0,
                        cluster=cluster,
                    )
                )
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
    prompts rank and is similar to nothing (docs/algorithms.md, "Stage 2"), and so is an all-zero row under cosine."""
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


def _shared_counts(performance: np.ndarray) -> np.ndarray:
    """For each pair of items, how many prompts scored both (NaN: not scored)."""
    known = (~np.isnan(performance)).astype(float)
    return (known @ known.T).astype(int)


def evidence_similarity(performance: np.ndarray, min_prompts: int = 0) -> np.ndarray:
    """Pearson correlation of each pair of items over the prompts that scored both (NaN: not scored).

    Across many prompts, two items correlate when the same prompts get them right: they rank prompts the
    same way. A pair scored together by fewer than `min_prompts` prompts is no evidence (similarity 0): with
    two or three prompts nearly every pair of 0/1 rows agrees by chance, which is what made one run's
    refresh replace half the subset. A row constant over the shared prompts is similar to nothing."""
    rows = np.asarray(performance, dtype=float)
    known = ~np.isnan(rows)
    x = np.where(known, rows, 0.0)
    k = known.astype(float)
    n = k @ k.T
    sx = x @ k.T  # sum of row i's values over the prompts both rows have
    sxx = (x * x) @ k.T
    sxy = x @ x.T
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        var_j = sxx.T - sx.T * sx.T / n
        r = cov / np.sqrt(var_i * var_j)
    valid = (n >= max(min_prompts, 2)) & (var_i > 1e-12) & (var_j > 1e-12)
    return np.clip(np.where(valid, np.nan_to_num(r), 0.0), -1.0, 1.0)
