"""What every subset selector shares: the estimator contract and two small helpers.

A selector is configured in its constructor and fitted on a matrix with one row per pool item
(embeddings, or warm-up scores for anchor points); afterwards `selected_` holds the chosen row
indices and `reasons_` one sentence per chosen item saying why it is there. Seeded: the same
input and `random_state` give the same subset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np


class SubsetSelector:
    """Mixin for the scikit-learn-style selectors: `fit(X)` then `selected_`, `reasons_`."""

    #: True for methods that need model scores of warm-up prompts on the whole pool (a declared cost).
    needs_scores = False

    if TYPE_CHECKING:  # what each selector defines
        selected_: np.ndarray
        reasons_: list[str]

        def fit(self, X: np.ndarray, y: object = None) -> Self: ...

    def fit_select(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).selected_


def check_size(pool_size: int, size: int) -> None:
    if size < 1:
        raise ValueError("the subset size must be at least 1")
    if pool_size < size:
        raise ValueError(f"the pool has {pool_size} items, fewer than the subset size {size}")


def largest_remainder(total: int, weights: np.ndarray, *, at_least_one: bool) -> np.ndarray:
    """Split `total` in proportion to `weights` (integers, largest-remainder rounding).

    With `at_least_one`, every positive weight first gets one (the rest is split in proportion)."""
    weights = np.asarray(weights, dtype=float)
    base = np.zeros(len(weights), dtype=int)
    if at_least_one:
        base[weights > 0] = 1
    left = total - int(base.sum())
    if left <= 0 or weights.sum() == 0:
        return base
    exact = left * weights / weights.sum()
    floor = np.floor(exact).astype(int)
    remainder = left - int(floor.sum())
    order = np.argsort(-(exact - floor), kind="stable")
    floor[order[:remainder]] += 1
    return base + floor
