"""IPOMP stage 1 (docs/algorithms.md, "Stage 1"): a diverse subset from embeddings alone, before any model call.

(1 − α)·N *boundary* items by farthest-point selection on mean cosine similarity, seeded with the
least similar pair, and α·N *representative* items drawn at random from K-means clusters in
proportion to the clusters' sizes, never repeating a boundary item. α = 0 gives the Boundary
baseline, α = 1 the Clustering baseline.

Scale: the greedy boundary step keeps a running sum of similarities, O(n·d) per item chosen. Only the
seed pair is quadratic; above `exact_limit` items it is found with the two-sweep diameter heuristic
(the item least similar to the centroid, then the item least similar to that one), which is exact in
spirit and O(n·d).
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from itertools import islice

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans

from .base import SubsetSelector, check_size, largest_remainder


class IPOMPSelector(SubsetSelector, BaseEstimator):
    """Stage 1 of IPOMP. `fit(X)` takes L2-normalised embeddings, one row per pool item."""

    def __init__(
        self, size: int = 20, alpha: float = 0.5, n_clusters: int = 5, random_state: int = 0, exact_limit: int = 4000
    ) -> None:
        self.size = size
        self.alpha = alpha
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.exact_limit = exact_limit

    def fit(self, X: np.ndarray, y: object = None) -> IPOMPSelector:
        X = np.asarray(X, dtype=np.float32)
        check_size(len(X), self.size)
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], not {self.alpha}")
        n_representative = round(self.alpha * self.size)
        n_boundary = self.size - n_representative
        if n_representative and self.size < self.n_clusters:
            raise ValueError(f"the subset size {self.size} is smaller than the {self.n_clusters} clusters")
        boundary, boundary_why = farthest_points(X, n_boundary, exact_limit=self.exact_limit)
        picks, reasons = list(boundary), list(boundary_why)
        self.labels_ = None
        if n_representative:
            taken = np.zeros(len(X), dtype=bool)
            taken[boundary] = True
            self.labels_ = kmeans_labels(X, self.n_clusters, self.random_state)
            rep, rep_why = representatives(self.labels_, taken, n_representative, self.random_state)
            picks += rep
            reasons += rep_why
        self.selected_ = np.asarray(picks, dtype=int)
        self.reasons_ = reasons
        return self


def kmeans_labels(X: np.ndarray, n_clusters: int, random_state: int) -> np.ndarray:
    """Stage 1's K-means clusters of the pool; stage 2 replays them to replace an item from its own cluster."""
    X = np.asarray(X, dtype=np.float32)
    return KMeans(n_clusters=min(n_clusters, len(X)), random_state=random_state, n_init=3).fit_predict(X)


def farthest_points(X: np.ndarray, n: int, *, exact_limit: int = 4000) -> tuple[list[int], list[str]]:
    """Greedy boundary items: the least similar pair, then each time the item of least mean similarity."""
    if n <= 0:
        return [], []
    size = len(X)
    if size <= exact_limit:
        sims = X @ X.T
        np.fill_diagonal(sims, np.inf)
        row, column = np.unravel_index(int(np.argmin(sims)), sims.shape)
        a, b = int(row), int(column)
        how = "the least similar pair in the pool"
    else:
        a = int(np.argmin(X @ X.mean(axis=0)))
        b = int(np.argmin(X @ X[a]))
        how = "the least similar pair found (two-sweep search)"
    pair_cos = float(X[a] @ X[b])
    chosen = [a] if n == 1 else [a, b]
    reasons = [f"boundary: one of {how} (cosine {pair_cos:.2f})"] * len(chosen)
    total = X @ X[a] + (X @ X[b] if n > 1 else 0.0)
    total = np.asarray(total, dtype=np.float64)
    blocked = np.zeros(size, dtype=bool)
    blocked[chosen] = True
    for nxt, mean in islice(_least_similar(X, total, blocked, len(chosen)), n - len(chosen)):
        reasons.append(
            f"boundary #{len(chosen) + 1}: mean cosine {mean:.2f} to the boundary items before it, the lowest left"
        )
        chosen.append(nxt)
    return chosen, reasons


def _least_similar(X: np.ndarray, total: np.ndarray, blocked: np.ndarray, count: int) -> Iterator[tuple[int, float]]:
    """The greedy boundary order: each time the unblocked item of least mean similarity to those chosen so far,
    with that mean. `total` holds each item's summed similarity to the chosen ones; both arrays are updated."""
    while not blocked.all():
        mean = np.where(blocked, np.inf, total / count)
        nxt = int(np.argmin(mean))
        yield nxt, float(mean[nxt])
        blocked[nxt] = True
        total += X @ X[nxt]
        count += 1


def extend_farthest(X: np.ndarray, chosen: list[int], n: int, exclude: Set[int] = frozenset()) -> list[int]:
    """The next n items in IPOMP's boundary order after `chosen`: each time the item of least mean similarity
    to everything chosen so far. Used to add items when a verdict needs more evidence."""
    X = np.asarray(X, dtype=np.float32)
    blocked = np.zeros(len(X), dtype=bool)
    blocked[list(chosen)] = True
    blocked[list(exclude)] = True
    total = np.asarray(X @ X[list(chosen)].sum(axis=0), dtype=np.float64) if chosen else np.zeros(len(X))
    return [nxt for nxt, _ in islice(_least_similar(X, total, blocked, max(len(chosen), 1)), n)]


def representatives(labels: np.ndarray, taken: np.ndarray, n: int, seed: int) -> tuple[list[int], list[str]]:
    """n items drawn at random from the clusters, in proportion to their sizes, skipping taken items."""
    n_clusters = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=n_clusters)
    free = [np.flatnonzero((labels == c) & ~taken) for c in range(n_clusters)]
    quota = largest_remainder(n, sizes, at_least_one=n >= int((sizes > 0).sum()))
    quota = np.minimum(quota, [len(f) for f in free])
    while quota.sum() < n:  # a cluster ran out of free items: give its share to the others by size
        room = np.array([len(f) for f in free]) - quota
        if room.max() <= 0:
            break
        quota[int(np.argmax(np.where(room > 0, sizes, -1)))] += 1
    rng = np.random.default_rng(seed)
    picks, reasons = [], []
    share = sizes / sizes.sum()
    for c in range(n_clusters):
        if quota[c]:
            chosen = sorted(int(i) for i in rng.choice(free[c], size=int(quota[c]), replace=False))
            picks += chosen
            reasons += [f"representative of cluster {c} ({sizes[c]} items, {share[c]:.0%} of the pool)"] * len(chosen)
    return picks, reasons
