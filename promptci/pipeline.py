"""The pull-request flow (DESIGN.md §4) for every changed prompt, up to the verdict.

Per prompt: the head version's pool and committed subset (stage 1 when there is none or it is stale);
base and head scored on the same subset items; the optimizer run from head on the same subset; one
IPOMP stage-2 refresh from every prompt scored in the run, with base and head re-scored on the new
items; the paired comparison and the gate, scoring further pool items in IPOMP order while the verdict
is undecided and the budget allows. Reporting and publishing come after this module, from its result.

The budget never cuts the base/head comparison; the refresh's calls are kept back from the optimizer,
which gets what is left; extra items for an undecided verdict come last.
"""

from __future__ import annotations

import math
import posixpath
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from . import gate, promptfile, subsetfile, subsets
from .budget import Budget
from .errors import InfraError, InputError
from .evalset import Item, NoItems, Pool, load_pool
from .gitdiff import Change
from .llm import ModelClient
from .optimize.job import Job, optimize
from .results import ItemResult
from .runner import Task, run_or_raise
from .selection import extend_farthest
from .stats import Comparison, compare
from .subsetfile import Subset

EXTRA_BATCH = 20  # pool items added per round while a verdict is undecided


@dataclass
class Options:
    optimize: bool = True
    refresh: bool = True
    max_calls: int | None = None
    max_usd: float | None = None
    steps: int | None = None
    model: str | None = None  # the task model instead of each prompt's own
    optimizer_model: str | None = None
    subset_size: int | None = None  # for subsets chosen in this run (none committed, or stale)
    gate: dict = field(default_factory=dict)  # overrides of the prompts' promptci.gate settings


@dataclass
class PromptResult:
    """Everything the report says about one changed prompt."""

    change: Change
    base: dict[str, ItemResult] = field(default_factory=dict)
    head: dict[str, ItemResult] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)  # the items compared: the final subset, then extra ones
    subset_items: int = 0  # how many of `items` are the subset
    comparison: Comparison | None = None
    verdict: gate.Verdict | None = None
    job: Job | None = None
    subset_note: str = ""
    subset: Subset | None = None  # the subset after this run
    subset_changed: bool = False
    subset_path: str = ""  # the subset file's path in the repository
    subset_old_text: str | None = None  # its committed text (None: there was no file)
    replacements: list[dict] = field(default_factory=list)
    model: str = ""
    seed: int | None = None
    hashes: dict[str, str] = field(default_factory=dict)  # sha256 of the base and head prompt files and the pool
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step of the flow

    @property
    def path(self) -> str:
        return self.change.path

    @property
    def subset_text(self) -> str | None:
        """The subset file's new text, when this run changed it."""
        return subsetfile.dumps(self.subset) if self.subset is not None and self.subset_changed else None


@dataclass
class PRResult:
    prompts: list[PromptResult]
    verdict: gate.Verdict
    calls: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    wall_s: float
    budget: str


async def run_pr(changes: Sequence[Change], tree: Path, client: ModelClient, options: Options, *,
                 progress: Callable[[str], None] = lambda _: None) -> PRResult:
    """Run the flow for every change; `tree` holds the head version's files."""
    started = time.perf_counter()
    budget = Budget(client, max_calls=options.max_calls, max_usd=options.max_usd)
    results = []
    for change in changes:
        progress(f"{change.path}: {change.reason}")
        results.append(await _one(change, tree, client, budget, options, progress))
    verdict = gate.overall([r.verdict.status if r.verdict else None for r in results])
    c = client.counters
    return PRResult(prompts=results, verdict=verdict, calls=c.calls, cache_hits=c.cache_hits,
                    prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens, cost_usd=c.cost_usd,
                    wall_s=time.perf_counter() - started, budget=budget.describe())


