"""Scoring a pull request's sides on items: one side's items as the runner scores them, targeted repeats on both
sides where their first draws disagree (gate/repeats.py holds the policy; this module only makes the calls), and
`promptci.protected` items, drawn on both sides in full."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .. import progress, promptfile
from ..files.evalresults import Draw, ItemResult
from ..files.evalset import Item, Pool
from ..files.prresults import PromptResults
from ..gate import decision as gate, draws, repeats
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
    disagree."""
    todo = repeats.to_repeat(ids, result.base, result.head, result.repeats) if result.repeats else []
    if todo:
        progress.note(
            f"{result.path}: the first draws disagree on {len(todo)} items; drawing each {result.repeats} times"
        )
        await redraw(sides, pool, client, todo, result.repeats or 1)


async def redraw(sides: Sequence[Side], pool: Pool, client: ModelClient, ids: Sequence[str], k: int) -> None:
    """Each side's items drawn up to `k` times, the draw already made kept as draw 0: it decided that these items
    are drawn again, so it must be the one counted (the cache normally returns it, but may have lost it). Costs
    k − 1 calls an item a side."""
    by_id = pool.by_id()
    for prompt, into, which, side_model in sides:
        kept = {i: into.pop(i) for i in ids if i in into and len(into[i].draws) < k}
        await score_into(prompt, pool, [by_id[i] for i in kept], into, client, which, side_model, k)
        for i, old in kept.items():
            new = into.get(i)
            if old.score is None or new is None or new.score is None or len(new.draws) < k:
                into[i] = old if new is None else new  # an item that fails is reported as failing
                continue
            first = old.draws[0] if old.draws else Draw(old.output, old.score)
            drawn = [first, *new.draws[1:]]
            scores = [d.score for d in drawn if d.score is not None]
            into[i] = replace(new, draws=drawn, output=first.output, score=sum(scores) / len(scores))


async def protect(
    result: PromptResults,
    head: promptfile.PromptFile,
    base: promptfile.PromptFile,
    pool: Pool,
    client: ModelClient,
    head_model: str | None,
    base_model: str | None,
) -> None:
    """`promptci.protected` (the base's): those items are scored on both sides whatever the gate sampled, and one
    that base passes in every draw and head fails in any draw fails the prompt, whatever the mean says."""
    by_id = pool.by_id()
    items = [by_id[i] for i in head.settings.protected if i in by_id]
    if unknown := [i for i in head.settings.protected if i not in by_id]:
        result.subset_note += f"; promptci.protected names {len(unknown)} items the pool does not have: {unknown[0]}"
    sides = [(head, result.head, "head", head_model), (base, result.base, "base", base_model)]
    k = max(head.settings.repeats, result.repeats) if result.repeats else None  # every draw, whatever the first
    for prompt, into, which, side_model in sides:  # draws say: one failing draw of head is what this rule looks for
        await score_into(prompt, pool, items, into, client, which, side_model, 1 if k else None)
    if k:
        await redraw(sides, pool, client, [i.id for i in items], k)
    if broken := draws.broken([i.id for i in items], result.base, result.head):
        said = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        before = f" ({result.verdict.reason})" if result.verdict else ""
        result.verdict = gate.Verdict(
            gate.FAIL, f"protected items that base passes failed on head: {said} (promptci.protected){before}"
        )
