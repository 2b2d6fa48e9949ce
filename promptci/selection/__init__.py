"""Evaluation subsets: IPOMP (stage 1 and stage 2) and the baselines it is compared with.

Every selector follows scikit-learn's estimator conventions: parameters in the constructor,
`fit(X)` on one row per pool item, results in attributes ending in `_` (`selected_`, `reasons_`).
"""

from .base import SubsetSelector
from .baselines import AnchorPointSelector, BoundarySelector, ClusteringSelector, RandomSelector, StratifiedSelector
from .stage1 import IPOMPSelector, extend_farthest, kmeans_labels
from .stage2 import Refiner, Replacement, evidence_similarity, item_similarity

__all__ = [
    "AnchorPointSelector",
    "BoundarySelector",
    "ClusteringSelector",
    "IPOMPSelector",
    "RandomSelector",
    "Refiner",
    "Replacement",
    "StratifiedSelector",
    "SubsetSelector",
    "evidence_similarity",
    "extend_farthest",
    "item_similarity",
    "kmeans_labels",
    "make_selector",
]


def make_selector(method: str, *, size: int, alpha: float, n_clusters: int, random_state: int) -> SubsetSelector:
    """The selector a `promptci.selection.method` names (anchor points need scores: not from here)."""
    if method == "ipomp":
        return IPOMPSelector(size=size, alpha=alpha, n_clusters=n_clusters, random_state=random_state)
    if method == "random":
        return RandomSelector(size=size, random_state=random_state)
    if method == "boundary":
        return BoundarySelector(size=size, random_state=random_state)
    if method == "clustering":
        return ClusteringSelector(size=size, n_clusters=n_clusters, random_state=random_state)
    if method == "anchor":
        return AnchorPointSelector(size=size, random_state=random_state)
    raise ValueError(f"unknown selection method {method!r}")
