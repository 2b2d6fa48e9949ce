"""Paths and a CLI runner shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
BIGBENCH = DATA / "bigbench"  # vendored task files: the tests read nothing outside the repository
EXAMPLE = ROOT / "prompts" / "intent.prompt.yml"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`promptci ARGS` in a fresh process, as a user would run it."""
    return subprocess.run([sys.executable, "-m", "promptci", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
