"""Shared fixtures. The tests use the real embedded model and the real embedding model; nothing is mocked
except where a test says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import ROOT


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session starts with an empty response cache (the assembled model file is rebuilt once)."""
    cache = tmp_path_factory.mktemp("promptci-cache")
    os.environ["PROMPTCI_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of the bundled example (prompt + pool) in a scratch folder."""
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    shutil.copytree(ROOT / "eval_sets", tmp_path / "eval_sets")
    return tmp_path


DEMO_CALLS = 200  # the optimizer's share (60) is what is left after base, head, the refresh and the gate's 2 random batches


@dataclass
class DemoRun:
    """`promptci demo` as run: its results, and each stderr line with the second it arrived."""

    results: dict
    stderr: list[tuple[float, str]]
    wall_s: float


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """A real pull-request run: `promptci demo` with the embedded model on a small budget, stderr not a
    terminal (as in CI), read line by line as it comes."""
    out = tmp_path_factory.mktemp("demo")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "promptci", "demo", "--out", str(out), "--max-calls",
                             str(DEMO_CALLS)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "CI": "true"})
    timer = threading.Timer(900, proc.kill)  # a hung demo fails the session instead of blocking it
    timer.start()
    assert proc.stderr is not None  # (stderr=PIPE)
    try:
        lines = [(time.monotonic() - started, line.rstrip("\n")) for line in proc.stderr]
    finally:
        timer.cancel()
    assert proc.wait() == 0, "\n".join(line for _, line in lines)
    return DemoRun(json.loads((out / "results.json").read_text()), lines, time.monotonic() - started)


@pytest.fixture(scope="session")
def demo_results(demo_run: DemoRun) -> dict:
    """A real pull-request result: `promptci demo` with the embedded model on a small budget."""
    return demo_run.results
