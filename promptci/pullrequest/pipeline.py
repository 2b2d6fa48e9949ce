"""The pull-request flow (docs/design.md, "The pull-request flow") for every changed prompt, up to the verdict.

What a change is measured by (its reference) is the base revision's, never the pull request's: a changed prompt
is scored on the pool and the committed subset as they are at the base revision, with the base version's evaluators and
`promptci:` settings (gate, selection, optimizer, api_base) — a pull request that edits its pool, its subset
file, its evaluators or its gate is reported, not obeyed. Only a prompt the pull request adds is judged by
its own files, and the report says so.

Per prompt: the reference's pool and committed subset (stage 1 when there is none or it is stale);
base and head scored on the same subset items; the optimizer run from head on the same subset; one
IPOMP stage-2 refresh from every prompt scored in the run, with base and head re-scored on the new
items; the paired comparison and the sequential gate (gate/decision.py), scoring further pool items in a random
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
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import effective, progress, promptfile
from ..effective import Effective
from ..errors import InfraError, InputError, redact
from ..files import prresults, subsetfile, warmbase
from ..files.evalresults import ItemResult, mean_score
from ..files.evalset import Item, NoItems, Pool, load_pool
from ..files.prresults import PromptResults, PRResults
from ..files.records import Replacement
from ..files.settings import GateSettings
from ..files.subsetfile import Subset
from ..files.warmbase import KnownBase, Store
from ..gate import decision as gate, draws, judgecheck, removals, repeats, slices
from ..gitdiff import Change
from ..models import embeddings
from ..models.budget import Budget
from ..models.llm import ModelClient
from ..optimize.job import Job, optimize
from ..selection import subsets
from . import adoption, forecast
from .sides import Side, protect, repeat as _repeat, score_into as _score_into
from .warmpr import fill_known, find_known, load_store

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
    gate: dict[str, float] = field(default_factory=dict)  # promptci.gate fields set on the command line
    origin: adoption.Origin | None = (
        None  # this run and head commit, named when a later run finds its suggestion adopted
    )

    def overrides(self) -> effective.Overrides:
        """What these options set of each prompt's effective settings."""
        return effective.Overrides(
            model=self.model,
            optimizer_model=self.optimizer_model,
            optimize=self.optimize,
            max_calls=self.max_calls,
            max_usd=self.max_usd,
            gate=self.gate,
        )


async def run_pr(
    changes: Sequence[Change], tree: Path, base_tree: Path, client: ModelClient, options: Options
) -> PRResults:
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
    store = load_store()  # a malformed store: exit 2 before any model call
    forecasted = forecast.forecast(
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
        warm=lambda change: (
            change.old_path is not None and warmbase.likely_warm(store, change.old_path, change.old_text or "")
        ),
    )
    effective.check_quota(forecasted.github_max_calls, forecasted.daily_limit, forecasted.github_models)
    progress.note(forecasted.describe())
    results, spent, removed = [], [], removals.removed_gated(changes)  # spent: each prompt's own limits
    memory = adoption.Memory.load(options.origin)  # the suggestions of earlier runs (unreadable: set aside)
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
                        await _run_prompt(
                            change, tree, base_tree, client, own, options, settings, removed, store, memory
                        )
                    )
                except InfraError:
                    raise  # the model or GitHub: exit 3, the results so far kept by the caller
                except Exception as exc:  # fail closed: whatever a pull request's prompt does to promptci, it fails
                    results.append(_crashed(change, exc))  # that prompt, and the report is still written
                results[-1].scores = prresults.Scores(
                    base=mean_score(results[-1].base, results[-1].items) if results[-1].base else None,
                    head=mean_score(results[-1].head, results[-1].items),
                )
                if own.max_calls is not None or own.max_usd is not None:
                    spent.append(f"{change.path}: {own.describe()}")

    memory.save()
    verdict = gate.overall([r.verdict.status if r.verdict else None for r in results])
    return PRResults(
        format=prresults.FORMAT,
        verdict=verdict,
        usage=prresults.Usage.of(
            client.counters, time.perf_counter() - started, "; ".join([budget.describe(), *spent])
        ),
        prompts=results,  # each checked whole here (PromptResults revalidates)
        forecast=prresults.Forecast.of(forecasted),
    )


def _resolve(change: Change, tree: Path, options: Options) -> Effective | InputError | None:
    """A changed prompt's effective settings, or why it cannot run (reported as its failure in its turn)."""
    try:
        return effective.of_change(change, tree, options.overrides())
    except InputError as exc:
        return exc


