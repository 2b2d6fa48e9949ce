"""The results of `promptci pr` as data (format `promptci.pr/1`): what the report, GitHub and people read.

Everything after the pipeline works from this one typed form — the comment, the job summary,
`promptci report`, publishing — so a report can be rebuilt from a results file alone, on another
machine. A results file may come from an untrusted run (a fork's uploaded artifact, a shard), so
`load` checks it strictly (types, ranges, enums, no unknown keys) and `recompute` derives every
score, comparison and verdict again from the per-item scores and the recorded gate settings.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InputError, redact
from ..gate import decision as gate, removals, repeats
from ..gate.decision import Design, Verdict
from ..gate.stats import Comparison
from ..gitdiff import Change
from ..models.usage import Counters
from ..optimize import verdict as suggestion
from .evalresults import ItemResult, mean_score
from .fileio import first_error, read_input
from .records import Attempt, Count, Dollars, Effective, PoolDemo, Replacement, Seconds, Unit
from .settings import GateSettings
from .suggested import Adopted

if TYPE_CHECKING:  # the pipeline imports the models and embeddings: not needed to read or render results
    from ..optimize.job import Job
    from ..pullrequest.forecast import Forecast as Planned

FORMAT: Final = "promptci.pr/1"
MAX_BYTES = 64 * 1024 * 1024  # a results file larger than this is refused before it is parsed

Sha = Annotated[str, Field(pattern=r"^[0-9a-f]{40,64}$")]
ShardId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
__all__ = ["Attempt", "Change", "Comparison", "ItemResult", "PoolDemo", "Replacement", "Verdict"]  # the records


class Model(BaseModel):
    """No unknown keys; made by the pipeline (lax: numpy numbers become floats), read strictly as JSON (`parse`)."""

    model_config = ConfigDict(extra="forbid")


class Usage(Model):
    calls: Count
    cache_hits: Count
    prompt_tokens: Count
    completion_tokens: Count
    cost_usd: Dollars
    wall_s: Seconds
    budget: str

    @classmethod
    def of(cls, counters: Counters, wall_s: float, budget: str) -> Usage:
        """A run's usage: its client's counters, its wall time, and what its budgets allowed and spent."""
        c = counters
        return cls(
            calls=c.calls,
            cache_hits=c.cache_hits,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            cost_usd=c.cost_usd,
            wall_s=wall_s,
            budget=budget,
        )


class Forecast(Model):
    """What the run forecast before scoring (forecast.py): model calls expected and at most, and dollars (None:
    a model it calls has no known price); `price` says what is known of each model's price."""

    calls: Count
    max_calls: Count
    usd: Dollars | None
    max_usd: Dollars | None
    price: str

    @classmethod
    def of(cls, planned: Planned) -> Forecast:
        p = planned
        return cls(calls=p.calls, max_calls=p.max_calls, usd=p.usd, max_usd=p.max_usd, price="; ".join(p.prices))


class Scores(Model):
    base: Unit | None
    head: Unit | None


class Subset(Model):
    """The subset file after the run: its path, its new text when the run changed it, and as a patch."""

    path: str
    changed: bool
    text: str | None
    patch: str
    replacements: list[Replacement]


class SubsetScore(Model):
    head: Unit
    best: Unit


class SearchCost(Model):
    """What finding and judging the suggestion cost: the search's calls and seconds, the verdict's calls."""

    calls: Count
    seconds: Seconds
    verdict_calls: Count


