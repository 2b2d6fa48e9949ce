"""Making and keeping a prompt's subset: select (stage 1), check, refine (stage 2), and read it for scoring.

This ties pools, embeddings, the selection algorithms and the subset file together; the algorithms in
`selection/` know nothing of files, and the file format in `files/subsetfile.py` knows nothing of algorithms.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import progress
from ..errors import InputError
from ..files import subsetfile
from ..files.evalresults import ItemResult, Run
from ..files.evalset import Item, Pool
from ..files.settings import SelectionSettings
from ..files.subsetfile import Entry, EntryKind, Refinement, Subset
from ..models import embeddings
from ..models.weakembed import weakness
from ..promptfile import PromptFile, warn
from . import Refiner, Replacement, StratifiedSelector, SubsetSelector, kmeans_labels, make_selector

EMBEDDING_METHODS = ("ipomp", "boundary", "clustering")

NON_INPUT_FIELDS = ("expected", "choices", "id")


@dataclass(frozen=True)
class SelectionParams:
    """Selection parameters: `promptci.selection`, overridden by flags. Built only by `from_settings`."""

    method: str
    size: int
    alpha: float
    clusters: int
    seed: int

    @classmethod
    def from_settings(
        cls,
        s: SelectionSettings,
        *,
        method: str | None = None,
        size: int | None = None,
        alpha: float | None = None,
        clusters: int | None = None,
        seed: int | None = None,
    ) -> SelectionParams:
        """The settings, with each flag that was given in place of its setting."""
        return cls(
            method=method or s.method,
            size=size or s.size,
            alpha=s.alpha if alpha is None else alpha,
            clusters=clusters or s.clusters,
            seed=s.seed if seed is None else seed,
        )

    def at_most(self, size: int) -> SelectionParams:
        """No more than `size` items, and no more clusters than items: a subset chosen during a run must fit."""
        size = min(self.size, size)
        return replace(self, size=size, clusters=min(self.clusters, size))


def item_text(prompt: PromptFile, item: Item) -> str:
    """The input text of an item: the values of the variables the prompt reads (all but the answer)."""
    names = sorted(prompt.variables) or sorted(k for k in item.data if k not in NON_INPUT_FIELDS)
    return "\n".join(str(item.data.get(name, "")) for name in names)


def input_texts(prompt: PromptFile, pool: Pool) -> list[str]:
    """The items' input texts without the prefix they all share (a task preamble, or BIG-bench's
    'Utterance:'), which says nothing about how items differ."""
    texts = [item_text(prompt, item) for item in pool.items]
    shared = len(common_prefix(texts))
    return [t[shared:] for t in texts]


def pool_embeddings(prompt: PromptFile, pool: Pool) -> np.ndarray:
    """Embeddings of the items' input texts (see input_texts)."""
    return embeddings.embed_cached(input_texts(prompt, pool), remote=prompt.settings.embedding_model)


def answer_strata(pool: Pool, size: int) -> list[str] | None:
    """The items' expected answers as strata when they are labels (2 to `size` different ones), else None."""
    answers = [str(item.expected) for item in pool.items]
    return answers if all(i.expected is not None for i in pool.items) and 2 <= len(set(answers)) <= size else None


def common_prefix(texts: Sequence[str]) -> str:
    """The longest prefix of whole words that every text starts with (none for a single text)."""
    if len(texts) < 2:
        return ""
    prefix = os.path.commonprefix(list(texts))  # noqa: RUF071 (a prefix of text, cut at a word below)
    if all(len(t) == len(prefix) or t[len(prefix)].isspace() for t in texts):
        return prefix
    cut = max(prefix.rfind(" "), prefix.rfind("\n"))
    return prefix[: cut + 1] if cut >= 0 else ""


def check(prompt: PromptFile, pool: Pool, choice: SelectionParams) -> None:
    """The choice can be made on this pool: checked before any subset is computed or written."""
    where = prompt.path
    if choice.method == "anchor":
        raise InputError(
            "anchor points need every pool item scored by warm-up prompts first",
            path=where,
            field="promptci.selection.method",
            fix="use ipomp (anchor points are a benchmark baseline)",
        )
    if len(pool) < choice.size:
        raise InputError(
            f"the pool has {len(pool)} items, fewer than the subset size {choice.size}",
            path=where,
            field="promptci.selection.size",
            fix="choose a smaller --size or add items to the pool",
        )
    if choice.method in ("ipomp", "clustering") and choice.alpha > 0 and choice.size < choice.clusters:
        raise InputError(
            f"the subset size {choice.size} is smaller than the {choice.clusters} clusters",
            path=where,
            field="promptci.selection.clusters",
            fix="choose fewer --clusters or a larger --size",
        )


