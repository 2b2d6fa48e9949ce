"""A warm base in a pull request: found in the store, re-checked on a few random items, and used in place of
scoring base (files/warmbase.py keeps the store; docs/github.md, "A warm base").

Scoring base and head in one run guards against a provider that changes a model silently between runs. A warm
base gives that up, so a pull request re-scores `RECHECK` base items drawn at random, bypassing the shared answer
cache (whose answers would reproduce by construction). The draw is seeded by the stored version's key: what it
guards against is the provider, not the author (who cannot change base's answers), and the same draw in every run
against that base lets a re-run of a pull request find its re-checked answers in its own cache. When more
than `RECHECK_ALLOWED` of them differ from the stored scores by more than `TOLERANCE`, the stored scores are set
aside: base is scored in the run on the drawn items, as without a store, and the report says why. The re-checked
answers are cached in a folder of their own (`recheck/`, kept in the pull request's own cache), so a re-run of
the same pull request makes no base call at all."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from ..env import cache_dir
from ..files import warmbase
from ..files.evalresults import ItemResult
from ..files.evalset import Pool
from ..files.warmbase import KnownBase, Store
from ..models.llm import ModelClient
from ..promptfile import PromptFile
from ..runner import Task, model_to_call, run_or_raise

RECHECK = 6  # base items re-scored per pull request
RECHECK_ALLOWED = 1  # of them, how many may differ: one flip is within a provider's own nondeterminism
TOLERANCE = 0.1  # a score difference above this is a difference (a binary item's flip is 1)
NOT_SCORED = "the warm run could not score this item (it fails for this prompt)"


def load_store() -> Store:
    """The warm store in the cache folder (empty when there is none; exit 2 when it is malformed)."""
    return warmbase.load(warmbase.default_path())


async def find_known(
    store: Store, path: str, base: PromptFile, pool: Pool, model: str | None, client: ModelClient
) -> tuple[KnownBase | None, str]:
    """The base's known scores, re-checked, or None; and the report's line on where base's scores come from."""
    wanted = warmbase.key(base.sha256, pool.sha256, model_to_call(base, model))
    found = warmbase.known(store, path, wanted, [i.id for i in pool.items])
    if found is None:
        why = "none stored" if not store.prompts.get(path) else "none stored for this version, pool and model"
        return None, f"scored in this run on the drawn items (no warm base: {why})"
    drawn = random.Random(wanted).sample(pool.items, min(RECHECK, len(pool.items)))
    recheck = ModelClient(
        concurrency=client.concurrency, cache_path=cache_dir() / "recheck", counters=client.counters
    )  # the same counters: these calls count in the run's usage and budget
    before = replace(client.counters)
    try:
        scored = await run_or_raise(
            Task(prompt=base, pool=pool, items=drawn, selection="pr", model=model, label=f"{path}: base re-check"),
            recheck,
        )
    finally:
        recheck.close()
    differ = [r.id for r in scored.items if _differs(r.score, found.scores.get(r.id))]
    if len(differ) > RECHECK_ALLOWED:
        return None, (
            f"scored in this run on the drawn items: the warm base did not reproduce ({len(differ)} of "
            f"{len(drawn)} re-scored base items differ; the model may have changed since {found.source})"
        )
    calls = (client.counters - before).calls
    cost = f"{calls} base call{'s' * (calls != 1)}" + ("" if calls else ", from this pull request's cache")
    same = f"{len(drawn) - len(differ)} of {len(drawn)} re-scored items reproduced, {cost}"
    return found, f"known from {found.source} (all {len(pool.items)} pool items; {same}): no base item scored"


def _differs(new: float | None, old: float | None) -> bool:
    if new is None or old is None:
        return (new is None) != (old is None)
    return abs(new - old) > TOLERANCE


def fill_known(into: dict[str, ItemResult], known: KnownBase, ids: Sequence[str]) -> None:
    """Base's results on `ids` from its known scores (no answer text: the warm run keeps scores only)."""
    for i in ids:
        score = known.scores.get(i)
        into.setdefault(
            i,
            ItemResult(id=i, score=score, cached=True)
            if score is not None
            else ItemResult(id=i, error=NOT_SCORED, error_kind="input"),
        )
