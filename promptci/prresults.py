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
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, cast, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import gate, removals
from .errors import InputError, redact
from .fileio import read_input
from .results import mean_score
from .settings import GateSettings

if TYPE_CHECKING:  # the pipeline imports the models and embeddings: not needed to read or render results
    from .optimize.job import Job
    from .pipeline import PromptResult, PRResult

FORMAT: Final = "promptci.pr/1"
MAX_BYTES = 64 * 1024 * 1024  # a results file larger than this is refused before it is parsed


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _signed_or_nan(value: float) -> float:  # a comparison on no items has NaN means (stats.compare)
    if not math.isnan(value) and not -1.0 <= value <= 1.0:
        raise ValueError("must be between -1 and 1")
    return value


Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0.0), AfterValidator(_finite)]
Signed = Annotated[float, AfterValidator(_signed_or_nan)]
Sha = Annotated[str, Field(pattern=r"^[0-9a-f]{40,64}$")]
ShardId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
Status = Literal["pass", "fail", "inconclusive", "undecided", "neutral"]  # undecided: files of earlier versions
assert set(get_args(Status)) == set(gate.Status), "a results file records the gate's statuses"


def file_verdict(v: gate.Verdict) -> Verdict:
    """A gate verdict as a results file records it (the gate's statuses are the file's: the assert above)."""
    return Verdict(status=cast(Status, v.status), reason=v.reason)


class Model(BaseModel):
    """Strict: no unknown keys, no coercion (a string is not a number, a number not a string)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Verdict(Model):
    status: Status
    reason: str


class Usage(Model):
    calls: Count
    cache_hits: Count
    prompt_tokens: Count
    completion_tokens: Count
    cost_usd: Seconds  # dollars: finite and not negative, like seconds
    wall_s: Seconds
    budget: str


class Forecast(Model):
    """What the run forecast before scoring (forecast.py): model calls expected and at most, and dollars (None:
    a model it calls has no known price); `price` says what is known of each model's price."""

    calls: Count
    max_calls: Count
    usd: Seconds | None
    max_usd: Seconds | None
    price: str


class Change(Model):
    status: Literal["added", "modified", "deleted", "renamed", "inputs"]
    old_path: str | None
    new_path: str | None
    old_text: str | None
    new_text: str | None
    reason: str


class Comparison(Model):
    n: Count
    base_mean: Signed
    head_mean: Signed
    delta: Signed
    low: Signed
    high: Signed
    p_value: Unit
    method: Literal["mcnemar", "bootstrap", "none"]
    improved: Count
    regressed: Count


class Evaluation(Model):
    name: str
    score: Unit
    reason: str


class Draw(Model):
    output: str | None
    score: Unit | None


class ItemResult(Model):
    """One item scored by one prompt (results.ItemResult, with the same defaults)."""

    id: str
    output: str | None = None
    expected: Any = None
    score: Unit | None = None
    evaluations: list[Evaluation] = Field(default_factory=list)
    label_probs: dict[str, Unit] | None = None
    label_method: Literal["exact", "top_logprobs", "constrained", "generated"] | None = None
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    cost_usd: Seconds | None = 0.0
    latency_s: Seconds = 0.0
    cached: bool = False
    error: str | None = None
    error_kind: Literal["infra", "input"] | None = None
    draws: list[Draw] = Field(default_factory=list)  # every draw, when the item had more than one
    regrades: list[Evaluation] = Field(default_factory=list)  # the LLM judges' second grades of the first answer


class Scores(Model):
    base: Unit | None
    head: Unit | None


class Replacement(Model):
    removed: str
    added: str
    why: str


class Subset(Model):
    path: str
    changed: bool
    text: str | None
    patch: str
    replacements: list[Replacement]


class SubsetScore(Model):
    head: Unit
    best: Unit


