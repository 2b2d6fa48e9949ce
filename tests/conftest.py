"""Shared fixtures and the two tiers.

The default tier is fast: units, the command line in process, and whole flows on the mock model
(`mockllm/model`, part of the product); it never runs the embedded model (a test that tries fails and says so).
The integration tier (`@pytest.mark.integration`, run with `--integration`, as CI does) runs the real components:
the embedded Gemma model, the demo, real processes where the process is the subject, and the real `act` runner.
Nothing is mocked except where a test says so."""

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--integration",
        action="store_true",
        help="also run the integration tier: the embedded model, the demo, act, real processes",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --integration the integration tier is deselected (not skipped: it did not run, and says so)."""
    if config.getoption("--integration"):
        return
    fast = [item for item in items if item.get_closest_marker("integration") is None]
    if len(fast) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("integration")])
        items[:] = fast


@pytest.fixture(autouse=True)
def _fast_tier_runs_no_embedded_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast tier's promise, enforced: a test that reaches the embedded model fails with the reason."""
    if request.node.get_closest_marker("integration") is not None:
        return
    from promptci.models import local

    def refuse() -> None:
        pytest.fail(
            "this test runs the embedded model: use mockllm/model, or mark it @pytest.mark.integration", pytrace=False
        )

    monkeypatch.setattr(local, "engine", refuse)


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


DEMO_CALLS = (
    200  # the optimizer's share (60) is what is left after base, head, the refresh and the gate's 2 random batches
)


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
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptci", "demo", "--out", str(out), "--max-calls", str(DEMO_CALLS)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    timer = threading.Timer(900, proc.kill)  # a hung demo fails the session instead of blocking it
    timer.start()
    assert proc.stderr is not None  # (stderr=PIPE)
    try:
        lines = [(time.monotonic() - started, line.rstrip("\n")) for line in proc.stderr]
    finally:
        timer.cancel()
    assert proc.wait() == 0, "\n".join(line for _, line in lines)
    return DemoRun(json.loads((out / "results.json").read_text()), lines, time.monotonic() - started)


DEMO_RESULTS = ROOT / "docs" / "example" / "results.json"


@pytest.fixture
def demo_results() -> dict:
    """A real pull-request result, committed: `scripts/demo` with the embedded model under a call limit
    (docs/example/README.md says how it was made; the integration tier checks that a live demo still writes the
    same shape)."""
    return json.loads(DEMO_RESULTS.read_text())
