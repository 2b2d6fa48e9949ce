"""Decision quality with output noise: the embedded model sampled at temperature 0.8, each item's truth its
expected score over many draws, and the gate fed one draw, a fixed N draws (as peers repeat a suite), or targeted
repeats (more draws only where base's and head's first draws disagree).

Measure (model-heavy, under the model lock): for each task, three realistic prompt variants (two instructions
with three demonstrations each, and a bare zero-shot one), ITEMS items, DRAWS draws per item and variant through
promptci's own runner (`repeats`: every draw under its own sample index, cached). An item's truth is the share of
its DRAWS draws that are right; a pair's truth is the mean difference of those shares, and head is *worse* when it
is at least the gate's margin δ lower.

Analyse (no model): every ordered pair (base, head) of a task's variants is a pull request, replayed REPLICATES
times with draws chosen at random from the recorded ones. Policies:

- `1 draw`: one answer per item and side (promptci before this change);
- `fixed 3`, `fixed 5`: the mean of N draws per item and side (promptfoo `repeat`, Inspect `epochs`, ...);
- `targeted 3`, `targeted 5`: promptci's targeted repeats (gate/repeats.py): one draw a side, and r draws a side
  on the items whose first draws disagree, each item counted by its unbiased value (`repeats.value`).

Each replicate runs the gate (promptci.gate.decide on the items as draws from an endless pool, then `settle`).
Columns: agreement with the truth, blocks of not-worse (a fail where head is not worse), catch rate (fails of the
worse), inconclusive, model calls per pull request (both sides), and head's calls alone.

    flock /tmp/promptci-model.lock python benchmarks/noise.py measure [--items 40] [--draws 16]
    python benchmarks/noise.py analyse [--replicates 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache"
BIGBENCH = Path(os.environ.get("BIGBENCH_DIR") or ROOT / "benchmarks" / "data" / "bigbench")
TASKS = {
    "sports_understanding": "Is the sentence about sports plausible or implausible? Answer plausible or implausible.",
    "intent_recognition": "Name the intent of the utterance with one of the intent labels.",
}
TEMPERATURE = 0.8
DRAWS_FILE = RESULTS / "noise_draws.json"


def variants(task: str, rows: list[dict], model: str = "local/gemma-3-270m") -> dict[str, str]:
    """Three prompt files' texts: two instructions with three demonstrations each, and a zero-shot one."""
    labels = sorted({r["expected"] for r in rows})

    def text(name: str, body: str) -> str:
        return (
            f"name: {task} {name}\nmodel: {model}\nmodelParameters:\n  temperature: {TEMPERATURE}\n"
            f"  max_tokens: 8\nmessages:\n  - role: user\n    content: {json.dumps(body, ensure_ascii=False)}\n"
            "promptci:\n  evaluators:\n    - {name: answer, check: starts_with, field: expected, ignore_case: true}\n"
        )

    def shots(demos: list[dict]) -> str:
        return "\n\n".join(f"Q: {d['input']}\nA: {d['expected']}" for d in demos)

    query = "Q: {{input}}\nA:"
    return {
        "instructed-a": text("a", f"{TASKS[task]}\n\n{shots(rows[:3])}\n\n{query}"),
        "instructed-b": text("b", f"Answer with one of: {', '.join(labels)}.\n\n{shots(rows[3:6])}\n\n{query}"),
        "zero-shot": text("z", f"{query}"),
    }


def task_rows(task: str, n: int) -> list[dict]:
    data = json.loads((BIGBENCH / f"{task}.json").read_text())
    rows = []
    for e in data["examples"]:
        scores = e["target_scores"]
        rows.append({"input": e["input"], "expected": max(scores, key=scores.__getitem__)})
    random.Random(0).shuffle(rows)
    return [{**r, "id": f"{task[:8]}-{i:03d}"} for i, r in enumerate(rows[: n + 6])]


def measure(items: int, draws: int, model: str) -> None:
    os.environ.setdefault("PROMPTCI_CACHE_DIR", str(CACHE))
    from promptci import promptfile
    from promptci.files.evalset import Item, Pool
    from promptci.models.llm import ModelClient
    from promptci.runner import Task, run

    out: dict = {"temperature": TEMPERATURE, "draws": draws, "tasks": {}}
    client = ModelClient(concurrency=1)
    work = Path(CACHE) / "noise"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for task in TASKS:
        rows = task_rows(task, items)
        pool_rows = rows[6:]  # the first six are the demonstrations
        pool = Pool(source=task, path=None, items=tuple(Item(id=r["id"], data=r) for r in pool_rows), sha256=task)
        out["tasks"][task] = {}
        for name, text in variants(task, rows, model).items():
            path = work / f"{task}-{name}.prompt.yml"
            path.write_text(text)
            prompt = promptfile.load(path)
            scored = asyncio.run(run(Task(prompt, pool, pool.items, repeats=draws, label=f"{task} {name}"), client))
            out["tasks"][task][name] = {
                r.id: [d.score for d in r.draws] if r.draws else [r.score] * draws for r in scored.items
            }
            print(f"{task} {name}: mean {scored.summary.mean:.3f}, {scored.summary.calls} calls", flush=True)
            out["model_seconds"] = time.perf_counter() - started
            DRAWS_FILE.write_text(json.dumps(out, indent=1) + "\n")  # after each variant: a cut-off run keeps some
    client.close()