class Attempt(Model):
    step: Count
    unit: Count | None
    kind: Literal[
        "instruction",
        "demos",
        "rewrite",
        "swap",
        "add",
        "insert",
        "remove",  # older files: the unit kind
        "sentence",
        "demo",
        "header",
        "query",
        "blank",
    ]
    before: str
    after: str | None
    failure_score: Unit | None
    subset_score: Unit | None
    accepted: bool
    why: str


class PoolDemo(Model):
    """A demonstration of the suggested prompt that is a pool item: left out of every score of the suggestion."""

    item: str
    text: str
    where: Literal["subset", "held-out", "training"]


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
    score_after_step: list[Unit]
    best_text: str
    diff: str
    attempts: list[Attempt]


class Gate(Model):
    """The gate settings the verdict was reached with (`promptci.gate` and the command line's overrides)."""

    min_score: Unit | None
    margin: Unit
    significance: Annotated[float, Field(gt=0.0, lt=1.0)]
    max_items: Annotated[int, Field(ge=1)]
    on_inconclusive: Literal["fail", "neutral", "pass"]


class PromptResults(Model):
    path: str
    change: Change
    model: str
    seed: Annotated[int, Field(ge=0)] | None
    hashes: dict[Literal["head", "base", "pool"], Sha]
    error: str | None
    timings: dict[str, Seconds]
    gate: Gate | None = None  # None only when the head version could not be read
    verdict: Verdict | None
    comparison: Comparison | None
    scores: Scores
    items: list[str]  # the items compared: the subset, then extra pool items in the gate's random order
    subset_items: Count
    pool_items: Count | None = None  # items in the pool the gate sampled from (None: files of earlier versions)
    subset_note: str
    slices: list[str] = Field(default_factory=list)  # the IPOMP clusters head was shown worse on
    texts: dict[str, str] = Field(default_factory=dict)  # item id -> input text (compared and swapped items)
    subset: Subset
    base: dict[str, ItemResult]
    head: dict[str, ItemResult]
    optimizer: Optimizer | None

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
        return self

    @property
    def has_base(self) -> bool:
        return "base" in self.hashes


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


def from_pipeline(result: PRResult) -> PRResults:
    return PRResults.model_validate(
        dict(
            format=FORMAT,
            verdict=asdict(result.verdict),
            usage={**result.usage.as_dict(), "wall_s": result.wall_s, "budget": result.budget},
            prompts=[_prompt(p) for p in result.prompts],
            forecast=result.forecast.data() if result.forecast is not None else None,
        ),
        strict=False,
    )


def dump(data: PRResults) -> str:
    """The results file's text; any secret of the environment in it masked (a last guard: results are uploaded)."""
    return redact(json.dumps(data.model_dump(mode="json", exclude_none=False), indent=2, ensure_ascii=False) + "\n")


def parse(data: Any) -> PRResults:
    """Results data as it came from JSON (a dict), checked strictly; raises ValidationError."""
    if isinstance(data, PRResults):
        return data
    return PRResults.model_validate(data)


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
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "format"
        raise InputError(
            f"the results file is invalid: {error['msg'][:200]}", path=path, field=where, fix=fix
        ) from None


def recompute(data: PRResults) -> PRResults:
    """The same results with every prompt's scores, comparison and verdict derived again from its per-item
    scores and gate settings, and the overall verdict from those: a file's own verdicts are never trusted.
    Where the file's status agrees, its reason is kept: the run's words say more (why it stopped scoring)."""
    removed = removals.removed_gated([p.change for p in data.prompts])
    prompts = [_recompute(p, removed) for p in data.prompts]
    overall = gate.overall([p.verdict.status if p.verdict else None for p in prompts])
    return data.model_copy(update={"prompts": prompts, "verdict": file_verdict(overall)})


