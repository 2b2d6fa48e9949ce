"""Optimizer benchmark: does a suggestion help on prompts nobody tuned promptci for?

Per task (BIG-bench with the embedded model, the splits of subset_quality.py: a 200-item optimizer pool and a
disjoint test split the optimizer never sees, of which the first 50 items are scored; emojis_emotion_prediction,
a small task, has 64 and 43), per starting prompt and
seed, every method gets the same budget of model calls (cache hits counted, so a re-run spends the same and takes
the same path):

  start        the starting prompt, unchanged;
  dual-phase   promptci's optimizer with its defaults (`DualPhase`, IPOMP subset refreshed after every step);
  ape          APE (Zhou et al. 2022): instructions induced with the forward template, 6 per round, each
               scored on the IPOMP subset, the best kept;
  random-k     DSPy's LabeledFewShot with random search: k random training items as demonstrations,
               a fresh draw per round, each scored on the subset, the best kept;
  knn-k        k nearest demonstrations (DSPy's KNN few-shot, for a static prompt): the training items most
               like the current best prompt's subset failures, every answer shown (`demos.choose`), per round.

Starting prompts: the bare zero-shot template `Q: {{input}}\nA:`, and the task's own BIG-bench instruction with
three hand-written demonstrations (candidate i0-d0 of subset_quality.py; the demonstrations are items outside
the pool and the test split). Methods are compared at 150 and 400 calls (`--budgets`): dual-phase plans by its
budget, so it runs once per budget and is read at its end; the baselines never look at theirs, so each runs once
with the largest and its best prompt so far is read at every budget. The held-out accuracy is measured on the
test split (not counted as calls: it is the benchmark's measurement). Nothing is tuned on the test split: every
method runs with promptci's defaults (k = `promptci.optimizer.demos`).

Tasks: the three that informed dual-phase's design (social_support, intent_recognition, emojis_emotion_prediction:
the prompt-sensitive ones of benchmarks/README.md that two cores can run every method on; ruin_names is left out,
its long items cost four times as much per call), and two held-out tasks added after the design and never tuned
on (hindu_knowledge, similarities_abstraction), reported apart.

    python benchmarks/optimizer.py [--tasks ...] [--held-out ...] [--seeds 0] [--starts zero-shot few-shot]
        [--methods ...] [--budgets 150 400] [--model local/gemma-3-270m]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache"
METHODS = ["start", "dual-phase", "ape", "random-k", "knn-k"]
BASELINES = ("ape", "random-k", "knn-k")
STARTS = ["zero-shot", "few-shot"]
BUDGETS = [150, 400]  # the calls at which methods are compared (the issue's)
DESIGN_TASKS = ["social_support", "intent_recognition", "emojis_emotion_prediction"]  # they informed dual-phase
HELD_OUT_TASKS = ["hindu_knowledge", "similarities_abstraction"]  # added after the design, never tuned on
TEST_ITEMS = 50  # of the test split, for time: two cores score every method on every task three times
APE_PER_ROUND = 6


def starting_prompt(task, start: str, model: str):
    import json as _json

    from promptci import promptfile
    from subset_quality import candidate_text

    path = ROOT / "prompts" / f"{task.name}.prompt.yml"
    query = f"{task.input_prefix}{{{{input}}}}{task.output_prefix}".strip("\n")  # as candidate_text's
    if start == "few-shot":
        text = candidate_text(task, 0, 0)
    else:
        text = (
            f"name: {task.name} zero-shot\nmodel: local/gemma-3-270m\nmessages:\n  - role: user\n"
            f"    content: {_json.dumps(query, ensure_ascii=False)}\n"
            f"promptci:\n  labels: {_json.dumps(task.labels)}\n"
        )
    return promptfile.parse(text.replace("model: local/gemma-3-270m", f"model: {model}"), path)


class Trajectory:
    """The best prompt so far after each candidate, against the calls spent when it became the best."""

    def __init__(self, budget, text: str) -> None:
        self.budget, self.points = budget, [(0, text)]

    def best(self, text: str) -> None:
        if text != self.points[-1][1]:
            self.points.append((self.budget.calls, text))

    def at(self, calls: int) -> str:
        return [t for c, t in self.points if c <= calls][-1]


async def run_one(task, start: str, method: str, seed: int, marks: list[int], model: str) -> dict:
    """One method's run with a budget of the last of `marks` calls; the held-out accuracy of its best prompt so far
    at 0 calls and at each mark."""
    budget_calls = marks[-1]
    from promptci.models.budget import Budget, judged_size
    from promptci.models.llm import ModelClient
    from promptci.optimize import Split, split as make_split, style_for
    from promptci.optimize.dualphase import DualPhase
    from promptci.optimize.job import refresher, scorer
    from promptci.runner import Task, run
    from promptci.selection import make_selector
    from promptci.selection.subsets import pool_embeddings
    from subset_quality import task_pool

    prompt = starting_prompt(task, start, model)
    pool, test = task_pool(task)
    test = test[:TEST_ITEMS]
    embeddings = pool_embeddings(prompt, pool)
    chosen = [
        int(i)
        for i in make_selector("ipomp", size=20, alpha=0.5, n_clusters=5, random_state=seed).fit_select(embeddings)
    ]
    settings = prompt.settings.optimizer
    client = ModelClient(concurrency=1)
    budget = Budget(client, max_calls=budget_calls, count_hits=True)
    split = make_split(
        pool,
        [pool.items[i].id for i in chosen],
        holdout=0,
        seed=seed,
        judged=judged_size(settings.filter_items, budget.left),
    )  # as optimize.job splits
    trajectory = Trajectory(budget, prompt.text)
    started = time.perf_counter()
    stopped, tried = "unchanged", dict[str, int]()
    if method == "dual-phase":
        search = DualPhase(
            prompt,
            pool,
            split,
            embeddings,
            score=scorer(prompt, pool, client, model),
            refresh=refresher(pool, embeddings, prompt.settings.selection),
            client=client,
            budget=budget,
            settings=settings,
            optimizer_model=model,
            style=style_for(model),
            seed=seed,
            on_attempt=lambda attempt: trajectory.best(search.state.best.prompt.text) if attempt.accepted else None,
        )  # reported once accepted: the new best
        outcome = await search.run()
        stopped = outcome.stopped
        for attempt in outcome.attempts:  # what each candidate came to: accepted, or why not
            reason = "accepted" if attempt.accepted else attempt.why.split(":")[0]
            tried[reason] = tried.get(reason, 0) + 1
    elif method != "start":
        subset = [pool.items[i] for i in split.subset]
        training = Split(subset=split.subset, training=split.training, holdout=())
        propose = {"ape": ape, "random-k": random_k, "knn-k": knn_k}[method]
        stopped = await search_by_subset(
            prompt, pool, subset, training, embeddings, client, budget, model, seed, propose, trajectory
        )
    wall = time.perf_counter() - started
    calls = budget.calls
    from promptci import promptfile

    accuracy: dict[str, float] = {}
    texts = [prompt.text] + [trajectory.at(m) for m in marks]
    for text in dict.fromkeys(texts):
        result = await run(Task(prompt=promptfile.parse(text, prompt.path), pool=pool, items=test, model=model), client)
        accuracy[text] = float(result.summary.mean or 0.0)
    client.close()
    return {
        "task": task.name,
        "start": start,
        "method": method,
        "seed": seed,
        "budget": budget_calls,
        "calls": calls,
        "wall_s": wall,
        "stopped": stopped,
        "attempts": tried,
        "checkpoints": [0, *marks],
        "test_accuracy": [accuracy[t] for t in texts],
        "final_text": texts[-1],
    }


Propose = Callable[..., Awaitable[str | None]]


async def search_by_subset(
    prompt, pool, subset, split, embeddings, client, budget, model, seed, propose: Propose, trajectory: Trajectory
) -> str:
    """The baselines' loop: a candidate per round from `propose`, scored on the subset, the best kept."""
    from promptci import promptfile
    from promptci.runner import Task, run

    rng = random.Random(seed)

    async def score(candidate):
        result = await run(Task(prompt=candidate, pool=pool, items=subset, model=model), client)
        return result

    best = prompt
    best_result = await score(prompt)
    rounds = 0
    while budget.allows(len(subset) + 1):
        rounds += 1
        failures = [r.id for r in best_result.items if (r.score or 0.0) < 1.0]
        text = await propose(prompt, pool, split, embeddings, client, model, seed, rng, rounds, failures, budget)
        if text is None:
            continue
        try:
            candidate = promptfile.parse(text, prompt.path)
        except Exception:  # an unusable candidate costs what it cost, as in a live run
            continue
        result = await score(candidate)
        if (result.summary.mean or 0.0) > (best_result.summary.mean or 0.0):
            best, best_result = candidate, result
            trajectory.best(best.text)
    return f"budget spent after {rounds} rounds ({budget.describe()})"


