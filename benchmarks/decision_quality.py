"""Decision quality: does the gate's verdict on a prompt change agree with the whole evaluation, and at what cost?

Real 0/1 scores of the embedded model (committed by subset_quality.py): per task, 24 prompt variants
(3 instructions × 8 demonstration sets) on a 200-item pool and 100 further items. Every ordered pair
(base, head) of variants is one pull request; the truth is the difference of their accuracies on all 300
items, and a change is "worse" when head is at least MARGIN (3 points) lower. The gate sees only the pool.

Rules, each with the gate's defaults (margin 3 points, α 5%; nothing tuned on these pairs):
- today: the gate before this change: base and head on the same items, the IPOMP subset of 20 counted exactly,
  then batches of 20 in an order anyone can compute; fail when D < 0 is shown, pass when D > −δ is shown,
  inconclusive at 160 items;
- new, base not warm: the same items for base and head, fail and pass on the line −δ, up to the whole pool;
- new, base warm: head alone against base's known full-pool scores (gate.decide_known), draws unpredictable;
  without a ledger (uniform draws, base's score as the predictor), with a ledger of LEDGER earlier versions (the
  other variants), and the same with the subset as a take-all stratum (to settle the subset's role);
- whole pool: D exact against −δ (the ceiling: the 300-item truth includes items the pool lacks).
Then per rule, on pairs built from real pairs' item differences with the pool's D exactly 0 and exactly −δ:
the A-vs-A false-fail rate and the δ-worse pass rate; the hidden-regression attack (a head 13 points worse
only on items the predictable order never reaches in 160); and bootstrapped 2,000-item pools.

    python benchmarks/decision_quality.py [--orders 2] [--large-pairs 40]

The committed subsets are cached in benchmarks/.cache (they need the embedding model once).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
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
ALPHA = 0.05
SUBSET = 20
TODAY_CAP = 160
LEDGER = 10  # earlier versions' full-pool scores kept as the ledger
CHECK = 4  # batches between the benchmark's computations of the test (the decision's item count stays exact)
ATTACK_LEAST = 12  # the attack breaks every unreached item base gets right: at least 12 (6 points, 2δ)
RULES = [
    "today",
    "new, base not warm",
    "new, base warm, no ledger",
    "new, base warm, ledger",
    "new, base warm, ledger, subset take-all",
    "whole pool, exact D",
]
WARM = {"new, base warm, no ledger", "new, base warm, ledger", "new, base warm, ledger, subset take-all"}


def load(task: str) -> dict:
    data = json.loads((RESULTS / f"subset_quality_scores_{task}.json").read_text())
    cands = sorted(data["candidates"])
    ids = data["pool"] + data["test"]
    scores = np.array([[data["candidates"][c][i]["score"] or 0.0 for i in ids] for c in cands])
    return {"cands": cands, "pool": len(data["pool"]), "scores": scores}


def committed_subset(task: str, pool: int, vectors: str) -> list[int]:
    """IPOMP stage 1 (N=20, α=0.5, k=5, seed 0) on the pool's embeddings (`vectors` "model"), or on TF-IDF
    vectors of the same texts ("tfidf": no model, for a machine where the embedding model cannot run), cached."""
    path = CACHE / f"decision_quality_{task}{'' if vectors == 'model' else '_tfidf'}.npz"
    if path.exists():
        return [int(i) for i in np.load(path)["subset"]]
    import subset_quality as sq
    from promptci.selection import make_selector

    t = sq.load_task(task)
    bank = json.loads((RESULTS / f"subset_quality_scores_{task}.json").read_text())
    if vectors == "model":
        emb = sq.embeddings_for(t, bank)
    else:
        from sklearn.feature_extraction.text import TfidfVectorizer

        by_id = {r["id"]: r for r in t.pool}
        emb = TfidfVectorizer().fit_transform([by_id[i]["input"] for i in bank["pool"]]).toarray()
    subset = [
        int(i) for i in make_selector("ipomp", size=SUBSET, alpha=0.5, n_clusters=5, random_state=0).fit_select(emb)
    ]
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, subset=np.array(subset), embeddings=emb)
    assert len(emb) == pool
    return subset


def paired(d: np.ndarray, subset: list[int], order: np.ndarray, fail_line: float, cap: int | None) -> tuple[str, int]:
    """Base and head on the same items (gate/sequential.py): the subset exactly, then `order`, looks every batch."""
    from promptci.gate import sequential
    from promptci.gate.decision import BATCH

    fixed_sum, n0, pool = float(d[subset].sum()), len(subset), len(d)
    room = len(order) if cap is None else max(0, min(cap, pool) - n0)
    x = d[order[:room]][None, :]
    below = sequential.first_rejection(fixed_sum, n0, x, pool, np.array([fail_line]), ALPHA, "below")[0, 0]
    above = sequential.first_rejection(fixed_sum, n0, x, pool, np.array([-MARGIN]), ALPHA, "above")[0, 0]
    for t in sorted(set(list(range(0 if n0 else BATCH, room, BATCH)) + [room])):
        if below <= t:  # fail first: the gate fails closed
            return "fail", n0 + t
        if above <= t:
            return "pass", n0 + t
    if n0 + room >= pool:  # exhausted: D exact, pass iff D > −δ
        return ("pass" if d.mean() > -MARGIN + 1e-9 else "fail"), pool
    return "inconclusive", n0 + room


def warm(
    b: np.ndarray,
    h: np.ndarray,
    ledger: list[np.ndarray],
    seed: int,
    subset: list[int] | None = None,
) -> tuple[str, int]:
    """Head alone against base's known scores (gate.draws_for, activetest.first_crossing): a batch of draws at a
    time until decided; with `subset`, those items are taken whole first (a take-all stratum). The test is
    computed every CHECK batches, and the decision placed at the first batch's end after the crossing (exact:
    later draws never change an earlier crossing)."""
    from promptci.gate import activetest, decision as gate

    pool = len(b)
    taken = set() if subset is None else {str(i) for i in subset}
    rest = {str(i): float(b[i]) for i in range(pool) if str(i) not in taken}
    rows = [dict(zip(map(str, range(pool)), v.tolist())) for v in ledger]
    fixed = (float(h[subset].sum()), len(subset)) if subset is not None else (0.0, 0)
    line, start = float(b.mean()) - MARGIN, float(b.mean())
    rng, draws = random.Random(seed), list[activetest.Draw]()
    head = {i: float(h[int(i)]) for i in taken}
    while True:
        more = gate.draws_for(rest, rows, head, [d.item for d in draws], gate.BATCH, rng, MARGIN)
        draws += more
        head.update({d.item: float(h[int(d.item)]) for d in more})
        if more and len(draws) % (CHECK * gate.BATCH) and len(draws) < len(rest):
            continue
        y = [head[d.item] for d in draws]
        crossed = [
            activetest.first_crossing(draws, y, pool, np.array([line]), ALPHA, side, start, fixed)[0]
            for side in ("below", "above")
        ]
        looks = [np.ceil(c / gate.BATCH) * gate.BATCH if np.isfinite(c) else np.inf for c in crossed]
        if min(looks) < np.inf:
            outcome = "fail" if looks[0] <= looks[1] else "pass"  # fail first: the gate fails closed
            return outcome, int(fixed[1] + min(min(looks), len(rest)))
        if len(draws) >= len(rest):
            return ("pass" if h.mean() - b.mean() > -MARGIN + 1e-9 else "fail"), pool


def ledger_for(scores: np.ndarray, bi: int, hi: int) -> list[np.ndarray]:
    """The LEDGER variants after base in sorted order (neither base nor head): earlier versions' full-pool scores."""
    others = [k for k in range(len(scores)) if k not in (bi, hi)]
    start = others.index(next((k for k in others if k > bi), others[0]))
    return [scores[others[(start + j) % len(others)]] for j in range(LEDGER)]


