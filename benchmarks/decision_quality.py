"""Decision quality: does the gate's verdict on a prompt change agree with the whole evaluation, and at what cost?

Real 0/1 scores of the embedded model (committed by subset_quality.py): per task, 24 prompt variants
(3 instructions × 8 demonstration sets) on a 200-item pool and 100 further items. Every ordered pair
(base, head) of variants is one pull request; the truth is the difference of their accuracies on all 300
items, and a change is "worse" when head is at least MARGIN (3 points) lower. The gate sees only the pool.

Policies: the new sequential gate (promptci.gate with its defaults, committed subset = IPOMP stage 1 of 20,
then items in a seeded random order, ORDERS random orders per pair); today's gate (the rule before this
change, reimplemented below: McNemar at 5% on the subset, extending 20 items at a time in IPOMP's boundary
order while head is behind, failing on the estimate when the pool runs out); 20 random items + McNemar once;
the whole pool + McNemar. Then the gate's operating characteristics on pairs built from real pairs' item
differences (docs/gate.md): A-vs-A (the discordant items balanced so the pool difference is exactly 0) and
pairs whose pool difference is exactly −δ and −2δ.

    python benchmarks/decision_quality.py [--orders 20]

Nothing is tuned on these pairs: the gate runs with its defaults. The committed subsets are cached in
benchmarks/.cache (they need the embedding model once).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache"
TASKS = ["intent_recognition", "ruin_names", "social_support"]
MARGIN = 0.03
SUBSET = 20
CAPS = [120, 60]  # the new gate with a smaller item budget as well (60 = 30% of these pools)
POLICIES = [
    "new gate",
    *[f"new gate, max_items {c}" for c in CAPS],
    "today's gate",
    "20 random + McNemar",
    "whole pool + McNemar",
]


def load(task: str) -> dict:
    data = json.loads((RESULTS / f"subset_quality_scores_{task}.json").read_text())
    cands = sorted(data["candidates"])
    ids = data["pool"] + data["test"]
    scores = np.array([[data["candidates"][c][i]["score"] or 0.0 for i in ids] for c in cands])
    return {"cands": cands, "pool": len(data["pool"]), "scores": scores}


def committed_and_embeddings(task: str, pool: int) -> tuple[list[int], np.ndarray]:
    """IPOMP stage 1 (N=20, α=0.5, k=5, seed 0) on the pool's embeddings, cached with the embeddings."""
    path = CACHE / f"decision_quality_{task}.npz"
    if path.exists():
        cached = np.load(path)
        return [int(i) for i in cached["subset"]], cached["embeddings"]
    import subset_quality as sq
    from promptci.selection import make_selector

    t = sq.load_task(task)
    bank = json.loads((RESULTS / f"subset_quality_scores_{task}.json").read_text())
    emb = sq.embeddings_for(t, bank)
    subset = [
        int(i) for i in make_selector("ipomp", size=SUBSET, alpha=0.5, n_clusters=5, random_state=0).fit_select(emb)
    ]
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, subset=np.array(subset), embeddings=emb)
    assert len(emb) == pool
    return subset, emb


def new_gate(d: np.ndarray, subset: list[int], orders: np.ndarray, gate) -> tuple[np.ndarray, np.ndarray]:
    """The sequential gate on one pair's pool differences, for each random order: outcomes and items."""
    from promptci import sequential
    from promptci.gate import BATCH

    fixed_sum, n0, pool = float(d[subset].sum()), len(subset), len(d)
    room = max(0, min(gate.max_items, pool) - n0)
    x = d[orders[:, :room]]
    below = sequential.first_rejection(fixed_sum, n0, x, pool, np.array([0.0]), gate.significance, "below")[:, 0]
    above = sequential.first_rejection(fixed_sum, n0, x, pool, np.array([-gate.margin]), gate.significance, "above")[
        :, 0
    ]
    looks = sorted(set(list(range(0, room, BATCH)) + [room]))
    outcome = np.full(len(orders), "inconclusive", dtype=object)
    items = np.full(len(orders), n0 + room)
    open_ = np.ones(len(orders), dtype=bool)
    for t in looks:
        passed, failed = open_ & (above <= t), open_ & (below <= t) & ~(above <= t)
        outcome[passed], outcome[failed] = "pass", "fail"
        items[passed | failed] = n0 + t
        open_ &= ~(passed | failed)
    return outcome, items


def mcnemar_fails(base: np.ndarray, head: np.ndarray) -> bool:
    from promptci.stats import compare

    c = compare(list(base), list(head))
    return bool(c.delta < 0 and c.p_value is not None and c.p_value < 0.05)


