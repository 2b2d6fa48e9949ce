"""One optimizer run over a prompt file, as `promptci optimize` and the pull-request flow need it:
the subset it is judged on, the split of the pool, the search, and the held-out check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from .. import subsets
from ..budget import Budget
from ..errors import InfraError
from ..evalset import Item, Pool
from ..llm import ModelClient
from ..promptfile import PromptFile, judged_by, parse
from ..results import ItemResult
from ..runner import Task, run_or_raise
from ..settings import SelectionSettings
from .dualphase import Attempt, DualPhase, Outcome, Refresh, Score
from .framing import style_for
from .splits import Split
from .splits import split as make_split


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


async def optimize(prompt: PromptFile, pool: Pool, client: ModelClient, budget: Budget, *,
                   steps: int | None = None, optimizer_model: str | None = None, task_model: str | None = None,
                   holdout: int | None = None, seed: int | None = None, refresh: bool = True,
                   subset: Sequence[str] | None = None,
                   on_attempt: Callable[[Attempt], None] | None = None,
                   on_step: Callable[[int, float], None] | None = None) -> Job:
    settings = prompt.settings
    task_model = task_model or prompt.model
    optimizer_model = optimizer_model or settings.optimizer.model or task_model
    seed = settings.selection.seed if seed is None else seed
    ids, source = (list(subset), "given") if subset is not None else subsets.for_optimizer(prompt, pool)
    split = make_split(pool, ids, holdout=settings.optimizer.holdout if holdout is None else holdout, seed=seed)
    style = style_for(optimizer_model, settings.optimizer.style)
    embeddings = subsets.pool_embeddings(prompt, pool)
    search = DualPhase(prompt, pool, split, embeddings, score=scorer(prompt, pool, client, task_model),
                       refresh=refresher(pool, embeddings, settings.selection) if refresh else None,
                       client=client, budget=budget, settings=settings.optimizer, optimizer_model=optimizer_model,
                       style=style, seed=seed, steps=steps, on_attempt=on_attempt, on_step=on_step)
    outcome = await search.run()
    job = Job(outcome=outcome, split=split, subset_source=source, task_model=task_model,
              optimizer_model=optimizer_model, style=style)
    if split.holdout and outcome.fault is None:
        items = [pool.items[i] for i in split.holdout]
        try:
            job.holdout_initial = await _mean(prompt, pool, items, client, task_model)
            job.holdout_best = job.holdout_initial if not outcome.improved else \
                await _mean(judged_by(parse(outcome.best_text, prompt.path), prompt), pool, items, client,
                            task_model)
        except InfraError as exc:
            outcome.fault = InfraError(f"model unreachable while scoring the held-out slice: {exc}")
    return job


def scorer(prompt: PromptFile, pool: Pool, client: ModelClient, task_model: str) -> Score:
    """The optimizer's scoring: the runner on the task model, every item or an InfraError."""
    async def score(candidate: PromptFile, items: Sequence[Item]) -> list[ItemResult]:
        which = "the input prompt" if candidate is prompt else "a candidate prompt"
        task = Task(prompt=candidate, pool=pool, items=items, selection="optimizer", model=task_model,
                    label=f"optimizer: scoring {which}")
        return (await run_or_raise(task, client)).items
    return score


def refresher(pool: Pool, embeddings: np.ndarray, settings: SelectionSettings) -> Refresh:
    """The optimizer's subset refresh between steps: IPOMP stage 2 (`subsets.stage2`), as everywhere."""
    def refresh(ids: Sequence[str], runs: Sequence[Mapping[str, ItemResult]], available: Sequence[int],
                seed: int) -> subsets.Stage2:
        return subsets.stage2(pool, embeddings, ids, runs, available, settings, seed)
    return refresh


async def _mean(prompt: PromptFile, pool: Pool, items: list, client: ModelClient, model: str) -> float:
    result = await run_or_raise(Task(prompt=prompt, pool=pool, items=items, selection="holdout", model=model,
                                     label="optimizer: scoring the held-out slice"), client)
    return result.summary.mean if result.summary.mean is not None else math.nan
