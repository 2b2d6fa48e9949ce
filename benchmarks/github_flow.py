"""promptci on GitHub (docs/github.md, "Costs"): what a pull request costs in time and model calls.

1. no-change: the shipped `promptci.yml` job, run by the real `act` runner (`-P ubuntu-latest=-self-hosted`), on a
   pull request that changes no prompt, against a local stand-in for GitHub that accepts the one status request.
   Timed from outside (the whole `act` process: job set-up, checkout, the action), and per step from act's log.
2. warm-cache: the demo's pull request (`promptci pr --no-optimize`, the embedded model) on an empty cache, then
   after the default branch's warm job (`promptci warm` on the committed prompt, what `mode: warm` runs: base
   scored on its whole pool into the warm store), twice: the model calls each makes. Each pull-request run has a
   fresh answer cache holding only the warm store (and, for the re-run, the first run's re-checked base answers),
   so that every base item it scored would show as a call.

    python benchmarks/github_flow.py [--repeats 3] [--skip-warm] [--out benchmarks/results/github_flow.json]

Target: the no-change run <= 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from promptci import demo

BIN = Path(sys.executable).parent


class _GitHub(BaseHTTPRequestHandler):
    """Accepts any POST (the status) and records it."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # http.server's name
        self.rfile.read(int(self.headers.get("content-length") or 0))
        _GitHub.seen.append(f"POST {self.path}")
        body = b'{"state": "success"}'
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _repo(target: Path) -> tuple[str, str]:
    """promptci as `uses: ./`, its workflow (the cache steps dropped: act runs no remote action offline), the
    demo's prompt on main and a pull request branch that only adds a note."""
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "promptci", target / "promptci", ignore=shutil.ignore_patterns("__pycache__"))
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "promptci.yml").read_text())
    flow["on"] = flow.pop(True)
    for job in flow["jobs"].values():
        job["steps"] = [s for s in job["steps"] if "actions/cache" not in s.get("uses", "")]
    (target / ".github" / "workflows").mkdir(parents=True)
    (target / ".github" / "workflows" / "promptci.yml").write_text(yaml.safe_dump(flow, sort_keys=False))
    demo.make_repo(target)
    _git(target, "checkout", "-q", "-b", "docs", "main")
    (target / "NOTES.md").write_text("no prompt here\n")
    _git(target, "add", "NOTES.md")
    _git(target, "commit", "-qm", "notes")
    _git(target, "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git")
    return _git(target, "rev-parse", "main"), _git(target, "rev-parse", "docs")


def no_change(repeats: int) -> dict:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="promptci-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        base, head = _repo(repo)
        payload = {
            "action": "synchronize",
            "number": 1,
            "repository": {"full_name": "Codertocat/Hello-World"},
            "pull_request": {
                "number": 1,
                "head": {"sha": head, "ref": "docs", "repo": {"full_name": "Codertocat/Hello-World"}},
                "base": {"sha": base, "ref": "main", "repo": {"full_name": "Codertocat/Hello-World"}},
            },
        }
        event = Path(tmp) / "event.json"
        event.write_text(json.dumps(payload))
        for _ in range(repeats):
            _GitHub.seen.clear()
            start = time.perf_counter()
            proc = subprocess.run(
                [
                    str(BIN / "act"),
                    "pull_request",
                    "-e",
                    str(event),
                    "-P",
                    "ubuntu-latest=-self-hosted",
                    "--json",
                    "--env",
                    f"GITHUB_API_URL={api}",
                    "-s",
                    "GITHUB_TOKEN=ghs_bench",
                ],
                cwd=repo,
                capture_output=True,
                text=True,
                env={**os.environ, "HOME": str(Path(tmp) / "home")},
                timeout=300,
            )
            wall = time.perf_counter() - start
            records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
            steps = _step_times(records)
            runs.append(
                {"wall_s": round(wall, 2), "exit": proc.returncode, "requests": list(_GitHub.seen), "steps_s": steps}
            )
            print(f"no-change act run: {wall:.1f} s, exit {proc.returncode}, requests {_GitHub.seen}, steps {steps}")
    server.shutdown()
    return {"runs": runs, "median_wall_s": statistics.median(r["wall_s"] for r in runs)}


def _step_times(records: list[dict]) -> dict[str, float]:
    """Seconds per step, from the timestamps act logs when a step starts and ends."""
    from datetime import datetime

    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for r in records:
        step, stage, at = r.get("step"), r.get("stepResult"), r.get("time")
        if not step or not at:
            continue
        t = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        started.setdefault(step, t)
        if stage:
            took[step] = round(t - started[step], 2)
    return took


def warm_cache() -> dict:
    py = sys.executable
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="promptci-bench-") as tmp:
        repo = Path(tmp) / "repo"
        demo.make_repo(repo)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def pr(cache: str, *carried: Path) -> dict:
            for folder in carried:
                shutil.copytree(folder, Path(tmp) / cache / folder.name)
            out = Path(tmp) / f"{cache}-out"
            subprocess.run(
                [
                    py,
                    "-m",
                    "promptci",
                    "pr",
                    "--repo",
                    str(repo),
                    "--base",
                    "main",
                    "--head",
                    "trim-examples",
                    "--no-optimize",
                    "--out",
                    str(out),
                ],
                check=False,
                capture_output=True,
                env={**env, "PROMPTCI_CACHE_DIR": str(Path(tmp) / cache)},
            )
            results = json.loads((out / "results.json").read_text())
            [p] = results["prompts"]
            return {
                **results["usage"],
                "items": len(p["items"]),
                "verdict": p["verdict"]["status"],
                "base_items_scored": sum(1 for r in p["base"].values() if r["output"] is not None),
                "base_note": p.get("base_note", ""),
            }

        figures["cold"] = pr("cold")
        _git(repo, "checkout", "-q", "main")
        start = time.perf_counter()
        subprocess.run(
            [py, "-m", "promptci", "warm", "prompts/intent.prompt.yml"],
            check=True,
            capture_output=True,
            cwd=repo,
            env={**env, "PROMPTCI_CACHE_DIR": str(Path(tmp) / "warm-job")},
        )
        figures["warm_job_s"] = round(time.perf_counter() - start, 1)
        figures["warm"] = pr("warm", Path(tmp) / "warm-job" / "warm")
        figures["warm_rerun"] = pr("rerun", Path(tmp) / "warm-job" / "warm", Path(tmp) / "warm" / "recheck")
    for name in ("cold", "warm", "warm_rerun"):
        u = figures[name]
        print(
            f"{name}: {u['calls']} model calls, {u['cache_hits']} cache hits, {u['wall_s']:.1f} s, {u['items']} "
            f"items compared, {u['base_items_scored']} base items scored ({u['verdict']}); {u['base_note']}"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "github_flow.json")
    args = parser.parse_args()
    results = {"no_change": no_change(args.repeats)}
    if not args.skip_warm:
        results["warm_cache"] = warm_cache()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