def with_demos(prompt, pool, rows: list[int]) -> str | None:
    """The prompt with its demonstrations replaced by the given pool rows (with their gold answers)."""
    from promptci.optimize.units import layout

    lay = layout(prompt)
    if lay.shape is None:
        return None
    shown = [lay.demonstration(pool.items[r].data, str(pool.items[r].expected)) for r in rows]
    return prompt.with_message_contents(lay.with_demos(shown).contents())


async def random_k(prompt, pool, split, embeddings, client, model, seed, rng, round_, failures, budget):
    k = prompt.settings.optimizer.demos
    return with_demos(prompt, pool, rng.sample(list(split.training), min(k, len(split.training))))


async def knn_k(prompt, pool, split, embeddings, client, model, seed, rng, round_, failures, budget):
    from promptci.optimize import demos

    index = {item.id: i for i, item in enumerate(pool.items)}
    near = [index[i] for i in failures]
    rng.shuffle(near)  # a different order of the failures per round: another set of nearest items
    rows = [r for r in split.training if rng.random() < 0.8] if round_ > 1 else list(split.training)
    return with_demos(prompt, pool, demos.choose(pool, rows, embeddings, near=near, k=prompt.settings.optimizer.demos))


async def ape(prompt, pool, split, embeddings, client, model, seed, rng, round_, failures, budget):
    """APE's forward template on 5 training pairs, continued by the optimizer model; the instruction replaces
    the prompt's own (or goes first)."""
    from promptci.optimize import framing, style_for
    from promptci.optimize.units import layout, same_variables, with_instruction
    from promptci.optimize.writer import Writer
    from promptci.selection.subsets import item_text

    writer = Writer(client, model, style_for(model), budget, temperature=0.7, seed=seed * 1000 + round_)
    shown = rng.sample(list(split.training), 5)
    pairs = [framing.Example(item_text(prompt, pool.items[r]), str(pool.items[r].expected)) for r in shown]
    try:
        line = await writer.induce(pairs)
    except framing.Refused:
        return None
    contents = with_instruction(layout(prompt), line).contents()
    return prompt.with_message_contents(contents) if same_variables(prompt, contents) else None