class Optimizer(Model):
    improved: bool
    stopped: str
    steps_done: Count
    subset_score: SubsetScore  # on the subset it was tuned on (pool demonstrations out)
    subset_score_items: Count | None = None  # how many subset items that is (None: an older file)
    holdout_score: SubsetScore | None = None  # on items the optimizer never saw; None: not scored (holdout_note)
    holdout_items: Count = 0
    holdout_note: str = ""
    pool_demos: list[PoolDemo] = Field(default_factory=list)
    verdict: suggestion.Verdict | None = None  # None: no suggestion, or none could be judged (older files too)
    cost: SearchCost | None = None
    broken: list[str] = Field(default_factory=list)  # subset items the change broke, which the search aimed at
    won_back: list[str] = Field(default_factory=list)  # those the suggestion (or head, with none) gets right
    score_after_step: list[Unit]
    best_text: str
    diff: str
    attempts: list[Attempt]

    @classmethod
    def of(cls, job: Job) -> Optimizer:
        """The optimizer's run as the report gives it: held-out beside subset, pool demonstrations left out."""
        o = job.outcome
        initial, best = job.subset_initial, job.subset_best
        honest = initial is not None and best is not None
        subset = (
            SubsetScore(head=initial, best=best) if honest else SubsetScore(head=o.initial_on_final, best=o.best_score)
        )
        held_initial, held_best = job.holdout_initial, job.holdout_best
        held = None
        if held_initial is not None and held_best is not None and not math.isnan(held_initial + held_best):
            held = SubsetScore(head=held_initial, best=held_best)
        return cls(
            improved=o.improved,
            stopped=o.stopped,
            steps_done=o.steps_done,
            subset_score=subset,
            subset_score_items=len(job.subset_items) if honest else None,
            holdout_score=held,
            holdout_items=len(job.holdout_items) if held else 0,
            holdout_note=job.holdout_note,
            pool_demos=list(job.pool_demos),
            score_after_step=o.score_after_step,
            best_text=o.best_text,
            diff=o.diff("head", "suggested") if o.improved else "",
            attempts=list(o.attempts),
            verdict=job.verdict if job.verdict is not None and job.verdict.items else None,
            cost=SearchCost(calls=job.search_calls, seconds=job.search_s, verdict_calls=job.verdict_calls),
            broken=list(job.broken),
            won_back=list(job.won_back),
        )


class PromptResults(Model):
    """One changed prompt: how it was judged, on which items, with which scores, and what was suggested."""

    model_config = ConfigDict(extra="forbid", revalidate_instances="always")  # filled in steps, checked when whole
    path: str
    change: Change
    model: str
    seed: Annotated[int, Field(ge=0)] | None
    hashes: dict[Literal["head", "base", "pool"], Sha]
    error: str | None
    timings: dict[str, Seconds]
    gate: GateSettings | None = None  # what the verdict was reached with; None: the head version was unread
    settings: Effective | None = None  # the run settings it was scored with (None: unresolved, or an older file)
    verdict: Verdict | None
    comparison: Comparison | None
    scores: Scores
    items: list[str]  # the items compared: the subset, then extra pool items in the gate's random order
    subset_items: Count
    pool_items: Count | None = None  # items in the pool the gate sampled from (None: files of earlier versions)
    draw_seed: Annotated[int, Field(ge=0)] | None = None  # the seed of the gate's draws (gate.draw_seed)
    design: Design | None = None  # head's draws against base's known scores (None: base scored in the run)
    subset_note: str
    base_note: str = ""  # where base's scores come from: scored in this run, or the default branch's warm run
    slices: list[str] = Field(default_factory=list)  # the IPOMP clusters head was shown worse on
    sampled: bool = False  # the scores are draws (sampling or an LLM judge): the gate treats the pool as endless
    repeats: Annotated[int, Field(ge=2)] | None = None  # targeted repeats' r (gate/repeats.py); None: none made
    texts: dict[str, str] = Field(default_factory=dict)  # item id -> input text (compared and swapped items)
    subset: Subset
    base: dict[str, ItemResult]
    head: dict[str, ItemResult]
    optimizer: Optimizer | None
    adopted: Adopted | None = None  # head is a suggestion of an earlier run (pullrequest/adoption.py)

    @model_validator(mode="after")
    def _consistent(self) -> PromptResults:
        if len(set(self.items)) != len(self.items):
            raise ValueError("items: an item id appears twice")
        if self.subset_items > len(self.items):
            raise ValueError("subset_items: more than the items compared")
        for side in ("base", "head"):
            results = getattr(self, side)
            wrong = [i for i, r in results.items() if r.id != i]
            if wrong:
                raise ValueError(f"{side}: the result under {wrong[0]!r} is for another item")
        missing = [i for i in self.items if i not in self.head or (self.has_base and i not in self.base)]
        if missing and self.error is None:
            raise ValueError(f"items: {missing[0]!r} has no score")
        for side in ("base", "head"):  # the replay reads the draws: they must be the score's
            for i, r in getattr(self, side).items():
                drawn = [d.score for d in r.draws]
                if r.score is not None and drawn and (None in drawn or abs(sum(drawn) / len(drawn) - r.score) > 1e-6):
                    raise ValueError(f"{side}.{i}.draws: they are not the draws of its score")
        if self.repeats is not None and self.has_base:
            both = [(self.base[i], self.head[i]) for i in self.items if i in self.base and i in self.head]
            if any(repeats.disagree(b, h) and min(len(b.draws), len(h.draws)) < self.repeats for b, h in both):
                raise ValueError(f"items: one whose first draws disagree lacks its {self.repeats} draws")
        return self

    @property
    def has_base(self) -> bool:
        return "base" in self.hashes

    @classmethod
    def start(cls, change: Change, **known: Any) -> PromptResults:
        """A prompt's results before anything is known of it, to be filled in step by step (the pipeline)."""
        empty = Subset(path="", changed=False, text=None, patch="", replacements=[])
        return cls.model_validate(
            dict(
                path=change.path,
                change=change,
                model="",
                seed=None,
                hashes={},
                error=None,
                timings={},
                verdict=None,
                comparison=None,
                scores=Scores(base=None, head=None),
                items=[],
                subset_items=0,
                subset_note="",
                subset=empty,
                base={},
                head={},
                optimizer=None,
            )
            | known
        )