def todays_gate(b: np.ndarray, h: np.ndarray, subset: list[int], emb: np.ndarray) -> tuple[str, int]:
    """The rule before this change (tolerance 0, significance 0.05): fail when significantly worse (McNemar);
    while head is behind but not significantly, 20 more items in IPOMP's boundary order; out of items: fail."""
    from promptci.selection import extend_farthest
    from promptci.stats import compare

    items = list(subset)
    while True:
        c = compare(list(b[items]), list(h[items]))
        if c.delta < 0 and c.p_value is not None and c.p_value < 0.05:
            return "fail", len(items)
        if c.delta >= 0:
            return "pass", len(items)
        extra = extend_farthest(emb, items, 20)
        if not extra:
            return "fail", len(items)
        items += extra


def score(outcomes: list[str], truth_worse: list[bool]) -> dict:
    o, w = np.array(outcomes), np.array(truth_worse)
    right = np.where(w, o == "fail", o == "pass")
    decided = o != "inconclusive"
    return {
        "agreement": float(right.mean()),
        "agreement_decided": float(right[decided].mean()) if decided.any() else None,
        "catch_rate": float((o[w] == "fail").mean()) if w.any() else None,
        "false_fail_rate": float((o[~w] == "fail").mean()) if (~w).any() else None,
        "inconclusive_rate": float((~decided).mean()),
        "pairs": len(o),
        "worse_pairs": int(w.sum()),
        # the same runs with on_inconclusive: fail (every inconclusive verdict blocks)
        "if_inconclusive_fails": {
            "agreement": float(np.where(w, o != "pass", o == "pass").mean()),
            "catch_rate": float((o[w] != "pass").mean()) if w.any() else None,
            "false_fail_rate": float((o[~w] != "pass").mean()) if (~w).any() else None,
        },
    }