def select(prompt: PromptFile, pool: Pool, choice: SelectionParams) -> Subset:
    """Stage 1 (or a baseline) on the pool's embeddings."""
    check(prompt, pool, choice)
    texts = input_texts(prompt, pool)
    vectors = embeddings.embed_cached(texts, remote=prompt.settings.embedding_model)
    problem = (
        weakness(texts, vectors, choice.size, embeddings.MODEL_NAME) if choice.method in EMBEDDING_METHODS else None
    )
    if problem:
        strata = answer_strata(pool, choice.size)
        how = "stratified by expected answer" if strata else "at random (seeded)"
        warn(
            f"{pool.path or prompt.path}: the embeddings cannot tell the items apart ({problem}: emoji, some "
            f"scripts and code read as unknown words); chose {choice.size} items {how} instead of {choice.method} "
            f"(fix: set promptci.embedding_model to an embedding model that reads these inputs)"
        )
        selector: SubsetSelector = StratifiedSelector(
            size=choice.size, random_state=choice.seed, note=f"fallback {how}; weak embeddings: {problem}; "
        ).fit(vectors, strata)
    else:
        selector = make_selector(
            choice.method, size=choice.size, alpha=choice.alpha, n_clusters=choice.clusters, random_state=choice.seed
        ).fit(vectors)
    items = tuple(
        Entry(id=pool.items[i].id, why=why, text=subsetfile.preview(item_text(prompt, pool.items[i])))
        for i, why in zip(selector.selected_, selector.reasons_)
    )
    target = subsetfile.path_for(prompt)
    parameters: dict[str, float] = {"size": choice.size, "seed": choice.seed}
    if choice.method in ("ipomp", "clustering"):
        parameters["clusters"] = choice.clusters
    if choice.method == "ipomp":
        parameters["alpha"] = choice.alpha
    return Subset(
        pool_path=subsetfile.pool_reference(pool, target),
        pool_sha256=pool.sha256,
        pool_size=len(pool),
        embedding_model=prompt.settings.embedding_model or embeddings.MODEL_NAME,
        method=choice.method,
        parameters=parameters,
        items=items,
    )


def load(prompt: PromptFile, pool: Pool) -> tuple[Subset, list[Item]]:
    """The committed subset and its items; a stale subset is an error naming the command that fixes it."""
    path = subsetfile.path_for(prompt)
    subset = subsetfile.read(path)
    found = subsetfile.problems(subset, pool, path)
    if found:
        raise InputError(
            "the subset is stale: " + "; ".join(found),
            path=path,
            fix=f"run 'promptci select {prompt.path}' (or 'promptci eval --full')",
        )
    by_id = pool.by_id()
    return subset, [by_id[i] for i in subset.ids]


# ---- which subset judges a prompt: the one policy -------------------------------------------------------------


def for_pull_request(prompt: PromptFile, pool: Pool, committed: Subset | None, size: int | None) -> tuple[Subset, str]:
    """The pull-request flow's subset: the committed one when it fits the pool (`committed`, else None), else a new
    one from stage 1 of `size` items (default `promptci.selection.size`, at most the pool), and a note saying which."""
    path = subsetfile.path_for(prompt)
    if committed is not None:
        return committed, f"committed subset {path.name}"
    params = SelectionParams.from_settings(prompt.settings.selection, size=size).at_most(len(pool))
    why = "no subset file" if not path.exists() else "the committed subset is stale"
    progress.note(f"{prompt.path.name}: {why}; choosing {params.size} of {len(pool)} items with IPOMP stage 1")
    return select(prompt, pool, params), f"{why}: chose one with IPOMP stage 1 (to be committed)"