class PullRequestRef(Model):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)  # hashable: shards must name one

    number: Annotated[int, Field(ge=1)]
    head_sha: Sha


class PRResults(Model):
    """One run of `promptci pr` (or one shard of it): the file `results.json`."""

    format: Literal["promptci.pr/1"]
    verdict: Verdict
    usage: Usage
    prompts: list[PromptResults]
    pull_request: PullRequestRef | None = None  # which pull request the run tested (in Actions)
    shard: ShardId | None = None  # the shard of `promptci plan` this run gated (sharded workflows)
    plan: dict[ShardId, list[str]] | None = None  # with a shard: every planned shard id -> its prompts
    forecast: Forecast | None = None  # the calls and dollars forecast before scoring (None: an older file)

    @model_validator(mode="after")
    def _shard_has_its_plan(self) -> PRResults:
        if (self.shard is None) != (self.plan is None) or (self.plan is not None and self.shard not in self.plan):
            raise ValueError("shard: a shard's results carry the plan that includes it, and only a shard's do")
        return self


def dump(data: PRResults) -> str:
    """The results file's text; any secret of the environment in it masked (a last guard: results are uploaded)."""
    return redact(json.dumps(data.model_dump(mode="json", exclude_none=False), indent=2, ensure_ascii=False) + "\n")


def parse(data: Any) -> PRResults:
    """Results data as it came from JSON (a dict), checked strictly as JSON (a string is not a number, a number not
    a string; no unknown keys); raises ValidationError."""
    if isinstance(data, PRResults):
        return data
    return PRResults.model_validate_json(json.dumps(data), strict=True)


def load(path: Path) -> PRResults:
    """A results file written by `promptci pr`, checked and with every verdict recomputed; else an InputError."""
    fix = "pass a results.json written by 'promptci pr'"
    try:
        data = json.loads(read_input(path, what="results file", fix=fix, limit=MAX_BYTES).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InputError(f"the results file is not JSON ({str(exc)[:200]})", path=path, fix=fix) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} results file", path=path, field="format", fix=fix)
    for key in ("verdict", "usage", "prompts"):
        if key not in data:
            raise InputError("the results file is incomplete", path=path, field=key, fix=fix)
    try:
        return recompute(parse(data))
    except ValidationError as exc:
        where, said = first_error(exc, whole="format")
        raise InputError(f"the results file is invalid: {said[:200]}", path=path, field=where, fix=fix) from None