def constructed(d: np.ndarray, target: float, rng: np.random.Generator) -> np.ndarray | None:
    """A pair with the discordance of a real pair and a pool difference of exactly `target`: the discordant
    items' signs are redrawn so that (wins − losses) / pool = target. None when the pair has too few."""
    discordant = np.flatnonzero(d != 0)
    want = round(target * len(d))
    if (len(discordant) + want) % 2:  # parity: one discordant item becomes concordant
        discordant = discordant[1:]
    k = len(discordant)
    wins = (k + want) // 2
    if k < 2 or not 0 <= wins <= k:
        return None
    signs = np.full(k, -1.0)
    signs[rng.permutation(k)[: int(wins)]] = 1.0
    out = np.zeros_like(d)
    out[discordant] = signs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20, help="random orders per pair for the random policies")
    args = parser.parse_args()
    from promptci.settings import GateSettings

    gate = GateSettings()
    started = time.perf_counter()
    per_task, raw, oc = {}, {}, {}
    everything: dict[str, list] = {p: [] for p in POLICIES}
    truths_all: dict[str, list] = {p: [] for p in POLICIES}
    items_all: dict[str, list] = {p: [] for p in POLICIES}
    for task in TASKS:
        data = load(task)
        s, pool = data["scores"], data["pool"]
        subset, emb = committed_and_embeddings(task, pool)
        rng = np.random.default_rng(0)
        rest = np.array([i for i in range(pool) if i not in set(subset)])
        orders = np.array([rng.permutation(rest) for _ in range(args.orders)])
        random20 = np.array([rng.choice(pool, SUBSET, replace=False) for _ in range(args.orders)])
        outcomes: dict[str, list] = {p: [] for p in POLICIES}
        truths: dict[str, list] = {p: [] for p in POLICIES}
        items: dict[str, list] = {p: [] for p in POLICIES}
        pairs = []
        for bi, hi in itertools.permutations(range(len(data["cands"])), 2):
            b, h = s[bi, :pool], s[hi, :pool]
            true_d = float(s[hi].mean() - s[bi].mean())
            worse = true_d <= -MARGIN + 1e-12
            d = h - b
            o, n = new_gate(d, subset, orders, gate)
            capped = [new_gate(d, subset, orders, gate.model_copy(update={"max_items": c})) for c in CAPS]
            old, old_n = todays_gate(b, h, subset, emb)
            r = ["fail" if mcnemar_fails(b[idx], h[idx]) else "pass" for idx in random20]
            whole = "fail" if mcnemar_fails(b, h) else "pass"
            for policy, outs, ns in (
                ("new gate", list(o), list(n)),
                *[(f"new gate, max_items {c}", list(co), list(cn)) for c, (co, cn) in zip(CAPS, capped)],
                ("today's gate", [old], [old_n]),
                ("20 random + McNemar", r, [SUBSET] * len(r)),
                ("whole pool + McNemar", [whole], [pool]),
            ):
                outcomes[policy] += outs
                truths[policy] += [worse] * len(outs)
                items[policy] += [x / pool for x in ns]
            pairs.append(
                {
                    "base": data["cands"][bi],
                    "head": data["cands"][hi],
                    "truth": round(true_d, 4),
                    "pool_difference": round(float(d.mean()), 4),
                    "new_gate": {k: int((o == k).sum()) for k in ("pass", "fail", "inconclusive")},
                    "new_gate_items": float(np.mean(n)),
                    "todays_gate": [old, old_n],
                    "random20_fails": r.count("fail"),
                    "whole_pool": whole,
                }
            )
        per_task[task] = {
            p: {**score(outcomes[p], truths[p]), "items_share": float(np.mean(items[p]))} for p in POLICIES
        }
        raw[task] = {"subset": subset, "pool": pool, "pairs": pairs}
        for p in POLICIES:
            everything[p] += outcomes[p]
            truths_all[p] += truths[p]
            items_all[p] += items[p]
        oc[task] = characteristics(s[:, :pool], subset, gate, args.orders)
        print(f"{task}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    overall = {
        p: {**score(everything[p], truths_all[p]), "items_share": float(np.mean(items_all[p]))} for p in POLICIES
    }
    out = {
        "settings": {**gate.model_dump(), "truth_margin": MARGIN, "subset": SUBSET, "orders": args.orders},
        "overall": overall,
        "per_task": per_task,
        "operating_characteristics": oc,
        "pairs": raw,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (RESULTS / "decision_quality.json").write_text(json.dumps(out, indent=1))
    print_tables(out)


def characteristics(pool_scores: np.ndarray, subset: list[int], gate, n_orders: int) -> dict:
    """The gate's outcomes on pairs built from every real pair's item differences, with the pool difference
    set exactly to 0 (A-vs-A), −δ and −2δ; and on literally identical prompts."""
    rng = np.random.default_rng(1)
    pool = pool_scores.shape[1]
    rest = np.array([i for i in range(pool) if i not in set(subset)])
    result = {}
    for name, target in (("A-vs-A", 0.0), ("drop of δ", -gate.margin), ("drop of 2δ", -2 * gate.margin)):
        counts, items, made = {"pass": 0, "fail": 0, "inconclusive": 0}, [], 0
        for bi, hi in itertools.combinations(range(len(pool_scores)), 2):
            d = constructed(pool_scores[hi] - pool_scores[bi], target, rng)
            if d is None:
                continue
            made += 1
            orders = np.array([rng.permutation(rest) for _ in range(n_orders)])
            o, n = new_gate(d, subset, orders, gate)
            for k in counts:
                counts[k] += int((o == k).sum())
            items += list(n)
        total = sum(counts.values())
        result[name] = {
            "pairs": made,
            "runs": total,
            **({k: v / total for k, v in counts.items()} if total else {}),
            "items_mean": float(np.mean(items)) if items else None,
            "items_share": float(np.mean(items)) / pool if items else None,
        }
    return result


def print_tables(out: dict) -> None:
    def row(name: str, m: dict) -> str:
        catch = "—" if m["catch_rate"] is None else f"{m['catch_rate']:.2f}"
        ff = "—" if m["false_fail_rate"] is None else f"{m['false_fail_rate']:.3f}"
        return (
            f"| {name} | {m['agreement']:.2f} | {catch} | {ff} | {m['inconclusive_rate']:.2f} | "
            f"{100 * m['items_share']:.0f}% |"
        )

    head = (
        "| policy | agreement | catch rate (≥ 3-point drop) | blocks of not-worse | inconclusive | "
        "items (share of pool) |\n|---|---|---|---|---|---|"
    )
    for scope, metrics in [("all three tasks", out["overall"]), *out["per_task"].items()]:
        print(f"\n{scope}\n{head}")
        for p in POLICIES:
            print(row(p, metrics[p]))
    print("\noperating characteristics of the new gate (pairs built from real pairs' item differences)")
    print("| task | case | pairs | pass | fail | inconclusive | items (mean, share of pool) |")
    print("|---|---|---|---|---|---|---|")
    for task, cases in out["operating_characteristics"].items():
        for case, m in cases.items():
            if m.get("runs"):
                print(
                    f"| {task} | {case} | {m['pairs']} | {m['pass']:.3f} | {m['fail']:.3f} | "
                    f"{m['inconclusive']:.3f} | {m['items_mean']:.0f} ({100 * m['items_share']:.0f}%) |"
                )


if __name__ == "__main__":
    main()