def for_optimizer(prompt: PromptFile, pool: Pool) -> tuple[list[str], str]:
    """`promptci optimize`'s subset: the committed one (a stale one is an error); without one, stage 1 in memory
    on a third of the pool at most, leaving most of a small pool to learn from; nothing is written."""
    path = subsetfile.path_for(prompt)
    if path.exists():
        subset, _ = load(prompt, pool)
        return subset.ids, str(path)
    params = SelectionParams.from_settings(prompt.settings.selection).at_most(max(1, len(pool) // 3))
    return select(prompt, pool, params).ids, "stage 1 in memory (no subset file; run 'promptci select')"


def refine(
    prompt: PromptFile, pool: Pool, subset: Subset, runs: Sequence[Run], *, source: str, settings: SelectionSettings
) -> tuple[Subset, list[dict[str, str]]]:
    """Stage 2 from saved results of at least two prompts (a maintainer's own runs: they are judged on too)."""
    _check_runs(prompt, pool, runs)
    return refine_scores(
        prompt,
        pool,
        subset,
        {run.prompt["sha256"]: {r.id: r for r in run.items} for run in runs},
        source=source,
        settings=settings,
        judge_new=True,
    )


def refine_scores(
    prompt: PromptFile,
    pool: Pool,
    subset: Subset,
    by_prompt: Mapping[str, Mapping[str, ItemResult]],
    *,
    source: str,
    settings: SelectionSettings,
    judge_new: bool = False,
) -> tuple[Subset, list[dict[str, str]]]:
    """The one stage-2 refresh between runs: this run's scores (by prompt sha256, then item id) go into the subset
    file's evidence ledger, and items the ledger shows redundant are replaced, at most `max_replacements`, each
    from its own cluster. In a pull request (`judge_new` False) only the ledger as committed judges, so the pull
    request's own prompts cannot choose what it is judged on; `promptci refine` judges with the new scores too.
    Returns the new subset (ledger and history) and one record per swap."""
    ids = subset.ids
    columns = evidence_columns(ids, by_prompt)
    recorded = subset.evidence.merged(columns, ids)
    judged = (recorded if judge_new else subset.evidence).matrix(ids)
    refiner = Refiner(
        threshold=settings.threshold,
        replace_share=settings.replace_share,
        correlation=settings.correlation,
        random_state=settings.seed,
        min_prompts=settings.min_prompts,
        max_replacements=settings.max_replacements,
    )
    if settings.max_replacements == 0 or not refiner.redundant_groups(judged):
        return replace(subset, evidence=recorded), []  # the usual case: no pool embeddings, no K-means needed
    index = {item.id: i for i, item in enumerate(pool.items)}
    unavailable = set(ids) | subset.removed_ids()
    available = np.array([i for i, item in enumerate(pool.items) if item.id not in unavailable], dtype=int)
    texts = input_texts(prompt, pool)
    vectors = embeddings.embed_cached(texts, remote=prompt.settings.embedding_model)
    rows, swaps = refiner.refine(
        np.array([index[i] for i in ids]),
        judged,
        vectors,
        available,
        labels=refresh_strata(pool, subset, settings, texts, vectors),
    )
    if not swaps:
        return replace(subset, evidence=recorded), []
    pool_ids = [item.id for item in pool.items]
    records = replacement_records(swaps, pool_ids, "pearson")
    why_added = {r["added"]: r["why"] for r in records}
    items = tuple(
        subset.items[row]
        if pool_ids[rows[row]] == ids[row]
        else Entry(
            id=pool_ids[rows[row]],
            why=why_added[pool_ids[rows[row]]],
            text=subsetfile.preview(item_text(prompt, pool.items[rows[row]])),
            kind=EntryKind.REPLACEMENT,
        )
        for row in range(len(ids))
    )
    history = subset.history + (Refinement(source=source, replaced=tuple(records)),)
    refined = replace(subset, items=items, history=history)
    return replace(refined, evidence=recorded.merged({}, refined.ids)), records


def behaviour(ids: Sequence[str], results: Mapping[str, ItemResult]) -> tuple[str, ...]:
    """A prompt's behaviour on the items, as the one de-duplication rule of stage 2 sees it: right (a score of at
    least 0.5: "1"), wrong ("0") or not scored ("."). Prompts that behave as an earlier one did add no evidence."""
    return tuple("." if score is None else "1" if score >= 0.5 else "0" for score in scores_of(ids, results))


def scores_of(ids: Sequence[str], results: Mapping[str, ItemResult]) -> list[float | None]:
    """Each item's score; None where it has none (not scored, or scored with an error)."""
    return [results[i].score if i in results else None for i in ids]


def evidence_columns(
    ids: Sequence[str], by_prompt: Mapping[str, Mapping[str, ItemResult]]
) -> dict[str, dict[str, str]]:
    """One ledger column per prompt (sha256 prefix): 1 for a score of at least 0.5, else 0, for the items it scored;
    one per behaviour (see `behaviour`)."""
    columns: dict[str, dict[str, str]] = {}
    seen: set[tuple[str, ...]] = set()
    for sha, results in by_prompt.items():
        pattern = behaviour(ids, results)
        column = {i: mark for i, mark in zip(ids, pattern) if mark != "."}
        if column and pattern not in seen:
            seen.add(pattern)
            columns.setdefault(sha[: subsetfile.SHA_CHARS], column)
    return columns


def refresh_strata(
    pool: Pool, subset: Subset, settings: SelectionSettings, texts: Sequence[str], vectors: np.ndarray
) -> np.ndarray:
    """The pool's stage-1 clusters, replayed (answers, or one stratum, when the embeddings are weak): a replaced
    item's successor comes from the same one, so the subset covers the pool as stage 1 chose."""
    if weakness(texts, vectors, len(subset.items), subset.embedding_model):
        strata = answer_strata(pool, len(subset.items)) or [""] * len(pool)
        return np.unique(np.asarray(strata), return_inverse=True)[1]
    clusters = int(subset.parameters.get("clusters", settings.clusters))
    return kmeans_labels(vectors, clusters, int(subset.parameters.get("seed", settings.seed)))


@dataclass(frozen=True)
class Stage2:
    rows: list[int]  # the new subset, as pool rows
    records: list[dict[str, str]]  # one per swap: removed, added, why


def stage2_in_loop(
    pool: Pool,
    embeddings: np.ndarray,
    ids: Sequence[str],
    by_run: Sequence[Mapping[str, ItemResult]],
    available: Sequence[int],
    settings: SelectionSettings,
    seed: int,
) -> Stage2:
    """IPOMP stage 2 inside one optimizer run, between its steps, on the candidates it scored (between runs, the
    subset file's evidence ledger decides: `refine_scores`). The prompts are those that scored every item of
    `ids`, one per behaviour (the same rule as the ledger's, see `behaviour`); with fewer than two the subset
    stays as it is. Replacements come from the `available` pool rows."""
    index = {item.id: n for n, item in enumerate(pool.items)}
    rows = [index[i] for i in ids]
    complete = [r for r in by_run if all(i in r for i in ids)]
    distinct: dict[tuple[str, ...], Mapping[str, ItemResult]] = {}
    for r in complete:
        distinct.setdefault(behaviour(ids, r), r)  # the first of each behaviour, as in the ledger
    if len(distinct) < 2:
        return Stage2(rows, [])
    refiner = Refiner(
        threshold=settings.threshold,
        replace_share=settings.replace_share,
        correlation=settings.correlation,
        random_state=seed,
    )
    new_rows, swaps = refiner.refine(
        np.array(rows), performance_matrix(ids, list(distinct.values())), embeddings, np.array(available, dtype=int)
    )
    return Stage2(
        [int(r) for r in new_rows], replacement_records(swaps, [item.id for item in pool.items], settings.correlation)
    )


def replacement_records(
    swaps: Sequence[Replacement], pool_ids: Sequence[str], correlation: str
) -> list[dict[str, str]]:
    """Stage 2's swaps as the subset file and reports write them: removed, added, why."""
    metric = "correlation" if correlation == "pearson" else "cosine similarity"
    return [
        {"removed": pool_ids[s.removed], "added": pool_ids[s.added], "why": s.why(list(pool_ids), metric)}
        for s in swaps
    ]


def performance_matrix(ids: Sequence[str], by_run: Sequence[Mapping[str, ItemResult]]) -> np.ndarray:
    """One row per subset item, one block per prompt (each prompt's results by item id): label
    probabilities where every item has the same labels, else the probability of the expected answer,
    else the 0/1 (or graded) score. An item a prompt did not score gets a zero block."""
    found = [res.get(i) for res in by_run for i in ids]
    label_sets = {tuple(sorted(r.label_probs)) for r in found if r is not None and r.label_probs}
    all_probs = all(r is not None and r.label_probs for r in found)
    blocks = []
    for results in by_run:
        if all_probs and len(label_sets) == 1:  # (all_probs: every result has label_probs)
            labels = next(iter(label_sets))
            block = [[(results[i].label_probs or {})[lab] for lab in labels] for i in ids]
        elif all_probs:
            block = [[(results[i].label_probs or {}).get(str(results[i].expected), 0.0)] for i in ids]
        else:
            block = [[0.0 if score is None else score] for score in scores_of(ids, results)]
        blocks.append(np.asarray(block, dtype=float))
    return np.hstack(blocks)


def results_source(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256(b"".join(Path(p).read_bytes() for p in paths)).hexdigest()[:12]
    return f"promptci refine from {len(paths)} results files (sha256 {digest})"


def _check_runs(prompt: PromptFile, pool: Pool, runs: Sequence[Run]) -> None:
    if len({run.prompt["sha256"] for run in runs}) < 2:
        raise InputError(
            "refining needs results of at least two different prompts",
            path=prompt.path,
            fix="score two or more prompt versions with 'promptci eval --subset --json' and pass them all",
        )
    for run in runs:
        if run.pool["sha256"] != pool.sha256:
            raise InputError(
                f"results of {run.prompt['path']} come from another pool (sha256 "
                f"{run.pool['sha256'][:12]}, the prompt's pool is {pool.sha256[:12]})",
                path=prompt.path,
                fix="re-score every prompt on the current pool",
            )
