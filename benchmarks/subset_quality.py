"""Subset quality: the IPOMP paper's experiment on real BIG-bench tasks with the embedded model.

For each task a prompt optimizer runs with each subset method as its evaluation set, and the prompt it
picks is judged on a disjoint test split. The optimizer works with a small base model: a population
search over (instruction, few-shot demonstrations) candidates, population 8, 3 iterations, each child a
neighbour of a parent (another instruction, or another set of demonstrations).

Cost control, said plainly: every candidate of a task's search space (3 instructions × 8 demonstration
sets = 24 prompts) is scored once, with promptci's own runner and the embedded model (exact label
scoring), on the 200-item pool and the test split; the optimizer runs then look those scores up. A look-up
counts as the model call a live run would make, so the reported calls are what a live run would spend,
and the overhead is selection time ÷ (selection time + calls × the measured seconds per call). The score
tables are committed (`results/subset_quality_scores_<task>.json`), so a re-run needs no model.

    python benchmarks/subset_quality.py [--tasks intent_recognition social_support ruin_names] [--seeds 0 1 2]

Methods: Random, Boundary, Clustering, Anchor-Point (warm-up: the initial population on the whole pool),
IPOMP (stage 1 + stage 2 after every iteration), stage-1-only, Random + stage 2. Subsets of 20. Nothing is
tuned on the test split: parameters are the paper's defaults (N=20, α=0.5, k=5, CT=0.9, β=0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIGBENCH = Path(os.environ.get("BIGBENCH_DIR") or ROOT / "benchmarks" / "data" / "bigbench")  # docs/install.md
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache"

POOL, TEST, SIZE = 200, 100, 20
POPULATION, ITERATIONS = 8, 3
DEMO_SETS, DEMOS_PER_SET = 8, 3
GENERIC_INSTRUCTIONS = ["", "Read each input and give the correct answer."]
METHODS = ["random", "boundary", "clustering", "anchor", "ipomp", "stage1-only", "random+stage2"]


@dataclass
class TaskData:
    name: str
    pool: list[dict]
    test: list[dict]
    demos: list[dict]
    labels: list[str] | str
    split: str
    input_prefix: str
    output_prefix: str
    instructions: list[str]


def load_task(name: str) -> TaskData:
    from promptci.importers import OPTIONS_FIELD

    task = json.loads((BIGBENCH / f"{name}.json").read_text())
    rows = []
    for example in task["examples"]:
        scores = example["target_scores"]
        best = max(scores.values())
        rows.append(
            {
                "input": example["input"],
                "expected": next(k for k, v in scores.items() if v == best),
                OPTIONS_FIELD: list(scores),
            }
        )
    random.Random(0).shuffle(rows)
    shared = all(sorted(r[OPTIONS_FIELD]) == sorted(rows[0][OPTIONS_FIELD]) for r in rows)
    labels: list[str] | str = sorted(rows[0][OPTIONS_FIELD]) if shared else OPTIONS_FIELD
    for i, row in enumerate(rows):
        row["id"] = f"{name[:12]}-{i:04d}"
        if shared:
            row.pop(OPTIONS_FIELD)
    n_demo = DEMO_SETS * DEMOS_PER_SET
    if len(rows) >= POOL + TEST + n_demo:
        pool, test, demos, split = (
            rows[:POOL],
            rows[POOL : POOL + TEST],
            rows[POOL + TEST : POOL + TEST + n_demo],
            f"{POOL}/{TEST}",
        )
    else:
        rest = rows[n_demo:]
        cut = int(len(rest) * 0.6)
        pool, test, demos, split = rest[:cut], rest[cut:], rows[:n_demo], "60/40"
    prefix = task.get("task_prefix") or ""
    input_prefix = task.get("example_input_prefix")
    output_prefix = task.get("example_output_prefix")
    return TaskData(
        name=name,
        pool=pool,
        test=test,
        demos=demos,
        labels=labels,
        split=split,
        input_prefix="\nQ: " if input_prefix is None else input_prefix,
        output_prefix=("\nA: " if output_prefix is None else output_prefix).rstrip(),
        instructions=[prefix.strip(), *GENERIC_INSTRUCTIONS]
        if prefix.strip()
        else ["Answer the question.", *GENERIC_INSTRUCTIONS],
    )


def candidate_text(task: TaskData, instruction: int, demo_set: int) -> str:
    """A prompt file (GitHub Models format) for one candidate: an instruction and three demonstrations."""
    demos = task.demos[demo_set * DEMOS_PER_SET : (demo_set + 1) * DEMOS_PER_SET]
    shots = [f"{task.input_prefix}{d['input']}{task.output_prefix} {d['expected']}".strip("\n") for d in demos]
    query = f"{task.input_prefix}{{{{input}}}}{task.output_prefix}".strip("\n")
    body = "\n\n".join(
        [task.instructions[instruction], *shots, query] if task.instructions[instruction] else [*shots, query]
    )
    labels = json.dumps(task.labels)
    return (
        f"name: {task.name} i{instruction} d{demo_set}\nmodel: local/gemma-3-270m\nmessages:\n"
        f"  - role: user\n    content: {json.dumps(body, ensure_ascii=False)}\npromptci:\n  labels: {labels}\n"
    )


def score_bank(task: TaskData) -> dict:
    """Every candidate on every pool and test item, through promptci's runner (cached on disk)."""
    out = RESULTS / f"subset_quality_scores_{task.name}.json"
    if out.exists():
        return json.loads(out.read_text())
    os.environ.setdefault("PROMPTCI_CACHE_DIR", str(CACHE))
    from promptci import promptfile
    from promptci.models.llm import ModelClient
    from promptci.runner import Task, run

    pool, test = task_pool(task)
    items = [*pool.items, *test]
    client = ModelClient(concurrency=1)
    bank = {}
    started = time.perf_counter()
    for i in range(len(task.instructions)):
        for d in range(DEMO_SETS):
            prompt = promptfile.parse(candidate_text(task, i, d), Path(f"{task.name}-i{i}-d{d}.prompt.yml"))
            result = asyncio.run(run(Task(prompt=prompt, pool=pool, items=items), client))
            bank[f"i{i}-d{d}"] = {r.id: {"score": r.score, "probs": r.label_probs} for r in result.items}
            print(
                f"  {task.name} candidate i{i}-d{d}: pool+test mean {result.summary.mean:.3f} "
                f"({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    client.close()
    calls = len(bank) * len(items)
    record = {
        "task": task.name,
        "split": task.split,
        "labels": task.labels,
        "pool": [r["id"] for r in task.pool],
        "test": [r["id"] for r in task.test],
        "candidates": bank,
        "seconds_per_call": (time.perf_counter() - started) / calls,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record) + "\n")
    return record


