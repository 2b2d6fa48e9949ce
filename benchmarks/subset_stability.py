"""Subset stability: churn and fidelity of the committed subset over a sequence of pull requests.

On the real score tables of `subset_quality.py` (24 prompts × 300 items per task, exact label scoring with the
embedded model, committed under `results/`), a subset of 20 is chosen by IPOMP stage 1 and then lives through ten
simulated pull requests. A pull request: base is the prompt on main, head one of its neighbours (another instruction,
or another set of demonstrations), the optimizer scores a few neighbours of head; every one of them is scored on the
current subset; then stage 2 refreshes the subset, and head is merged (it becomes the next base).

Two refreshes, each promptci's own code:
- old: one run's prompts decide (`Refiner` with the paper's defaults on `performance_matrix`), as before the evidence
ledger;
- new: `subsets.refine_scores`, the pull-request refresh: the run's 0/1 scores go into the subset file's evidence
  ledger, only the ledger as committed before the run judges, pairs need `min_prompts` shared prompts, at most
  `max_replacements` swaps, each from the item's own stage-1 cluster (promptci's default settings).

Measured after every pull request: churn (items replaced ÷ 20) and fidelity, Kendall τ between the 24 prompts'
accuracies on the subset and on all 300 items. Nothing here is tuned: the settings are promptci's defaults.

    python benchmarks/subset_stability.py [--tasks intent_recognition ruin_names social_support] [--seeds 0 1 2 ...]

with seeds from 0 to 8.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from promptci import promptfile
from promptci.files.evalresults import ItemResult
from promptci.files.settings import SelectionSettings
from promptci.files.subsetfile import Entry, Refinement
from promptci.selection import Refiner, subsets
from subset_quality import RESULTS, candidate_text, load_task, task_pool

PULL_REQUESTS, SIZE, OPTIMIZER_CANDIDATES = 10, 20, 4
TASKS = ["intent_recognition", "ruin_names", "social_support"]


def neighbours(cand: str, n_instructions: int, n_demo_sets: int = 8) -> list[str]:
    i, d = (int(p[1:]) for p in cand.split("-"))
    return [f"i{j}-d{d}" for j in range(n_instructions) if j != i] + [
        f"i{i}-d{e}" for e in range(n_demo_sets) if e != d
    ]


def fidelity(bank: dict, ids: list[str]) -> float:
    """Kendall τ between the prompts' accuracies on the subset and on all pool and test items."""
    everything = bank["pool"] + bank["test"]
    names = sorted(bank["candidates"])
    full = [statistics.mean(float(bank["candidates"][c][i]["score"] or 0) for i in everything) for c in names]
    part = [statistics.mean(float(bank["candidates"][c][i]["score"] or 0) for i in ids) for c in names]
    tau = kendalltau(part, full)[0]
    return 0.0 if np.isnan(tau) else float(tau)


def run_sequence(task_name: str, seed: int, refresh: str) -> dict:
    task = load_task(task_name)
    bank = json.loads((RESULTS / f"subset_quality_scores_{task_name}.json").read_text())
    pool, _ = task_pool(task)
    expected = {item.id: item.expected for item in pool.items}
    names = sorted(bank["candidates"])
    prompts = {
        c: promptfile.parse(
            candidate_text(task, int(c.split("-")[0][1:]), int(c.split("-")[1][1:])),
            Path(f"{task_name}-{c}.prompt.yml"),
        )
        for c in names
    }
    settings = SelectionSettings(seed=seed)
    choice = subsets.SelectionParams.from_settings(settings, method="ipomp", size=SIZE, seed=seed)
    subset = subsets.select(prompts[names[0]], pool, choice)
    rng = random.Random(seed)
    base = rng.choice(names)
    taus, churn = [fidelity(bank, subset.ids)], []
    for _ in range(PULL_REQUESTS):
        head = rng.choice(neighbours(base, len(task.instructions)))
        candidates = rng.sample(neighbours(head, len(task.instructions)), OPTIMIZER_CANDIDATES)
        run = list(dict.fromkeys([base, head, *candidates]))
        results = {
            c: {
                i: ItemResult(
                    id=i,
                    expected=expected[i],
                    score=bank["candidates"][c][i]["score"],
                    label_probs=bank["candidates"][c][i]["probs"],
                )
                for i in subset.ids
            }
            for c in run
        }
        if refresh == "old":
            subset, swaps = old_refresh(prompts[head], pool, subset, [results[c] for c in run], seed)
        else:
            subset, records = subsets.refine_scores(
                prompts[head],
                pool,
                subset,
                {prompts[c].sha256: results[c] for c in run},
                source="benchmark",
                settings=settings,
            )
            swaps = len(records)
        churn.append(swaps / SIZE)
        taus.append(fidelity(bank, subset.ids))
        base = head
    return {
        "task": task_name,
        "seed": seed,
        "refresh": refresh,
        "churn": churn,
        "tau": taus,
        "ledger_prompts": len(subset.evidence.prompts),
    }