async def _one(change: Change, tree: Path, client: ModelClient, budget: Budget, options: Options,
               progress: Callable[[str], None]) -> PromptResult:
    result = PromptResult(change=change)
    if change.new_text is None:
        result.verdict = gate.Verdict(gate.PASS, "the prompt file was deleted; nothing to score")
        return result
    try:
        with _timed(result, "load and select"):
            head = promptfile.parse(change.new_text, tree / change.new_path)
            for warning in head.warnings:
                promptfile.warn(f"{change.new_path}: {warning}")
            pool = load_pool(head)
            base = _base(change, head)
            committed = _committed(head, pool)
            subset, result.subset_note = _subset(head, pool, committed, options.subset_size)
    except NoItems as exc:
        result.verdict = gate.Verdict(gate.PASS, f"{exc.problem}; {exc.fix}")
        return result
    except InputError as exc:
        result.error = str(exc)
        result.verdict = gate.Verdict(gate.FAIL, f"the head version cannot be scored: {exc}")
        return result
    result.model = options.model or head.model or ""
    result.seed = head.settings.selection.seed
    result.hashes = {"head": head.sha256, "pool": pool.sha256, **({"base": base.sha256} if base else {})}
    by_id = pool.by_id()
    ids = subset.ids
    with _timed(result, "score base and head"):
        await _score(head, pool, [by_id[i] for i in ids], result.head, client, progress, "head", options.model)
        if base is not None:
            await _score(base, pool, [by_id[i] for i in ids], result.base, client, progress, "base", options.model)

    if options.optimize and head.settings.optimizer.enabled:
        progress(f"{change.path}: optimizing from head")
        # the PR flow judges the suggestion on the subset: no held-out slice. The refresh comes before
        # the optimizer in priority: the calls it needs (base and head on each replaced item) are kept back.
        budget.reserved = 2 * math.ceil(head.settings.selection.replace_share * len(ids)) if options.refresh else 0
        try:
            with _timed(result, "optimize"):
                result.job = await optimize(head, pool, client, budget, steps=options.steps, holdout=0,
                                            refresh=False, subset=ids, task_model=options.model,
                                            optimizer_model=options.optimizer_model)
        finally:
            budget.reserved = 0
        if result.job.outcome.fault:
            raise InfraError(result.job.outcome.fault)

    if options.refresh:
        with _timed(result, "refresh (IPOMP stage 2)"):
            subset, result.replacements = _refresh(head, pool, subset, result, budget)
        new = [by_id[i] for i in subset.ids]
        with _timed(result, "score the new items"):
            await _score(head, pool, new, result.head, client, progress, "head", options.model)
            if base is not None:
                await _score(base, pool, new, result.base, client, progress, "base", options.model)
    result.subset_changed = subset != committed
    result.subset = subset
    result.subset_path = posixpath.normpath(posixpath.join(posixpath.dirname(change.new_path or ""),
                                                           subsetfile.relative_path(head)))
    committed_path = subsetfile.path_for(head)
    result.subset_old_text = committed_path.read_text(encoding="utf-8") if committed_path.exists() else None
    result.items = list(subset.ids)
    result.subset_items = len(result.items)
    with _timed(result, "decide"):
        await _decide(result, head, base, pool, client, budget, progress, options)
    return result