async def _run_prompt(
    change: Change,
    tree: Path,
    base_tree: Path,
    client: ModelClient,
    budget: Budget,
    options: Options,
    settings: Effective | InputError | None,
    removed: Mapping[str, float | None],
    store: Store | None = None,
    memory: adoption.Memory | None = None,
) -> PromptResults:
    """One prompt's flow under its effective settings; `removed`: the gated prompts this pull request removes
    (gate/removals.py)."""
    result = PromptResults.start(change)
    if change.new_text is None or change.new_path is None:
        result.verdict = removals.verdict(change)
        return result
    try:
        with _timed(result, "load and select"):
            written = promptfile.parse(change.new_text, tree / change.new_path)
            for warning in written.warnings:
                promptfile.warn(f"{change.new_path}: {warning}")
            base = _base(change, base_tree)
            ref = _reference(base, written)
            head = promptfile.measured_by(written, ref.prompt)
            if base is None:  # a new prompt, in a pull request that removes a gated one, needs a minimum score
                result.gate = effective.gate_settings(head.settings.gate, options.overrides())
                result.verdict = removals.unguarded(change, result.gate, removed)
                if result.verdict is not None:
                    return result
            if not isinstance(settings, Effective):  # why it cannot run: it moves the model elsewhere, say
                raise settings or InputError("the prompt file was deleted", path=change.path)
            eff = settings
            embeddings.check(eff.embedding_model)  # no local embedding model and no remote one: say so now
            client.set_concurrency(eff.concurrency)
            pool = ref.pool
            head_pool = pool if ref.prompt is written else _own_pool(written)  # head's items after the merge
            subset_file = subsetfile.path_for(written)  # confined to the repository, like every path it names
            result.subset.path = posixpath.normpath(
                posixpath.join(posixpath.dirname(change.new_path or ""), subsetfile.relative_path(written))
            )
            subsetfile.check_destination(result.subset.path, subset_file)  # never another prompt, pool, workflow
            base_text, committed = _committed(ref.prompt, pool)
            subset, result.subset_note = subsets.for_pull_request(ref.prompt, pool, committed, options.subset_size)
            result.subset_note = "; ".join(filter(None, (ref.note, result.subset_note)))
    except NoItems as exc:
        result.verdict = gate.Verdict(gate.NEUTRAL, f"{exc.problem}; {exc.fix}")
        return result
    except InputError as exc:
        result.error = str(exc)
        result.verdict = gate.Verdict(gate.FAIL, f"the head version cannot be scored: {exc}")
        return result
    result.model, result.settings = eff.model, eff
    result.seed = head.settings.selection.seed
    result.hashes = {"head": written.sha256, "pool": pool.sha256, **({"base": base.sha256} if base else {})}
    by_id = pool.by_id()
    ids = subset.ids
    known = None
    result.sampled = draws.noisy([head, base])
    result.repeats = repeats.rounds(head, base)
    first = 1 if result.repeats else None  # targeted repeats: one draw each, then more where they disagree
    if result.sampled:  # a warm base is one draw per item: a sampled or judged prompt's base is drawn in the run
        result.base_note = "scored in this run: the scores are samples, and a warm base holds one draw per item"
    elif head.settings.gate_slices:  # slices are tested pairwise on uniform draws: base scored on the same items
        result.base_note = "scored in this run: promptci.gate_slices tests slices on base and head's same items"
    elif base is not None and change.old_path is not None:
        with _timed(result, "find a warm base"):
            known, result.base_note = await find_known(
                store or Store(), change.old_path, base, pool, options.model, client
            )
    with _timed(result, "score base and head"):
        await _score_into(head, pool, [by_id[i] for i in ids], result.head, client, "head", eff.model, first)
        if known is not None:
            fill_known(result.base, known, ids)
        elif base is not None:
            await _score_into(base, pool, [by_id[i] for i in ids], result.base, client, "base", options.model, first)

    job = None
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
            job = await optimize(
                head,
                pool,
                client,
                optimizer_budget(client, budget, head.settings.optimizer.max_calls),
                steps=options.steps,
                holdout=None,
                holdout_always=False,
                refresh=False,
                subset=ids,
                task_model=eff.model,
                optimizer_model=eff.optimizer_model,
                broken=broken_items(ids, result.base, result.head),
                gate=head.settings.gate.model_copy(update=options.gate),
            )
        if job.outcome.fault:
            raise job.outcome.fault
        result.optimizer = prresults.Optimizer.of(job)
        adoption.remember(memory, change.new_path, job, head, eff.model)  # for the next run to recognise

    if options.refresh:
        with _timed(result, "refresh (IPOMP stage 2)"):
            subset, result.subset.replacements = _refresh(head, pool, subset, result, job, budget)
        if result.subset.replacements:
            progress.note(
                f"{change.path}: IPOMP stage 2 replaced {len(result.subset.replacements)} redundant subset items; "
                "scoring base and head on the new ones"
            )
        new = [by_id[i] for i in subset.ids]
        with _timed(result, "score the new items"):
            await _score_into(head, pool, new, result.head, client, "head", eff.model, first)
            if known is not None:
                fill_known(result.base, known, subset.ids)
            elif base is not None:
                await _score_into(base, pool, new, result.base, client, "base", options.model, first)
    old_text, head_subset = _subset_file(subset_file)
    if ref.prompt is not written and old_text != base_text:
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
    result.subset.changed = offered is not None and offered != head_subset
    result.subset.text = subsetfile.dumps(offered) if offered is not None and result.subset.changed else None
    result.subset.patch = prresults.patch(result.subset.path, old_text, result.subset.text)
    result.items = list(subset.ids)
    result.subset_items = len(result.items)
    with _timed(result, "decide"):
        await _decide(result, head, base, pool, client, budget, options, eff.model, known)
    result.verdict = judgecheck.verdict(result.verdict, [*result.base.values(), *result.head.values()], head)
    if base is not None and head.settings.protected:
        with _timed(result, "protected items"):
            await protect(result, head, base, pool, client, eff.model, options.model)
    if base is not None and result.design is None and result.verdict and result.verdict.status != gate.UNDECIDED:
        with _timed(result, "slices"):  # paired slices need base scored on the same uniformly drawn items
            _slices(result, head, pool)
    swapped = [i for r in result.subset.replacements for i in (r.removed, r.added)]
    result.texts = {i: _input_text(head, by_id[i]) for i in dict.fromkeys(result.items + swapped) if i in by_id}
    result.adopted = adoption.adopted(memory, change.new_path, head, eff.model, result.head)  # an earlier suggestion
    return result


