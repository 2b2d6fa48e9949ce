"""The results of a sharded pull-request run merged into one: shards fail closed (every planned shard there
exactly once, with the prompts it was planned with), usage added up, the verdict recomputed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import EXIT_INFRA, InputError, PromptCIError
from ..files.prresults import FORMAT, Forecast, PRResults, Usage, load
from ..gate import decision
from ..models.usage import Counters
from .sharding import read_matrix


class MissingShards(PromptCIError):
    """A planned shard left no results: the run is incomplete, so the gate fails (exit 3). Not an InfraError:
    a fork's unreachable model is neutral, but a missing shard never is (that would let a crash pass)."""

    exit_code = EXIT_INFRA


def merge_files(paths: Sequence[Path], plan_path: Path | None) -> PRResults:
    """The results files (or --out folders holding them) as one result.

    Shards fail closed: each shard's results carry the plan it was cut from (and `--plan` may give the plan
    job's own); every planned shard must be there exactly once, with the prompts it was planned with.
    """
    files = [p / "results.json" if p.is_dir() else p for p in paths]
    parts = [load(f) for f in files]
    sharded = [(f, part) for f, part in zip(files, parts) if part.shard is not None]
    if plan_path is None and not sharded:
        return merge(parts)
    if len(sharded) != len(parts):
        file = next(f for f, part in zip(files, parts) if part.shard is None)
        raise InputError(
            "not the results of a shard, merged with shards",
            path=file,
            field="shard",
            fix="pass only the results of one pull request's shards",
        )
    planned = _planned(sharded, plan_path)
    seen: dict[str, Path] = {}
    for file, part in sharded:
        if part.shard not in planned:
            raise InputError(
                f"shard {part.shard} is not in the plan ({', '.join(planned) or 'no shards'})",
                path=file,
                field="shard",
                fix="pass the results of this pull request's planned shards",
            )
        if part.shard in seen:
            raise InputError(
                f"shard {part.shard} appears twice (also in {seen[part.shard]})",
                path=file,
                field="shard",
                fix="pass each shard's results once",
            )
        if sorted(p.path for p in part.prompts) != sorted(planned[part.shard]):
            raise InputError(
                f"shard {part.shard} gated other prompts than planned ({' '.join(planned[part.shard])})",
                path=file,
                field="prompts",
                fix="run each shard with the plan's --max-shards",
            )
        seen[part.shard] = file
    missing = [s for s in planned if s not in seen]
    if missing:
        raise MissingShards(
            f"no results from shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} of "
            f"{len(planned)} planned: the shard failed, timed out or was not downloaded, so the gate "
            f"cannot pass (prompts not gated: {' '.join(p for s in missing for p in planned[s])})"
        )
    return merge(parts)


def _planned(sharded: list[tuple[Path, PRResults]], plan_path: Path | None) -> dict[str, list[str]]:
    """The plan: the plan job's matrix when given, else the one the shards recorded; every shard must agree."""
    planned = read_matrix(plan_path) if plan_path is not None else sharded[0][1].plan or {}
    for file, part in sharded:
        if part.plan != planned:
            raise InputError(
                f"shard {part.shard} was cut from another plan",
                path=file,
                field="plan",
                fix="pass the shards of one run of one pull request (the same --max-shards)",
            )
    return planned


def merge(parts: list[PRResults]) -> PRResults:
    """One result from several (shards of one pull request): prompts side by side, usage added up."""
    if len(parts) == 1:
        return parts[0]
    prompts = [p for part in parts for p in part.prompts]
    usage = Usage.of(
        sum((Counters.of(part.usage) for part in parts), Counters()),
        max(part.usage.wall_s for part in parts),  # shards run side by side
        "; ".join(dict.fromkeys(part.usage.budget for part in parts)),
    )
    verdict = decision.overall([p.verdict.status if p.verdict else None for p in prompts])
    pulls = {part.pull_request for part in parts if part.pull_request}
    return PRResults(
        format=FORMAT,
        verdict=verdict,
        usage=usage,
        prompts=prompts,
        forecast=_merged_forecast(parts),
        pull_request=pulls.pop() if len(pulls) == 1 else None,
    )  # the shards of one pull request's run


def _merged_forecast(parts: list[PRResults]) -> Forecast | None:
    """The shards' forecasts added up (None unless every shard has one)."""
    if any(part.forecast is None for part in parts):
        return None
    forecasts = [part.forecast for part in parts if part.forecast is not None]

    def total(key: str) -> Any:
        values = [getattr(f, key) for f in forecasts]
        return None if any(v is None for v in values) else sum(values)

    return Forecast(
        calls=total("calls"),
        max_calls=total("max_calls"),
        usd=total("usd"),
        max_usd=total("max_usd"),
        price="; ".join(dict.fromkeys(p for f in forecasts for p in f.price.split("; ") if p)),
    )