def _recompute(p: PromptResults, removed: Mapping[str, float | None]) -> PromptResults:
    scores = Scores(base=mean_score(p.base, p.items) if p.has_base else None, head=mean_score(p.head, p.items))
    comparison = None
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
            removals.unguarded(p.change, _settings(p.gate), removed)
            or gate.replay(p.items, p.subset_items, None, p.head, p.pool_items, _settings(p.gate))[0]
        )
    else:
        verdict, c = gate.replay(p.items, p.subset_items, p.base, p.head, p.pool_items, _settings(p.gate))
        comparison = Comparison.model_validate(asdict(c), strict=False) if c is not None else None
    if p.verdict is not None and p.verdict.status == verdict.status:
        verdict = gate.Verdict(verdict.status, p.verdict.reason)  # the run's own words (why it stopped scoring)
    return p.model_copy(update={"scores": scores, "comparison": comparison, "verdict": file_verdict(verdict)})


def regate(data: PRResults, gates: Mapping[str, GateSettings]) -> PRResults:
    """The results judged again with trusted gate settings by prompt path (the base revision's, read by the job
    that posts an uploaded artifact): the settings a results file records came from the run that wrote it."""
    prompts = [
        p.model_copy(update={"gate": Gate(**gates[p.path].model_dump(include=set(Gate.model_fields)))})
        if p.path in gates
        else p
        for p in data.prompts
    ]
    return recompute(data.model_copy(update={"prompts": prompts}))


def _settings(recorded: Gate) -> GateSettings:
    return GateSettings(**recorded.model_dump())


def _prompt(p: PromptResult) -> dict[str, Any]:
    job = p.job
    subset_text = p.subset_text
    return {
        "path": p.path,
        "change": asdict(p.change),
        "model": p.model,
        "seed": p.seed,
        "hashes": p.hashes,
        "error": p.error,
        "timings": p.timings,
        "verdict": asdict(p.verdict) if p.verdict else None,
        "gate": p.gate_settings.model_dump() if p.gate_settings is not None else None,
        "comparison": asdict(p.comparison) if p.comparison else None,
        "scores": {"base": mean_score(p.base, p.items) if p.base else None, "head": mean_score(p.head, p.items)},
        "items": p.items,
        "subset_items": p.subset_items,
        "pool_items": p.pool_items,
        "subset_note": p.subset_note,
        "slices": p.slices,
        "texts": p.texts,
        "subset": {
            "path": p.subset_path,
            "changed": p.subset_changed,
            "text": subset_text,
            "patch": _patch(p.subset_path, p.subset_old_text, subset_text),
            "replacements": p.replacements,
        },
        "base": {i: asdict(r) for i, r in p.base.items()},
        "head": {i: asdict(r) for i, r in p.head.items()},
        "optimizer": None
        if job is None
        else {
            "improved": job.outcome.improved,
            "stopped": job.outcome.stopped,
            "steps_done": job.outcome.steps_done,
            **_honest(job),
            "score_after_step": job.outcome.score_after_step,
            "best_text": job.outcome.best_text,
            "diff": job.outcome.diff("head", "suggested") if job.outcome.improved else "",
            "attempts": [asdict(a) for a in job.outcome.attempts],
        },
    }


def _honest(job: Job) -> dict[str, Any]:
    """The suggestion's scores as the report gives them: held-out beside subset, pool demonstrations left out."""
    o = job.outcome
    honest = job.subset_best is not None and job.subset_initial is not None
    subset = (
        {"head": job.subset_initial, "best": job.subset_best}
        if honest
        else {"head": o.initial_on_final, "best": o.best_score}
    )
    held = all(s is not None and not math.isnan(s) for s in (job.holdout_initial, job.holdout_best))
    return {
        "subset_score": subset,
        "subset_score_items": len(job.subset_items) if honest else None,
        "holdout_score": {"head": job.holdout_initial, "best": job.holdout_best} if held else None,
        "holdout_items": len(job.holdout_items) if held else 0,
        "holdout_note": job.holdout_note,
        "pool_demos": [asdict(d) for d in job.pool_demos],
    }


def _patch(path: str, old: str | None, new: str | None) -> str:
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
