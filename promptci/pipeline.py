"""The pull-request flow (docs/design.md, "The pull-request flow") for every changed prompt, up to the verdict.

What judges a change is the base revision's, never the pull request's: a changed prompt is scored on the
pool and the committed subset as they are at the base revision, with the base version's evaluators and
`promptci:` settings (gate, selection, optimizer, api_base) — a pull request that edits its pool, its subset
file, its evaluators or its gate is reported, not obeyed. Only a prompt the pull request adds is judged by
its own files, and the report says so.

Per prompt: that judge's pool and committed subset (stage 1 when there is none or it is stale);
base and head scored on the same subset items; the optimizer run from head on the same subset; one
IPOMP stage-2 refresh from every prompt scored in the run, with base and head re-scored on the new
items; the paired comparison and the sequential gate (gate.py), scoring further pool items in a random
order while the verdict is undecided and the budget allows. Reporting and publishing come after this
module, from its result.

Which models are called, with whose keys, how many calls at once and within which limits is each prompt's
effective settings (effective.py), resolved once before any call: the base's, never the pull request's.

The budget never cuts the base/head comparison; the refresh's calls and the gate's first two random batches
are kept back from the optimizer, which gets what is left; further items for an undecided verdict come last.
"""

from __future__ import annotations

import math
import posixpath
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import (
    draws,
    effective,
    embeddings,
    forecast,
    gate,
    judgecheck,
    progress,
    promptfile,
    removals,
    slices,
    subsetfile,
    subsets,
)
from .budget import Budget
from .effective import Effective
from .errors import InfraError, InputError, redact
from .evalset import Item, NoItems, Pool, load_pool
from .gitdiff import Change
from .llm import Counters, ModelClient
from .optimize.job import Job, optimize
from .results import ItemResult
from .runner import Task, run_or_raise
from .settings import GateSettings
from .stats import Comparison
from .subsetfile import Subset

TEXT_LIMIT = 300  # characters of an item's input text kept in the results for the report


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

    def overrides(self) -> effective.Overrides:
        """What these options set of each prompt's effective settings."""
        return effective.Overrides(
            model=self.model,
            optimizer_model=self.optimizer_model,
            optimize=self.optimize,
            max_calls=self.max_calls,
            max_usd=self.max_usd,
        )


@dataclass
class PromptResult:
    """Everything the report says about one changed prompt."""

    change: Change
    base: dict[str, ItemResult] = field(default_factory=dict)
    head: dict[str, ItemResult] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)  # the items compared: the final subset, then extra ones
    subset_items: int = 0  # how many of `items` are the subset
    pool_items: int | None = None  # items in the pool the gate samples from
    comparison: Comparison | None = None
    verdict: gate.Verdict | None = None
    job: Job | None = None
    subset_note: str = ""
    slices: list[str] = field(default_factory=list)  # the IPOMP clusters head is shown worse on (slices.py)
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
    texts: dict[str, str] = field(default_factory=dict)  # item id -> its input text, for the report
    gate_settings: GateSettings | None = None  # what the verdict was reached with

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
    usage: Counters
    wall_s: float
    budget: str
    forecast: forecast.Forecast | None = None  # what was forecast before scoring, for the report to set against