def task_pool(task: TaskData):
    """The task's pool as promptci items, and its test items."""
    from promptci.files.evalset import Item, Pool

    def items(rows: list[dict]) -> tuple:
        return tuple(Item(id=r["id"], data={k: v for k, v in r.items() if k != "id"}) for r in rows)

    return Pool(source=task.name, path=None, items=items(task.pool), sha256=task.name), items(task.test)


class Search:
    """The optimizer: population search over (instruction, demonstration set) neighbours."""

    def __init__(self, task: TaskData, bank: dict, method: str, seed: int, embeddings: np.ndarray) -> None:
        self.task, self.bank, self.method, self.seed = task, bank, method, seed
        self.rng = random.Random(seed)
        self.pool_ids = bank["pool"]
        self.embeddings = embeddings
        self.calls: set[tuple[str, str]] = set()
        self.selection_s = 0.0
        self.label_order = task.labels if isinstance(task.labels, list) else None

    def correct(self, cand: str, item: str, *, count: bool = True) -> float:
        if count:
            self.calls.add((cand, item))
        return float(self.bank["candidates"][cand][item]["score"] or 0.0)

    def subset_acc(self, cand: str, subset: list[int], *, count: bool = True) -> float:
        return sum(self.correct(cand, self.pool_ids[i], count=count) for i in subset) / len(subset)

    def initial_subset(self, population: list[str]) -> list[int]:
        from promptci.selection import AnchorPointSelector, make_selector

        started = time.perf_counter()
        if self.method == "anchor":
            warm = np.array([[self.correct(c, pid) for c in population] for pid in self.pool_ids])
            chosen = AnchorPointSelector(size=SIZE, random_state=self.seed).fit_select(warm)
        else:
            kind = {
                "random": "random",
                "random+stage2": "random",
                "boundary": "boundary",
                "clustering": "clustering",
            }.get(self.method, "ipomp")
            chosen = make_selector(kind, size=SIZE, alpha=0.5, n_clusters=5, random_state=self.seed).fit_select(
                self.embeddings
            )
        self.selection_s += time.perf_counter() - started
        return [int(i) for i in chosen]

    def refine(self, subset: list[int], population: list[str], removed: set[int]) -> list[int]:
        if self.method not in ("ipomp", "random+stage2"):
            return subset
        from promptci.selection import Refiner

        rows = []
        for i in subset:
            pid = self.pool_ids[i]
            row = []
            for c in population:
                self.calls.add((c, pid))
                entry = self.bank["candidates"][c][pid]
                if self.label_order and entry["probs"]:
                    row += [entry["probs"][lab] for lab in self.label_order]
                else:
                    row.append((entry["probs"] or {}).get(self.expected(pid), entry["score"] or 0.0))
            rows.append(row)
        started = time.perf_counter()
        available = np.array([i for i in range(len(self.pool_ids)) if i not in subset and i not in removed])
        new, swaps = Refiner(threshold=0.9, replace_share=0.5, random_state=self.seed).refine(
            np.array(subset), np.array(rows), self.embeddings, available
        )
        self.selection_s += time.perf_counter() - started
        removed.update(s.removed for s in swaps)
        return [int(i) for i in new]

    def expected(self, pid: str) -> str:
        return next(r["expected"] for r in self.task.pool if r["id"] == pid)

    def neighbours(self, cand: str) -> list[str]:
        i, d = (int(p[1:]) for p in cand.split("-"))
        out = [f"i{j}-d{d}" for j in range(len(self.task.instructions)) if j != i]
        return out + [f"i{i}-d{e}" for e in range(DEMO_SETS) if e != d]

    def run(self) -> dict:
        names = sorted(self.bank["candidates"])
        population = self.rng.sample(names, POPULATION)
        explored = set(population)
        subset = self.initial_subset(population)
        removed: set[int] = set()
        for _ in range(ITERATIONS):
            children = []
            for parent in sorted(population, key=lambda c: -self.subset_acc(c, subset)):
                fresh = [n for n in self.neighbours(parent) if n not in explored]
                if not fresh:
                    fresh = [n for n in names if n not in explored]
                if fresh:
                    child = self.rng.choice(fresh)
                    explored.add(child)
                    children.append(child)
            ranked = sorted(population + children, key=lambda c: (-self.subset_acc(c, subset), c))
            population = ranked[:POPULATION]
            subset = self.refine(subset, population, removed)
        best = max(population, key=lambda c: (self.subset_acc(c, subset), c))
        test_ids = self.bank["test"]
        test_acc = {
            c: statistics.mean(float(self.bank["candidates"][c][t]["score"] or 0) for t in test_ids) for c in explored
        }
        # for τ every candidate is measured on the final subset; that is analysis, not optimizer cost
        final_subset_acc = {c: self.subset_acc(c, subset, count=False) for c in explored}
        from scipy.stats import kendalltau

        tau = kendalltau([final_subset_acc[c] for c in sorted(explored)], [test_acc[c] for c in sorted(explored)])[0]
        return {
            "method": self.method,
            "seed": self.seed,
            "best": best,
            "test_accuracy": test_acc[best],
            "kendall_tau": None if np.isnan(tau) else float(tau),
            "calls": len(self.calls),
            "selection_s": self.selection_s,
            "explored": len(explored),
        }


