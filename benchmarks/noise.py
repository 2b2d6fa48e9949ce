"""Decision quality with output noise: the embedded model sampled at temperature 0.8, each item's truth its
expected score over many draws, and the gate fed one draw, a fixed N draws (as peers repeat a suite), or targeted
repeats (more draws only where base's and head's first draws disagree).

Measure (model-heavy, under the model lock): for each task, three realistic prompt variants (two instructions
with three demonstrations each, and a bare zero-shot one), ITEMS items, DRAWS draws per item and variant through
promptci's own runner (`repeats`: every draw under its own sample index, cached). Two BIG-bench label tasks are
checked by the answer's first word; one free-form task (FREE_FORM) is graded. An item's truth is the mean of its
DRAWS draws' scores; a pair's truth is the mean difference of those means, and head is *worse* when it is at
least the gate's margin δ lower.

Analyse (no model): every ordered pair (base, head) of a task's variants is a pull request, replayed REPLICATES
times with draws picked from the recorded ones, in four worlds (WORLDS):

- *seeded*: base and head drawn at the same sample indices, as promptci draws them on a model that takes a seed
  (the embedded model: draw d of either side has seed d, so like prompts give like answers); *unseeded*: at
  independent indices, as on a provider that samples afresh;
- *measured pool*: each task's measured items, each once in a random order (a repository's pool: the run ends
  inconclusive where they do not settle it); *drawn pool*: items drawn with replacement from them, as many as the
  decision needs up to MAX_ITEMS (a pool like these items but large).

Policies (POLICIES): `1 draw` (one answer per item and side); `fixed 3`, `fixed 5` (the mean of N draws per item
and side: promptfoo `repeat`, Inspect `epochs`, ...); `targeted 3`, `targeted 5` (promptci's targeted repeats,
gate/repeats.py: one draw a side, r a side on the items whose first draws disagree, counted by the unbiased
value); `expected scores` (each item's mean over all its recorded draws: no output noise at all, the ceiling set
by the items alone). The gate is promptci's endless-mode test with its defaults, looking every BATCH items; each
run stops at the first look where the test shows pass or fail, and `promptci.gate.decide` itself is checked to
give that verdict at that look (and none at the look before) on the first CHECKED runs of every cell. Columns:
agreement with the truth, blocks of not-worse (a fail where head is not worse), catch rate (fails of the worse),
inconclusive, items compared and model calls (both sides) per pull request.

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

from promptci.gate import decision, draws, repeats, sequential  # after the path
from promptci.gate.decision import BATCH

RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache"
BIGBENCH = Path(os.environ.get("BIGBENCH_DIR") or ROOT / "benchmarks" / "data" / "bigbench")
TASKS = {
    "sports_understanding": "Is the sentence about sports plausible or implausible? Answer plausible or implausible.",
    "intent_recognition": "Name the intent of the utterance with one of the intent labels.",
    "similarities_abstraction": "Say how the two things are alike, in one short sentence.",
}
FREE_FORM = {"similarities_abstraction": "Answer with what the two have in common, in a sentence starting with Both."}
"""Free-form tasks: a sentence, not a label, graded by `github/similarity` against BIG-bench's reference answer.
With no judge model set and no GitHub token that is the offline MiniLM cosine (`similarity-minilm`): the embedded
270M model as a judge gives every answer the same grade (docs in benchmarks/README.md), so it could not rank
variants at all."""
EXACT = "    - {name: answer, check: starts_with, field: expected, ignore_case: true}\n"
GRADED = "    - {name: similarity, uses: github/similarity}\n"
TEMPERATURE = 0.8
DRAWS_FILE = RESULTS / "noise_draws.json"


def variants(task: str, rows: list[dict], model: str = "local/gemma-3-270m") -> dict[str, str]:
    """Three prompt files' texts: two instructions with three demonstrations each, and a zero-shot one."""
    labels = sorted({r["expected"] for r in rows})

    free = task in FREE_FORM

    def text(name: str, body: str) -> str:
        return (
            f"name: {task} {name}\nmodel: {model}\nmodelParameters:\n  temperature: {TEMPERATURE}\n"
            f"  max_tokens: {12 if free else 8}\nmessages:\n  - role: user\n"
            f"    content: {json.dumps(body, ensure_ascii=False)}\n"
            + ("evaluators:\n" + GRADED if free else "promptci:\n  evaluators:\n" + EXACT)
        )

    def shots(demos: list[dict]) -> str:
        return "\n\n".join(f"Q: {d['input']}\nA: {d['expected']}" for d in demos)

    query = "Q: {{input}}\nA:"
    return {
        "instructed-a": text("a", f"{TASKS[task]}\n\n{shots(rows[:3])}\n\n{query}"),
        "instructed-b": text(
            "b",
            f"{FREE_FORM.get(task) or 'Answer with one of: ' + ', '.join(labels) + '.'}\n\n"
            f"{shots(rows[3:6])}\n\n{query}",
        ),
        "zero-shot": text("z", f"{query}"),
    }