def run_rules(
    b: np.ndarray, h: np.ndarray, ledger: list[np.ndarray], subset: list[int], seed: int, rules: list[str]
) -> dict[str, tuple[str, int]]:
    pool = len(b)
    rng = np.random.default_rng(seed)
    rest = np.array([i for i in range(pool) if i not in set(subset)])
    out = {}
    for rule in rules:
        if rule == "today":
            out[rule] = paired(h - b, subset, rng.permutation(rest), 0.0, TODAY_CAP)
        elif rule == "new, base not warm":
            out[rule] = paired(h - b, subset, rng.permutation(rest), -MARGIN, None)
        elif rule == "new, base warm, no ledger":
            out[rule] = warm(b, h, [], seed)
        elif rule == "new, base warm, ledger":
            out[rule] = warm(b, h, ledger, seed)
        elif rule == "new, base warm, ledger, subset take-all":
            out[rule] = warm(b, h, ledger, seed, subset)
        else:
            out[rule] = ("pass" if h.mean() - b.mean() > -MARGIN + 1e-9 else "fail", pool)
    return out


def score(outcomes: list[str], worse: list[bool], items: list[float]) -> dict:
    o, w = np.array(outcomes), np.array(worse)
    right = np.where(w, o == "fail", o == "pass")
    return {
        "agreement": float(right.mean()),
        "catch_rate": float((o[w] == "fail").mean()) if w.any() else None,
        "blocks_of_not_worse": float((o[~w] == "fail").mean()) if (~w).any() else None,
        "inconclusive": float((o == "inconclusive").mean()),
        "items_share": float(np.mean(items)),
        "runs": len(o),
    }


