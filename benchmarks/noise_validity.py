"""The gate's error rates when each item's score is a noisy draw of its expected score (docs/gate.md, "Output
noise"), by simulation: no model.

A pool of POOL items, each with an expected score for base and for head; an item's score on one run is a 0/1
draw (or the mean of k draws) around it. The pool's expected-score difference is set exactly to 0 (A-vs-A), to
−δ and to −2δ. The gate looks after every 20 items drawn in a random order until it decides or the pool is used
up, as the pull-request flow does.

The policies' table (what promptci does when scores are samples: every compared item a draw from an endless
population, so each item's value must be a bounded, unbiased draw of its expected difference for the betting
test to stay valid): `1 draw` a side; `fixed k`, the mean of k draws a side; `targeted r`, promptci's targeted
repeats (gate/repeats.py): one draw a side, r a side where the first draws disagree, the item counted by
`repeats.value`. Many replicates per row, the verdicts computed for all rows at once with the gate's own test
(sequential.first_rejection), and the first ten runs of each row checked look by look against
`decision.decide`; items and calls are the means over the first 200 runs until the verdict (or the pool's end);
var is the variance of an item's value over all the row's items, calls/item what an item costs both sides.

The finite-pool table (the design-based mode for exact scores, fed noisy scores for comparison: the whole pool
scored once reads as the exact answer, which output noise makes false), through `decision.decide` itself.

Wrong claims counted: a fail on A-vs-A, a pass at a drop of exactly δ (head worse by δ shown not worse than
δ) and at 2δ. Each should stay at or below α = 0.05; ± is one standard error of the rate (at 0.05 when lower).

    python benchmarks/noise_validity.py [--replicates 60] [--policy-replicates 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
POOL = 200
LOOK = 20


def population(rng: np.random.Generator, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected scores: a third of the items nearly always right or wrong, the rest anywhere between (noisy);
    head moved so that the pool's mean difference is exactly `target`."""
    base = np.concatenate([rng.choice([0.02, 0.98], POOL // 3), rng.uniform(0.1, 0.9, POOL - POOL // 3)])
    head = np.clip(base + rng.normal(0.0, 0.15, POOL), 0.0, 1.0)
    for _ in range(50):  # shift within [0, 1] until the mean difference is the target
        head = np.clip(head + (target - (head - base).mean()), 0.0, 1.0)
    return base, head


def run_gate(base: np.ndarray, head: np.ndarray, k: int, mode: str, rng: np.random.Generator) -> str:
    from promptci.files.settings import GateSettings
    from promptci.gate import decision

    settings = GateSettings()
    order = rng.permutation(POOL)
    b = rng.binomial(k, base[order]) / k
    h = rng.binomial(k, head[order]) / k
    for n in range(LOOK, POOL + 1, LOOK):
        evidence = decision.Evidence(list(h[:n]), list(b[:n]), 0, None if mode == "endless" else POOL)
        verdict, _ = decision.decide(evidence, settings)
        if verdict.status != decision.UNDECIDED:
            return str(verdict.status)
    return "inconclusive"


def draw_values(base: np.ndarray, head: np.ndarray, policy: str, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One run's items in a random order: each item's value as the gate counts it, the first draws (0/1), and the
    calls each item costs (both sides). `1 draw`/`fixed k`: the difference of the means of k draws a side;
    `targeted r`: promptci's targeted repeats (gate/repeats.py's own `value`)."""
    from promptci.gate import repeats

    order = rng.permutation(POOL)
    pb, ph = base[order], head[order]
    if not policy.startswith("targeted"):
        k = 1 if policy == "1 draw" else int(policy.split()[1])
        b, h = rng.binomial(1, pb[:, None].repeat(k, 1)), rng.binomial(1, ph[:, None].repeat(k, 1))
        return h.mean(1) - b.mean(1), b[:, 0], h[:, 0], np.full(POOL, 2 * k)
    r = int(policy.split()[1])
    b = rng.binomial(1, pb[:, None].repeat(r, 1)).astype(float)
    h = rng.binomial(1, ph[:, None].repeat(r, 1)).astype(float)
    values = np.array([repeats.value(list(bi), list(hi)) for bi, hi in zip(b, h)])  # agreeing: only draw 0 is read
    disagree = b[:, 0] != h[:, 0]
    return values, b[:, 0], h[:, 0], np.where(disagree, 2 * r, 2)


def outcomes(values: np.ndarray, margin: float, alpha: float) -> np.ndarray:
    """The gate's verdict on each row of item values (an endless pool, a look every LOOK items, the test of
    gate/sequential.py as decision.decide runs it): fail where "worse than −δ" is shown first (or at the same
    look), pass where "not worse" is, else inconclusive."""
    from promptci.gate import sequential

    line = np.array([-margin])
    fail, wrong = (
        np.ceil(sequential.first_rejection(0.0, 0, values, None, line, alpha, side)[:, 0] / LOOK) * LOOK
        for side in ("below", "above")
    )
    return np.where((fail <= POOL) & (fail <= wrong), "fail", np.where(wrong <= POOL, "pass", "inconclusive"))


def check_against_decide(values: np.ndarray, b1: np.ndarray, h1: np.ndarray, said: np.ndarray) -> None:
    """The vectorised verdicts equal decision.decide's on these runs (the product's code, look by look)."""
    from promptci.files.settings import GateSettings
    from promptci.gate import decision

    settings = GateSettings()
    for v, b, h, expected in zip(values, b1, h1, said):
        status = "inconclusive"
        for n in range(LOOK, POOL + 1, LOOK):
            e = decision.Evidence(list(h[:n]), list(b[:n]), 0, None, paired=list(v[:n]))
            verdict, _ = decision.decide(e, settings)
            if verdict.status != decision.UNDECIDED:
                status = str(verdict.status)
                break
        assert status == expected, (status, expected)


def policies_table(replicates: int, policies: list[str], rng: np.random.Generator, out: dict) -> None:
    """The endless-mode rows of each policy: many replicates, vectorised, the first 10 checked against decide."""
    from promptci.files.settings import GateSettings

    delta = GateSettings().margin
    for policy in policies:
        for name, target in (("A-vs-A", 0.0), ("drop of δ", -delta), ("drop of 2δ", -2 * delta)):
            runs = [draw_values(*population(rng, target), policy, rng) for _ in range(replicates)]
            values = np.array([r[0] for r in runs])
            o = outcomes(values, delta, 0.05)
            check_against_decide(
                values[:10], np.array([r[1] for r in runs[:10]]), np.array([r[2] for r in runs[:10]]), o[:10]
            )
            decided = np.array([_decided_at(v, delta) for v in values[:200]])  # items compared until the verdict
            calls = np.mean([c[:n].sum() for (_, _, _, c), n in zip(runs[:200], decided)])
            fails, passes = float((o == "fail").mean()), float((o == "pass").mean())
            wrong = fails if target == 0.0 else passes
            se = (max(wrong, 0.05) * (1 - max(wrong, 0.05)) / replicates) ** 0.5
            row = {"mode": "endless", "policy": policy, "truth": name, "wrong": wrong, "wrong_se": se}
            row |= {"fail": fails, "pass": passes, "inconclusive": float((o == "inconclusive").mean())}
            row |= {"replicates": replicates, "items": float(decided.mean()), "calls": float(calls)}
            row |= {"item_variance": float(values.var()), "calls_per_item": float(np.mean([r[3].mean() for r in runs]))}
            out["policies"].append(row)
            print(
                f"| {policy} | {name} | {wrong:.3f} (±{se:.3f}) | {fails:.3f} | {passes:.3f} | "
                f"{row['inconclusive']:.3f} | {row['items']:.0f} | {calls:.0f} | {row['item_variance']:.3f} | "
                f"{row['calls_per_item']:.2f} |",
                flush=True,
            )


def _decided_at(values: np.ndarray, margin: float) -> int:
    from promptci.gate import sequential

    line = np.array([-margin])
    first = min(
        sequential.first_rejection(0.0, 0, values[None, :], None, line, 0.05, side)[0, 0] for side in ("below", "above")
    )
    return int(min(POOL, np.ceil(first / LOOK) * LOOK)) if np.isfinite(first) else POOL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=60, help="per row of the per-look decide() table")
    parser.add_argument("--policy-replicates", type=int, default=2000, help="per row of the policies' table")
    args = parser.parse_args()
    from promptci.files.settings import GateSettings

    delta = GateSettings().margin
    rng = np.random.default_rng(0)
    out: dict = {"pool": POOL, "look_every": LOOK, "replicates": args.replicates, "alpha": 0.05, "rows": []}
    out["policies"] = []
    print(
        "| policy (endless) | truth | wrong claims | fails | passes | inconclusive | items | calls | var | calls/item |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    policies_table(args.policy_replicates, ["1 draw", "fixed 3", "fixed 5", "targeted 3", "targeted 5"], rng, out)
    print("\n| mode | draws per item | truth | wrong claims | fails | passes | inconclusive |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("finite pool",):
        for k in (1,):
            for name, target in (("A-vs-A", 0.0), ("drop of δ", -delta), ("drop of 2δ", -2 * delta)):
                outcomes_ = []
                for _ in range(args.replicates):
                    base, head = population(rng, target)
                    outcomes_.append(run_gate(base, head, k, mode, rng))
                o = np.array(outcomes_)
                fails, passes = float((o == "fail").mean()), float((o == "pass").mean())
                wrong = fails if target == 0.0 else passes
                row = {"mode": mode, "k": k, "truth": name, "wrong": wrong, "fail": fails, "pass": passes}
                out["rows"].append({**row, "inconclusive": float((o == "inconclusive").mean())})
                print(
                    f"| {mode} | {k} | {name} | {wrong:.3f} | {fails:.3f} | {passes:.3f} | "
                    f"{out['rows'][-1]['inconclusive']:.3f} |",
                    flush=True,
                )
    (RESULTS / "noise_validity.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