def task_rows(task: str, n: int) -> list[dict]:
    data = json.loads((BIGBENCH / f"{task}.json").read_text())
    rows = []
    for e in data["examples"]:
        scores = e["target_scores"]
        expected = e["target"][0] if task in FREE_FORM else max(scores, key=scores.__getitem__)
        rows.append({"input": e["input"].strip() if task in FREE_FORM else e["input"], "expected": expected})
    random.Random(0).shuffle(rows)
    return [{**r, "id": f"{task[:8]}-{i:03d}"} for i, r in enumerate(rows[: n + 6])]


def measure(items: int, draws: int, model: str) -> None:
    from promptci.models import ghmodels

    os.environ.setdefault("PROMPTCI_CACHE_DIR", str(CACHE))
    for name in ghmodels.TOKEN_ENVS:  # github/similarity stays the offline MiniLM cosine (FREE_FORM)
        os.environ.pop(name, None)
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


POLICIES = {  # name: (kind, draws a side on an item)
    "1 draw": ("fixed", 1),
    "fixed 3": ("fixed", 3),
    "fixed 5": ("fixed", 5),
    "targeted 3": ("targeted", 3),
    "targeted 5": ("targeted", 5),
    "expected scores": ("expected", 0),
}
MAX_ITEMS = 2000  # the drawn pool: the most items a pull request may compare before it ends inconclusive
CHECKED = 3  # replicates per cell whose verdict and stopping look are checked against promptci.gate.decide


def pick(rng: np.random.Generator, n: int, k: int, m: int) -> np.ndarray:
    """For each of n items, m of its k recorded draws (column indices), chosen at random without replacement."""
    return np.argsort(rng.random((n, k)), axis=1)[:, :m]


def item_values(kind: str, r: int, base: np.ndarray, head: np.ndarray, rng: np.random.Generator, seeded: bool):
    """For each row (an item as drawn; base, head: its recorded draws), the value the gate counts and the calls it
    cost both sides. `seeded`: draws at the same sample indices on both sides, as the product draws them on a
    model that takes a seed (base's and head's draw d share seed d, llm.py: the embedded model, the mock); else
    at independent indices, as on a provider that samples afresh. `expected`: the item's mean over every
    recorded draw (no calls)."""
    if kind == "expected":
        return head.mean(1) - base.mean(1), np.zeros(len(base))
    cols = pick(rng, len(base), base.shape[1], r)
    other = cols if seeded else pick(rng, len(base), base.shape[1], r)
    b, h = np.take_along_axis(base, cols, 1), np.take_along_axis(head, other, 1)
    if kind == "fixed":
        return h.mean(1) - b.mean(1), np.full(len(b), 2.0 * r)
    split = (b >= draws.PASS_SCORE) != (h >= draws.PASS_SCORE)  # the sample indices whose two draws disagree
    again = split[:, 0]
    value = np.where(again, np.where(split, h - b, 0.0).sum(1) / np.maximum(split.sum(1), 1), h[:, 0] - b[:, 0])
    for i in [*np.flatnonzero(again)[:20], *np.flatnonzero(~again)[:5]]:  # the vectorised rule is the product's
        assert abs(value[i] - repeats.value(list(b[i]), list(h[i]))) < 1e-12
    return value, 2.0 + 2.0 * (r - 1) * again


