"""Score one prompt on a set of items: render, ask the model, evaluate, collect per-item results.

A fault of the model on one item (still failing after the client's retries) is recorded on that
item and the run goes on; after `BREAKER` such faults in a row with no success between them the
model is taken to be down and the remaining items are marked as not attempted, so a dead server
costs seconds, not one retry cycle per item. A bad request (unknown model, missing key) stops the
run at once: every item would fail the same way.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from . import __version__, progress
from .errors import InfraError, InputError
from .evalset import Item, Pool, check_answers_hidden, item_labels
from .llm import ModelClient, Params
from .promptfile import PromptFile
from .results import ItemResult, Run, summarise
from .scoring import Check, build_checks, evaluate

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
    before = replace(client.counters)
    started = time.perf_counter()
    breaker = _Breaker()
    slots = asyncio.Semaphore(client.concurrency)  # items start only as fast as the client can serve them

    async def one(item: Item) -> ItemResult:
        async with slots:
            result = await _score_item(prompt, item, model, params, checks, client, breaker)
        counter.advance()
        if on_item is not None:
            on_item(result)
        return result

    try:
        with progress.count(task.label or f"scoring {prompt.path.name}", len(task.items)) as counter:
            items = list(await asyncio.gather(*(one(item) for item in task.items)))
    except InputError as exc:
        raise InputError(
            exc.problem, path=exc.path or prompt.path, line=exc.line, field=exc.field, fix=exc.fix
        ) from None
    used = client.counters - before
    return Run(
        prompt={"path": str(prompt.path), "name": prompt.name, "sha256": prompt.sha256},
        model=model,
        parameters=params.litellm_kwargs(),
        pool={"source": task.pool.source, "sha256": task.pool.sha256, "size": len(task.pool)},
        selection=task.selection,
        items=items,
        summary=summarise(items, wall_s=time.perf_counter() - started, **used.as_dict()),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        promptci_version=__version__,
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


async def _score_item(
    prompt: PromptFile,
    item: Item,
    model: str,
    params: Params,
    checks: list[Check],
    client: ModelClient,
    breaker: _Breaker,
) -> ItemResult:
    result = ItemResult(id=item.id, expected=item.expected)
    if breaker.open:
        result.error, result.error_kind = "not attempted: the model was unreachable for earlier items", "infra"
        return result
    messages = prompt.render(item.data)
    labels = item_labels(prompt.settings.labels, item)
    try:
        if labels:
            scored = await client.score_labels(model, messages, labels, params)
            result.output, usage = scored.output, scored.usage
            result.label_probs, result.label_method = scored.probs, scored.method
        else:
            completion = await client.complete(model, messages, params)
            result.output, usage = completion.text, completion.usage
        result.evaluations = await evaluate(checks, result.output, item)
    except InfraError as exc:
        breaker.faults_in_a_row += 1
        result.error, result.error_kind = str(exc), "infra"
        return result
    breaker.faults_in_a_row = 0
    result.score = sum(e.score for e in result.evaluations) / len(result.evaluations)
    result.prompt_tokens, result.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    result.cost_usd, result.latency_s, result.cached = usage.cost_usd, usage.latency_s, usage.cached
    return result
