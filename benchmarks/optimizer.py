"""Optimizer benchmark: dual-phase with IPOMP against baselines at the same model-call budget.

Per task (BIG-bench, the same splits as subset_quality.py: a 200-item optimizer pool and a disjoint
test split) and seed, four methods start from the same initial prompt:
  initial        the initial prompt, unchanged (step 0 of every method);
  dual-phase     phase 1 + phase 2, judged on an IPOMP subset refreshed by stage 2 after every step;
  dual-random    the same optimizer judged on a random subset, never refreshed;
  ape            APE-style resample-and-select: instructions sampled from the optimizer model with APE's
                 forward template (6 per round), each scored on the IPOMP stage-1 subset, best kept.
Every method stops at the same budget of model calls. Calls count every request a live run would
make, cache hits included, so a re-run spends the same and takes the same path; responses are cached
on disk (benchmarks/.cache), so a re-run is cheap. Test accuracy is measured for the best prompt after
each step 0-5 (not counted as calls: it is the benchmark's measurement, not the optimizer's cost).

    python benchmarks/optimizer.py [--tasks intent_recognition social_support ruin_names] [--seeds 0 1 2]
        [--budget 300] [--model local/gemma-3-270m] [--optimizer-model M]

The initial prompt of intent_recognition is the bundled prompts/intent.prompt.yml; of the other tasks,
the task's own BIG-bench instruction with three demonstrations (candidate i0-d0 of subset_quality.py).
Nothing is tuned on the test split: the optimizer runs with promptci's defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache"
METHODS = ["initial", "dual-phase", "dual-random", "ape"]
STEPS = 5
APE_PER_ROUND = 6


def initial_prompt(task, model: str):
    from promptci import promptfile
    from subset_quality import candidate_text

    path = ROOT / "prompts" / f"{task.name}.prompt.yml"
    text = (ROOT / "prompts" / "intent.prompt.yml").read_text() if task.name == "intent_recognition" else \
        candidate_text(task, 0, 0)
    text = text.replace("model: local/gemma-3-270m", f"model: {model}")
    return promptfile.parse(text, path)


def subset_for(method: str, embeddings: np.ndarray, seed: int) -> list[int]:
    from promptci.selection import make_selector

    kind = "random" if method == "dual-random" else "ipomp"
    return [int(i) for i in make_selector(kind, size=20, alpha=0.5, n_clusters=5, random_state=seed)
            .fit_select(embeddings)]


async def run_one(task, method: str, seed: int, budget_calls: int, model: str, optimizer_model: str | None) -> dict:
    from promptci.budget import Budget
    from promptci.llm import ModelClient
    from promptci.optimize import Split, style_for
    from promptci.optimize.dualphase import DualPhase
    from promptci.optimize.job import refresher, scorer
    from promptci.runner import Task, run
    from promptci.subsets import pool_embeddings
    from subset_quality import task_pool

    prompt = initial_prompt(task, model)
    pool, test = task_pool(task)
    embeddings = pool_embeddings(prompt, pool)
    chosen = subset_for(method, embeddings, seed)
    split = Split(subset=tuple(chosen), training=tuple(i for i in range(len(pool)) if i not in chosen), holdout=())
    optimizer_model = optimizer_model or model
    client = ModelClient(concurrency=1)
    budget = Budget(client, max_calls=budget_calls, count_hits=True)
    started = time.perf_counter()
    if method == "initial":
        texts, stopped = [prompt.text], "unchanged"
    elif method == "ape":
        texts, stopped = await ape(prompt, pool, split, client, budget, model, optimizer_model, seed)
    else:
        search = DualPhase(prompt, pool, split, embeddings, score=scorer(prompt, pool, client, model),
                           refresh=refresher(pool, embeddings, prompt.settings.selection)
                           if method == "dual-phase" else None, client=client, budget=budget,
                           settings=prompt.settings.optimizer, optimizer_model=optimizer_model,
                           style=style_for(optimizer_model), seed=seed, steps=STEPS)
        outcome = await search.run()
        texts, stopped = outcome.best_after_step or [prompt.text], outcome.stopped
    wall = time.perf_counter() - started
    calls, tokens = budget.calls, client.counters.prompt_tokens + client.counters.completion_tokens
    texts = (texts + [texts[-1]] * (STEPS + 1))[: STEPS + 1]
    from promptci import promptfile

    accuracy: dict[str, float] = {}
    for text in dict.fromkeys(texts):
        result = await run(Task(prompt=promptfile.parse(text, prompt.path), pool=pool, items=test, model=model), client)
        accuracy[text] = float(result.summary.mean or 0.0)
    client.close()
    return {"task": task.name, "method": method, "seed": seed, "budget": budget_calls, "calls": calls,
            "tokens": tokens, "wall_s": wall, "stopped": stopped,
            "test_accuracy_by_step": [accuracy[t] for t in texts], "final_text": texts[-1]}


async def ape(prompt, pool, split, client, budget, model, optimizer_model, seed) -> tuple[list[str], str]:
    """APE (Zhou et al. 2022), forward generation: 'The instruction was' continued from input-output pairs;
    resample per round, score each on the subset, keep the best."""
    import random

    from promptci import promptfile
    from promptci.llm import Params
    from promptci.optimize import framing, style_for
    from promptci.optimize.units import layout, same_variables, with_instruction
    from promptci.runner import Task, run
    from promptci.subsets import item_text

    rng = random.Random(seed)
    subset = [pool.items[i] for i in split.subset]
    train = [pool.items[i] for i in split.training]
    instruct = style_for(optimizer_model) == "instruct"

    async def score(candidate) -> float:
        result = await run(Task(prompt=candidate, pool=pool, items=subset, model=model), client)
        return float(result.summary.mean or 0.0)

    best, best_score = prompt, await score(prompt)
    texts, samples = [prompt.text], 0
    for _ in range(STEPS):
        for _ in range(APE_PER_ROUND):
            if not budget.allows(1 + len(subset)):
                return texts + [best.text], f"budget spent ({budget.describe()})"
            shown = rng.sample(train, 5)
            pairs = "\n\n".join(f"Input: {item_text(prompt, i)}\nOutput: {i.expected}" for i in shown)
            request = ("I gave a friend an instruction and five inputs. The friend read the instruction and wrote an "
                       f"output for every one of the inputs. Here are the input-output pairs:\n\n{pairs}\n\n")
            request += "What was the instruction? Reply with the instruction only." if instruct else \
                "The instruction was to"
            samples += 1
            reply = await client.complete(optimizer_model, [{"role": "user", "content": request}],
                                          Params(temperature=0.7, max_tokens=80, stop=() if instruct else ("\n",),
                                                 seed=seed * 100_003 + samples))
            try:
                line = framing.parse_sentence(reply.text if instruct else "To " + reply.text.strip(), "")
                contents = with_instruction(layout(prompt), line).contents()
                if not same_variables(prompt, contents):
                    continue
                candidate = promptfile.parse(prompt.with_message_contents(contents), prompt.path)
            except Exception:  # an unusable sample costs its call, as in a live run
                continue
            value = await score(candidate)
            if value > best_score:
                best, best_score = candidate, value
        texts.append(best.text)
    return texts, f"{STEPS} rounds done"


def summarise(runs: list[dict], tasks: list[str]) -> dict:
    out: dict = {}
    for task in tasks:
        rows = {}
        for method in METHODS:
            sel = [r for r in runs if r["task"] == task and r["method"] == method]
            if not sel:
                continue
            by_step = list(zip(*[r["test_accuracy_by_step"] for r in sel]))
            rows[method] = {"accuracy_by_step": [statistics.mean(s) for s in by_step],
                            "sd_by_step": [statistics.pstdev(s) for s in by_step],
                            "calls": statistics.mean(r["calls"] for r in sel),
                            "tokens": statistics.mean(r["tokens"] for r in sel),
                            "wall_s": statistics.mean(r["wall_s"] for r in sel), "seeds": len(sel)}
        out[task] = rows
    return out


def print_table(summary: dict, budget: int) -> None:
    for task, rows in summary.items():
        print(f"\n{task} (test accuracy, mean ± SD over seeds; budget {budget} calls)")
        print(f"{'method':12} " + " ".join(f"{'step ' + str(s):>14}" for s in range(STEPS + 1)) +
              f" {'calls':>6} {'tokens':>9}")
        for method, r in rows.items():
            cells = " ".join(f"{m:.3f} ± {sd:.3f}".rjust(14) for m, sd in zip(r["accuracy_by_step"], r["sd_by_step"]))
            print(f"{method:12} {cells} {r['calls']:>6.0f} {r['tokens']:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["intent_recognition", "social_support", "ruin_names"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=300, help="model calls per run, cache hits included")
    parser.add_argument("--model", default="local/gemma-3-270m", help="task model (any litellm model)")
    parser.add_argument("--optimizer-model", default=None, help="optimizer model (default: the task model)")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--out", type=Path, default=RESULTS / "optimizer.json")
    args = parser.parse_args()
    os.environ.setdefault("PROMPTCI_CACHE_DIR", str(CACHE))
    from subset_quality import load_task

    done = CACHE / "optimizer_runs"
    done.mkdir(parents=True, exist_ok=True)
    runs = []
    for name in args.tasks:
        task = load_task(name)
        for seed in args.seeds:
            for method in args.methods:
                key = f"{name}-{method}-{seed}-{args.budget}-{args.model}-{args.optimizer_model}".replace("/", "_")
                record_path = done / f"{key}.json"
                if record_path.exists():
                    record = json.loads(record_path.read_text())
                else:
                    record = asyncio.run(run_one(task, method, seed, args.budget, args.model, args.optimizer_model))
                    record_path.write_text(json.dumps(record) + "\n")
                runs.append(record)
                steps = " ".join(f"{a:.2f}" for a in record["test_accuracy_by_step"])
                print(f"{name} {method} seed {seed}: test by step {steps}; {record['calls']} calls, "
                      f"{record['wall_s']:.0f} s; {record['stopped']}", file=sys.stderr, flush=True)
    summary = summarise(runs, args.tasks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"budget": args.budget, "model": args.model,
                                    "optimizer_model": args.optimizer_model or args.model,
                                    "runs": runs, "summary": summary}, indent=2) + "\n")
    print_table(summary, args.budget)
    print(f"raw: {args.out}")


if __name__ == "__main__":
    main()