def old_refresh(prompt, pool, subset, by_run: list[dict], seed: int):
    """The refresh as it was before the evidence ledger (subsets.refine_scores at cf1a8d5): one run's prompts decide."""
    ids = subset.ids
    index = {item.id: n for n, item in enumerate(pool.items)}
    unavailable = set(ids) | subset.removed_ids()
    available = np.array([n for n, item in enumerate(pool.items) if item.id not in unavailable], dtype=int)
    rows, swaps = Refiner(threshold=0.9, replace_share=0.5, correlation="pearson", random_state=seed).refine(
        np.array([index[i] for i in ids]),
        subsets.performance_matrix(ids, by_run),
        subsets.pool_embeddings(prompt, pool),
        available,
    )
    if not swaps:
        return subset, 0
    pool_ids = [item.id for item in pool.items]
    records = subsets.replacement_records(swaps, pool_ids, "pearson")
    items = tuple(Entry(id=pool_ids[r], why="") for r in rows)
    history = subset.history + (Refinement(source="old", replaced=tuple(records)),)
    return replace(subset, items=items, history=history), len(swaps)


def summarise(runs: list[dict]) -> dict:
    out = {}
    for task in sorted({r["task"] for r in runs}) + ["all"]:
        for refresh in ("old", "new"):
            mine = [r for r in runs if r["refresh"] == refresh and task in (r["task"], "all")]
            churn = [c for r in mine for c in r["churn"]]
            out[f"{task}/{refresh}"] = {
                "runs": len(mine),
                "churn_mean": statistics.mean(churn),
                "churn_max": max(churn),
                "prs_over_10pct": sum(c > 0.10 for c in churn) / len(churn),
                "tau_start": statistics.mean(r["tau"][0] for r in mine),
                "tau_after_5": statistics.mean(r["tau"][5] for r in mine),
                "tau_after_10": statistics.mean(r["tau"][-1] for r in mine),
                "tau_min": statistics.mean(min(r["tau"]) for r in mine),
                "tau_change_sd": statistics.stdev(r["tau"][-1] - r["tau"][0] for r in mine) if len(mine) > 1 else 0.0,
                "items_replaced_in_10": statistics.mean(sum(r["churn"]) * SIZE for r in mine),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(9)))
    args = parser.parse_args()
    runs = [run_sequence(t, s, refresh) for t in args.tasks for s in args.seeds for refresh in ("old", "new")]
    summary = summarise(runs)
    print(
        "| task | refresh | churn per PR, mean (max) | PRs with churn > 10% | τ start | τ after 5 | τ after 10 "
        "| τ change (SD over runs) | items replaced in 10 PRs |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key, s in summary.items():
        task, refresh = key.split("/")
        print(
            f"| {task} | {refresh} | {s['churn_mean']:.1%} ({s['churn_max']:.0%}) | {s['prs_over_10pct']:.0%} | "
            f"{s['tau_start']:.2f} | {s['tau_after_5']:.2f} | {s['tau_after_10']:.2f} | "
            f"{s['tau_after_10'] - s['tau_start']:+.2f} ({s['tau_change_sd']:.2f}) | "
            f"{s['items_replaced_in_10']:.1f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    settings = SelectionSettings()
    (RESULTS / "subset_stability.json").write_text(
        json.dumps(
            {
                "pull_requests": PULL_REQUESTS,
                "size": SIZE,
                "optimizer_candidates": OPTIMIZER_CANDIDATES,
                "settings": {
                    "min_prompts": settings.min_prompts,
                    "max_replacements": settings.max_replacements,
                    "threshold": settings.threshold,
                    "replace_share": settings.replace_share,
                },
                "summary": summary,
                "runs": runs,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
