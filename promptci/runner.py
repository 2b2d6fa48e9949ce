"""Score one prompt on a set of items: render, ask the model, evaluate, collect per-item results.

A fault of the model on one item (still failing after the client's retries) is recorded on that
item and the run goes on; after `BREAKER` such faults in a row with no success between them the
model is taken to be down and the remaining items are marked as not attempted, so a dead server
costs seconds, not one retry cycle per item. A bad request (unknown model, missing key) stops the
run at once: every item would fail the same way.

An item whose score is a sample (gate/draws.py) is scored `repeats` times, each draw under its own sample index, and
scored by their mean; a few answers are graded twice by each LLM judge to measure its self-agreement.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from . import __version__, progress
from .errors import InfraError, InputError
from .files.evalresults import Draw, Evaluation, ItemResult, Run, summarise
from .files.evalset import Item, Pool, check_answers_hidden, item_labels
from .gate import draws
from .models import labelprobs
from .models.llm import LabelScores, ModelClient, Params, Usage
from .promptfile import PromptFile
from .scoring import Check, build_checks, evaluate, fingerprints

BREAKER = 3


@dataclass(frozen=True)
class Task:
    """What to run: a prompt, the items, the model (None: the prompt's own)."""

    prompt: PromptFile
    pool: Pool
    items: Sequence[Item]
    selection: str = "full"
    model: str | None = None
    label: str = ""  # what progress lines call this task (default: the prompt file's name)
    repeats: int | None = None  # draws of an item whose score is a sample (default: promptci.repeats)

    def __post_init__(self) -> None:
        check_answers_hidden(self.prompt, self.items)  # a task is made before any of its model calls


def request_params(prompt: PromptFile) -> Params:
    """The prompt's model parameters; temperature 0 unless the file sets one, so runs repeat."""
    mp = prompt.spec.modelParameters
    response_format = None
    if prompt.spec.responseFormat == "json_object":
        response_format = {"type": "json_object"}
    elif prompt.spec.responseFormat == "json_schema" and prompt.spec.jsonSchema:
        response_format = {"type": "json_schema", "json_schema": json.loads(prompt.spec.jsonSchema)}
    return Params(
        temperature=mp.temperature if mp.temperature is not None else 0.0,
        max_tokens=mp.max_tokens_sent,
        top_p=mp.top_p_sent,
        response_format=response_format,
        api_base=prompt.settings.api_base,
    )


def models(prompt: PromptFile, task_model: str | None, optimizer_model: str | None) -> tuple[str, str]:
    """The task model and the optimizer's, each rule written here only: the command line's (or the workflow's
    input), else the prompt's; the optimizer's defaults to the task's ("" when none is named)."""
    task = task_model or prompt.model or ""
    return task, optimizer_model or prompt.settings.optimizer.model or task


def model_to_call(prompt: PromptFile, asked: str | None = None) -> str:
    """The model a prompt's items are scored on (`models`); none is bad input."""
    model = models(prompt, asked, None)[0]
    if not model:
        raise InputError(
            "no model to call",
            path=prompt.path,
            field="model",
            fix="add model: (a GitHub Models id such as openai/gpt-4o), set promptci.model or pass --model",
        )
    return model


async def run(task: Task, client: ModelClient, *, on_item: Callable[[ItemResult], None] | None = None) -> Run:
    """Score every item of the task; results come back in the items' order."""
    prompt = task.prompt
    model = model_to_call(prompt, task.model)
    params = request_params(prompt)
    checks = build_checks(prompt, client)
    plan = _Draws(draws.per_item(prompt, task.repeats), draws.sampled(prompt))
    before = replace(client.counters)
    started = time.perf_counter()
    breaker = _Breaker()
    slots = asyncio.Semaphore(client.concurrency)  # items start only as fast as the client can serve them

    async def one(item: Item) -> ItemResult:
        async with slots:
            result = await _score_item(prompt, item, model, params, checks, client, breaker, plan)
        counter.advance()
        if on_item is not None:
            on_item(result)
        return result

    try:
        with progress.count(task.label or f"scoring {prompt.path.name}", len(task.items)) as counter:
            items = list(await asyncio.gather(*(one(item) for item in task.items)))
        await _regrade(prompt, task.items, items, checks)
    except InputError as exc:
        raise InputError(
            exc.problem, path=exc.path or prompt.path, line=exc.line, field=exc.field, fix=exc.fix
        ) from None
    used = client.counters - before
    summary = summarise(items, wall_s=time.perf_counter() - started, **used.as_dict())
    stable = draws.stability(items)
    summary.draws, summary.pass_all, summary.flaky = plan.per_item, stable.pass_all, stable.flaky
    summary.judge_agreement = draws.agreement(items)
    return Run(
        prompt={"path": str(prompt.path), "name": prompt.name, "sha256": prompt.sha256},
        model=model,
        parameters=params.litellm_kwargs(),
        pool={"source": task.pool.source, "sha256": task.pool.sha256, "size": len(task.pool)},
        selection=task.selection,
        items=items,
        summary=summary,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        promptci_version=__version__,
        evaluators=fingerprints(prompt),
    )


async def run_or_raise(task: Task, client: ModelClient) -> Run:
    """run(), for callers that need every item scored: a model still unreachable after retries is an InfraError."""
    result = await run(task, client)
    if result.fault:
        raise InfraError(result.fault)
    return result


class _Breaker:
    """Counts model faults in a row; open once BREAKER of them came with no success between."""

    def __init__(self) -> None:
        self.faults_in_a_row = 0

    @property
    def open(self) -> bool:
        return self.faults_in_a_row >= BREAKER


@dataclass(frozen=True)
class _Draws:
    per_item: int  # draws of each item
    sampled: bool  # whether the answers are samples (else only the grades are)


@dataclass(frozen=True)
class _Taken:
    """One draw of an item."""

    output: str
    evaluations: list[Evaluation]
    usage: Usage
    scored: LabelScores | None


async def _score_item(
    prompt: PromptFile,
    item: Item,
    model: str,
    params: Params,
    checks: list[Check],
    client: ModelClient,
    breaker: _Breaker,
    plan: _Draws,
) -> ItemResult:
    result = ItemResult(id=item.id, expected=item.expected)
    if breaker.open:
        result.error, result.error_kind = "not attempted: the model was unreachable for earlier items", "infra"
        return result
    try:
        taken: list[_Taken] = []
        for d in range(plan.per_item):
            sample = replace(params, sample=d if plan.sampled else 0)
            taken.append(
                await _draw(prompt, item, model, sample, checks, client, d, taken[0].scored if taken else None)
            )
    except InfraError as exc:
        breaker.faults_in_a_row += 1
        result.error, result.error_kind = str(exc), "infra"
        return result
    breaker.faults_in_a_row = 0
    scores = [sum(e.score for e in t.evaluations) / len(t.evaluations) for t in taken]
    first = taken[0]
    result.output, result.evaluations = first.output, first.evaluations
    if first.scored is not None:
        result.label_probs, result.label_method = first.scored.probs, first.scored.method
    result.score = sum(scores) / len(scores)
    if len(taken) > 1:
        result.draws = [Draw(t.output, s) for t, s in zip(taken, scores)]
    costs = [t.usage.cost_usd for t in taken]
    result.prompt_tokens = sum(t.usage.prompt_tokens for t in taken)
    result.completion_tokens = sum(t.usage.completion_tokens for t in taken)
    result.cost_usd = None if None in costs else sum(c or 0.0 for c in costs)
    result.latency_s = sum(t.usage.latency_s for t in taken)
    result.cached = all(t.usage.cached for t in taken)
    return result


async def _draw(
    prompt: PromptFile,
    item: Item,
    model: str,
    params: Params,
    checks: list[Check],
    client: ModelClient,
    grade: int,
    labelled: LabelScores | None = None,
) -> _Taken:
    """One answer (sample `params.sample`) and its grades (sample `grade`). With labels the item's probabilities are
    asked once (`labelled`: the first draw's, reused) and, where the prompt samples, each draw draws its label from
    them (labelprobs.sample) with one uniform number per item and sample index, the same for base and head."""
    messages = prompt.render(item.data)
    labels = item_labels(prompt.settings.labels, item)
    scored = labelled
    if labels:
        if scored is None:
            scored = await client.score_labels(model, messages, labels, replace(params, sample=0))
            usage = scored.usage
        else:
            usage = Usage(cached=True)  # no call: the first draw's probabilities, its tokens counted once
        output = scored.output
        if draws.sampled(prompt):
            u = random.Random(f"{item.id}\0{params.sample}").random()
            output = labelprobs.sample(scored.probs, params.temperature, params.top_p, u) or output
    else:
        completion = await client.complete(model, messages, params)
        output, usage = completion.text, completion.usage
    return _Taken(output, await evaluate(checks, output, item, grade), usage, scored)


async def _regrade(prompt: PromptFile, items: Sequence[Item], results: list[ItemResult], checks: list[Check]) -> None:
    """The LLM judges grade the first `promptci.judge_regrades` scored answers again (a sample no draw uses), kept
    on the item (`regrades`) for their self-agreement (draws.agreement)."""
    judges = {name for name, f in fingerprints(prompt).items() if f.llm}
    pairs = [(i, r) for i, r in zip(items, results) if r.score is not None and r.output is not None]
    if not judges:
        return
    try:
        for item, result in pairs[: prompt.settings.judge_regrades]:
            again = await evaluate(checks, result.output or "", item, draws.REGRADE_SAMPLE)
            result.regrades = [e for e in again if e.name in judges]
    except InfraError:
        return  # the judge went away: the scores stand, its agreement is measured on fewer answers
