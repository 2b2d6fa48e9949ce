"""The results format: what `promptci eval` writes and every later command reads.

A results file is JSON: `{"format": "promptci.results/1", "runs": [Run, ...]}`, one run per prompt
scored. Plain dataclasses, so a run can be rendered, merged or gated long after it was made.
The README documents every field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic.dataclasses

from ..errors import InputError
from ..gate.stats import mean_interval
from .fileio import atomic_write_text, read_input
from .records import RECORD, Count, Dollars, LabelMethod, Seconds, Unit

FORMAT = "promptci.results/1"


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class Evaluation:
    """One evaluator's verdict on one item: a score in [0, 1] and why."""

    name: str
    score: Unit
    reason: str


@dataclass(frozen=True)
class Fingerprint:
    """What graded a run's items under one evaluator name: a digest of its definition, the judge model (None: no
    model) and whether an LLM grades (its grades are samples, checked by self-agreement)."""

    digest: str
    model: str | None = None
    llm: bool = False


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class Draw:
    """One sample of an item: the answer and its score (None when it failed)."""

    output: str | None
    score: Unit | None


@pydantic.dataclasses.dataclass(config=RECORD)
class ItemResult:
    """One item scored by one prompt (a record: the same class in both results formats)."""

    id: str
    output: str | None = None
    expected: Any = None
    score: Unit | None = None  # mean of the evaluators' scores; None when the item failed
    evaluations: list[Evaluation] = field(default_factory=list)
    label_probs: dict[str, Unit] | None = None  # probability of each label (label scoring only)
    label_method: LabelMethod | None = None
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    cost_usd: Dollars | None = 0.0
    latency_s: Seconds = 0.0
    cached: bool = False
    error: str | None = None  # why the item has no score
    error_kind: Literal["infra", "input"] | None = None  # infra: the model was unreachable
    draws: list[Draw] = field(default_factory=list)  # every draw when the item had more than one; score: their mean
    regrades: list[Evaluation] = field(default_factory=list)  # the LLM judges' second grades of the first answer


@dataclass(frozen=True)
class Agreement:
    """A judge's self-agreement: of `graded` answers it graded twice, `agreed` got the same score both times."""

    graded: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.graded if self.graded else None


@dataclass
class Summary:
    n: int
    scored: int
    errors: int
    mean: float | None
    ci95: tuple[float, float] | None
    ci_method: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cost_known: bool
    calls: int
    cache_hits: int
    wall_s: float
    draws: int = 1  # k, the draws of each item (1: its score is one answer)
    pass_all: int | None = None  # items that passed in every one of their k draws (pass^k's numerator)
    flaky: list[str] = field(default_factory=list)  # items that passed in some draws and failed in others
    judge_agreement: Agreement | None = None  # the LLM judges' grades given twice to the same answer


@dataclass
class Run:
    """All results of one prompt on one set of items."""

    prompt: dict[str, Any]  # path, name, sha256
    model: str
    parameters: dict[str, Any]
    pool: dict[str, Any]  # source, sha256, size
    selection: str  # full | subset | first-N
    items: list[ItemResult]
    summary: Summary
    created_at: str
    promptci_version: str
    evaluators: dict[str, Fingerprint] = field(default_factory=dict)

    @property
    def fault(self) -> str | None:
        """Why the model could not be reached, from the first item that says so (None when none does)."""
        return next((r.error or "the model is unreachable" for r in self.items if r.error_kind == "infra"), None)

    @property
    def scores(self) -> dict[str, float]:
        """Item id → score, for the items that have one."""
        return {r.id: r.score for r in self.items if r.score is not None}


def mean_score(results: Mapping[str, Any], ids: Sequence[str]) -> float | None:
    """The mean score of a prompt over the items it has a score for (None when it has none); `results`
    maps item ids to anything with a `score` (an ItemResult, or its form in a pull-request results file)."""
    scores = [results[i].score for i in ids if i in results and results[i].score is not None]
    return sum(scores) / len(scores) if scores else None


def summarise(
    items: list[ItemResult],
    *,
    calls: int,
    cache_hits: int,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
    wall_s: float,
) -> Summary:
    """The run's summary; the totals count every request of the run (judges included)."""
    scores = [r.score for r in items if r.score is not None]
    interval = mean_interval(scores)
    return Summary(
        n=len(items),
        scored=len(scores),
        errors=sum(r.error is not None for r in items),
        mean=None if math.isnan(interval.mean) else interval.mean,
        ci95=None if interval.n == 0 else (interval.low, interval.high),
        ci_method=interval.method,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        cost_known=all(r.cost_usd is not None for r in items),
        calls=calls,
        cache_hits=cache_hits,
        wall_s=wall_s,
    )


def dump(runs: Iterable[Run]) -> str:
    return json.dumps({"format": FORMAT, "runs": [asdict(run) for run in runs]}, indent=2, ensure_ascii=False) + "\n"


def write(path: str | Path, runs: Iterable[Run]) -> None:
    """Write a results file atomically (a reader never sees half of it)."""
    atomic_write_text(path, dump(runs))


def read(path: str | Path) -> list[Run]:
    """Read a results file written by any promptci command."""
    where = str(path)
    try:
        data = json.loads(
            read_input(path, what="results file", fix="pass a file written by 'promptci eval --json'").decode("utf-8")
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not a results file ({exc})", path=where, fix="pass a file written by promptci") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(
            f"unknown results format {data.get('format') if isinstance(data, dict) else None!r}",
            path=where,
            field="format",
            fix=f"pass a {FORMAT} file written by promptci",
        )
    try:
        return [_run(r) for r in data["runs"]]
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"results file is incomplete ({exc})",
            path=where,
            field="runs",
            fix="re-create it with 'promptci eval --json'",
        ) from None


def _run(data: dict[str, Any]) -> Run:
    items = [
        ItemResult(
            **{
                **i,
                "evaluations": [Evaluation(**e) for e in i["evaluations"]],
                "draws": [Draw(**d) for d in i.get("draws", [])],
                "regrades": [Evaluation(**e) for e in i.get("regrades", [])],
            }
        )
        for i in data["items"]
    ]
    summary = data["summary"]
    agreement = summary.get("judge_agreement")
    summary = Summary(
        **{
            **summary,
            "ci95": tuple(summary["ci95"]) if summary["ci95"] else None,
            "judge_agreement": Agreement(**agreement) if agreement else None,
        }
    )
    evaluators = {name: Fingerprint(**f) for name, f in data.get("evaluators", {}).items()}
    return Run(**{**data, "items": items, "summary": summary, "evaluators": evaluators})
