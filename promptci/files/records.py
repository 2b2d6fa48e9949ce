"""The value types of what promptci records, and the records whose home modules are heavy to import.

A record is one class, used by the code that makes it and kept as is in the results file (`promptci.pr/1`):
a pydantic dataclass, validated when it is made (lax: numpy numbers become floats) and, when a results file is
read, strictly as JSON (prresults.load). The records of light modules live there (gate.Verdict,
stats.Comparison, results.ItemResult, gitdiff.Change); the optimizer's and the subset refresh's live here, so
that reading a results file imports neither the models nor the embeddings.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field
from pydantic.dataclasses import dataclass

RECORD = ConfigDict(extra="forbid")  # a record names every field: a file's unknown key is an error


def finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _signed_or_nan(value: float) -> float:  # a comparison on no items has NaN means (stats.compare)
    if not math.isnan(value) and not -1.0 <= value <= 1.0:
        raise ValueError("must be between -1 and 1")
    return value


Unit = Annotated[float, Field(ge=0.0, le=1.0)]  # a score or a probability
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0.0), AfterValidator(finite)]
Dollars = Annotated[float, Field(ge=0.0), AfterValidator(finite)]
Signed = Annotated[float, AfterValidator(_signed_or_nan)]  # a mean difference of scores, or NaN (no items)


ChangeStatus = Literal["added", "modified", "deleted", "renamed", "inputs"]  # inputs: its pool or subset file
LabelMethod = Literal["exact", "top_logprobs", "constrained", "generated"]  # how label probabilities were read
Where = Literal["subset", "held-out", "training"]  # where a pool item is in the optimizer's split


@dataclass(frozen=True, config=RECORD)
class Effective:
    """One prompt's run settings, resolved once (effective.resolve; never from the pull request's `promptci:`
    block) and recorded as they are in the results."""

    model: str  # the task model's litellm name ("" when no model is named: the runner says so)
    optimizer_model: str
    optimize: bool
    concurrency: Annotated[int, Field(ge=1)]
    max_calls: Count | None  # this prompt's call limit (the run's is the command line's)
    max_usd: Dollars | None
    embedding_model: str | None
    daily_limit: Count | None  # GitHub Models' requests a day the run is planned against (its task model's, judges')
    models: tuple[str, ...] = ()  # every model a run may call: the task model, the optimizer's, the judges'


class AttemptKind(StrEnum):
    """What an attempt did. Phase 1: a new instruction, or k demonstrations chosen from data. Phase 2: an edit."""

    INSTRUCTION = "instruction"
    DEMOS = "demos"
    REWRITE = "rewrite"  # a sentence rewritten by the optimizer model
    SWAP = "swap"  # a demonstration swapped for a training item
    ADD = "add"  # one more demonstration
    INSERT = "insert"  # an instruction sentence where there is none, before the query
    REMOVE = "remove"  # a sentence or a demonstration taken out


OlderKind = Literal["sentence", "demo", "header", "query", "blank"]  # results files of earlier versions: unit kinds


@dataclass(config=RECORD)
class Attempt:
    """One candidate the optimizer tried: where it came from, how it scored, and what became of it."""

    step: Count
    unit: Count | None
    kind: AttemptKind | OlderKind
    before: str
    after: str | None
    failure_score: Unit | None = None
    subset_score: Unit | None = None
    accepted: bool = False
    why: str = ""


@dataclass(frozen=True, config=RECORD)
class PoolDemo:
    """A demonstration of the suggested prompt that is a pool item, and where that item was in the split: it is
    left out of every score of the suggestion."""

    item: str
    text: str  # the item's input text, on one line, cut
    where: Where


@dataclass(frozen=True, config=RECORD)
class Replacement:
    """One subset item IPOMP stage 2 replaced: the redundant item, the pool item that took its place, and why."""

    removed: str
    added: str
    why: str
