"""The gate's error rates when each item's score is a noisy draw of its expected score (docs/gate.md, "Output
noise"), by simulation: no model.

A pool of POOL items, each with an expected score for base and for head; an item's score on one run is a 0/1
draw (or the mean of k draws) around it. The pool's expected-score difference is set exactly to 0 (A-vs-A), to
−δ and to −2δ. The gate looks after every 20 items drawn in a random order until it decides or the pool is used
up, as the pull-request flow does, in two modes:

- `endless` (what promptci does when scores are samples): every compared item is a draw from an endless
  population, so each observed difference is a bounded, unbiased draw of the expected difference and the
  betting test stays valid;
- `finite pool` (the design-based mode for exact scores): items drawn without replacement from a pool of known
  size, each score taken as exact, so the whole pool scored reads as the exact answer, which output noise makes
  false.

Wrong claims counted: a fail on A-vs-A, a pass at a drop of exactly δ (head worse by δ shown not worse than
δ) and at 2δ. Each should stay at or below α = 0.05.

    python benchmarks/noise_validity.py [--replicates 400]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=400)
    args = parser.parse_args()
    from promptci.files.settings import GateSettings

    delta = GateSettings().margin
    rng = np.random.default_rng(0)
    out: dict = {"pool": POOL, "look_every": LOOK, "replicates": args.replicates, "alpha": 0.05, "rows": []}
    print("| mode | draws per item | truth | wrong claims | fails | passes | inconclusive |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("endless", "finite pool"):
        for k in (1, 3) if mode == "endless" else (1,):
            for name, target in (("A-vs-A", 0.0), ("drop of δ", -delta), ("drop of 2δ", -2 * delta)):
                outcomes = []
                for _ in range(args.replicates):
                    base, head = population(rng, target)
                    outcomes.append(run_gate(base, head, k, mode, rng))
                o = np.array(outcomes)
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
