"""Regressions the average hides: the gate's paired test on each IPOMP cluster of the compared items.

A head can hold its mean while one kind of input gets worse. The pool's items are clustered as IPOMP stage 1
clusters them (K-means on their embeddings, `promptci.selection.clusters` and `seed`), and within each cluster the
compared items' head − base differences go through the gate's own anytime-valid test of "worse" (gate/sequential.py,
items as draws). Testing K clusters gives K chances of a wrong "worse", so each is tested at α/K (Bonferroni): it
needs only a yes or no at a level from each test, which is what the betting tests give (Holm would need a p-value
per cluster, and gains little over Bonferroni at K = 5). A cluster is named by its most typical item, the one
nearest its centre. Shown worse slices are listed; they fail the gate when `promptci.gate_slices` is set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..files.evalset import Pool
from ..files.settings import GateSettings
from ..promptfile import PromptFile
from . import repeats
from .draws import Scored
from .sequential import assess

MIN_ITEMS = 5
"""A cluster with fewer compared items is not tested (no bounded test can show anything at α/K on so few)."""


@dataclass(frozen=True)
class Slice:
    """One cluster shown worse: its most typical item, how many items were compared in it, head − base there."""

    typical: str
    items: int
    difference: float

    def describe(self) -> str:
        return (
            f"the cluster around {self.typical} ({self.items} items, head − base {100 * self.difference:+.1f} points)"
        )


def worse(
    prompt: PromptFile,
    pool: Pool,
    compared: Sequence[str],
    base: Mapping[str, Scored],
    head: Mapping[str, Scored],
    gate: GateSettings,
    targeted: int | None = None,
) -> list[Slice]:
    """The clusters in which head is shown worse than base, each at level α/K; with targeted repeats (r) an item's
    difference is its unbiased value (gate/repeats.py), not the difference of its means."""
    from ..selection.stage1 import kmeans_labels
    from ..selection.subsets import pool_embeddings

    s = prompt.settings.selection
    vectors = pool_embeddings(prompt, pool)
    labels = kmeans_labels(vectors, s.clusters, s.seed)
    index = {item.id: n for n, item in enumerate(pool.items)}
    clusters = sorted(set(labels.tolist()))
    alpha = gate.significance / len(clusters)
    found = []
    for cluster in clusters:
        members = np.flatnonzero(labels == cluster)
        diffs = [
            repeats.paired(base[i], head[i], targeted) if targeted else (head[i].score or 0.0) - (base[i].score or 0.0)
            for i in compared
            if i in index and labels[index[i]] == cluster and _scored(base, i) and _scored(head, i)
        ]
        if len(diffs) < MIN_ITEMS:
            continue
        _, _, shown_worse = assess([], diffs, None, alpha, above=-gate.margin, below=0.0)
        if shown_worse:
            centre = vectors[members].mean(axis=0)
            typical = pool.items[int(members[np.argmin(((vectors[members] - centre) ** 2).sum(axis=1))])].id
            found.append(Slice(typical, len(diffs), float(np.mean(diffs))))
    return found


def _scored(results: Mapping[str, Scored], i: str) -> bool:
    return i in results and results[i].score is not None
