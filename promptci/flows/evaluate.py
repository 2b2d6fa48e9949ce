"""`promptci eval`: score prompts on their pool, or on their committed subset, and ask the gate's minimum score."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .. import effective, progress, promptfile
from ..errors import EXIT_GATE_FAILED, EXIT_INFRA, EXIT_OK, InfraError
from ..files import evalresults
from ..files.evalresults import Run
from ..files.evalset import NoItems, load_pool
from ..gate import decision as gate, draws
from ..models.llm import ModelClient
from ..pullrequest.forecast import rough, seconds_per_call
from ..runner import Task, model_to_call, run


@dataclass(frozen=True)
class EvalRequest:
    prompts: Sequence[Path]
    selection: Literal["full", "subset"] = "full"
    limit: int | None = None  # only the first N items
    model: str | None = None  # instead of each prompt's own
    json_out: Path | None = None
    use_cache: bool = True
    concurrency: int | None = None  # default: the largest promptci.concurrency of the prompts
    repeats: int | None = None  # draws per item where a score is a sample (default: each prompt's promptci.repeats)


@dataclass(frozen=True)
class BelowMinimum:
    """A prompt whose mean score the gate's minimum refuses."""

    name: str
    mean: float | None
    minimum: float


@dataclass
class EvalPlan:
    """What will be scored, and the prompts that have nothing to score (not gated)."""

    tasks: list[Task]
    skipped: list[NoItems] = field(default_factory=list)
    concurrency: int = 1  # the largest of the prompts' effective concurrency


@dataclass
class EvalOutcome:
    runs: list[Run]
    below: list[BelowMinimum]
    fault: InfraError | None = None  # some items could not be scored: the model stayed unreachable

    @property
    def exit_code(self) -> int:
        return EXIT_INFRA if self.fault else EXIT_GATE_FAILED if self.below else EXIT_OK


def prepare(request: EvalRequest) -> EvalPlan:
    """Every prompt loaded and its items chosen before any model call (bad input fails here)."""
    prompts = [promptfile.load(p) for p in request.prompts]
    plan = EvalPlan(tasks=[])
    overrides = effective.Overrides(model=request.model, optimize=False)
    for prompt in prompts:
        eff = effective.of_prompt(prompt, overrides)
        plan.concurrency = max(plan.concurrency, eff.concurrency)
        try:
            pool = load_pool(prompt)
        except NoItems as exc:
            plan.skipped.append(exc)
            continue
        if request.selection == "subset":
            # lazy: the subset module brings scikit-learn (1.5 s), which a cached `eval --full` must not pay
            from ..selection import subsets

            items = subsets.load(prompt, pool)[1]
        else:
            items = list(pool.items)
        items = items[: request.limit] if request.limit else items
        selection = f"{request.selection}-first-{len(items)}" if request.limit else request.selection
        plan.tasks.append(
            Task(
                prompt=prompt,
                pool=pool,
                items=items,
                selection=selection,
                model=eff.model,
                label=f"{prompt.name} ({eff.model})",
                repeats=request.repeats,
            )
        )
    return plan


def run_plan(request: EvalRequest, plan: EvalPlan) -> EvalOutcome:
    """Score every task, write the results file when asked, and judge each mean by the gate's minimum."""
    tasks = plan.tasks
    concurrency = request.concurrency or plan.concurrency
    client = ModelClient(concurrency=concurrency, use_cache=request.use_cache)

    async def run_all() -> list[Run]:
        runs = []
        for task in tasks:
            calls = len(task.items) * draws.per_item(task.prompt, task.repeats)
            seconds = calls * seconds_per_call(model_to_call(task.prompt, task.model), concurrency)
            progress.note(
                f"{task.label}: scoring {len(task.items)} items of {task.pool.source}, "
                f"{rough(seconds)} (answers already in the cache are free)"
            )
            runs.append(await run(task, client))
        return runs

    try:
        runs = asyncio.run(run_all())
    finally:
        client.close()
    if request.json_out:
        evalresults.write(request.json_out, runs)
    if any(r.fault for r in runs):
        return EvalOutcome(
            runs,
            [],
            InfraError(
                "some items could not be scored because the model was unreachable (they are marked in the results)"
            ),
        )
    below = []
    for t, r in zip(tasks, runs):
        minimum = t.prompt.settings.gate.min_score  # below_minimum is False without one
        if minimum is not None and gate.below_minimum(
            [i.score for i in r.items if i.score is not None], t.prompt.settings.gate
        ):
            below.append(BelowMinimum(r.prompt["name"], r.summary.mean, minimum))
    return EvalOutcome(runs, below)