async def run_pr(
    changes: Sequence[Change], tree: Path, base_tree: Path, client: ModelClient, options: Options
) -> PRResult:
    """Run the flow for every change; `tree` holds the head version's files, `base_tree` the base revision's,
    which judge it (see the module's docstring)."""
    started = time.perf_counter()
    budget = Budget(client, max_calls=options.max_calls, max_usd=options.max_usd)
    resolved = [_resolve(change, tree, options) for change in changes]
    settled = [e if isinstance(e, Effective) else None for e in resolved]
    for change, eff in zip(changes, settled):  # a dollar limit that could never bind: exit 2 before any call
        if eff is not None:
            effective.refuse_unpriced(
                change.path, [("--max-usd", options.max_usd), ("promptci.budget.max_usd", eff.max_usd)], eff.models
            )
    planned = forecast.forecast(
        changes,
        tree,
        optimize=options.optimize,
        refresh=options.refresh,
        steps=options.steps,
        model=options.model,
        subset_size=options.subset_size,
        max_calls=options.max_calls,
        optimizer_model=options.optimizer_model,
        resolved=settled,
    )
    effective.check_quota(planned.github_max_calls, planned.daily_limit, planned.github_models)
    progress.note(planned.describe())
    results, spent = [], []  # each prompt's own limits, described after its work
    removed = removals.removed_gated(changes)
    with embeddings.metered(client.counters):  # remote embeddings count in the run's usage and budget
        for n, (change, settings, eff) in enumerate(zip(changes, resolved, settled), 1):
            with progress.step(f"prompt {n} of {len(changes)}: {change.path} ({change.reason})"):
                own = Budget(
                    client,
                    max_calls=eff.max_calls if eff else None,
                    max_usd=eff.max_usd if eff else None,
                    parent=budget,
                )  # the base's promptci.budget, inside the run's
                try:
                    results.append(
                        await _judge_prompt(change, tree, base_tree, client, own, options, settings, removed)
                    )
                except InfraError:
                    raise  # the model or GitHub: exit 3, the results so far kept by the caller
                except Exception as exc:  # fail closed: whatever a pull request's prompt does to promptci, it fails
                    results.append(_crashed(change, exc))  # that prompt, and the report is still written
                if own.max_calls is not None or own.max_usd is not None:
                    spent.append(f"{change.path}: {own.describe()}")

    verdict = gate.overall([r.verdict.status if r.verdict else None for r in results])
    return PRResult(
        prompts=results,
        verdict=verdict,
        usage=replace(client.counters),
        wall_s=time.perf_counter() - started,
        budget="; ".join([budget.describe(), *spent]),
        forecast=planned,
    )


def _resolve(change: Change, tree: Path, options: Options) -> Effective | InputError | None:
    """A changed prompt's effective settings, or why it cannot run (reported as its failure in its turn)."""
    try:
        return effective.of_change(change, tree, options.overrides())
    except InputError as exc:
        return exc


