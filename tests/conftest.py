"""Shared fixtures. The tests use the real embedded model and the real embedding model; nothing is mocked
except where a test says so."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .helpers import ROOT, run_cli


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


DEMO_CALLS = 120  # the optimizer's share is what is left after base, head and the refresh


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real pull-request result: `promptci demo` with the embedded model on a small budget."""
    out = tmp_path_factory.mktemp("demo")
    proc = run_cli("demo", "--out", str(out), "--max-calls", str(DEMO_CALLS), timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text())
