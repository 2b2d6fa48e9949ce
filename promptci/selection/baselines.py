"""The baselines IPOMP is compared with (docs/algorithms.md, "Baselines"), with the same interface.

Boundary-only and clustering-only are IPOMP's stage 1 with α = 0 and α = 1. Anchor points
(Vivek et al., 2024) clusters items by their *scores* under warm-up prompts, so it needs every pool
item scored first: `needs_scores` declares that cost.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans

from .base import SubsetSelector, check_size, largest_remainder
from .stage1 import IPOMPSelector


class RandomSelector(SubsetSelector, BaseEstimator):
    """N items uniformly at random."""

    def __init__(self, size: int = 20, random_state: int = 0) -> None:
        self.size = size
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> RandomSelector:
        check_size(len(X), self.size)
        rng = np.random.default_rng(self.random_state)
        self.selected_ = np.sort(rng.choice(len(X), size=self.size, replace=False))
        self.reasons_ = ["random"] * self.size
        return self


class StratifiedSelector(SubsetSelector, BaseEstimator):
    """N items at random within strata (the items' expected answers) in proportion to their sizes, at least one
    per stratum when N allows: the fallback when embeddings cannot tell items apart. `fit(X, y)`: y the strata
    (None: one stratum, i.e. seeded random)."""

    def __init__(self, size: int = 20, random_state: int = 0, note: str = "") -> None:
        self.size = size
        self.random_state = random_state
        self.note = note

    def fit(self, X: np.ndarray, y: object = None) -> StratifiedSelector:
        check_size(len(X), self.size)
        strata = np.asarray(y if y is not None else ["" for _ in range(len(X))], dtype=object).astype(str)
        names, codes = np.unique(strata, return_inverse=True)
        sizes = np.bincount(codes, minlength=len(names))
        quota = largest_remainder(self.size, sizes, at_least_one=self.size >= len(names))
        rng = np.random.default_rng(self.random_state)
        picks: list[int] = []
        reasons: list[str] = []
        for c, name in enumerate(names):
            chosen = sorted(int(i) for i in rng.choice(np.flatnonzero(codes == c), size=int(quota[c]), replace=False))
            where = (
                f"the items whose answer is '{name}' ({sizes[c]} items, {sizes[c] / len(X):.0%} of the pool)"
                if len(names) > 1
                else "the pool"
            )
            picks += chosen
            reasons += [f"{self.note}drawn at random from {where}"] * len(chosen)
        self.selected_ = np.asarray(picks, dtype=int)
        self.reasons_ = reasons
        return self


class BoundarySelector(IPOMPSelector):
    """Boundary items only: IPOMP stage 1 with α = 0."""

    def __init__(self, size: int = 20, random_state: int = 0, exact_limit: int = 4000) -> None:
        super().__init__(size=size, alpha=0.0, n_clusters=1, random_state=random_state, exact_limit=exact_limit)


class ClusteringSelector(IPOMPSelector):
    """Cluster-proportional items only: IPOMP stage 1 with α = 1."""

    def __init__(self, size: int = 20, n_clusters: int = 5, random_state: int = 0) -> None:
        super().__init__(size=size, alpha=1.0, n_clusters=n_clusters, random_state=random_state)


class AnchorPointSelector(SubsetSelector, BaseEstimator):
    """Anchor points: K-means with N clusters on items' warm-up score vectors, best of `n_init`
    fits by inertia; the item nearest each centroid is chosen. `fit(X)` takes an items × prompts
    matrix of scores (or label probabilities)."""

    needs_scores = True

    def __init__(self, size: int = 20, n_init: int = 5, random_state: int = 0) -> None:
        self.size = size
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> AnchorPointSelector:
        X = np.asarray(X, dtype=np.float64)
        check_size(len(X), self.size)
        km = KMeans(n_clusters=self.size, n_init=self.n_init, random_state=self.random_state).fit(X)
        distances = km.transform(X)  # items × clusters
        chosen: list[int] = []
        reasons: list[str] = []
        sizes = np.bincount(km.labels_, minlength=self.size)
        for c in np.argsort(-sizes, kind="stable"):  # big clusters choose first
            for i in np.argsort(distances[:, c], kind="stable"):
                if int(i) not in chosen:
                    chosen.append(int(i))
                    reasons.append(f"anchor of score cluster {int(c)} ({sizes[c]} items)")
                    break
        self.selected_ = np.asarray(chosen, dtype=int)
        self.reasons_ = reasons
        return self
