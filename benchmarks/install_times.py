"""The action's install under `act`, cold and warm, for the remote-only and the local variants.

A throwaway repository holds promptci and a one-job workflow that runs the action in `plan` mode (no model
is loaded, so the job's time is the install's plus seconds). `act` runs it on this host; the action's
`actions/cache` steps run against the tar stand-in in tests/data/act-cache (no Actions cache service
offline: a restore here is a local tar extraction, where GitHub downloads the archive first).

1. cold: no venv, an empty pip cache, an empty Actions cache: every package downloaded (PyPI; torch from
   this machine's wheel folder, as PyTorch's CPU index is out of reach here), llama-cpp-python compiled;
2. warm: the venv and the pip cache gone again (a fresh runner), the Actions cache kept: the install is
   restored from it and skipped.

    python benchmarks/install_times.py [--variants remote local] [--out benchmarks/results/install_times.json]

Targets: warm <= 60 s; remote-only cold <= 2 min.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACT = Path(sys.executable).parent / "act"
CACHE_ACTION = "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae"
STEP = re.compile(r"(Success|Failure|Skipped) - Main (.+?) \[([0-9hms.µ]+)\]")

WORKFLOW = """name: install
on: pull_request
jobs:
  install:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - run: echo "RUNNER_TEMP=$RUNNER_TEMP"
      - uses: ./
        with:
          mode: plan
          extras: "{extras}"
"""


def seconds(text: str) -> float:
    """act's durations: 1m2.5s, 850ms, 12.3s, 40µs."""
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(h|ms|m|s|µs)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6}[unit]
    return total


def repo(target: Path, extras: str) -> None:
    for name in ("action.yml", "pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(ROOT / name, target / name)
    for folder in ("promptci", "scripts", "prompts", "eval_sets"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (target / ".github" / "workflows").mkdir(parents=True)
    (target / ".github" / "workflows" / "install.yml").write_text(WORKFLOW.format(extras=extras))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-qm", "bench"],
        ["remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"],
    ):
        subprocess.run(["git", *args], cwd=target, check=True, env=env)


def run(target: Path, work: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests import github_tools

    payload = github_tools.webhook_example("pull_request", "synchronize")  # a real payload, on this repo's commit
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=target, capture_output=True, text=True).stdout.strip()
    payload["pull_request"]["head"].update(sha=head, ref="main")
    payload["pull_request"]["base"].update(sha=head, ref="main")
    event = work / "event.json"
    event.write_text(json.dumps(payload))
    env = {
        **os.environ,
        "HOME": str(work / "home"),
        "PIP_CACHE_DIR": str(work / "pip-cache"),
        "PROMPTCI_TORCH_INDEX": "",
        "PROMPTCI_ACT_CACHE": str(work / "actions-cache"),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(ACT),
            "pull_request",
            "-e",
            str(event),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--local-repository",
            f"{CACHE_ACTION}={ROOT / 'tests' / 'data' / 'act-cache'}",
        ],
        cwd=target,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    wall = time.monotonic() - started
    log = proc.stdout + proc.stderr
    steps = {name: {"result": result, "s": round(seconds(took), 2)} for result, name, took in STEP.findall(log)}
    temp = re.search(r"RUNNER_TEMP=(\S+)", log)
    return {
        "rc": proc.returncode,
        "job_wall_s": round(wall, 1),
        "steps": steps,
        "runner_temp": temp.group(1) if temp else "",
        "log_tail": log[-6000:] if proc.returncode else "",
    }


def fresh_runner(work: Path, runner_temp: str) -> None:
    """What a new hosted runner lacks: the venv and pip's cache (the Actions cache stays)."""
    shutil.rmtree(work / "pip-cache", ignore_errors=True)
    if runner_temp:
        shutil.rmtree(Path(runner_temp) / "promptci-venv", ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["remote", "local"], choices=["remote", "local"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "install_times.json")
    args = parser.parse_args()
    results = {}
    for variant in args.variants:
        extras = "local" if variant == "local" else ""
        with tempfile.TemporaryDirectory(prefix=f"promptci-install-{variant}-") as tmp:
            work = Path(tmp)
            target = work / "repo"
            target.mkdir()
            repo(target, extras)
            cold = run(target, work)
            fresh_runner(work, cold["runner_temp"])
            warm = run(target, work)
            fresh_runner(work, warm["runner_temp"])
            results[variant] = {"cold": cold, "warm": warm}
        for kind in ("cold", "warm"):
            r = results[variant][kind]
            install = r["steps"].get("Install promptci", {})
            restore = r["steps"].get("Restore the install", {})
            print(
                f"{variant:6} {kind}: job {r['job_wall_s']:6.1f} s (rc {r['rc']}); install step "
                f"{install.get('s', 0):6.1f} s ({install.get('result', '-')}); restore {restore.get('s', 0):5.1f} s"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
