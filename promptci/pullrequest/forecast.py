"""What a pull-request run is about to do, said before it starts: how many prompts, the model calls to expect and
the most it can make, the dollars they cost at litellm's prices, and roughly how long on this machine.

The expected figure assumes the gate decides after its first random batches and the optimizer stops about as early
as it usually does; answers from the cache cost nothing. The maximum is a bound: every gate extension up to
the gate's item budget, every optimizer attempt scored on the whole subset, the held-out check, the refresh,
each scored item judged by every LLM evaluator, and the call limits (`--max-calls` for the run, each prompt's own
from its effective settings, effective.py) cap all but the comparison; the part on GitHub Models is kept apart,
to be held against its requests a day.
Tokens are estimated from the prompt's and the pool's size (about four characters a token). The per-call
times are what the demo measured (benchmarks/README.md, `pr_flow.py`: 576 calls in 130 s on 2 cores with the
embedded model, start-up included).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import effective, promptfile
from ..errors import InputError
from ..files import subsetfile
from ..files.settings import GateSettings, Settings
from ..gate import decision as gate, draws, repeats
from ..gitdiff import Change
from ..models.budget import holdout_size, judged_size
from .sharding import pool_size
from .warmpr import RECHECK

LOCAL_SECONDS_PER_CALL_2_CORES = 0.23
REMOTE_SECONDS_PER_CALL = 1.0  # divided by the prompt's concurrency
START_SECONDS = 10.0  # imports, loading the models, embedding a pool
CHARS_PER_TOKEN = 4
ANSWER_TOKENS = 256  # a task call's answer when the prompt sets no maxTokens
ASK_TOKENS = (700, 48)  # the optimizer's longest request, instruct and completion framing (dualphase)
ASK_OVERHEAD_TOKENS = 600  # what an optimizer request adds to the prompt: the meta-prompt and the failures shown
JUDGE_TOKENS = (400, 8)  # an LLM evaluator's request and answer
# Phase 1: two sets of k demonstrations chosen from data (no ask), instructions induced (1 instruct, 2 completion),
# the meta-instruction (three rationales and it, or one ask per skeleton section): its requests and its proposals.
PHASE1_ASKS = {"instruct": 5, "completion": 8}
PHASE1_PROPOSALS = {"instruct": 4, "completion": 5}
LOCAL = "local: no cost"


@dataclass(frozen=True)
class Price:
    """Dollars per token of one model (None: litellm has no price for it), and what the report says of it."""

    model: str
    input: float | None
    output: float | None
    local: bool = False

    @property
    def known(self) -> bool:
        return self.local or (self.input is not None and self.output is not None)

    def usd(self, prompt_tokens: float, completion_tokens: float) -> float | None:
        if self.local:
            return 0.0
        if self.input is None or self.output is None:
            return None
        return self.input * prompt_tokens + self.output * completion_tokens


@dataclass
class Cost:
    """Calls and dollars, expected and at most (dollars None when a model has no known price)."""

    calls: int = 0
    max_calls: int = 0
    usd: float | None = 0.0
    max_usd: float | None = 0.0
    comparison: int = 0  # the calls of the base/head comparison, which no call limit cuts

    def add(self, calls: int, max_calls: int, price: Price, tokens: tuple[float, float]) -> None:
        self.calls += calls
        self.max_calls += max_calls
        one = price.usd(*tokens)
        self.usd = None if self.usd is None or one is None else self.usd + calls * one
        self.max_usd = None if self.max_usd is None or one is None else self.max_usd + max_calls * one


@dataclass(frozen=True)
class Forecast:
    prompts: int
    calls: int  # expected
    seconds: float
    optimize: bool
    warm_bases: int = 0  # of the prompts, those whose base is scored already (warmbase.likely_warm)
    max_calls: int = 0
    usd: float | None = 0.0  # expected dollars; None: no price known for a model it calls
    max_usd: float | None = 0.0
    prices: tuple[str, ...] = field(default=())  # what is known of each model's price, in words
    github_max_calls: int = 0  # the most calls to prompts run on GitHub Models, judged against...
    daily_limit: int | None = None  # ...the fewest requests a day their free tier allows
    github_models: tuple[str, ...] = ()

    def describe(self) -> str:
        plural = "s" if self.prompts != 1 else ""
        sides = (
            "base against head"
            if not self.warm_bases
            else "head against base's warm scores"
            if self.warm_bases == self.prompts
            else f"base against head ({self.warm_bases} of them against base's warm scores)"
        )
        work = f"score, {sides}" + (", and improve" if self.optimize else "")
        return (
            f"forecast: {self.prompts} changed prompt{plural} to {work}; {self.calls_text()}; {self.dollars_text()}; "
            f"{rough(self.seconds)}"
        )

    def calls_text(self) -> str:
        return (
            f"expected about {self.calls} model calls, at most {self.max_calls} (answers already in the cache are free)"
        )

    def dollars_text(self) -> str:
        if self.usd is None or self.max_usd is None:
            return "; ".join(self.prices) or "no price known"
        if self.max_usd == 0:
            return "; ".join(self.prices) or "no cost"
        return f"about ${self.usd:.4f}, at most ${self.max_usd:.4f} ({'; '.join(self.prices)})"

    def data(self) -> dict:
        """The forecast as the results file keeps it (prresults.Forecast)."""
        return {
            "calls": self.calls,
            "max_calls": self.max_calls,
            "usd": self.usd,
            "max_usd": self.max_usd,
            "price": "; ".join(self.prices),
        }


def forecast(
    changes: Sequence[Change],
    tree: Path,
    *,
    optimize: bool,
    refresh: bool,
    steps: int | None,
    model: str | None,
    subset_size: int | None,
    max_calls: int | None,
    optimizer_model: str | None = None,
    resolved: Sequence[effective.Effective | None] | None = None,
    warm: Callable[[Change], bool] = lambda change: False,
) -> Forecast:
    """The calls, dollars and time of a run over these changes (a prompt that does not load counts for nothing),
    each prompt with its effective settings (`resolved`, one per change; resolved here when not given)."""
    if resolved is None:
        overrides = effective.Overrides(
            model=model, optimizer_model=optimizer_model, optimize=optimize, max_calls=max_calls
        )
        resolved = [_resolved(change, tree, overrides) for change in changes]
    total, github, seconds, prices, limits, improves = Cost(), Cost(), START_SECONDS, {}, [], False
    warm_bases = 0
    for change, settled in zip(changes, resolved):
        if change.new_text is None or change.new_path is None or settled is None:
            continue
        try:
            head = promptfile.parse(change.new_text, tree / change.new_path)
            pool = pool_size(change, tree)
            n = _subset_size(head, pool, subset_size)
        except InputError:
            continue  # the prompt is reported as failed in its turn
        base = _base(change, tree)
        settings = base.settings if base else head.settings
        known = (
            change.old_text is not None and warm(change) and not draws.noisy([head, base]) and not settings.gate_slices
        )
        warm_bases += known
        task, asker = price(settled.model), price(settled.optimizer_model)
        cap = min((c for c in (max_calls, settled.max_calls) if c is not None), default=None)
        cost = prompt_cost(
            head,
            settings,
            pool=pool,
            n=n,
            base=change.old_text is not None and not known,
            optimize=settled.optimize,
            refresh=refresh,
            steps=steps,
            max_calls=cap,
            task=task,
            asker=asker,
            item_chars=_item_chars(change, tree, head, pool),
        )
        if known:  # head alone, and base's re-check (warmpr.RECHECK)
            cost.calls, cost.max_calls = cost.calls + RECHECK, cost.max_calls + RECHECK
        improves |= settled.optimize
        for p in (task,) + ((asker,) if settled.optimize else ()):
            prices[p.model] = _price_words(p)
        for into in (total, github) if settled.daily_limit is not None else (total,):
            into.calls += cost.calls
            into.max_calls += cost.max_calls
            into.comparison += cost.comparison
        if settled.daily_limit is not None:
            limits += [(settled.daily_limit, m) for m in settled.models if m.startswith("github/")]
        total.usd = None if total.usd is None or cost.usd is None else total.usd + cost.usd
        total.max_usd = None if total.max_usd is None or cost.max_usd is None else total.max_usd + cost.max_usd
        seconds += cost.calls * seconds_per_call(settled.model, settled.concurrency)
    if max_calls is not None:  # one limit for the whole run: the prompts share it
        for cost in (total, github):
            room = max(max_calls, cost.comparison)
            cost.calls, cost.max_calls = min(cost.calls, room), min(cost.max_calls, room)
    return Forecast(
        prompts=len(changes),
        warm_bases=warm_bases,
        calls=total.calls,
        seconds=seconds,
        optimize=improves,
        max_calls=total.max_calls,
        usd=total.usd,
        max_usd=total.max_usd,
        prices=tuple(prices.values()),
        github_max_calls=github.max_calls,
        daily_limit=min(limits)[0] if limits else None,
        github_models=tuple(sorted({m for _, m in limits})),
    )


def _resolved(change: Change, tree: Path, overrides: effective.Overrides) -> effective.Effective | None:
    try:
        return effective.of_change(change, tree, overrides)
    except InputError:
        return None  # the prompt is reported as failed in its turn


def prompt_cost(
    head: promptfile.PromptFile,
    settings: Settings,
    *,
    pool: int,
    n: int,
    base: bool,
    optimize: bool,
    refresh: bool,
    steps: int | None,
    max_calls: int | None,
    task: Price,
    asker: Price,
    item_chars: float,
) -> Cost:
    """One prompt's calls and dollars, expected and at most, as the flow spends them (pipeline.py): the comparison
    (never cut by a call limit), the refresh and the gate's first random batches (kept back from the optimizer),
    the optimizer's requests and scoring and its held-out check (two prompts on each held-out item), then gate
    extensions while the verdict is undecided, up to the gate's item budget. Each item scored costs
    a call, and one more per LLM evaluator; a sampled or judged prompt's compared items cost its draws
    (gate/repeats.py: targeted repeats where its first draws disagree), the comparison's never cut."""
    sides = 2 if base else 1
    judges = sum(1 for e in head.spec.evaluators if e.llm is not None or e.uses)  # extra calls per scored item
    compare = n * sides
    refreshed = (
        2 * min(settings.selection.max_replacements, math.ceil(settings.selection.replace_share * n)) if refresh else 0
    )
    first = sides * gate.kept_back(n, pool, settings.gate)  # the gate's random items: the subset decides nothing
    o = settings.optimizer
    t = o.steps if steps is None else steps
    left = None if max_calls is None else max(0, max_calls - (compare + refreshed + first) * (1 + judges))
    if o.max_calls is not None:  # the optimizer's own cap (pipeline.optimizer_budget)
        left = o.max_calls if left is None else min(left, o.max_calls)
    held = min(holdout_size(o.holdout, left), max(0, pool - n) // 2) if optimize else 0
    style = o.style if o.style != "auto" else "completion" if asker.local else "instruct"
    judged = min(judged_size(o.filter_items, left), max(0, pool - n - held) // 2)  # judged with the subset
    items = n + judged
    failures = math.ceil(items / 4)
    asks = max_asks = scored = max_scored = 0
    if optimize:  # phase 1's requests, then per step each attempt's request; every candidate is scored on the
        tries = PHASE1_PROPOSALS[style] + t * o.attempts  # failures, and one per phase and step on the rest
        asks = max_asks = PHASE1_ASKS[style] + t * o.attempts
        scored = n + judged + tries * failures + (1 + t) * (items - failures) + 2 * held
        max_scored = 2 * n + judged + tries * items + 2 * held  # (the input's own scores are cached)
        if o.max_calls is not None:  # the search stops at its cap, the verdict within it
            asks, max_asks = min(asks, o.max_calls), min(max_asks, o.max_calls)
            scored = min(scored, (o.max_calls - asks) // (1 + judges))
            max_scored = min(max_scored, (o.max_calls - max_asks) // (1 + judges))
    scored += refreshed + first
    max_scored += refreshed + sides * max(0, gate_item_limit(settings.gate, pool) - n)
    if max_calls is not None:  # the limit never cuts the comparison; it cuts all the rest, requests first
        room = max(0, max_calls - compare * (1 + judges))
        asks, max_asks = min(asks, room), min(max_asks, room)
        scored = min(scored, (room - asks) // (1 + judges))
        max_scored = min(max_scored, (room - max_asks) // (1 + judges))
    expect, most = repeats.draws_per_item(head, settings.repeats, base)
    kept = (most - 1) * compare  # at most, the comparison's repeats: never cut by a call limit
    gated = refreshed + first, refreshed + sides * max(0, gate_item_limit(settings.gate, pool) - n)
    again = round((expect - 1) * (compare + gated[0])), kept + (most - 1) * gated[1]  # draws beyond the first
    if max_calls is not None:  # the rest within what the limit leaves
        spare = max(0, max_calls // (1 + judges) - compare - kept - max_scored - max_asks)
        again = min(again[0], kept + spare), min(again[1], kept + spare)
    scored, max_scored = scored + again[0], max_scored + again[1]
    answer = head.spec.modelParameters.max_tokens_sent if head.spec.modelParameters else None
    prompt_tokens = sum(len(m.content) for m in head.spec.messages) / CHARS_PER_TOKEN
    cost = Cost(comparison=(compare + kept) * (1 + judges))
    cost.add(
        compare + scored,
        compare + max_scored,
        task,
        (prompt_tokens + item_chars / CHARS_PER_TOKEN, answer or ANSWER_TOKENS),
    )
    cost.add(asks, max_asks, asker, (prompt_tokens + ASK_OVERHEAD_TOKENS, ASK_TOKENS[style == "completion"]))
    if judges:
        cost.add((compare + scored) * judges, (compare + max_scored) * judges, task, JUDGE_TOKENS)
    return cost


def gate_item_limit(gate: GateSettings, pool: int) -> int:
    """The most items the gate scores per prompt, extensions included (`promptci.gate.max_items`)."""
    return pool if gate.max_items is None else min(gate.max_items, pool)


@lru_cache(maxsize=64)
def price(model: str) -> Price:
    """litellm's price per input and output token for `model` (the name a run calls it by)."""
    from ..models.llm import _litellm, in_process

    if in_process(model):
        return Price(model, 0.0, 0.0, local=True)
    try:
        one_input, _ = _litellm().cost_per_token(model=model, prompt_tokens=1, completion_tokens=0)
        _, one_output = _litellm().cost_per_token(model=model, prompt_tokens=0, completion_tokens=1)
    except Exception:  # litellm raises a bare Exception for a model it has no price for
        return Price(model, None, None)
    return Price(model, float(one_input), float(one_output))


def _price_words(p: Price) -> str:
    if p.local:
        return f"{p.model}: {LOCAL}"
    if p.input is None or p.output is None:
        return f"{p.model}: no price known"
    return f"{p.model} at ${p.input * 1e6:.2f}/${p.output * 1e6:.2f} per million input/output tokens"


def _base(change: Change, tree: Path) -> promptfile.PromptFile | None:
    """The base version, whose `promptci:` settings judge the change (pipeline.py); None for a new prompt."""
    if change.old_text is None or change.old_path is None:
        return None
    try:
        return promptfile.parse(change.old_text, tree / change.old_path)
    except InputError:
        return None


def _item_chars(change: Change, tree: Path, head: promptfile.PromptFile, pool: int) -> float:
    """About how long one item's text is: the pool file's size over its items (its keys and answer included)."""
    if not pool:
        return 0.0
    if head.settings.pool:
        try:
            return head.resolve(head.settings.pool, field="promptci.pool").stat().st_size / pool
        except (OSError, InputError):
            return 0.0
    return sum(len(str(row)) for row in head.spec.testData or []) / pool


def rough(seconds: float) -> str:
    """'under a minute on this machine (2 CPU cores)', 'roughly 3 minutes on ...'."""
    minutes = round(seconds / 60)
    time = "under a minute" if seconds < 60 else f"roughly {minutes} minute{'s' if minutes != 1 else ''}"
    return f"{time} on this machine ({os.cpu_count() or 1} CPU cores)"


def _subset_size(prompt: promptfile.PromptFile, pool: int, asked: int | None) -> int:
    path = subsetfile.path_for(prompt)
    if path.exists():
        try:
            return len(subsetfile.read(path).items)
        except InputError:
            pass
    from ..selection.subsets import SelectionParams  # not at import: `promptci eval` needs none of selection's

    return (
        SelectionParams.from_settings(prompt.settings.selection, size=asked).at_most(pool).size
    )  # as the flow sizes it


def seconds_per_call(model: str, concurrency: int) -> float:
    """About how long one uncached call takes, calls in flight taken into account."""
    if model.startswith("local/"):
        return LOCAL_SECONDS_PER_CALL_2_CORES * 2 / min(max(os.cpu_count() or 1, 1), 8)
    return REMOTE_SECONDS_PER_CALL / concurrency
