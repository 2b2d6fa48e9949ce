"""`promptci select` (IPOMP stage 1, or `--check` of the committed subsets) and `promptci refine` (stage 2 from
saved results)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import promptfile
from ..errors import EXIT_GATE_FAILED, EXIT_OK
from ..files import evalresults, subsetfile
from ..files.evalset import load_pool
from ..files.settings import SelectionSettings
from ..files.subsetfile import Subset
from ..selection import audit, subsets
from ..selection.subsets import SelectionParams


@dataclass(frozen=True)
class SelectRequest:
    prompts: Sequence[Path]
    method: str | None = None  # each None keeps the prompt's promptci.selection setting
    size: int | None = None
    alpha: float | None = None
    clusters: int | None = None
    seed: int | None = None
    check: bool = False  # write nothing; report missing or stale subsets


@dataclass(frozen=True)
class Checked:
    """`--check` of one prompt's committed subset: why it cannot be trusted (empty: it can), and what the file
    claims that cannot be replayed (selection/audit.py)."""

    prompt: Path
    target: Path
    problems: list[str]
    unverified: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """A subset chosen and written."""

    target: Path
    subset: Subset
    pool_size: int
    params: SelectionParams
    seconds: float


@dataclass
class SelectOutcome:
    checked: list[Checked] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_GATE_FAILED if any(c.problems for c in self.checked) else EXIT_OK


def select(request: SelectRequest, on_each: Callable[[Checked | Written], None]) -> SelectOutcome:
    """Every prompt, pool, subset path and choice is checked before any subset is written."""
    loaded = []
    for path in request.prompts:
        prompt = promptfile.load(path)
        pool = load_pool(prompt)
        params = SelectionParams.from_settings(
            prompt.settings.selection,
            method=request.method,
            size=request.size,
            alpha=request.alpha,
            clusters=request.clusters,
            seed=request.seed,
        )
        if not request.check:
            subsets.check(prompt, pool, params)
        loaded.append((path, prompt, pool, subsetfile.path_for(prompt), params))
    outcome = SelectOutcome()
    for path, prompt, pool, target, params in loaded:
        if request.check:
            found = (
                audit.audit(prompt, pool, subsetfile.read(target), target)
                if target.exists()
                else audit.Audit(["no subset file"], [])
            )
            outcome.checked.append(Checked(path, target, found.problems, found.unverified))
            on_each(outcome.checked[-1])
            continue
        started = time.perf_counter()
        subset = subsets.select(prompt, pool, params)
        subsetfile.write(target, subset)
        outcome.written.append(Written(target, subset, len(pool), params, time.perf_counter() - started))
        on_each(outcome.written[-1])
    return outcome


@dataclass(frozen=True)
class RefineOutcome:
    target: Path
    size: int  # items in the subset
    refined: Subset  # as written (its evidence ledger holds the new scores)
    settings: SelectionSettings  # what judged it
    records: list[dict[str, str]]  # one per replaced item
    exit_code: int = EXIT_OK


def refine(prompt_path: Path, results_paths: Sequence[Path]) -> RefineOutcome:
    """Stage 2 from results files: their scores go into the subset file's evidence ledger, which judges."""
    prompt = promptfile.load(prompt_path)
    pool = load_pool(prompt)
    subset, _ = subsets.load(prompt, pool)
    runs = [run for path in results_paths for run in evalresults.read(path)]
    s = prompt.settings.selection
    refined, records = subsets.refine(
        prompt, pool, subset, runs, source=subsets.results_source(results_paths), settings=s
    )
    target = subsetfile.path_for(prompt)
    subsetfile.write(target, refined)  # the scores go into the evidence ledger, whether or not an item changed
    return RefineOutcome(target, len(subset.items), refined, s, records)