def constructed(
    b: np.ndarray, h: np.ndarray, target: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """A pair with the discordance of a real pair and a pool difference of exactly `target`: which prompt wins
    each discordant item is redrawn. None when the pair has too few discordant items."""
    discordant = np.flatnonzero(b != h)
    want = round(target * len(b))
    b2, h2 = b.copy(), h.copy()
    if (len(discordant) + want) % 2:  # parity: one discordant item is made concordant
        h2[discordant[0]] = b2[discordant[0]]
        discordant = discordant[1:]
    k = len(discordant)
    wins = (k + want) // 2
    if k < 2 or not 0 <= wins <= k:
        return None
    won = np.zeros(k, dtype=bool)
    won[rng.permutation(k)[:wins]] = True
    b2[discordant], h2[discordant] = np.where(won, 0.0, 1.0), np.where(won, 1.0, 0.0)
    return b2, h2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2, help="random orders per real pair")
    parser.add_argument("--oc-pairs", type=int, default=60, help="constructed pairs per task and case")
    parser.add_argument("--large-pairs", type=int, default=40, help="pairs per task on 2,000-item pools")
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument(
        "--subset-vectors", choices=["model", "tfidf"], default="model", help="what IPOMP stage 1 embeds the pool with"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    real: dict[str, dict[str, list]] = {r: {"o": [], "w": [], "n": []} for r in RULES}
    oc: dict[str, list] = {f"{r}|{c}": [] for r in RULES[:-1] for c in ("A-vs-A", "δ worse", "no change")}
    attack: dict[str, list] = {r: [] for r in RULES[:-1]}
    large: dict[str, dict[str, list]] = {r: {"o": [], "w": [], "n": []} for r in RULES if "subset" not in r}
    for task in args.tasks:
        data = load(task)
        s, pool = data["scores"], data["pool"]
        subset = committed_subset(task, pool, args.subset_vectors)
        for pair_no, (bi, hi) in enumerate(itertools.permutations(range(len(s)), 2)):
            b, h = s[bi, :pool], s[hi, :pool]
            worse = float(s[hi].mean() - s[bi].mean()) <= -MARGIN + 1e-12
            ledger = [v[:pool] for v in ledger_for(s, bi, hi)]
            for k in range(args.orders):
                for rule, (o, n) in run_rules(b, h, ledger, subset, 1000 * pair_no + k, RULES).items():
                    real[rule]["o"].append(o)
                    real[rule]["w"].append(worse)
                    real[rule]["n"].append(n / pool)
        print(f"{task}: real pairs ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        rng = np.random.default_rng(1)
        combos = list(itertools.combinations(range(len(s)), 2))
        for case, target in (("A-vs-A", 0.0), ("δ worse", -MARGIN)):
            made = 0
            for j in rng.permutation(len(combos)):
                bi, hi = combos[j]
                built = constructed(s[bi, :pool], s[hi, :pool], target, rng)
                if built is None:
                    continue
                ledger = [v[:pool] for v in ledger_for(s, bi, hi)]
                for rule, outcome in run_rules(built[0], built[1], ledger, subset, 7919 * made + 1, RULES[:-1]).items():
                    oc[f"{rule}|{case}"].append(outcome)
                made += 1
                if made >= args.oc_pairs:
                    break
        for bi in range(len(s)):  # no change at all: head is base
            ledger = [v[:pool] for v in ledger_for(s, bi, (bi + 1) % len(s))]
            b = s[bi, :pool]
            for rule, outcome in run_rules(b, b.copy(), ledger, subset, 4099 * bi + 3, RULES[:-1]).items():
                oc[f"{rule}|no change"].append(outcome)
        print(f"{task}: constructed pairs ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        attack_on(task, s, pool, subset, attack)
        large_pools(s, args.large_pairs, large, np.random.default_rng(2))
        print(f"{task}: attack, large pools ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    out = {
        "settings": {
            "margin": MARGIN,
            "significance": ALPHA,
            "subset": SUBSET,
            "today_cap": TODAY_CAP,
            "ledger": LEDGER,
            "orders": args.orders,
            "tasks": args.tasks,
            "subset_vectors": args.subset_vectors,
        },
        "real_pairs_200": {r: {**score(v["o"], v["w"], v["n"]), **calls(r, v["n"], 200)} for r, v in real.items()},
        "operating_characteristics": {
            key: {
                "runs": len(v),
                "fail": float(np.mean([o == "fail" for o, _ in v])) if v else None,
                "pass": float(np.mean([o == "pass" for o, _ in v])) if v else None,
                "items": float(np.mean([n for _, n in v])) if v else None,
            }
            for key, v in oc.items()
        },
        "attack": {
            r: {"runs": len(v), "fail": float(np.mean([o == "fail" for o in v])) if v else None}
            for r, v in attack.items()
            if r != "drops"
        },
        "attack_mean_drop": float(np.mean(attack["drops"])) if attack.get("drops") else None,
        "pools_2000": {r: {**score(v["o"], v["w"], v["n"]), **calls(r, v["n"], 2000)} for r, v in large.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    (RESULTS / "decision_quality.json").write_text(json.dumps(out, indent=1))
    print_tables(out)


def calls(rule: str, shares: list[float], pool: int) -> dict:
    """Model calls per pull request for the gate: head's items, and base's unless base is warm."""
    head = float(np.mean(shares)) * pool
    return {"head_calls": head, "base_calls": 0.0 if rule in WARM or rule.startswith("whole") else head}


def attack_on(task: str, s: np.ndarray, pool: int, subset: list[int], attack: dict) -> None:
    """Per base variant: a head that breaks every item base gets right outside the first 160 items of the
    predictable order (the subset, then gate.order with the selection seed), when that is at least 2δ of the pool:
    today's rule draws that same order; the new rules draw an unpredictable one."""
    from promptci.gate import decision as gate

    ids = [str(i) for i in range(pool)]
    predictable = [int(i) for i in gate.order(ids, [str(i) for i in subset], 0, f"{task}-pool")]
    reached = set(subset) | set(predictable[: TODAY_CAP - len(subset)])
    for bi in range(len(s)):
        b = s[bi, :pool]
        hidden = [i for i in range(pool) if i not in reached and b[i] == 1.0]
        if len(hidden) < ATTACK_LEAST:
            continue
        attack.setdefault("drops", []).append(len(hidden) / pool)
        h = b.copy()
        h[hidden] = 0.0
        rest_order = np.array([i for i in predictable])
        attack["today"].append(paired(h - b, subset, rest_order, 0.0, TODAY_CAP)[0])
        ledger = [v[:pool] for v in ledger_for(s, bi, (bi + 1) % len(s))]
        for rule, (o, _) in run_rules(b, h, ledger, subset, 31 * bi + 5, RULES[1:-1]).items():
            attack[rule].append(o)


def large_pools(s: np.ndarray, n_pairs: int, large: dict, rng: np.random.Generator) -> None:
    """Pools of 2,000 items bootstrapped from the task's 300 (truth: the pool's own D), no committed subset."""
    idx = rng.choice(s.shape[1], 2000, replace=True)
    big = s[:, idx]
    pairs = list(itertools.permutations(range(len(s)), 2))
    for j in rng.permutation(len(pairs))[:n_pairs]:
        bi, hi = pairs[j]
        b, h = big[bi], big[hi]
        worse = float(h.mean() - b.mean()) <= -MARGIN + 1e-12
        rules = [r for r in large]
        for rule, (o, n) in run_rules(b, h, ledger_for(big, bi, hi), [], int(j), rules).items():
            large[rule]["o"].append(o)
            large[rule]["w"].append(worse)
            large[rule]["n"].append(n / 2000)


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or value != value else f"{value:.{digits}f}"


def print_tables(out: dict) -> None:
    for scope, key in (("200-item pools, real pairs", "real_pairs_200"), ("2,000-item pools", "pools_2000")):
        print(f"\n{scope}")
        print("| rule | agreement | catch | blocks of not-worse | inconclusive | items | base / head calls per PR |")
        print("|---|---|---|---|---|---|---|")
        for rule, m in out[key].items():
            print(
                f"| {rule} | {_f(m['agreement'])} | {_f(m['catch_rate'])} | {_f(m['blocks_of_not_worse'])} | "
                f"{m['inconclusive']:.3f} | {100 * m['items_share']:.1f}% | {m['base_calls']:.0f} / "
                f"{m['head_calls']:.0f} |"
            )
    print("\n| rule | A-vs-A false fail | δ-worse pass | no change: pass, items | hidden-regression attack caught |")
    print("|---|---|---|---|---|")
    ocs = out["operating_characteristics"]
    for rule in RULES[:-1]:
        a, d, t = ocs[f"{rule}|A-vs-A"], ocs[f"{rule}|δ worse"], out["attack"][rule]
        z = ocs[f"{rule}|no change"]
        print(
            f"| {rule} | {_f(a['fail'])} ({a['runs']}) | {_f(d['pass'])} ({d['runs']}) | "
            f"{_f(z['pass'], 2)}, {_f(z['items'], 0)} ({z['runs']}) | {_f(t['fail'], 2)} ({t['runs']}) |"
        )


if __name__ == "__main__":
    main()
