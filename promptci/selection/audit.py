"""`promptci select --check`: whether a committed subset is what promptci would have made, replayed from the file.

Every item must be stage 1's choice for the recorded parameters, or a replacement that the history records and
that replays: stage 2 takes, for each item it removes, the unused pool item of the removed one's stage-1 cluster
least like it in embedding space, so given the removed item the added one is determined, and a record that names
another (a hand swap with a made-up record, whose `removed` id would be banned from the subset for good) is
flagged. Which items stage 2 removed rests on the scores of the prompts that judged them, which the evidence
ledger no longer holds once the items are gone: that part cannot be replayed, and the check says so, naming them.
The replay embeds the items as the prompt now reads them (its current placeholders).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..files import subsetfile
from ..files.evalset import Pool
from ..files.subsetfile import Subset
from ..models import embeddings
from ..promptfile import PromptFile
from .subsets import SelectionParams, input_texts, refresh_strata, select


@dataclass(frozen=True)
class Audit:
    problems: list[str]  # why the subset cannot be trusted (empty: it can)
    unverified: list[str]  # what the file claims that the check cannot replay


def audit(prompt: PromptFile, pool: Pool, subset: Subset, subset_path: Path) -> Audit:
    """Why a committed subset cannot be trusted: it no longer fits its pool, its size is not the recorded one, a
    history record does not replay, or an item is neither stage 1's choice nor a replayed replacement."""
    found = subsetfile.problems(subset, pool, subset_path)
    if found:
        return Audit(found, [])
    s, recorded = prompt.settings.selection, subset.parameters
    try:
        choice = SelectionParams(
            method=subset.method,
            size=int(recorded.get("size", len(subset.items))),
            alpha=float(recorded.get("alpha", s.alpha)),
            clusters=int(recorded.get("clusters", s.clusters)),
            seed=int(recorded.get("seed", s.seed)),
        )
        explained = list(select(prompt, pool, choice).ids)
    except (InputError, TypeError, ValueError) as exc:
        return Audit([f"its recorded selection ({subset.method}, {dict(recorded)}) cannot be replayed: {exc}"], [])
    if len(subset.items) != choice.size:
        found.append(f"it has {len(subset.items)} items, its recorded size is {choice.size}")
    found += _replay_history(prompt, pool, subset, explained)
    edited = [i for i in subset.ids if i not in explained]
    if edited:
        found.append(
            f"edited by hand: {_some(edited)} {'is' if len(edited) == 1 else 'are'} neither stage 1's "
            "choice for the recorded parameters nor a recorded replacement"
        )
    removed = [r.get("removed", "") for h in subset.history for r in h.replaced]
    unverified = (
        [f"that stage 2 found {_some(removed)} redundant rests on scores the file no longer holds"] if removed else []
    )
    return Audit(found, unverified)


def _replay_history(prompt: PromptFile, pool: Pool, subset: Subset, explained: list[str]) -> list[str]:
    """Apply each history record to `explained` (stage 1's choice) that stage 2 would have made, in order; one
    problem per record it would not have (those are not applied)."""
    if not any(h.replaced for h in subset.history):
        return []
    index = {item.id: n for n, item in enumerate(pool.items)}
    texts = input_texts(prompt, pool)
    vectors = embeddings.embed_cached(texts, remote=prompt.settings.embedding_model)
    labels = refresh_strata(pool, subset, prompt.settings.selection, texts, vectors)
    gone: set[str] = set()
    problems = []
    for refinement in subset.history:
        taken = set(explained) | gone
        left = [n for n, item in enumerate(pool.items) if item.id not in taken]
        for swap in refinement.replaced:
            removed, added = swap.get("removed", ""), swap.get("added", "")
            expected = _successor(index.get(removed), left, labels, vectors) if removed in explained else None
            if expected is None or pool.items[expected].id != added:
                why = (
                    f"{removed} was not in the subset then"
                    if removed not in explained
                    else "its cluster had no unused item"
                    if expected is None
                    else f"stage 2 adds {pool.items[expected].id}, the unused item of its cluster least like it"
                )
                problems.append(f"history record {removed} -> {added} does not replay ({why})")
                continue
            explained[explained.index(removed)] = added
            left.remove(expected)
        gone |= {r.get("removed", "") for r in refinement.replaced}
    return problems


def _successor(removed: int | None, left: list[int], labels: np.ndarray, vectors: np.ndarray) -> int | None:
    """The pool row stage 2 puts in place of `removed` (selection/stage2.py, Refiner.refine)."""
    if removed is None:
        return None
    candidates = [n for n in left if labels[n] == labels[removed]]
    if not candidates:
        return None
    cosines = vectors[candidates] @ vectors[removed]
    return candidates[int(np.argmin(cosines))]


def _some(ids: list[str]) -> str:
    return ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
