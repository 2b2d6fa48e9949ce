"""IPOMP stage 1 and stage 2 and the baselines, on synthetic matrices whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from promptci.selection import (
    AnchorPointSelector,
    BoundarySelector,
    ClusteringSelector,
    IPOMPSelector,
    RandomSelector,
    Refiner,
    item_similarity,
)
from promptci.selection.base import largest_remainder


def unit_rows(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def blobs(sizes: list[int], d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), d)) * 5
    x = np.vstack([c + rng.normal(size=(s, d)) for c, s in zip(centres, sizes)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_stage1_splits_boundary_and_representative_without_overlap() -> None:
    x, _ = blobs([100, 60, 30, 10])
    sel = IPOMPSelector(size=20, alpha=0.5, n_clusters=4, random_state=0).fit(x)
    assert len(sel.selected_) == 20 == len(set(sel.selected_.tolist()))
    assert sum(r.startswith("boundary") for r in sel.reasons_) == 10
    assert sum(r.startswith("representative") for r in sel.reasons_) == 10
    again = clone(sel).fit(x)
    assert again.selected_.tolist() == sel.selected_.tolist() and again.reasons_ == sel.reasons_
    assert IPOMPSelector(size=20, n_clusters=4, random_state=1).fit(x).selected_.tolist() != sel.selected_.tolist()


def test_boundary_starts_from_the_least_similar_pair() -> None:
    x = unit_rows(200)
    picks = BoundarySelector(size=6).fit(x).selected_
    sims = x @ x.T
    np.fill_diagonal(sims, np.inf)
    a, b = np.unravel_index(np.argmin(sims), sims.shape)
    assert set(picks[:2].tolist()) == {a, b}
    # each later pick has the lowest mean similarity to those before it
    for k in range(2, 6):
        chosen = picks[:k]
        mean = (x @ x[chosen].T).mean(axis=1)
        mean[chosen] = np.inf
        assert picks[k] == int(np.argmin(mean))


def test_two_sweep_search_above_the_exact_limit() -> None:
    x = unit_rows(500)
    exact = IPOMPSelector(size=10, alpha=0.0, random_state=0).fit(x)
    approx = IPOMPSelector(size=10, alpha=0.0, random_state=0, exact_limit=100).fit(x)
    assert len(set(approx.selected_.tolist())) == 10 and "two-sweep" in approx.reasons_[0]
    pair = x[approx.selected_[0]] @ x[approx.selected_[1]]
    best = x[exact.selected_[0]] @ x[exact.selected_[1]]
    assert pair < 0 and best <= pair


def test_representatives_follow_cluster_sizes() -> None:
    x, truth = blobs([120, 60, 20])
    sel = ClusteringSelector(size=10, n_clusters=3, random_state=0).fit(x)
    counts = np.bincount(truth[sel.selected_], minlength=3)
    assert sorted(counts.tolist(), reverse=True) == [5, 3, 2]  # 1 each, then 7 split 4.2/2.1/0.7 by largest remainder
    assert all(r.startswith("representative of cluster") for r in sel.reasons_)


def test_largest_remainder() -> None:
    assert largest_remainder(10, np.array([120, 60, 20]), at_least_one=False).tolist() == [6, 3, 1]
    assert largest_remainder(5, np.array([97, 1, 1, 1]), at_least_one=True).tolist() == [2, 1, 1, 1]
    assert largest_remainder(3, np.array([0, 5]), at_least_one=True).tolist() == [0, 3]


@pytest.mark.parametrize(
    "selector, words",
    [
        (IPOMPSelector(size=50), "fewer than the subset size"),
        (IPOMPSelector(size=3, n_clusters=5), "smaller than the 5 clusters"),
        (IPOMPSelector(size=10, alpha=1.5), "alpha must be within"),
    ],
)
def test_stage1_bad_parameters(selector: IPOMPSelector, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        selector.fit(unit_rows(30))


def test_random_and_anchor_baselines() -> None:
    x = unit_rows(100)
    r = RandomSelector(size=10, random_state=3).fit(x)
    assert (
        len(set(r.selected_.tolist())) == 10
        and r.selected_.tolist() == RandomSelector(size=10, random_state=3).fit_select(x).tolist()
    )
    # warm-up scores with 4 obvious behaviours: anchors must cover all four
    scores = np.repeat(np.eye(4), 25, axis=0) + np.random.default_rng(0).normal(scale=0.01, size=(100, 4))
    anchors = AnchorPointSelector(size=4, random_state=0).fit(scores)
    assert AnchorPointSelector.needs_scores
    assert sorted(np.argmax(scores[anchors.selected_], axis=1).tolist()) == [0, 1, 2, 3]


def test_similarity_measures() -> None:
    # every row shares the same prior shape; items 0 and 1 deviate from it alike, item 2 the other way
    prior = np.array([0.7, 0.2, 0.1, 0.7, 0.2, 0.1])
    rows = np.array(
        [
            prior + [0.1, -0.1, 0, 0.1, -0.1, 0],
            prior + [0.12, -0.12, 0, 0.1, -0.1, 0],
            prior + [-0.1, 0.1, 0, -0.1, 0.1, 0],
            prior,
            np.zeros(6),
        ]
    )
    raw = np.corrcoef(rows[:4])
    assert raw[0, 2] > 0.8  # raw rows all look alike: the prior dominates
    pearson = item_similarity(rows, "pearson")
    assert pearson[0, 1] > 0.9 and pearson[0, 2] < 0
    assert (pearson[4] == 0).all()  # a constant row is similar to nothing
    cosine = item_similarity(rows, "cosine")
    assert cosine[0, 2] > 0.8 and cosine[4, 0] == 0.0


def refinement_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """10 subset items: rows 0-3 behave identically across prompts (redundant), 4-9 differ."""
    rng = np.random.default_rng(0)
    base = rng.random(12)
    performance = rng.random((10, 12))
    performance[0:4] = base + rng.normal(scale=0.001, size=(4, 12))
    emb = unit_rows(60, seed=1)
    subset = np.arange(10)
    available = np.arange(10, 60)
    return subset, performance, emb, available


def test_stage2_replaces_a_share_of_the_redundant_items() -> None:
    subset, performance, emb, available = refinement_case()
    refiner = Refiner(threshold=0.9, replace_share=0.5, random_state=0)
    assert refiner.redundant_groups(performance) == [[0, 1, 2, 3]]
    new, swaps = refiner.refine(subset, performance, emb, available)
    assert len(swaps) == 2 and len(new) == 10 and len(set(new.tolist())) == 10
    for swap in swaps:
        assert swap.removed in range(4) and swap.added in available and swap.similarity > 0.9
        assert swap.redundant_with in range(4) and swap.redundant_with != swap.removed  # a group-mate, as scored
        assert (
            swap.embedding_cosine == pytest.approx(float(np.min(emb[available] @ emb[swap.removed])), abs=1e-6)
            or swap is swaps[1]
        )  # the second swap chooses among what the first left
    assert sum(int(i) in range(4) for i in new) == 2  # at least one of the group stays
    assert new[4:].tolist() == subset[4:].tolist()


def test_stage2_with_nothing_redundant_or_nothing_left() -> None:
    subset, performance, emb, available = refinement_case()
    new, swaps = Refiner(threshold=0.9999999).refine(subset, np.random.default_rng(5).random((10, 12)), emb, available)
    assert swaps == [] and new.tolist() == subset.tolist()
    new, swaps = Refiner().refine(subset, performance, emb, np.array([], dtype=int))
    assert swaps == []


def test_stage2_correctness_patterns_fallback() -> None:
    """0/1 scores: identical non-constant patterns are redundant; all-right or all-wrong rows never are."""
    performance = np.array([[1, 0, 1, 0], [1, 0, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 0, 0]], dtype=float)
    assert Refiner(threshold=0.9).redundant_groups(performance) == [[0, 1]]


def test_extend_farthest_continues_the_boundary_order() -> None:
    import numpy as np

    from promptci.selection import extend_farthest
    from promptci.selection.stage1 import farthest_points

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 16))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    order, _ = farthest_points(X, 12)
    assert extend_farthest(X, order[:6], 6) == order[6:]
    assert not set(extend_farthest(X, order[:6], 6, exclude={order[6]})) & set(order[:7])
    assert len(extend_farthest(X, list(range(295)), 10)) == 5