def recompute(data: PRResults) -> PRResults:
    """The same results with every prompt's scores, comparison and verdict derived again from its per-item
    scores and gate settings, and the overall verdict from those: a file's own verdicts are never trusted.
    Where the file's status agrees, its reason is kept: the run's words say more (why it stopped scoring)."""
    removed = removals.removed_gated([p.change for p in data.prompts])
    prompts = [_recompute(p, removed) for p in data.prompts]
    overall = gate.overall([p.verdict.status if p.verdict else None for p in prompts])
    return data.model_copy(update={"prompts": prompts, "verdict": overall})


def _recompute(p: PromptResults, removed: Mapping[str, float | None]) -> PromptResults:
    scores = Scores(base=mean_score(p.base, p.items) if p.has_base else None, head=mean_score(p.head, p.items))
    comparison = None
    pool = None if p.sampled else p.pool_items  # sampled scores: every item a draw from an endless pool (draws.py)
    if p.error is not None:
        verdict = gate.Verdict(gate.FAIL, f"the head version cannot be scored: {p.error}")
    elif p.change.new_text is None:
        verdict = removals.verdict(p.change)
    elif p.verdict is not None and p.verdict.status == gate.NEUTRAL and not (p.items or p.base or p.head):
        verdict = gate.Verdict(gate.NEUTRAL, p.verdict.reason)  # no items: nothing was, or could be, judged
    elif p.gate is None:
        verdict = gate.Verdict(gate.FAIL, "the results do not record the gate settings")
    elif not p.has_base:
        verdict = (
            removals.unguarded(p.change, p.gate, removed)
            or gate.replay(p.items, p.subset_items, None, p.head, pool, p.gate)[0]
        )
    elif p.design is not None:  # head against base's known scores, on exactly the recorded draws
        verdict, comparison = gate.decide_known(p.design, {i: r.score for i, r in p.head.items()}, p.gate)
        verdict = gate.settle(verdict, p.gate, f"scoring stopped at {len(p.design.draws)} items")
    else:
        verdict, c = gate.replay(p.items, p.subset_items, p.base, p.head, pool, p.gate, p.repeats)
        comparison = c
    if p.verdict is not None and p.verdict.status == verdict.status:
        verdict = gate.Verdict(verdict.status, p.verdict.reason)  # the run's own words (why it stopped scoring)
    elif p.verdict is not None and p.verdict.status == gate.FAIL:
        verdict = p.verdict  # a fail the run reached after the test (protected items, slices) stands: never undone
    elif p.verdict is not None and p.verdict.status == gate.INCONCLUSIVE and verdict.status == gate.FAIL:
        verdict = p.verdict  # the run made a judge's noisy fail advisory (gate/judgecheck.py); a pass it never made
    return p.model_copy(update={"scores": scores, "comparison": comparison, "verdict": verdict})


def regate(data: PRResults, gates: Mapping[str, GateSettings]) -> PRResults:
    """The results judged again with trusted gate settings by prompt path (the base revision's, read by the job
    that posts an uploaded artifact): the settings a results file records came from the run that wrote it."""
    prompts = [p.model_copy(update={"gate": gates[p.path]}) if p.path in gates else p for p in data.prompts]
    return recompute(data.model_copy(update={"prompts": prompts}))


def patch(path: str, old: str | None, new: str | None) -> str:
    """The subset change as a patch `git apply` takes (empty when the subset did not change)."""
    if new is None:
        return ""
    return "".join(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}" if old is not None else "/dev/null",
            tofile=f"b/{path}",
        )
    )
