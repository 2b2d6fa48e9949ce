"""One optimizer run over a prompt file, as `promptci optimize` and the pull-request flow need it:
the subset it is judged on, the split of the pool, the search, and the held-out check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InfraError
from ..files.evalresults import ItemResult
from ..files.evalset import Item, Pool
from ..files.settings import GateSettings, SelectionSettings
from ..gate import draws
from ..models.budget import Budget, holdout_size, judged_size
from ..models.llm import ModelClient
from ..promptfile import PromptFile, measured_by, parse
from ..runner import Task, model_to_call, models, run_or_raise
from ..selection import subsets
from .dualphase import DualPhase, Refresh, Score
from .framing import style_for
from .honest import PoolDemo, pool_demos, score_without
from .outcome import Attempt, Outcome
from .splits import Split, split as make_split
from .verdict import BATCH, Verdict, decide

FIRST_LOOKS = 2  # batches of held-out items whose calls the search leaves to the suggestion's verdict


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
    seed: int = 0
    verdict: Verdict | None = None  # the suggestion against head on held-out items, by the gate's test
    search_calls: int = 0  # what the search cost (cache hits counted when the budget counts them)
    search_s: float = 0.0
    verdict_calls: int = 0  # and what the verdict cost
    broken: list[str] = field(default_factory=list)  # subset items base got right and head wrong (aimed at)
    won_back: list[str] = field(default_factory=list)  # those the suggestion gets right


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
    broken: Sequence[str] = (),
    gate: GateSettings | None = None,
) -> Job:
    """Optimize from `prompt`; `broken`: items the change broke, put first among the failures the search aims at;
    `gate`: the test that judges the suggestion (default: the prompt's own gate settings)."""
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
        focus=broken,
    )
    calls0, started = budget.calls, time.monotonic()
    # the verdict's first looks come first: their calls are kept back; its further looks use what the search leaves
    with budget.keeping_back(2 * min(len(split.holdout), FIRST_LOOKS * BATCH)):
        outcome = await search.run()
    job = Job(
        outcome=outcome,
        split=split,
        subset_source=source,
        task_model=task_model,
        optimizer_model=optimizer_model,
        style=style,
        seed=seed,
        search_calls=budget.calls - calls0,
        search_s=time.monotonic() - started,
        broken=list(broken),
    )
    if not split.holdout:
        job.holdout_note = (
            "no held-out slice asked for (promptci.optimizer.holdout: 0)"
            if not wanted
            else "the call limit left too few calls to hold items out"
            if len(pool) - len(ids) >= 2
            else "the pool has no items to spare outside the subset"
        )
    calls0 = budget.calls
    await judge_suggestion(job, prompt, pool, client, budget, holdout_always=holdout_always, gate=gate)
    job.verdict_calls = budget.calls - calls0
    best = job.outcome.best_results if job.outcome.improved else job.outcome.initial_results
    job.won_back = [i for i in job.broken if i in best and draws.passes(best[i].score)]
    return job


async def judge_suggestion(
    job: Job,
    prompt: PromptFile,
    pool: Pool,
    client: ModelClient,
    budget: Budget,
    *,
    holdout_always: bool = True,
    gate: GateSettings | None = None,
) -> None:
    """The suggestion's honest scores: its demonstrations that are pool items flagged and left out, then the input
    and the suggestion on the subset (from the search's results) and on the held-out slice (scored here, within
    the budget): the suggestion against the input by the gate's sequential test (`verdict`), a batch at a time until
    it decides. `holdout_always`: score the input on the held-out slice even when nothing was suggested."""
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
    elif not budget.allows(len(kept) if not outcome.improved else 2 * min(len(kept), BATCH)):
        job.holdout_note = f"the budget is spent ({budget.describe()})"
    else:
        try:
            if outcome.improved:
                await _verdict(job, prompt, best, pool, client, budget, kept, gate or prompt.settings.gate)
            else:
                by_id = pool.by_id()
                job.holdout_initial = job.holdout_best = await _mean(
                    prompt, pool, [by_id[i] for i in kept], client, job.task_model
                )
                job.holdout_items = kept
        except InfraError as exc:
            outcome.fault = InfraError(f"model unreachable while scoring the held-out slice: {exc}")


async def _verdict(
    job: Job,
    prompt: PromptFile,
    best: PromptFile,
    pool: Pool,
    client: ModelClient,
    budget: Budget,
    kept: list[str],
    gate: GateSettings,
) -> None:
    """The suggestion against the input on the held-out items, by the gate's test, within the budget."""
    by_id = pool.by_id()
    scored: list[str] = []

    async def both(ids: Sequence[str]) -> tuple[Sequence[ItemResult], Sequence[ItemResult]]:
        items = [by_id[i] for i in ids]
        scored.extend(ids)
        before = await _results(prompt, pool, items, client, job.task_model)
        return before, await _results(best, pool, items, client, job.task_model)

    job.verdict = await decide(kept, both, gate, job.seed, budget.left, budget.allows)
    job.holdout_initial, job.holdout_best, job.holdout_items = job.verdict.head, job.verdict.best, scored


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
    scores = [r.score for r in await _results(prompt, pool, items, client, model) if r.score is not None]
    return sum(scores) / len(scores) if scores else math.nan


async def _results(prompt: PromptFile, pool: Pool, items: list, client: ModelClient, model: str) -> list[ItemResult]:
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
    return result.items
