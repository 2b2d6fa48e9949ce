"""Base's scores known before a pull request runs: the default branch's warm run (`promptci warm`) scores each
gated prompt on its whole pool once and keeps the score vectors in a small store, so that a pull request scores
head alone (docs/github.md, "A warm base").

The store is one JSON file in the cache folder (`warm/scores.json`), saved by the warm workflow as a cache entry
of the default branch, which every pull request may restore. It reaches a pull request as data from a cache, so
it is read as hostile: a pydantic model, a size cap, bounded lengths, and a one-line error (exit 2) when it is
malformed. A vector is found by what determines a score (`key`): the prompt file's text (its messages, model
parameters and evaluators), the pool's content, the model it ran on, and promptci's version (its scoring code).
The last `LEDGER_DEPTH` versions of each prompt are kept: the newest matching one is the base, the others are the
ledger the gate uses as covariates.

`KnownBase` is what the gate receives."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from .. import __version__
from ..env import cache_dir
from ..errors import InputError
from .fileio import atomic_write_text, first_error, read_input

FORMAT = "promptci.warm/1"
LEDGER_DEPTH = 5  # versions kept per prompt file: the base and four earlier ones (the ledger)
MAX_PROMPTS = 1000  # prompt files in one store
MAX_ITEMS = 50_000  # items in one score vector
MAX_BYTES = 64 * 2**20  # the store file; larger is refused, never parsed
FIX = "delete the file (or the promptci-warm cache entry) and run 'promptci warm' on the default branch"

ItemId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


@dataclass(frozen=True)
class KnownBase:
    """The base prompt's full-pool scores, and the ledger of earlier versions' full-pool scores (the test's
    covariates). `source` says where they came from, for the report."""

    scores: Mapping[
        str, float
    ]  # item id -> base's score, for every pool item base could score (a failed one is absent)
    ledger: Sequence[Mapping[str, float]]  # earlier prompt versions' full-pool scores, newest first (may be empty)
    source: str


class Vector(BaseModel):
    """One prompt version's scores on its pool; `complete` once every pool item was scored. A score of None is an
    item that cannot be scored (its template fails on it, say): scoring it again would fail again."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    prompt_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    pool_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    model: Annotated[str, StringConstraints(max_length=300)]
    pool_items: int = Field(ge=0, le=MAX_ITEMS)
    scores: dict[ItemId, float | None] = Field(max_length=MAX_ITEMS)
    commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{0,64}$")] = ""  # shown in reports: hex only
    updated: Annotated[str, StringConstraints(pattern=r"^[0-9T:.+-]{0,32}$")] = ""  # an ISO 8601 time

    @field_validator("scores")
    @classmethod
    def _scores_are_scores(cls, scores: dict[str, float | None]) -> dict[str, float | None]:
        for item, score in scores.items():
            if score is not None and not (math.isfinite(score) and 0.0 <= score <= 1.0):
                raise ValueError(f"item {item!r} has score {score}, not one between 0 and 1")
        return scores

    @property
    def complete(self) -> bool:
        return len(self.scores) >= self.pool_items


class Store(BaseModel):
    """Every prompt file's last versions, newest first."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["promptci.warm/1"] = "promptci.warm/1"
    prompts: dict[Annotated[str, StringConstraints(min_length=1, max_length=500)], list[Vector]] = Field(
        default_factory=dict, max_length=MAX_PROMPTS
    )

    @field_validator("prompts")
    @classmethod
    def _bounded(cls, prompts: dict[str, list[Vector]]) -> dict[str, list[Vector]]:
        for path, versions in prompts.items():
            if len(versions) > LEDGER_DEPTH:
                raise ValueError(f"{path} has {len(versions)} versions, more than {LEDGER_DEPTH}")
        return prompts


def default_path() -> Path:
    """Where the store lives: in the cache folder, beside the model answers (the workflows cache it)."""
    return cache_dir() / "warm" / "scores.json"


def key(prompt_sha256: str, pool_sha256: str, model: str) -> str:
    """What determines a score: the prompt file, the pool, the model, and promptci's scoring code (its version)."""
    what = {"prompt": prompt_sha256, "pool": pool_sha256, "model": model, "promptci": __version__}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode("utf-8")).hexdigest()


def load(path: Path) -> Store:
    """The store at `path` (an empty one when there is none); exit 2 naming the file when it is malformed."""
    if not path.exists():
        return Store()
    data = read_input(path, what="warm store", fix=FIX, limit=MAX_BYTES)  # a regular file, bounded: never a pipe
    try:
        return Store.model_validate_json(data)
    except ValidationError as exc:
        where, said = first_error(exc)
        raise InputError(f"the warm store is not a {FORMAT} file: {said}", path=path, field=where, fix=FIX) from None


def save(store: Store, path: Path) -> None:
    """Write the store atomically (a run stopped halfway leaves the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, store.model_dump_json())


def vector(store: Store, prompt: str, wanted: str) -> Vector | None:
    """The vector of `prompt` with key `wanted`, complete or not."""
    return next((v for v in store.prompts.get(prompt, []) if v.key == wanted), None)


def record(store: Store, prompt: str, scored: Vector) -> Store:
    """The store with `scored` as `prompt`'s newest version (replacing an older vector of the same key), and only
    the last LEDGER_DEPTH versions kept; the prompts last recorded longest ago are dropped beyond MAX_PROMPTS."""
    versions = [scored] + [v for v in store.prompts.get(prompt, []) if v.key != scored.key]
    prompts = {prompt: versions[:LEDGER_DEPTH], **{p: v for p, v in store.prompts.items() if p != prompt}}
    return Store(prompts=dict(list(prompts.items())[:MAX_PROMPTS]))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def likely_warm(store: Store, prompt: str, base_text: str) -> bool:
    """Whether a complete vector of this base version is stored (the forecast's guess: pool and model are
    checked when the pull request looks the scores up)."""
    sha = hashlib.sha256(base_text.encode("utf-8")).hexdigest()
    return any(v.complete and v.prompt_sha256 == sha for v in store.prompts.get(prompt, []))


def known(store: Store, prompt: str, wanted: str, pool_ids: Sequence[str]) -> KnownBase | None:
    """The base's full-pool scores when the store holds a complete vector for exactly this prompt version, pool and
    model (None otherwise: the pull request scores base itself). The ledger: the prompt's other complete versions,
    on the items of this pool they scored, newest first."""
    found = vector(store, prompt, wanted)
    if found is None or not found.complete or any(i not in found.scores for i in pool_ids):
        return None
    ids = set(pool_ids)
    ledger = [
        {i: s for i, s in v.scores.items() if i in ids and s is not None}
        for v in store.prompts.get(prompt, [])
        if v.key != wanted and v.complete
    ]
    scores = {i: s for i, s in found.scores.items() if i in ids and s is not None}
    when = f", {found.updated}" if found.updated else ""
    commit = f" at {found.commit[:12]}" if found.commit else ""
    return KnownBase(scores, [m for m in ledger if m], f"the warm run on the default branch{commit}{when}")