def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    for key in dict.fromkeys((r["task"], r["start"], r["method"]) for r in runs):
        sel = [r for r in runs if (r["task"], r["start"], r["method"]) == key]
        by_mark = list(zip(*[r["test_accuracy"] for r in sel]))
        rows.append(
            {
                "task": key[0],
                "start": key[1],
                "method": key[2],
                "seeds": len(sel),
                "checkpoints": sel[0]["checkpoints"],
                "accuracy": [statistics.mean(m) for m in by_mark],
                "sd": [statistics.pstdev(m) for m in by_mark],
                "gain": statistics.mean(r["test_accuracy"][-1] - r["test_accuracy"][0] for r in sel),
                "calls": statistics.mean(r["calls"] for r in sel),
                "wall_s": statistics.mean(r["wall_s"] for r in sel),
            }
        )
    return rows


def against_baselines(rows: list[dict]) -> list[dict]:
    """Per task-start and budget: dual-phase's held-out accuracy beside the best baseline's."""
    out = []
    for task, start in dict.fromkeys((r["task"], r["start"]) for r in rows):
        mine = [r for r in rows if (r["task"], r["start"], r["method"]) == (task, start, "dual-phase")]
        others = [r for r in rows if (r["task"], r["start"]) == (task, start) and r["method"] in BASELINES]
        if not mine or not others:
            continue
        for i, mark in enumerate(mine[0]["checkpoints"][1:], start=1):
            best = max(others, key=lambda r: r["accuracy"][i])
            out.append(
                {
                    "task": task,
                    "start": start,
                    "calls": mark,
                    "dual_phase": mine[0]["accuracy"][i],
                    "best_baseline": best["method"],
                    "baseline": best["accuracy"][i],
                    "at_or_above": mine[0]["accuracy"][i] >= best["accuracy"][i] - 1e-9,
                }
            )
    return out


