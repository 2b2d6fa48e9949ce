"""The pull-request flow end to end: `promptci demo` (one changed prompt, the committed 20-item subset, the
optimizer within its call cap `promptci.optimizer.max_calls`, the embedded model) run twice in fresh processes on
2 cores.

1. cold: an empty cache folder (the local model file is assembled from its package, embeddings and every
   model answer are computed);
2. warm: the same run again on the same cache folder; every model answer should come from the cache.

Both with a gate secret (PROMPTCI_GATE_SECRET, as the shipped workflows pass the repository's), so the re-run
draws the gate's items again alike, as a re-run of a pull request on GitHub does.

For each run: the wall time of the whole command, the time of each step of the flow (from results.json),
model calls, cache hits, and the share of time spent choosing and refreshing the subset (IPOMP).

    python benchmarks/pr_flow.py [--out benchmarks/results/pr_flow.json]

Targets: <= 3 minutes end to end; the cached re-run <= 20 s with 0 model calls; selection and
refinement < 1% of the time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELECTION_STEPS = ("refresh (IPOMP stage 2)",)  # the subset is committed, so stage 1 does not run


def run(cache: Path, out: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "promptci", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PROMPTCI_CACHE_DIR": str(cache), "PROMPTCI_GATE_SECRET": "pr-flow-benchmark"},
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"promptci demo failed:\n{proc.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    prompt = results["prompts"][0]
    timings = prompt["timings"]
    selection = sum(timings.get(s, 0.0) for s in SELECTION_STEPS)
    return {
        "wall_s": wall,
        "flow_s": results["usage"]["wall_s"],
        "timings_s": timings,
        "calls": results["usage"]["calls"],
        "cache_hits": results["usage"]["cache_hits"],
        "selection_share": selection / wall,
        "verdict": results["verdict"]["status"],
        "optimizer_steps": (prompt["optimizer"] or {}).get("steps_done"),
        "optimizer_share": timings.get("optimize", 0.0) / wall,
        "optimizer_cost": (prompt["optimizer"] or {}).get("cost"),  # the search's calls and seconds, the verdict's
        "optimizer_stopped": (prompt["optimizer"] or {}).get("stopped"),
        "suggestion_verdict": (prompt["optimizer"] or {}).get("verdict"),
        "suggested": (prompt["optimizer"] or {}).get("subset_score"),
        "suggested_held_out": (prompt["optimizer"] or {}).get("holdout_score"),
        "forecast": results.get("forecast"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pr_flow.json")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="promptci-bench-") as tmp:
        cache = Path(tmp) / "cache"
        runs = {"cold": run(cache, Path(tmp) / "cold"), "warm": run(cache, Path(tmp) / "warm")}
    steps = list(runs["cold"]["timings_s"])
    print(f"{'run':<6} {'wall s':>7} {'calls':>6} {'hits':>6} {'IPOMP %':>8} {'opt. %':>7}  " + "  ".join(steps))
    for name, r in runs.items():
        cells = "  ".join(f"{r['timings_s'].get(s, 0.0):>{len(s)}.1f}" for s in steps)
        print(
            f"{name:<6} {r['wall_s']:>7.1f} {r['calls']:>6} {r['cache_hits']:>6} "
            f"{100 * r['selection_share']:>8.2f} {100 * r['optimizer_share']:>7.1f}  {cells}"
        )
    verdict = runs["cold"]["suggestion_verdict"]
    print(f"optimizer: {runs['cold']['optimizer_cost']}; stopped: {runs['cold']['optimizer_stopped']}")
    print(f"suggestion: {verdict['reason'] if verdict else 'no verdict (nothing suggested, or nothing judged)'}")
    cold, warm = runs["cold"], runs["warm"]
    print(
        f"targets: end to end <= 180 s: {cold['wall_s']:.0f} s; cached re-run <= 20 s with 0 calls: "
        f"{warm['wall_s']:.0f} s, {warm['calls']} calls; IPOMP < 1%: {100 * cold['selection_share']:.2f}%"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()  # the machine is shared: the figures are read beside its load
    args.out.write_text(
        json.dumps(
            {"runs": runs, "python": sys.version.split()[0], "cpus": os.cpu_count(), "load_after": load}, indent=2
        )
        + "\n"
    )
    print(f"raw: {args.out}")


if __name__ == "__main__":
    main()
