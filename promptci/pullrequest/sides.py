"""Scoring a pull request's sides on items: one side's items as the runner scores them, and targeted repeats on
both sides where their first draws disagree (gate/repeats.py holds the policy; this module only makes the calls)."""

from __future__ import annotations

from collections.abc import Sequence

from .. import progress, promptfile
from ..files.evalresults import ItemResult
from ..files.evalset import Item, Pool
from ..files.prresults import PromptResults
from ..gate import repeats
from ..models.llm import ModelClient
from ..runner import Task, run_or_raise


async def score_into(
    prompt: promptfile.PromptFile,
    pool: Pool,
    items: list[Item],
    into: dict[str, ItemResult],
    client: ModelClient,
    which: str,
    model: str | None,
    draws_each: int | None = None,  # draws of a sampled item (None: promptci.repeats)
) -> None:
    """Score the items `into` does not hold yet with one side's prompt and model."""
    todo = [i for i in items if i.id not in into]
    if not todo:
        return
    progress.note(f"{prompt.path.name}: scoring {which} on {len(todo)} items")
    label = f"{prompt.path.name}: {which}"
    task = Task(prompt=prompt, pool=pool, items=todo, selection="pr", model=model, label=label, repeats=draws_each)
    scored = await run_or_raise(task, client)
    into.update({r.id: r for r in scored.items})


Side = tuple[promptfile.PromptFile, dict[str, ItemResult], str, str | None]


async def repeat(result: PromptResults, sides: Sequence[Side], pool: Pool, client: ModelClient, ids: list[str]) -> None:
    """Targeted repeats (gate/repeats.py): each side drawn `result.repeats` times on the items whose first draws
    disagree; the first draw comes from the cache (its sample index is 0), so each costs r − 1 calls a side."""
    todo = repeats.to_repeat(ids, result.base, result.head, result.repeats) if result.repeats else []
    if not todo:
        return
    progress.note(f"{result.path}: the first draws disagree on {len(todo)} items; drawing each {result.repeats} times")
    by_id = pool.by_id()
    for prompt, into, which, side_model in sides:
        for i in todo:
            del into[i]  # scored again with all its draws, the first one cached
        await score_into(prompt, pool, [by_id[i] for i in todo], into, client, which, side_model, result.repeats)