def pick(rng: np.random.Generator, n: int, k: int, m: int) -> np.ndarray:
    """For each of n items, m of its k recorded draws (column indices), chosen at random without replacement."""
    return np.array([rng.choice(k, m, replace=m > k) for _ in range(n)])


def outcome(base: np.ndarray, head: np.ndarray, paired: np.ndarray | None = None) -> str:
    from promptci.files.settings import GateSettings
    from promptci.gate import decision

    settings = GateSettings()
    values = None if paired is None else list(paired)
    verdict, _ = decision.decide(decision.Evidence(list(head), list(base), 0, None, paired=values), settings)
    return str(
        decision.settle(verdict, settings.model_copy(update={"on_inconclusive": "neutral"}), "no more items").status
    )


def analyse(replicates: int) -> dict:
    from promptci.files.settings import GateSettings
    from promptci.gate import repeats

    margin = GateSettings().margin
    data = json.loads(DRAWS_FILE.read_text())
    rng = np.random.default_rng(0)
    policies = ["1 draw", "fixed 3", "fixed 5", "targeted 3", "targeted 5"]
    tally: dict[str, dict[str, list]] = {
        p: {"right": [], "block_ok": [], "catch": [], "inc": [], "calls": [], "head": []} for p in policies
    }
    pairs = []
    for task, by_variant in data["tasks"].items():
        names = sorted(by_variant)
        if len(names) < 2:
            continue
        ids = sorted(by_variant[names[0]])
        draws = {v: np.array([[s if s is not None else 0.0 for s in by_variant[v][i]] for i in ids]) for v in names}
        for b, h in itertools.permutations(names, 2):
            truth = float(draws[h].mean() - draws[b].mean())
            worse = truth <= -margin
            pairs.append({"task": task, "base": b, "head": h, "truth": truth, "worse": worse})
            n, k = draws[b].shape
            for _ in range(replicates):
                for policy in policies:
                    paired = None
                    if policy.startswith("targeted"):
                        r = int(policy.split()[1])
                        base_draws = np.take_along_axis(draws[b], pick(rng, n, k, r), 1)
                        head_draws = np.take_along_axis(draws[h], pick(rng, n, k, r), 1)
                        paired = np.array([repeats.value(list(x), list(y)) for x, y in zip(base_draws, head_draws)])
                        again = (base_draws[:, 0] >= 0.5) != (head_draws[:, 0] >= 0.5)  # first draws disagree
                        base_scores = np.where(again, base_draws.mean(1), base_draws[:, 0])
                        head_scores = np.where(again, head_draws.mean(1), head_draws[:, 0])
                        head_calls = n + (r - 1) * int(again.sum())
                        calls = 2 * head_calls
                    else:
                        m = {"1 draw": 1, "fixed 3": 3, "fixed 5": 5}[policy]
                        base_scores = np.take_along_axis(draws[b], pick(rng, n, k, m), 1).mean(1)
                        head_scores = np.take_along_axis(draws[h], pick(rng, n, k, m), 1).mean(1)
                        calls, head_calls = 2 * m * n, m * n
                    o = outcome(base_scores, head_scores, paired)
                    t = tally[policy]
                    t["right"].append(o == "fail" if worse else o == "pass")
                    t["inc"].append(o not in ("pass", "fail"))
                    t["calls"].append(calls)
                    t["head"].append(head_calls)
                    (t["catch"] if worse else t["block_ok"]).append(o == "fail")
    table = {
        p: {
            "agreement": float(np.mean(t["right"])),
            "blocks_of_not_worse": float(np.mean(t["block_ok"])) if t["block_ok"] else None,
            "catch_rate": float(np.mean(t["catch"])) if t["catch"] else None,
            "inconclusive": float(np.mean(t["inc"])),
            "calls_per_pr": float(np.mean(t["calls"])),
            "head_calls_per_pr": float(np.mean(t["head"])),
        }
        for p, t in tally.items()
    }
    return {"pairs": pairs, "policies": table, "replicates": replicates, "margin": margin}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["measure", "analyse"])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--draws", type=int, default=16)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--model", default="local/gemma-3-270m", help="mockllm/model: a dry run of the code path")
    args = parser.parse_args()
    if args.stage == "measure":
        measure(args.items, args.draws, args.model)
        return
    out = analyse(args.replicates)
    (RESULTS / "noise.json").write_text(json.dumps(out, indent=1) + "\n")
    print("| policy | agreement | blocks of not-worse | catch rate | inconclusive | calls per PR | head's calls |")
    print("|---|---|---|---|---|---|---|")
    for name, m in out["policies"].items():

        def f(x: float | None) -> str:
            return "—" if x is None else f"{x:.3f}"

        print(
            f"| {name} | {f(m['agreement'])} | {f(m['blocks_of_not_worse'])} | {f(m['catch_rate'])} | "
            f"{f(m['inconclusive'])} | {m['calls_per_pr']:.0f} | {m['head_calls_per_pr']:.0f} |"
        )
    worse = sum(p["worse"] for p in out["pairs"])
    print(f"\n{len(out['pairs'])} ordered pairs, {worse} worse by at least δ = {out['margin']}; truths:")
    for p in out["pairs"]:
        print(f"  {p['task']}: {p['base']} → {p['head']}: {p['truth']:+.3f}")


if __name__ == "__main__":
    main()