def stops(x: np.ndarray, alpha: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """For each row of item values (one pull request each, in the order drawn), the gate's outcome and the items it
    compared, looking every BATCH items as the pull request does: the sequential test's first rejection of either
    null (sequential.first_rejection, which decide runs), rounded up to the look; both at one look: fail."""
    line, n = np.array([-margin]), x.shape[1]
    first = {side: sequential.first_rejection(0.0, 0, x, None, line, alpha, side)[:, 0] for side in ("above", "below")}
    shown = {side: np.where(k <= n, np.minimum(np.ceil(k / BATCH) * BATCH, n), np.inf) for side, k in first.items()}
    look = np.minimum(np.minimum(shown["above"], shown["below"]), n)
    outcome = np.where(shown["below"] <= look, "fail", np.where(shown["above"] <= look, "pass", "inconclusive"))
    return outcome, look.astype(int)


def decided(values: np.ndarray, gate) -> str:
    """promptci.gate.decide on these items' values, settled as at the pool's end."""
    evidence = decision.Evidence(list(values), [0.0] * len(values), 0, None, paired=list(values))
    verdict, _ = decision.decide(evidence, gate)
    return str(decision.settle(verdict, gate.model_copy(update={"on_inconclusive": "neutral"}), "no more items").status)


def replay(
    base: np.ndarray, head: np.ndarray, rows: np.ndarray, policy: str, seeded: bool, rng, gate
) -> dict[str, np.ndarray]:
    """Pull requests whose items are `rows` (indices into the task's items, one row per pull request)."""
    kind, r = POLICIES[policy]
    reps, n = rows.shape
    values, calls = item_values(kind, r, base[rows.ravel()], head[rows.ravel()], rng, seeded)
    values, calls = values.reshape(reps, n), calls.reshape(reps, n)
    outcome, look = stops(values, gate.significance, gate.margin)
    for i in range(CHECKED):  # the outcome and its look are the product's own
        assert decided(values[i, : look[i]], gate) == outcome[i], (policy, i)
        if outcome[i] != "inconclusive" and look[i] > BATCH:  # the look before: the last multiple of BATCH
            assert decided(values[i, : (look[i] - 1) // BATCH * BATCH], gate) == "inconclusive", (policy, i)
    spent = np.array([calls[i, : look[i]].sum() for i in range(reps)])
    return {"outcome": outcome, "items": look, "calls": spent}


WORLDS = {  # name: (the draws' seeding, the pool)
    "seeded, measured pool": (True, "measured"),
    "seeded, drawn pool": (True, "drawn"),
    "unseeded, measured pool": (False, "measured"),
    "unseeded, drawn pool": (False, "drawn"),
}


def analyse(replicates: int) -> dict:
    """Every world, every ordered pair of a task's variants, every policy (the module's docstring)."""
    from promptci.files.settings import GateSettings

    gate = GateSettings()
    data = json.loads(DRAWS_FILE.read_text())
    rng = np.random.default_rng(0)
    tally: dict[str, dict[str, list]] = {world: {p: [] for p in POLICIES} for world in WORLDS}
    pairs = []
    for task, by_variant in data["tasks"].items():
        names = sorted(by_variant)
        ids = sorted(by_variant[names[0]])
        scores = {v: np.array([[s if s is not None else 0.0 for s in by_variant[v][i]] for i in ids]) for v in names}
        n = len(ids)
        for b, h in itertools.permutations(names, 2):
            truth = float(scores[h].mean() - scores[b].mean())
            worse = truth <= -gate.margin
            pairs.append({"task": task, "base": b, "head": h, "truth": truth, "worse": worse})
            for world, (seeded, pool) in WORLDS.items():
                rows = (
                    np.argsort(rng.random((replicates, n)), axis=1)  # each item once, in a random order
                    if pool == "measured"
                    else rng.integers(0, n, (replicates, MAX_ITEMS))  # items like these, as many as needed
                )
                for policy in POLICIES:
                    run = replay(scores[b], scores[h], rows, policy, seeded, rng, gate)
                    tally[world][policy].append({"worse": worse, **run})
    table: dict[str, dict[str, dict]] = {}
    for world, by_policy in tally.items():
        table[world] = {}
        for policy, runs in by_policy.items():
            outcome = np.concatenate([r["outcome"] for r in runs])
            bad = np.concatenate([np.full(len(r["outcome"]), r["worse"]) for r in runs])
            calls = np.concatenate([r["calls"] for r in runs])
            table[world][policy] = {
                "agreement": float(np.mean(np.where(bad, outcome == "fail", outcome == "pass"))),
                "blocks_of_not_worse": float(np.mean(outcome[~bad] == "fail")),
                "catch_rate": float(np.mean(outcome[bad] == "fail")) if bad.any() else None,
                "inconclusive": float(np.mean(outcome == "inconclusive")),
                "items_per_pr": float(np.mean(np.concatenate([r["items"] for r in runs]))),
                "calls_per_pr": float(np.mean(calls)),
            }
    return {
        "pairs": pairs,
        "worlds": table,
        "replicates": replicates,
        "margin": gate.margin,
        "significance": gate.significance,
        "max_items": MAX_ITEMS,
    }


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
    for world, policies in out["worlds"].items():
        print(f"\n{world}:\n")
        print("| policy | agreement | blocks of not-worse | catch rate | inconclusive | items | calls per PR |")
        print("|---|---|---|---|---|---|---|")
        for name, m in policies.items():
            catch = "—" if m["catch_rate"] is None else f"{m['catch_rate']:.3f}"
            calls = "—" if POLICIES[name][0] == "expected" else f"{m['calls_per_pr']:,.0f}"
            print(
                f"| {name} | {m['agreement']:.3f} | {m['blocks_of_not_worse']:.3f} | {catch} | "
                f"{m['inconclusive']:.3f} | {m['items_per_pr']:,.0f} | {calls} |"
            )
    worse = sum(p["worse"] for p in out["pairs"])
    print(f"\n{len(out['pairs'])} ordered pairs, {worse} worse by at least δ = {out['margin']}; truths:")
    for p in out["pairs"]:
        print(f"  {p['task']}: {p['base']} → {p['head']}: {p['truth']:+.3f}")


if __name__ == "__main__":
    main()