async def _judge_prompt(
    change: Change,
    tree: Path,
    base_tree: Path,
    client: ModelClient,
    budget: Budget,
    options: Options,
    settings: Effective | InputError | None,
    removed: Mapping[str, float | None],
) -> PromptResult:
    """One prompt's flow under its effective settings; `removed`: the gated prompts this pull request removes
    (removals.py)."""
    result = PromptResult(change=change)
    if change.new_text is None or change.new_path is None:
        result.verdict = removals.verdict(change)
        return result
    try:
        with _timed(result, "load and select"):
            written = promptfile.parse(change.new_text, tree / change.new_path)
            for warning in written.warnings:
                promptfile.warn(f"{change.new_path}: {warning}")
            base = _base(change, base_tree)
            judge = _judge(base, written)
            head = promptfile.judged_by(written, judge.prompt)
            if base is None:  # a new prompt, in a pull request that removes a gated one, needs a minimum score
                result.gate_settings = head.settings.gate.model_copy(update=options.gate)
                result.verdict = removals.unguarded(change, result.gate_settings, removed)
                if result.verdict is not None:
                    return result
            if not isinstance(settings, Effective):  # why it cannot run: it moves the model elsewhere, say
                raise settings or InputError("the prompt file was deleted", path=change.path)
            eff = settings
            embeddings.check(eff.embedding_model)  # no local embedding model and no remote one: say so now
            client.set_concurrency(eff.concurrency)
            pool = judge.pool
            head_pool = pool if judge.prompt is written else _own_pool(written)  # head's items after the merge
            subset_file = subsetfile.path_for(written)  # confined to the repository, like every path it names
            result.subset_path = posixpath.normpath(
                posixpath.join(posixpath.dirname(change.new_path or ""), subsetfile.relative_path(written))
            )
            subsetfile.check_destination(result.subset_path, subset_file)  # never another prompt, pool, workflow
            base_text, committed = _committed(judge.prompt, pool)
            subset, result.subset_note = subsets.for_pull_request(judge.prompt, pool, committed, options.subset_size)
            result.subset_note = "; ".join(filter(None, (judge.note, result.subset_note)))
    except NoItems as exc:
        result.verdict = gate.Verdict(gate.NEUTRAL, f"{exc.problem}; {exc.fix}")
        return result
    except InputError as exc:
        result.error = str(exc)
        result.verdict = gate.Verdict(gate.FAIL, f"the head version cannot be scored: {exc}")
        return result
    result.model = eff.model
    result.seed = head.settings.selection.seed
    result.hashes = {"head": written.sha256, "pool": pool.sha256, **({"base": base.sha256} if base else {})}
    by_id = pool.by_id()
    ids = subset.ids
    with _timed(result, "score base and head"):
        await _score_into(head, pool, [by_id[i] for i in ids], result.head, client, "head", eff.model)
        if base is not None:
            await _score_into(base, pool, [by_id[i] for i in ids], result.base, client, "base", options.model)

    if eff.optimize:
        progress.note(
            f"{change.path}: looking for a better prompt, starting from head (optimizer "
            f"{eff.optimizer_model}; {budget.describe()} so far)"
        )
        # the suggestion is judged on a held-out slice the optimizer never sees (optimize.job). The refresh and the
        # gate's first random items come before the optimizer in priority: the calls they need are kept back.
        s = head.settings.selection
        kept = 2 * min(s.max_replacements, math.ceil(s.replace_share * len(ids))) if options.refresh else 0
        kept += 2 * gate.kept_back(len(ids), len(pool.items), head.settings.gate)  # the gate's random items
        with budget.keeping_back(kept), _timed(result, "optimize"):
            result.job = await optimize(
                head,
                pool,
                client,
                budget,
                steps=options.steps,
                holdout=None,
                holdout_always=False,
                refresh=False,
                subset=ids,
                task_model=eff.model,
                optimizer_model=eff.optimizer_model,
            )
        if result.job.outcome.fault:
            raise result.job.outcome.fault

    if options.refresh:
        with _timed(result, "refresh (IPOMP stage 2)"):
            subset, result.replacements = _refresh(head, pool, subset, result, budget)
        if result.replacements:
            progress.note(
                f"{change.path}: IPOMP stage 2 replaced {len(result.replacements)} redundant subset items; "
                "scoring base and head on the new ones"
            )
        new = [by_id[i] for i in subset.ids]
        with _timed(result, "score the new items"):
            await _score_into(head, pool, new, result.head, client, "head", eff.model)
            if base is not None:
                await _score_into(base, pool, new, result.base, client, "base", options.model)
    result.subset_old_text, head_subset = _subset_file(subset_file)
    if judge.prompt is not written and result.subset_old_text != base_text:
        result.subset_note += "; this pull request edits the subset file: it was not used to judge (the base's was)"
    offered: Subset | None = subset
    if head_pool is None:
        offered = None
        result.subset_note += "; this pull request leaves the prompt without items: it was judged on the base's"
    elif head_pool.sha256 != pool.sha256:  # the judged subset is stale for head's pool: offer a new one for it
        offered, _ = subsets.for_pull_request(
            effective.choosing_subsets(written, eff), head_pool, None, options.subset_size
        )
        result.subset_note += (
            "; this pull request changes the pool, so the committed subset is stale for it: "
            "a new one chosen with IPOMP stage 1 is offered"
        )
    result.subset = offered
    result.subset_changed = offered is not None and offered != head_subset
    result.items = list(subset.ids)
    result.subset_items = len(result.items)
    with _timed(result, "decide"):
        await _decide(result, head, base, pool, client, budget, options, eff.model)
    result.verdict = judgecheck.verdict(result.verdict, [*result.base.values(), *result.head.values()], head)
    if base is not None and head.settings.protected:
        with _timed(result, "protected items"):
            await _protect(result, head, base, pool, client, eff.model, options.model)
    if base is not None and result.verdict is not None and result.verdict.status != gate.UNDECIDED:
        with _timed(result, "slices"):
            _slices(result, head, pool)
    swapped = [r[k] for r in result.replacements for k in ("removed", "added")]
    result.texts = {i: _input_text(head, by_id[i]) for i in dict.fromkeys(result.items + swapped) if i in by_id}
    return result


