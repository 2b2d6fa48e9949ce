"""Splitting a pull request's changed prompts into shards for GitHub Actions' matrix (docs/design.md, "Scale").

One shard per changed prompt up to `max_shards`; beyond that, balanced groups: prompts by pool size,
largest first, each to the shard with the fewest pool items so far (longest-processing-time first).
The plan depends only on the change, so every job that computes it gets the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import promptfile
from ..errors import InputError
from ..files.fileio import check_input
from ..gitdiff import Change


@dataclass
class Shard:
    id: str
    prompts: list[str] = field(default_factory=list)
    items: int = 0  # pool items in the shard, the measure it is balanced on


def plan(changes: Sequence[Change], tree: Path, max_shards: int) -> list[Shard]:
    """The changes in at most `max_shards` shards of about equal pool size, in a stable order."""
    sized = sorted(((pool_size(c, tree), c.path) for c in changes), key=lambda s: (-s[0], s[1]))
    shards = [Shard(id=str(n + 1)) for n in range(min(max_shards, len(sized)))]
    for size, path in sized:
        lightest = min(shards, key=lambda s: (s.items, len(s.prompts), int(s.id)))
        lightest.prompts.append(path)
        lightest.items += size
    for shard in shards:
        shard.prompts.sort()
    return shards


def pool_size(change: Change, tree: Path) -> int:
    """How many items the head version's pool holds (lines of its JSONL; 0 for a deleted or broken prompt)."""
    if change.new_text is None or change.new_path is None:
        return 0
    try:
        prompt = promptfile.parse(change.new_text, tree / change.new_path)
    except InputError:
        return 0  # it fails fast in its shard, with the error in the report
    if prompt.settings.pool:
        try:
            path = prompt.resolve(prompt.settings.pool, field="promptci.pool")
            check_input(path, what="pool file")  # a FIFO is never opened
            with path.open("rb") as handle:
                return sum(1 for line in handle if line.strip())
        except (OSError, InputError):
            return 0  # the pool is refused in its shard, with the error in the report
    return len(prompt.spec.testData or [])


def matrix(shards: Sequence[Shard]) -> dict:
    """The plan as a `strategy.matrix` value: `include` rows with the shard id and its prompts."""
    return {"include": [{"shard": s.id, "prompts": " ".join(s.prompts), "items": s.items} for s in shards]}


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    shard: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    prompts: str
    items: int = Field(ge=0)


class _Matrix(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    include: list[_Row]


def read_matrix(path: Path) -> dict[str, list[str]]:
    """The planned shards (id -> prompt paths) from the matrix JSON `promptci plan` printed; errors name the file."""
    fix = "pass the matrix JSON that 'promptci plan' printed (the plan job's `matrix` output)"
    try:
        matrix = _Matrix.model_validate_json(path.read_bytes()[:1_000_001])
    except OSError as exc:
        raise InputError(f"cannot read the plan ({exc.strerror})", path=path, field="--plan", fix=fix) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "include"
        raise InputError(f"not a plan: {error['msg'][:200]}", path=path, field=where, fix=fix) from None
    shards = {row.shard: row.prompts.split() for row in matrix.include}
    if len(shards) != len(matrix.include):
        raise InputError("a shard id appears twice", path=path, field="include", fix=fix)
    return shards