@contextmanager
def _timed(result: PromptResult, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        result.timings[step] = result.timings.get(step, 0.0) + time.perf_counter() - started


def _base(change: Change, head: promptfile.PromptFile) -> promptfile.PromptFile | None:
    """The base version, read as if it lived where head does, so both are scored on head's pool items."""
    if change.old_text is None:
        return None
    try:
        return promptfile.parse(change.old_text, head.path)
    except InputError:
        return None  # a base that no longer parses is reported as "no base score"


def _committed(prompt: promptfile.PromptFile, pool: Pool) -> Subset | None:
    path = subsetfile.path_for(prompt)
    if not path.exists():
        return None
    try:
        subset = subsetfile.read(path)
    except InputError:
        return None
    return None if subsetfile.problems(subset, pool, path) else subset


def _subset(prompt: promptfile.PromptFile, pool: Pool, committed: Subset | None,
            size: int | None) -> tuple[Subset, str]:
    """The committed subset when it fits the pool, else a new one from IPOMP stage 1, and a note saying which."""
    path = subsetfile.path_for(prompt)
    if committed is not None:
        return committed, f"committed subset {path.name}"
    s = prompt.settings.selection
    size = min(size or s.size, len(pool))
    choice = subsets.Choice(method=s.method, size=size, alpha=s.alpha, clusters=min(s.clusters, size), seed=s.seed)
    why = "no subset file" if not path.exists() else "the committed subset is stale"
    return subsets.select(prompt, pool, choice), f"{why}: chose one with IPOMP stage 1 (to be committed)"


async def _score(prompt: promptfile.PromptFile, pool: Pool, items: list[Item], into: dict[str, ItemResult],
                 client: ModelClient, progress: Callable[[str], None], which: str, model: str | None) -> None:
    todo = [i for i in items if i.id not in into]
    if not todo:
        return
    progress(f"{prompt.path.name}: scoring {which} on {len(todo)} items")
    scored = await run_or_raise(Task(prompt=prompt, pool=pool, items=todo, selection="pr", model=model), client)
    into.update({r.id: r for r in scored.items})


def _refresh(prompt: promptfile.PromptFile, pool: Pool, subset: Subset, result: PromptResult,
             budget: Budget) -> tuple[Subset, list[dict]]:
    """IPOMP stage 2 once, on every prompt scored in this run: base, head and the optimizer's candidates."""
    ids = subset.ids
    runs = [r for r in ([result.base, result.head] + (result.job.outcome.scored if result.job else []))
            if all(i in r for i in ids)]
    unique = list({tuple((r[i].output, r[i].score) for i in ids): r for r in runs}.values())  # one per behaviour
    if len(unique) < 2:
        return subset, []
    s = prompt.settings.selection
    refined, records = subsets.refine_scores(
        prompt, pool, subset, unique, source=f"promptci pr: stage 2 on {len(unique)} prompts scored in this run",
        threshold=s.threshold, replace_share=s.replace_share, correlation=s.correlation, seed=s.seed)
    if not records or not budget.allows(2 * len(records)):
        return subset, []
    return refined, records


async def _decide(result: PromptResult, head: promptfile.PromptFile, base: promptfile.PromptFile | None, pool: Pool,
                  client: ModelClient, budget: Budget, progress: Callable[[str], None], options: Options) -> None:
    settings = head.settings.gate.model_copy(update=options.gate)
    model = options.model
    if base is None:
        mean = mean_score(result.head, result.items)
        passed = settings.min_score is None or (mean is not None and mean >= settings.min_score)
        scored = "no item scored" if mean is None else f"{mean:.3f} on {len(result.items)} items"
        minimum = "" if settings.min_score is None else f" (minimum {settings.min_score})"
        result.verdict = gate.Verdict(gate.PASS if passed else gate.FAIL, f"new prompt: {scored}{minimum}")
        return
    embeddings = None
    index = {item.id: n for n, item in enumerate(pool.items)}
    while True:
        both = [i for i in result.items if result.base[i].score is not None and result.head[i].score is not None]
        result.comparison = compare([result.base[i].score for i in both], [result.head[i].score for i in both])
        result.verdict = gate.decide(result.comparison, settings)
        if result.verdict.status != gate.UNDECIDED:
            return
        if embeddings is None:
            embeddings = subsets.pool_embeddings(head, pool)
        extra = extend_farthest(embeddings, [index[i] for i in result.items], EXTRA_BATCH)
        if not extra or not budget.allows(2 * len(extra)):
            why = "the pool has no more items" if not extra else f"the budget is spent ({budget.describe()})"
            result.verdict = gate.settle(gate.Verdict(gate.UNDECIDED, f"{result.verdict.reason}; {why}"))
            return
        items = [pool.items[n] for n in extra]
        progress(f"{head.path.name}: undecided; scoring {len(items)} more pool items in IPOMP order")
        await _score(head, pool, items, result.head, client, progress, "head", model)
        await _score(base, pool, items, result.base, client, progress, "base", model)
        result.items += [i.id for i in items]


def mean_score(results: dict[str, ItemResult], ids: Sequence[str]) -> float | None:
    """The mean score of a prompt over the items it has a score for (None when it has none)."""
    scores = [results[i].score for i in ids if i in results and results[i].score is not None]
    return sum(scores) / len(scores) if scores else None