def print_table(rows: list[dict], title: str) -> None:
    marks = rows[0]["checkpoints"] if rows else []
    print(f"\n{title}: held-out accuracy of the best prompt so far, mean ± SD over seeds, at calls {marks}")
    print(
        f"{'task':26} {'start':10} {'method':11} "
        + " ".join(f"{m:>13}" for m in marks)
        + f" {'gain':>7} {'calls':>6} {'wall s':>7}"
    )
    for r in rows:
        cells = " ".join(f"{m:.3f} ± {sd:.3f}".rjust(13) for m, sd in zip(r["accuracy"], r["sd"]))
        print(
            f"{r['task']:26} {r['start']:10} {r['method']:11} {cells} {r['gain']:+7.3f} {r['calls']:6.0f} "
            f"{r['wall_s']:7.0f}"
        )
    for c in against_baselines(rows):
        verdict = "at or above" if c["at_or_above"] else "BELOW"
        print(
            f"  {c['task']} {c['start']} at {c['calls']} calls: dual-phase {c['dual_phase']:.3f}, "
            f"best baseline {c['best_baseline']} {c['baseline']:.3f}: {verdict}"
        )


@contextlib.contextmanager
def model_lock():
    """One run at a time holds the machine's model lock (PROMPTCI_MODEL_LOCK, a file path), so that other
    model work can go between runs: two llama.cpp processes on a small machine slow each other tenfold."""
    path = os.environ.get("PROMPTCI_MODEL_LOCK")
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=DESIGN_TASKS, help="the tasks that informed the design")
    parser.add_argument("--held-out", nargs="*", default=HELD_OUT_TASKS, help="tasks nobody tuned dual-phase on")
    parser.add_argument("--starts", nargs="+", default=STARTS, choices=STARTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budgets", nargs="+", type=int, default=BUDGETS, help="model calls, cache hits included")
    parser.add_argument("--model", default="local/gemma-3-270m", help="task and optimizer model (any litellm model)")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--out", type=Path, default=RESULTS / "optimizer.json")
    args = parser.parse_args()
    os.environ.setdefault("PROMPTCI_CACHE_DIR", str(CACHE))
    from subset_quality import load_task

    done = CACHE / "optimizer_runs_v3"
    done.mkdir(parents=True, exist_ok=True)
    budgets = sorted(args.budgets)
    runs: dict[str, list[dict]] = {"design": [], "held_out": []}

    def one(task, start: str, method: str, seed: int, marks: list[int]) -> dict:
        key = f"{task.name}-{start}-{method}-{seed}-{'_'.join(map(str, marks))}-{args.model}".replace("/", "_")
        record_path = done / f"{key}.json"
        if record_path.exists():
            return json.loads(record_path.read_text())
        with model_lock():
            record = asyncio.run(run_one(task, start, method, seed, marks, args.model))
        record_path.write_text(json.dumps(record) + "\n")
        return record

    for kind, names in (("design", args.tasks), ("held_out", args.held_out)):
        for seed in args.seeds:  # seed by seed, so that a run cut short still has every method on every task
            for name in names:
                task = load_task(name)
                for start in args.starts:
                    for method in args.methods:
                        if method == "dual-phase":  # it plans by its budget: one run per budget, read at its end
                            parts = [one(task, start, method, seed, [b]) for b in budgets]
                            record = {
                                **parts[-1],
                                "checkpoints": [0, *budgets],
                                "test_accuracy": [parts[0]["test_accuracy"][0]]
                                + [p["test_accuracy"][-1] for p in parts],
                                "calls": sum(p["calls"] for p in parts),
                                "wall_s": sum(p["wall_s"] for p in parts),
                                "runs": parts,
                            }
                        else:  # the others do not look at their budget: one run, read at every budget
                            record = one(task, start, method, seed, budgets)
                        runs[kind].append(record)
                        marks = " ".join(f"{a:.2f}" for a in record["test_accuracy"])
                        print(
                            f"{name} {start} {method} seed {seed}: held-out {marks}; {record['calls']} calls, "
                            f"{record['wall_s']:.0f} s; {record['stopped']}",
                            file=sys.stderr,
                            flush=True,
                        )
    summary = {kind: summarise(r) for kind, r in runs.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "budgets": budgets,
                "model": args.model,
                "runs": runs,
                "summary": summary,
                "against_baselines": {kind: against_baselines(rows) for kind, rows in summary.items()},
            },
            indent=2,
        )
        + "\n"
    )
    print_table(summary["design"], "tasks that informed the design")
    if summary["held_out"]:
        print_table(summary["held_out"], "held-out tasks (added after the design, never tuned on)")
    print(f"raw: {args.out}")


if __name__ == "__main__":
    main()
