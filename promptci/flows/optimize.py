"""`promptci optimize`: the dual-phase search on one prompt, its trajectory file, the prompt rewritten on request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import effective, promptfile
from ..errors import EXIT_INFRA, EXIT_OK
from ..files.evalset import Pool, load_pool
from ..files.fileio import atomic_write_text
from ..models.budget import Budget
from ..models.llm import ModelClient
from ..optimize.job import Job, optimize
from ..optimize.outcome import Attempt
from ..promptfile import PromptFile

FORMAT = "promptci.optimize/1"


@dataclass(frozen=True)
class OptimizeRequest:
    prompt: Path
    steps: int | None = None
    optimizer_model: str | None = None
    model: str | None = None  # the task model, instead of the prompt's own
    budget_calls: int | None = None
    budget_usd: float | None = None
    holdout: int | None = None
    seed: int | None = None
    write: bool = False  # rewrite the prompt file with the best prompt found
    json_out: Path | None = None  # the trajectory file


@dataclass(frozen=True)
class Loaded:
    prompt: PromptFile
    pool: Pool


@dataclass(frozen=True)
class OptimizeOutcome:
    job: Job
    budget: str  # what was spent, within which limits
    written: bool  # the prompt file was rewritten

    @property
    def exit_code(self) -> int:
        return EXIT_INFRA if self.job.outcome.fault else EXIT_OK


def load(request: OptimizeRequest) -> Loaded:
    prompt = promptfile.load(request.prompt)
    return Loaded(prompt, load_pool(prompt))


def run(request: OptimizeRequest, loaded: Loaded, on_attempt: Callable[[Attempt], None]) -> OptimizeOutcome:
    prompt, pool = loaded.prompt, loaded.pool
    eff = effective.of_prompt(prompt, effective.Overrides(model=request.model, optimizer_model=request.optimizer_model))
    limits = prompt.settings.budget
    dollars = [("--budget-usd", request.budget_usd), ("promptci.budget.max_usd", limits.max_usd)]
    effective.refuse_unpriced(prompt.path, dollars, [eff.model, eff.optimizer_model, *eff.models])
    client = ModelClient(concurrency=eff.concurrency)
    budget = Budget(
        client, max_calls=request.budget_calls or limits.max_calls, max_usd=request.budget_usd or limits.max_usd
    )
    try:  # each step's best score is a progress line on stderr
        job = asyncio.run(
            optimize(
                prompt,
                pool,
                client,
                budget,
                steps=request.steps,
                optimizer_model=eff.optimizer_model,
                task_model=eff.model,
                holdout=request.holdout,
                seed=request.seed,
                on_attempt=on_attempt,
            )
        )
    finally:
        client.close()
    if request.json_out:
        atomic_write_text(request.json_out, json.dumps(record(prompt, job, client), indent=2) + "\n")
    written = request.write and job.outcome.improved and job.outcome.fault is None
    if written:
        atomic_write_text(request.prompt, job.outcome.best_text)
    return OptimizeOutcome(job, budget.describe(), written)


def record(prompt: PromptFile, job: Job, client: ModelClient) -> dict:
    """The trajectory file (format promptci.optimize/1)."""
    o = job.outcome
    return {
        "format": FORMAT,
        "prompt": {"path": str(prompt.path), "sha256": prompt.sha256},
        "task_model": job.task_model,
        "optimizer_model": job.optimizer_model,
        "style": job.style,
        "subset_source": job.subset_source,
        "split": {
            "subset": len(job.split.subset),
            "training": len(job.split.training),
            "judged": len(job.split.judged),
            "holdout": len(job.split.holdout),
        },
        "subset_score": {"input_first_subset": o.initial_score, "input": o.initial_on_final, "best": o.best_score},
        "holdout_score": {"input": job.holdout_initial, "best": job.holdout_best},
        "holdout_items": job.holdout_items,
        "verdict": asdict(job.verdict) if job.verdict else None,  # the gate's test on the held-out items
        "pool_demos": [asdict(d) for d in job.pool_demos],
        "improved": o.improved,
        "why_unchanged": o.why_unchanged(),
        "demonstrations": o.demonstrations,
        "steps_done": o.steps_done,
        "stopped": o.stopped,
        "fault": str(o.fault) if o.fault else None,
        "attempts": [asdict(a) for a in o.attempts],
        "subset_replacements": o.replacements,
        "final_subset": o.subset_ids,
        "best_text": o.best_text,
        "best_after_step": o.best_after_step,
        "usage": client.counters.as_dict(),
    }