def optimizer_budget(client: ModelClient, budget: Budget, cap: int | None) -> Budget:
    """The optimizer's share of a pull request's budget: at most `cap` calls (`promptci.optimizer.max_calls`), cache
    hits counted so that a re-run from the cache takes the same path, inside what the run's budget allows."""
    return budget if cap is None else Budget(client, max_calls=cap, count_hits=True, parent=budget)


def broken_items(ids: Sequence[str], base: Mapping[str, ItemResult], head: Mapping[str, ItemResult]) -> list[str]:
    """The items this change broke: base passing (draws.passes: an exact answer right, a mean of draws or a grade
    from the pass line up), head not (or not scored)."""
    return [
        i for i in ids if i in base and i in head and draws.passes(base[i].score) and not draws.passes(head[i].score)
    ]


def _slices(result: PromptResults, head: promptfile.PromptFile, pool: Pool) -> None:
    """The clusters head is shown worse on, listed; with `promptci.gate_slices` (the base's) they fail the gate."""
    gate_settings = result.gate or head.settings.gate
    try:
        found = slices.worse(head, pool, result.items, result.base, result.head, gate_settings, result.repeats)
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
def _timed(result: PromptResults, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        result.timings[step] = result.timings.get(step, 0.0) + time.perf_counter() - started


@dataclass(frozen=True)
class Reference:
    """A change's reference, what it is measured by: whose settings and evaluators, which pool, and a note for
    the report."""

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


def _reference(base: promptfile.PromptFile | None, head: promptfile.PromptFile) -> Reference:
    """The base version's settings, evaluators and pool judge the change; only a new prompt brings its own."""
    if base is not None:
        try:
            return Reference(base, load_pool(base), judgecheck.note(base, head))
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
    return Reference(head, load_pool(head), f"{why}: its items, evaluators and gate come from the pull request")


def _crashed(change: Change, exc: Exception) -> PromptResults:
    why = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {redact(str(exc), 300)}"
    return PromptResults.start(
        change, error=why, verdict=gate.Verdict(gate.FAIL, f"promptci could not judge this prompt ({why})")
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
    """The reference's subset file text, and its subset when it still fits the pool (else None: stale or missing)."""
    path = subsetfile.path_for(prompt)
    text, subset = _subset_file(path)
    return text, None if subset is None or subsetfile.problems(subset, pool, path) else subset


def _refresh(
    prompt: promptfile.PromptFile,
    pool: Pool,
    subset: Subset,
    result: PromptResults,
    job: Job | None,
    budget: Budget,
) -> tuple[Subset, list[Replacement]]:
    """IPOMP stage 2 once: every prompt scored in this run (base, head, the optimizer's candidates) goes into the
    subset's evidence ledger; the ledger as the base committed it decides what is replaced (subsets.refine_scores)."""
    s = prompt.settings.selection
    scored = {
        result.hashes.get("base", ""): result.base,
        result.hashes["head"]: result.head,
        **(job.outcome.scored if job else {}),
    }
    cap = s.max_replacements if budget.allows(2 * s.max_replacements) else 0  # new items are scored by base and head
    refined, records = subsets.refine_scores(
        prompt,
        pool,
        subset,
        {sha: r for sha, r in scored.items() if sha and r},
        source="promptci pr: stage 2 on the subset file's evidence ledger",
        settings=s.model_copy(update={"max_replacements": cap}),
    )
    return refined, [Replacement(**r) for r in records]


async def _decide(
    result: PromptResults,
    head: promptfile.PromptFile,
    base: promptfile.PromptFile | None,
    pool: Pool,
    client: ModelClient,
    budget: Budget,
    options: Options,
    head_model: str,
    known: KnownBase | None = None,
) -> None:
    """The sequential gate (gate/decision.py): with base's full-pool scores known, head alone on items drawn by
    the active test; else base and head on the subset, then on pool items in the gate's random order, a batch at a
    time, until the verdict is decided or the pool, `max_items` or the budget runs out."""
    settings = effective.gate_settings(head.settings.gate, options.overrides())
    result.gate, result.pool_items = settings, len(pool.items)
    result.draw_seed = gate.draw_seed(result.hashes["head"], pool.sha256)
    if known is not None and base is not None:
        if all(i.id in known.scores for i in pool.items):
            await _decide_known(result, head, pool, client, budget, settings, head_model, known)
            return
        result.subset_note += "; base's known scores do not cover the pool: base scored in this run"
    by_id = pool.by_id()
    ordered = gate.order([i.id for i in pool.items], result.items, result.draw_seed, pool.sha256)
    sides: list[Side] = [(head, result.head, "head", head_model)]
    sides += [(base, result.base, "base", options.model)] if base else []
    first = 1 if result.repeats else None
    await _repeat(result, sides, pool, client, result.items)  # the comparison's: never cut by the budget
    while True:
        fixed, pool_size = draws.gate_design([head, base], result.subset_items, result.pool_items)
        result.verdict, result.comparison = gate.decide(
            gate.evidence(result.items, fixed, result.base if base else None, result.head, pool_size, result.repeats),
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
            await _score_into(prompt, pool, [by_id[i] for i in extra], into, client, which, side_model, first)
        again = repeats.to_repeat(extra, result.base, result.head, result.repeats) if result.repeats else []
        if not budget.allows(len(sides) * ((result.repeats or 1) - 1) * len(again)):
            result.verdict = gate.settle(result.verdict, settings, f"the budget is spent ({budget.describe()})")
            return  # the batch's first draws alone would count its disagreeing items wrongly: it is left out
        await _repeat(result, sides, pool, client, extra)
        result.items += extra


async def _decide_known(
    result: PromptResults,
    head: promptfile.PromptFile,
    pool: Pool,
    client: ModelClient,
    budget: Budget,
    settings: GateSettings,
    head_model: str,
    known: KnownBase,
) -> None:
    """Head against base's known pool scores (gate.decide_known): draws of a batch at a time, the predictor refitted
    to head's scores before each batch, until decided; only head is scored. The draws are recorded for replay."""
    by_id, rng = pool.by_id(), random.Random(result.draw_seed)
    draws: list = []
    scores = {i.id: float(known.scores[i.id]) for i in pool.items}  # every pool item (checked by the caller)
    cap = len(scores) if settings.max_items is None else min(settings.max_items, len(scores))
    while True:
        result.design = gate.Design(
            seed=result.draw_seed or 0,
            base_mean=sum(scores.values()) / len(scores),
            pool=len(scores),
            source=known.source,
            draws=tuple(draws),
        )
        result.items, result.subset_items = [d.item for d in draws], 0
        result.verdict, result.comparison = gate.decide_known(
            result.design, {i: r.score for i, r in result.head.items()}, settings
        )
        if result.verdict.status != gate.UNDECIDED:
            return
        seen = {i: r.score for i, r in result.head.items() if r.score is not None and i in scores}
        room = min(gate.BATCH, cap - len(draws))
        batch = gate.draws_for(scores, known.ledger, seen, result.items, room, rng, settings.margin)
        todo = [d.item for d in batch if d.item not in result.head]
        if not batch or not budget.allows(len(todo)):
            why = (
                f"the budget is spent ({budget.describe()})"
                if batch
                else f"{len(draws)} items drawn (promptci.gate.max_items: {settings.max_items})"
            )
            result.verdict = gate.settle(result.verdict, settings, why)
            return
        progress.note(f"{head.path.name}: undecided; scoring head on {len(todo)} more drawn pool items")
        await _score_into(head, pool, [by_id[i] for i in todo], result.head, client, "head", head_model)
        for d in batch:  # base's known score stands in for a base call, so the report shows both sides per item
            result.base.setdefault(d.item, ItemResult(id=d.item, score=scores[d.item], cached=True))
        draws += batch