async def _protect(
    result: PromptResult,
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
    await _score_into(head, pool, items, result.head, client, "head", head_model)
    await _score_into(base, pool, items, result.base, client, "base", base_model)
    if broken := draws.broken([i.id for i in items], result.base, result.head):
        said = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        before = f" ({result.verdict.reason})" if result.verdict else ""
        result.verdict = gate.Verdict(
            gate.FAIL, f"protected items that base passes failed on head: {said} (promptci.protected){before}"
        )


def _slices(result: PromptResult, head: promptfile.PromptFile, pool: Pool) -> None:
    """The clusters head is shown worse on, listed; with `promptci.gate_slices` (the base's) they fail the gate."""
    gate_settings = result.gate_settings or head.settings.gate
    try:
        found = slices.worse(head, pool, result.items, result.base, result.head, gate_settings)
    except (InputError, InfraError) as exc:  # no embeddings to cluster by: the verdict stands, the slices are untested
        result.subset_note += f"; slices not tested ({redact(str(exc), 200)})"
        return
    result.slices = [s.describe() for s in found]
    if found and head.settings.gate_slices and result.verdict and result.verdict.status != gate.FAIL:
        result.verdict = gate.Verdict(
            gate.FAIL,
            f"head is worse on {len(found)} slice{'s' if len(found) > 1 else ''} of the pool "
            f"(promptci.gate_slices): {'; '.join(result.slices[:3])}; overall: {result.verdict.reason}",
        )


def _input_text(prompt: promptfile.PromptFile, item: Item) -> str:
    """An item's input text as the report shows it: on one line, cut (the report escapes it)."""
    text = " ".join(subsets.item_text(prompt, item).split())
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


@contextmanager
def _timed(result: PromptResult, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        result.timings[step] = result.timings.get(step, 0.0) + time.perf_counter() - started


@dataclass(frozen=True)
class Judge:
    """What a changed prompt is judged by: whose settings and evaluators, which pool, and a note for the report."""

    prompt: promptfile.PromptFile
    pool: Pool
    note: str


def _base(change: Change, base_tree: Path) -> promptfile.PromptFile | None:
    """The base version where it lives in the base revision (None: the pull request adds the prompt)."""
    if change.old_text is None or change.old_path is None:
        return None
    try:
        return promptfile.parse(change.old_text, base_tree / change.old_path)
    except InputError:
        return None  # a base that no longer parses is reported as "no base score"


def _judge(base: promptfile.PromptFile | None, head: promptfile.PromptFile) -> Judge:
    """The base version's settings, evaluators and pool judge the change; only a new prompt brings its own."""
    if base is not None:
        try:
            return Judge(base, load_pool(base), judgecheck.note(base, head))
        except InputError as exc:
            why = f"the base version's pool cannot be read ({exc.problem})"
    else:
        why = "a prompt this pull request adds"
    if head.settings.api_base is not None:
        raise InputError(
            "promptci.api_base is set by this pull request, and model calls carry the repository's API keys",
            path=head.path,
            field="promptci.api_base",
            fix="set api_base on the base branch first (a separate, reviewed change)",
        )
    return Judge(head, load_pool(head), f"{why}: its items, evaluators and gate come from the pull request")


def _crashed(change: Change, exc: Exception) -> PromptResult:
    why = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {redact(str(exc), 300)}"
    return PromptResult(
        change=change, error=why, verdict=gate.Verdict(gate.FAIL, f"promptci could not judge this prompt ({why})")
    )


def _own_pool(head: promptfile.PromptFile) -> Pool | None:
    """Head's own pool (None when it has no items: it is still judged on the base's, never waved through)."""
    try:
        return load_pool(head)
    except NoItems:
        return None


def _subset_file(path: Path) -> tuple[str | None, Subset | None]:
    """A subset file's text and contents, read once; (None, None) when the file is not one. The path is confined
    to the repository, but a pull request may still point `promptci.subset` at any file of the work tree, an
    untracked `.env` say, and this text goes into the results."""
    try:
        subset = subsetfile.read(path)
    except InputError:
        return None, None
    return path.read_text(encoding="utf-8"), subset


def _committed(prompt: promptfile.PromptFile, pool: Pool) -> tuple[str | None, Subset | None]:
    """The judge's subset file text, and its subset when it still fits the pool (else None: stale or missing)."""
    path = subsetfile.path_for(prompt)
    text, subset = _subset_file(path)
    return text, None if subset is None or subsetfile.problems(subset, pool, path) else subset


async def _score_into(
    prompt: promptfile.PromptFile,
    pool: Pool,
    items: list[Item],
    into: dict[str, ItemResult],
    client: ModelClient,
    which: str,
    model: str | None,
) -> None:
    todo = [i for i in items if i.id not in into]
    if not todo:
        return
    progress.note(f"{prompt.path.name}: scoring {which} on {len(todo)} items")
    scored = await run_or_raise(
        Task(prompt=prompt, pool=pool, items=todo, selection="pr", model=model, label=f"{prompt.path.name}: {which}"),
        client,
    )
    into.update({r.id: r for r in scored.items})


def _refresh(
    prompt: promptfile.PromptFile, pool: Pool, subset: Subset, result: PromptResult, budget: Budget
) -> tuple[Subset, list[dict]]:
    """IPOMP stage 2 once: every prompt scored in this run (base, head, the optimizer's candidates) goes into the
    subset's evidence ledger; the ledger as the base committed it decides what is replaced (subsets.refine_scores)."""
    s = prompt.settings.selection
    scored = {
        result.hashes.get("base", ""): result.base,
        result.hashes["head"]: result.head,
        **(result.job.outcome.scored if result.job else {}),
    }
    cap = s.max_replacements if budget.allows(2 * s.max_replacements) else 0  # new items are scored by base and head
    return subsets.refine_scores(
        prompt,
        pool,
        subset,
        {sha: r for sha, r in scored.items() if sha and r},
        source="promptci pr: stage 2 on the subset file's evidence ledger",
        settings=s.model_copy(update={"max_replacements": cap}),
    )


async def _decide(
    result: PromptResult,
    head: promptfile.PromptFile,
    base: promptfile.PromptFile | None,
    pool: Pool,
    client: ModelClient,
    budget: Budget,
    options: Options,
    head_model: str,
) -> None:
    """The sequential gate (gate.py): decide on the subset, then add pool items in the gate's random order,
    a batch at a time, until the verdict is decided or the items or the budget run out."""
    settings = head.settings.gate.model_copy(update=options.gate)
    result.gate_settings, result.pool_items = settings, len(pool.items)
    by_id = pool.by_id()
    ordered = gate.order([i.id for i in pool.items], result.items, head.settings.selection.seed, pool.sha256)
    sides = [(head, result.head, "head", head_model)] + ([(base, result.base, "base", options.model)] if base else [])
    while True:
        fixed, pool_size = draws.gate_design([head, base], result.subset_items, result.pool_items)
        result.verdict, result.comparison = gate.decide(
            gate.evidence(result.items, fixed, result.base if base else None, result.head, pool_size),
            settings,
        )
        if base is None:
            result.comparison = None
        if result.verdict.status != gate.UNDECIDED:
            return
        extra = gate.next_items(ordered, result.items, settings)
        if not extra or not budget.allows(len(sides) * len(extra)):
            why = (
                f"the budget is spent ({budget.describe()})"
                if extra
                else "the whole pool is scored"
                if len(result.items) >= len(pool.items)
                else f"{len(result.items)} items compared (promptci.gate.max_items: {settings.max_items})"
            )
            result.verdict = gate.settle(result.verdict, settings, why)
            return
        progress.note(f"{head.path.name}: undecided; scoring {len(extra)} more pool items in a random order")
        for prompt, into, which, side_model in sides:
            await _score_into(prompt, pool, [by_id[i] for i in extra], into, client, which, side_model)
        result.items += extra
