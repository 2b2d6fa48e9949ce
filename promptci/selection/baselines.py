"""The baselines IPOMP is compared with (ALGORITHMS.md §1.6), with the same interface.

Boundary-only and clustering-only are IPOMP's stage 1 with α = 0 and α = 1. Anchor points
(Vivek et al., 2024) clusters items by their *scores* under warm-up prompts, so it needs every pool
item scored first: `needs_scores` declares that cost.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans

from .base import SubsetSelector, check_size
from .stage1 import IPOMPSelector


class RandomSelector(SubsetSelector, BaseEstimator):
    """N items uniformly at random."""

    def __init__(self, size: int = 20, random_state: int = 0) -> None:
        self.size = size
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> "RandomSelector":
        check_size(len(X), self.size)
        rng = np.random.default_rng(self.random_state)
        self.selected_ = np.sort(rng.choice(len(X), size=self.size, replace=False))
        self.reasons_ = ["random"] * self.size
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

    def fit(self, X: np.ndarray, y: object = None) -> "AnchorPointSelector":
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
