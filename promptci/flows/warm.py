"""`promptci warm`: on the default branch, score each committed prompt on its whole pool once and keep the scores
in the warm store (files/warmbase.py), so that a pull request scores head alone.

A vector is scored in batches and saved after each, so a run that a budget, a daily quota or a fault stops keeps
what it scored, and the next run scores only the rest (the answers it had are in the cache too). A prompt whose
vector is already complete costs nothing. Items a model fault left unscored are scored again next time; an item
that cannot be scored for this prompt (bad input) is kept as such."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import effective, progress, promptfile
from ..errors import EXIT_OK, InfraError, InputError, PromptCIError
from ..files import warmbase
from ..files.evalset import NoItems, Pool, load_pool
from ..files.fileio import repository_root
from ..models.budget import Budget
from ..models.llm import ModelClient
from ..runner import Task, model_to_call, run_or_raise

BATCH = 50  # items scored between two saves of the store


@dataclass(frozen=True)
class WarmRequest:
    prompts: list[Path]  # repository-relative paths, as the store names them
    model: str | None = None
    max_calls: int | None = None
    max_usd: float | None = None
    commit: str = ""  # the default branch's commit, for the report of a pull request that uses the scores
    store: Path | None = None  # default: warmbase.default_path()
    root: Path = Path()  # the repository's root, which `prompts` are relative to


@dataclass
class Warmed:
    path: str
    scored: int  # items scored by this run
    stored: int  # items the vector now holds
    pool: int
    note: str = ""


@dataclass
class WarmOutcome:
    prompts: list[Warmed] = field(default_factory=list)
    stopped: str = ""  # why scoring stopped before every vector was complete ("" when none did)
    fault: PromptCIError | None = None
    bad_input: InputError | None = None  # the first prompt that could not be warmed (exit 2 once all were tried)


def run(request: WarmRequest) -> WarmOutcome:
    """Warm every prompt of the request, within its limits; the store is saved as it goes."""
    path = request.store or warmbase.default_path()
    store = warmbase.load(path)  # a malformed store: exit 2 before any call
    client = ModelClient()
    outcome = WarmOutcome()
    try:
        budget = Budget(client, max_calls=request.max_calls, max_usd=request.max_usd)
        for prompt_path in request.prompts:
            if outcome.stopped:
                outcome.prompts.append(Warmed(prompt_path.as_posix(), 0, 0, 0, "not reached"))
                continue
            try:
                store = asyncio.run(_warm(prompt_path, request, store, path, client, budget, outcome))
            except InfraError as exc:  # a quota or an outage: what was scored is saved; the next run resumes
                outcome.stopped, outcome.fault = f"the model failed ({exc})", exc
            except InputError as exc:  # this prompt cannot be scored: the others are still warmed
                outcome.prompts.append(Warmed(prompt_path.as_posix(), 0, 0, 0, f"not warmed: {exc}"))
                outcome.bad_input = outcome.bad_input or exc
    finally:
        client.close()
    return outcome


async def _warm(
    prompt_path: Path,
    request: WarmRequest,
    store: warmbase.Store,
    path: Path,
    client: ModelClient,
    budget: Budget,
    outcome: WarmOutcome,
) -> warmbase.Store:
    name = prompt_path.as_posix()
    file = request.root / prompt_path
    prompt = promptfile.parse(file.read_text(encoding="utf-8"), file)
    try:
        pool = load_pool(prompt)
    except NoItems:
        outcome.prompts.append(Warmed(name, 0, 0, 0, "no items: not gated"))
        return store
    eff = effective.resolve(prompt, None, effective.Overrides(model=request.model, optimize=False))
    client.set_concurrency(eff.concurrency)
    own = Budget(client, max_calls=eff.max_calls, max_usd=eff.max_usd, parent=budget)
    wanted = warmbase.key(prompt.sha256, pool.sha256, model_to_call(prompt, request.model))
    vector = warmbase.vector(store, name, wanted) or _empty(wanted, prompt, pool, request)
    todo = [i for i in pool.items if i.id not in vector.scores]
    warmed = Warmed(name, 0, len(vector.scores), len(pool.items))
    outcome.prompts.append(warmed)
    if todo:
        progress.note(f"{name}: scoring base on {len(todo)} of {len(pool.items)} pool items")
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        if not own.allows(len(batch)):
            outcome.stopped = f"the budget is spent ({own.describe()}): the next run goes on from here"
            break
        scored = await run_or_raise(
            Task(prompt=prompt, pool=pool, items=batch, selection="full", model=request.model, label=name), client
        )
        done = {r.id: r.score for r in scored.items if r.error_kind != "infra"}
        vector = vector.model_copy(update={"scores": {**vector.scores, **done}, "updated": warmbase.now()})
        store = warmbase.record(store, name, vector)
        warmbase.save(store, path)
        warmed.scored += len(done)
        warmed.stored = len(vector.scores)
    else:
        store = warmbase.record(store, name, vector)  # newest first, even when nothing was left to score
        warmbase.save(store, path)
    return store


def _empty(wanted: str, prompt: promptfile.PromptFile, pool: Pool, request: WarmRequest) -> warmbase.Vector:
    try:
        model = model_to_call(prompt, request.model)
    except InputError:
        model = ""
    return warmbase.Vector(
        key=wanted,
        prompt_sha256=prompt.sha256,
        pool_sha256=pool.sha256,
        model=model[:300],
        pool_items=len(pool.items),
        scores={},
        commit=request.commit if re.fullmatch(r"[0-9a-f]{7,64}", request.commit) else "",
        updated=warmbase.now(),
    )


def command(request: WarmRequest, show: Callable[[str], object]) -> int:
    """`promptci warm` on prompt files named from the working directory (one repository's)."""
    prompts = [_relative(p) for p in request.prompts]
    root = repository_root(request.prompts[0]) if request.prompts else None
    commit = request.commit or os.environ.get("GITHUB_SHA", "")
    return say(run(replace(request, prompts=prompts, commit=commit, root=root or Path())), show)


def say(outcome: WarmOutcome, show: Callable[[str], object]) -> int:
    """One line per prompt; exit 0 (a budget stop included: the next run resumes), or raise the model's fault
    (exit 3) or the first bad input (exit 2) once what was scored is saved."""
    for w in outcome.prompts:
        state = "complete" if w.pool and w.stored >= w.pool else "partial"
        show(f"{w.path}: {w.note or f'{state}, {w.stored} of {w.pool} pool items stored ({w.scored} scored now)'}")
    if outcome.stopped:
        show(f"stopped: {outcome.stopped}")
    if outcome.fault is not None:
        raise outcome.fault
    if outcome.bad_input is not None:
        raise outcome.bad_input
    return EXIT_OK


def demo_main(model: str | None, show: Callable[[str], object]) -> Callable[[Path, str], object]:
    """`demo --warm`: main's prompt scored on its whole pool into the warm store first, as the promptci-warm
    workflow does on a default branch (a second demo finds it complete and scores nothing for base)."""
    from ..demo import PROMPT

    def on_main(repo: Path, commit: str) -> object:
        show(f"warm base: {PROMPT} on main {commit[:12]}, every pool item, as promptci warm does on main")
        return say(run(WarmRequest([Path(PROMPT)], model=model, commit=commit, root=repo)), show)

    return on_main


def _relative(path: Path) -> Path:
    """A prompt's path from the repository's root, as a pull request's change names it (the store's key)."""
    if not path.is_file():
        raise InputError("no such prompt file", path=path, fix="name a committed .prompt.yml file")
    root = repository_root(path)
    return path.absolute().relative_to(root) if root is not None else path
