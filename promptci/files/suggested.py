"""The suggestions promptci made, remembered so that a later run of the same pull request can say its head is one
of them: a review suggestion applied with one click is a commit on the pull request's branch, and the next run
should say "adopted" rather than judge an unknown edit.

The record is one JSON file in the cache folder (`suggested/suggestions.json`), cached by the pull request's
workflow with the model answers. A suggestion is found by what decides its requests to the model (its
`fingerprint`, pullrequest/adoption.py), not by the file's bytes, so the YAML layout a review suggestion changes does
not matter. The file reaches a run as data from a cache that the pull request's own workflow may have written, so
it is read as hostile: a pydantic model, a size cap, bounded lengths, hex and digits only where the comment shows
them. A malformed file is set aside with a note, not an exit 2: nothing the gate decides rests on it (answers are
reused through the answer cache's own keys, record or not), it adds one line to the comment, and failing a pull
request's check over a damaged cache entry would block merges for a line of text. The run writes a good file anew.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ..env import cache_dir
from ..errors import InputError
from .fileio import atomic_write_text, first_error, read_input
from .records import Count

FORMAT = "promptci.suggested/1"
DEPTH = 10  # suggestions kept per prompt file, newest first
MAX_PROMPTS = 1000  # prompt files in one record
MAX_ITEMS = 5000  # items kept per suggestion: those an earlier run scored it on
MAX_BYTES = 16 * 2**20  # the file; larger is set aside, never parsed
MAX_ID = 200  # an item id's length; longer ones are not kept (ids are not bounded in a pool)
MAX_PATH = 500  # a prompt file's path; longer ones are not recorded

Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{0,64}$")]  # shown in the comment: hex only
RunId = Annotated[str, StringConstraints(pattern=r"^[0-9]{0,20}$")]  # an Actions run id: digits only
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]


@dataclass(frozen=True)
class Origin:
    """Which run made a suggestion: the Actions run id ("" outside Actions) and the pull request's head commit."""

    run: str = ""
    commit: str = ""

    @classmethod
    def of(cls, run: str, commit: str) -> Origin:
        """Only what the record accepts: a run id of digits, a commit in lowercase hex (else left out)."""
        commit = commit.lower()
        return cls(
            run if re.fullmatch(r"[0-9]{1,20}", run) else "", commit if re.fullmatch(r"[0-9a-f]{7,64}", commit) else ""
        )


class Made(BaseModel):
    """One suggestion: what decides its requests, where it was made, and the items that run scored it on."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    run: RunId = ""
    commit: Hex = ""
    items: list[ItemId] = Field(default_factory=list, max_length=MAX_ITEMS)


class Record(BaseModel):
    """Every prompt file's last suggestions, newest first."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["promptci.suggested/1"] = "promptci.suggested/1"
    prompts: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH)],
        Annotated[list[Made], Field(max_length=DEPTH)],
    ] = Field(default_factory=dict, max_length=MAX_PROMPTS)


class Adopted(BaseModel):
    """Head is a suggestion of an earlier run (`run`, `commit`); of the `items` that run scored it on which this
    run scored head on, `cached` were answered from the cache."""

    model_config = ConfigDict(extra="forbid")

    run: RunId = ""
    commit: Hex = ""
    items: Count = 0
    cached: Count = 0


def default_path() -> Path:
    """Where the record lives: in the cache folder, beside the model answers (the workflows cache it)."""
    return cache_dir() / "suggested" / "suggestions.json"


def load(path: Path) -> tuple[Record, str]:
    """The record at `path` (empty when there is none) and a note when it was set aside as unreadable."""
    fix = "it is set aside and written anew by this run"
    if not path.exists():
        return Record(), ""
    try:  # a regular file, bounded: never a pipe, a device or a file that grows
        return Record.model_validate_json(read_input(path, what="record", fix=fix, limit=MAX_BYTES)), ""
    except InputError as exc:
        return Record(), str(exc)
    except ValidationError as exc:
        where, said = first_error(exc)
        return Record(), f"{path}: not a {FORMAT} file ({where}: {said}); {fix}"


def save(record: Record, path: Path) -> None:
    """Write the record atomically (a run stopped halfway leaves the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, record.model_dump_json())


def find(record: Record, prompt: str, fingerprint: str) -> Made | None:
    return next((m for m in record.prompts.get(prompt, []) if m.fingerprint == fingerprint), None)


def remember(record: Record, prompt: str, made: Made) -> Record:
    """The record with `made` as `prompt`'s newest suggestion. The same suggestion made again keeps the run that
    first made it (the one whose review suggestion was posted) and adds the items scored since; only the last
    DEPTH suggestions per prompt are kept, and the prompts recorded longest ago go first beyond MAX_PROMPTS."""
    earlier = find(record, prompt, made.fingerprint)
    if earlier is not None:
        items = list(dict.fromkeys([*earlier.items, *made.items]))[:MAX_ITEMS]
        made = earlier.model_copy(update={"items": items})
    kept = [made] + [m for m in record.prompts.get(prompt, []) if m.fingerprint != made.fingerprint]
    prompts = {prompt: kept[:DEPTH], **{p: m for p, m in record.prompts.items() if p != prompt}}
    return Record(prompts=dict(list(prompts.items())[:MAX_PROMPTS]))
