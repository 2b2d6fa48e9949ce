"""Honest scores for a suggested prompt: which of its demonstrations are pool items, and its scores without them.

A demonstration that is a pool item shows the model that item's gold answer, so the item says nothing about
the prompt any more: it is flagged in the report and left out of every score of the suggestion (on the
subset it was tuned on, and on the held-out slice it never saw), for the input prompt as well, so that
both are compared on the same items.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ..files.evalresults import mean_score
from ..files.evalset import Pool
from ..files.records import PoolDemo, Where
from ..promptfile import PromptFile, substitute
from ..selection.subsets import item_text
from .units import layout

TEXT_LIMIT = 200  # characters of a flagged demonstration's input kept for the report


def _norm(text: str) -> str:
    """Text as a match compares it: words alone, separated by single spaces, case folded."""
    return " ".join(text.split()).casefold()


def pool_demos(
    prompt: PromptFile, pool: Pool, *, subset: Sequence[str] = (), holdout: Sequence[str] = ()
) -> list[PoolDemo]:
    """The pool items the prompt demonstrates: a demonstration that is the prompt's query rendered with the item
    and followed by an answer, or a user message of fixed text (a chat-style example) that is the item's input
    text, words compared."""
    lay = layout(prompt)
    demos = [_norm(u.body) for u in lay.units if u.kind == "demo"]
    fixed = {
        _norm(m.content)
        for m in prompt.spec.messages  # chat-style examples: a user turn of fixed text
        if m.role == "user" and "{{" not in m.content
    }
    if not (demos or fixed):
        return []
    subset_ids, holdout_ids = set(subset), set(holdout)
    found = []
    for item in pool.items:
        text = item_text(prompt, item)
        shown = _norm(text) in fixed
        if not shown and lay.query is not None and demos:
            rendered = _norm(substitute(lay.query, item.data))
            shown = any(d == rendered or d.startswith(rendered + " ") for d in demos)
        if shown:
            one_line = " ".join(text.split())
            where: Where = "subset" if item.id in subset_ids else "held-out" if item.id in holdout_ids else "training"
            found.append(
                PoolDemo(
                    item=item.id,
                    text=one_line if len(one_line) <= TEXT_LIMIT else one_line[: TEXT_LIMIT - 1] + "…",
                    where=where,
                )
            )
    return found


def score_without(
    results: Mapping[str, object], ids: Sequence[str], excluded: Collection[str]
) -> tuple[float | None, list[str]]:
    """The mean score over `ids` less the excluded items, and the ids it is over."""
    kept = [i for i in ids if i not in excluded]
    return mean_score(results, kept), kept
