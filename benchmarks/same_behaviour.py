"""The same pull-request run on two checkouts of promptci: the same model calls, verdicts and report, times masked.

A refactoring that changes no behaviour must leave `promptci demo` (the pull-request flow end to end: one
changed prompt, its committed subset, the optimizer, the refresh, the gate) exactly as it was. Each checkout
runs the demo in a fresh process with an empty cache; the two runs are then compared on what a user sees and
pays: model calls and cache hits, each prompt's verdict, scores and items, and report.md with every time masked.
Fields a results file of one side has and the other lacks (added in between) are listed, not compared.

    python benchmarks/same_behaviour.py --before /path/to/older/checkout [--after .] [--model mockllm/model]

The fake model (`mockllm/model`, the default) makes the comparison fast and exact; `--model own` runs the demo
prompt's own model, the embedded one (take the model lock: `flock /tmp/promptci-model.lock ...`). Exit 1 when
anything differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OWN = "own"  # --model own: the demo prompt's own model (the embedded one)
TIME = re.compile(r"\d+(\.\d+)?\s?(s|ms|min|seconds?|minutes?)\b")  # "12.3 s", "2 min": masked in the report


def demo(checkout: Path, model: str, work: Path) -> dict[str, Any]:
    """`promptci demo` run from `checkout` with the task and optimizer model `model`; its results and report."""
    out = work / "out"
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "PROMPTCI_CACHE_DIR": str(work / "cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-m", "promptci", "demo", "--out", str(out)]
    if model != OWN:
        command += ["--model", model, "--optimizer-model", model]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=checkout)
    if proc.returncode not in (0, 1):  # 1: the gate failed, which is a verdict like any other
        raise SystemExit(f"promptci demo failed in {checkout} (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return {
        "exit": proc.returncode,
        "results": json.loads((out / "results.json").read_text(encoding="utf-8")),
        "report": TIME.sub("<time>", (out / "report.md").read_text(encoding="utf-8")),
    }


def _seen(results: dict[str, Any]) -> dict[str, Any]:
    """What a user sees and pays in a results file: calls, verdicts, scores, items, suggestion (no times)."""
    usage = results["usage"]
    return {
        "calls": usage["calls"],
        "cache_hits": usage["cache_hits"],
        "tokens": [usage["prompt_tokens"], usage["completion_tokens"]],
        "verdict": results["verdict"],
        "prompts": [
            {
                "path": p["path"],
                "verdict": p["verdict"],
                "scores": p["scores"],
                "comparison": p["comparison"],
                "items": p["items"],
                "gate": p["gate"],
                "subset": p["subset"],
                "head": {i: r["score"] for i, r in p["head"].items()},
                "base": {i: r["score"] for i, r in p["base"].items()},
                "suggested": (p["optimizer"] or {}).get("best_text"),
            }
            for p in results["prompts"]
        ],
    }


def _keys(data: Any, prefix: str = "") -> set[str]:
    if isinstance(data, dict):
        return {k for key, value in data.items() for k in {f"{prefix}{key}", *_keys(value, f"{prefix}{key}.")}}
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return _keys(data[0], f"{prefix}[].")
    return set()


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    seen_before, seen_after = _seen(before["results"]), _seen(after["results"])
    differs = [k for k in seen_before if seen_before[k] != seen_after[k]]
    keys_before, keys_after = _keys(before["results"]), _keys(after["results"])
    head = lambda keys: sorted(k for k in keys if not re.search(r"\.(head|base|texts|timings)\.[^.]+", k))  # noqa: E731
    return {
        "same_exit": before["exit"] == after["exit"],
        "same_report": before["report"] == after["report"],
        "differs": differs,
        "fields_only_before": head(keys_before - keys_after),
        "fields_only_after": head(keys_after - keys_before),
        "calls": [seen_before["calls"], seen_after["calls"]],
        "verdict": [seen_before["verdict"]["status"], seen_after["verdict"]["status"]],
    }


def _commit(checkout: Path) -> str:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=checkout)
    return proc.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the older checkout")
    parser.add_argument("--after", type=Path, default=ROOT, help="the newer checkout (default: this one)")
    parser.add_argument(
        "--model", default="mockllm/model", help=f"the task and optimizer model ('{OWN}': the prompt's)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "same_behaviour.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promptci-same-") as tmp:
        runs = {
            side: demo(path.resolve(), args.model, Path(tmp) / side)
            for side, path in (("before", args.before), ("after", args.after))
        }
    result = compare(runs["before"], runs["after"])
    if not result["same_report"]:
        import difflib

        diff = difflib.unified_diff(
            runs["before"]["report"].splitlines(), runs["after"]["report"].splitlines(), "before", "after", lineterm=""
        )
        result["report_diff"] = list(diff)[:200]
    same = result["same_exit"] and result["same_report"] and not result["differs"]
    print(
        f"model {args.model}: calls {result['calls'][0]} -> {result['calls'][1]}, verdict {result['verdict'][0]} -> "
        f"{result['verdict'][1]}, report (times masked) {'the same' if result['same_report'] else 'differs'}; "
        f"{'no' if not result['differs'] else ', '.join(result['differs'])} differences in calls, verdicts, scores"
    )
    for line in result.get("report_diff", []):
        print(line)
    if result["fields_only_after"] or result["fields_only_before"]:
        print(f"fields only after: {result['fields_only_after']}; only before: {result['fields_only_before']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    commits = {side: _commit(path) for side, path in (("before", args.before), ("after", args.after))}
    args.out.write_text(
        json.dumps({"model": args.model, "commits": commits, **result}, indent=2) + "\n", encoding="utf-8"
    )
    print(f"raw: {args.out}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