def embeddings_for(task: TaskData, bank: dict) -> np.ndarray:
    from promptci.models import embeddings
    from promptci.selection.subsets import common_prefix

    by_id = {r["id"]: r for r in task.pool}
    texts = [by_id[i]["input"] for i in bank["pool"]]
    shared = len(common_prefix(texts))
    return embeddings.embed_cached([t[shared:] for t in texts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["intent_recognition", "social_support", "ruin_names"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS / "subset_quality.json")
    args = parser.parse_args()

    runs = []
    per_task = {}
    for name in args.tasks:
        task = load_task(name)
        print(f"{name}: scoring the candidate bank (cached after the first run)", file=sys.stderr, flush=True)
        bank = score_bank(task)
        emb = embeddings_for(task, bank)
        per_task[name] = {
            "split": bank["split"],
            "seconds_per_call": bank["seconds_per_call"],
            "bank_test_accuracy": {
                c: statistics.mean(float(bank["candidates"][c][t]["score"] or 0) for t in bank["test"])
                for c in bank["candidates"]
            },
        }
        for method in METHODS:
            for seed in args.seeds:
                result = Search(task, bank, method, seed, emb).run()
                result["task"] = name
                result["overhead"] = result["selection_s"] / (
                    result["selection_s"] + result["calls"] * bank["seconds_per_call"]
                )
                runs.append(result)

    summary = summarise(runs, args.tasks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"tasks": per_task, "runs": runs, "summary": summary}, indent=2) + "\n")
    print_table(summary, per_task)
    print(f"raw: {args.out}")


