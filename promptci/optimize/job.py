"""One optimizer run over a prompt file, as `promptci optimize` and the pull-request flow need it:
the subset it is judged on, the split of the pool, the search, and the held-out check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import subsets
from ..budget import Budget, holdout_size, judged_size
from ..errors import InfraError
from ..evalset import Item, Pool
from ..llm import ModelClient
from ..promptfile import PromptFile, measured_by, parse
from ..results import ItemResult
from ..runner import Task, model_to_call, models, run_or_raise
from ..settings import SelectionSettings
from .dualphase import DualPhase, Refresh, Score
from .framing import style_for
from .honest import PoolDemo, pool_demos, score_without
from .outcome import Attempt, Outcome
from .splits import Split, split as make_split


@dataclass
class Job:
    """What was optimized, how, and how the result did on items the optimizer never saw."""

    outcome: Outcome
    split: Split
    subset_source: str  # the committed subset file, or "stage 1 in memory" when there is none
    task_model: str
    optimizer_model: str
    style: str
    holdout_initial: float | None = None
    holdout_best: float | None = None
    holdout_items: list[str] = field(default_factory=list)  # the held-out items scored (pool demonstrations out)
    holdout_note: str = ""  # why there is no held-out score, when there is none
    pool_demos: list[PoolDemo] = field(default_factory=list)  # the suggestion's demonstrations that are pool items
    subset_initial: float | None = None  # the input and the suggestion on the final subset, pool demonstrations out
    subset_best: float | None = None
    subset_items: list[str] = field(default_factory=list)


async def optimize(
    prompt: PromptFile,
    pool: Pool,
    client: ModelClient,
    budget: Budget,
    *,
    steps: int | None = None,
    optimizer_model: str | None = None,
    task_model: str | None = None,
    holdout: int | None = None,
    seed: int | None = None,
    refresh: bool = True,
    subset: Sequence[str] | None = None,
    holdout_always: bool = True,
    on_attempt: Callable[[Attempt], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> Job:
    settings = prompt.settings
    task_model, optimizer_model = models(prompt, model_to_call(prompt, task_model), optimizer_model)
    seed = settings.selection.seed if seed is None else seed
    ids, source = (list(subset), "given") if subset is not None else subsets.for_optimizer(prompt, pool)
    wanted = settings.optimizer.holdout if holdout is None else holdout
    split = make_split(
        pool,
        ids,
        holdout=holdout_size(wanted, budget.left),
        seed=seed,
        judged=judged_size(settings.optimizer.filter_items, budget.left),
    )
    style = style_for(optimizer_model, settings.optimizer.style)
    embeddings = subsets.pool_embeddings(prompt, pool)
    search = DualPhase(
        prompt,
        pool,
        split,
        embeddings,
        score=scorer(prompt, pool, client, task_model),
        refresh=refresher(pool, embeddings, settings.selection) if refresh else None,
        client=client,
        budget=budget,
        settings=settings.optimizer,
        optimizer_model=optimizer_model,
        style=style,
        seed=seed,
        steps=steps,
        on_attempt=on_attempt,
        on_step=on_step,
    )
    with budget.keeping_back(2 * len(split.holdout)):  # the held-out check comes first: its calls are kept back
        outcome = await search.run()
    job = Job(
        outcome=outcome,
        split=split,
        subset_source=source,
        task_model=task_model,
        optimizer_model=optimizer_model,
        style=style,
    )
    if not split.holdout:
        job.holdout_note = (
            "no held-out slice asked for (promptci.optimizer.holdout: 0)"
            if not wanted
            else "the call limit left too few calls to hold items out"
            if len(pool) - len(ids) >= 2
            else "the pool has no items to spare outside the subset"
        )
    await judge_suggestion(job, prompt, pool, client, budget, holdout_always=holdout_always)
    return job


async def judge_suggestion(
    job: Job, prompt: PromptFile, pool: Pool, client: ModelClient, budget: Budget, *, holdout_always: bool = True
) -> None:
    """The suggestion's honest scores: its demonstrations that are pool items flagged and left out, then the input
    and the suggestion on the subset (from the search's results) and on the held-out slice (scored here, within
    the budget). `holdout_always`: score the input on the held-out slice even when nothing was suggested."""
    outcome, split = job.outcome, job.split
    best = measured_by(parse(outcome.best_text, prompt.path), prompt) if outcome.improved else prompt
    holdout_ids = [pool.items[i].id for i in split.holdout]
    if outcome.improved:
        job.pool_demos = pool_demos(best, pool, subset=outcome.subset_ids, holdout=holdout_ids)
    excluded = {d.item for d in job.pool_demos}
    if outcome.best_results:
        job.subset_initial, job.subset_items = score_without(outcome.initial_results, outcome.subset_ids, excluded)
        job.subset_best, _ = score_without(outcome.best_results, outcome.subset_ids, excluded)
    kept = [i for i in holdout_ids if i not in excluded]
    if not kept:
        job.holdout_note = job.holdout_note or "every held-out item is a demonstration of the suggestion"
    elif not (outcome.improved or holdout_always):
        job.holdout_note = "no suggestion to check"
    elif outcome.fault is not None:
        job.holdout_note = "the model stayed unreachable"
    elif not budget.allows(len(kept) * (2 if outcome.improved else 1)):
        job.holdout_note = f"the budget is spent ({budget.describe()})"
    else:
        by_id = pool.by_id()
        items = [by_id[i] for i in kept]
        try:
            job.holdout_initial = await _mean(prompt, pool, items, client, job.task_model)
            job.holdout_best = (
                job.holdout_initial if not outcome.improved else await _mean(best, pool, items, client, job.task_model)
            )
            job.holdout_items = kept
        except InfraError as exc:
            outcome.fault = InfraError(f"model unreachable while scoring the held-out slice: {exc}")


def scorer(prompt: PromptFile, pool: Pool, client: ModelClient, task_model: str) -> Score:
    """The optimizer's scoring: the runner on the task model, every item or an InfraError."""

    async def score(candidate: PromptFile, items: Sequence[Item]) -> list[ItemResult]:
        which = "the input prompt" if candidate is prompt else "a candidate prompt"
        task = Task(
            prompt=candidate,
            pool=pool,
            items=items,
            selection="optimizer",
            model=task_model,
            label=f"optimizer: scoring {which}",
        )
        return (await run_or_raise(task, client)).items

    return score


def refresher(pool: Pool, embeddings: np.ndarray, settings: SelectionSettings) -> Refresh:
    """The optimizer's subset refresh between its steps: IPOMP stage 2 (`subsets.stage2_in_loop`)."""

    def refresh(
        ids: Sequence[str], runs: Sequence[Mapping[str, ItemResult]], available: Sequence[int], seed: int
    ) -> subsets.Stage2:
        return subsets.stage2_in_loop(pool, embeddings, ids, runs, available, settings, seed)

    return refresh


async def _mean(prompt: PromptFile, pool: Pool, items: list, client: ModelClient, model: str) -> float:
    result = await run_or_raise(
        Task(
            prompt=prompt,
            pool=pool,
            items=items,
            selection="holdout",
            model=model,
            label="optimizer: scoring the held-out slice",
        ),
        client,
    )
    return result.summary.mean if result.summary.mean is not None else math.nan