def summarise(runs: list[dict], tasks: list[str]) -> dict:
    out: dict = {}
    for task in [*tasks, "mean"]:
        rows = {}
        for method in METHODS:
            sel = [r for r in runs if r["method"] == method and (task == "mean" or r["task"] == task)]
            if task == "mean":  # average of per-task means and SDs, as the paper's tables do
                per = [out[t][method] for t in tasks]
                rows[method] = {k: statistics.mean(p[k] for p in per) for k in per[0] if p_ok(per, k)}
                continue
            acc = [r["test_accuracy"] for r in sel]
            taus = [r["kendall_tau"] for r in sel if r["kendall_tau"] is not None]
            rows[method] = {
                "accuracy": statistics.mean(acc),
                "sd": statistics.pstdev(acc),
                "tau": statistics.mean(taus) if taus else float("nan"),
                "calls": statistics.mean(r["calls"] for r in sel),
                "overhead": statistics.mean(r["overhead"] for r in sel),
            }
        sd_random = rows["random"]["sd"]
        for method in METHODS:
            sd = rows[method]["sd"]
            rows[method]["stability_gain"] = (sd_random - sd) / sd_random if sd_random > 0 else float("nan")
        out[task] = rows
    return out


def p_ok(per: list[dict], key: str) -> bool:
    return all(isinstance(p[key], (int, float)) and not np.isnan(p[key]) for p in per)


def print_table(summary: dict, per_task: dict) -> None:
    for task, rows in summary.items():
        split = per_task[task]["split"] if task in per_task else "all tasks"
        print(f"\n{task} ({split})")
        print(
            f"{'method':15} {'test acc':>16} {'stability vs Random':>20} {'Kendall tau':>12} {'calls':>7} "
            f"{'overhead':>9}"
        )
        for method, r in rows.items():
            acc = f"{r.get('accuracy', float('nan')):.3f} ± {r.get('sd', float('nan')):.3f}"
            print(
                f"{method:15} {acc:>16} {r.get('stability_gain', float('nan')):>+19.0%} "
                f"{r.get('tau', float('nan')):>12.3f} {r.get('calls', float('nan')):>7.0f} "
                f"{r.get('overhead', float('nan')):>9.3%}"
            )


if __name__ == "__main__":
    main()
