"""Paths and a CLI runner shared by the tests."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
BIGBENCH = DATA / "bigbench"  # vendored task files: the tests read nothing outside the repository
EXAMPLE = ROOT / "prompts" / "intent.prompt.yml"


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300, isolated: bool = False
) -> subprocess.CompletedProcess[str]:
    """`promptci ARGS` as a user runs it: its exit code, stdout and stderr.

    In this process by default (`cli.main`, the very code the command runs, without an interpreter's start of
    about three seconds and with the models loaded once per session); `isolated=True` starts a real process, for
    tests whose subject is the process itself (its start, its imports, a time limit). `timeout` bounds only a real
    process."""
    if isolated:
        return subprocess.run(
            [sys.executable, "-m", "promptci", *args],
            cwd=cwd or ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    return _in_process(list(args), cwd or ROOT, env or {})


def _in_process(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from promptci import cli, progress

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    stdout, stderr = io.StringIO(), io.StringIO()
    progress.reporter = progress.Reporter()  # a new process's reporter: its clock starts at this command
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = cli.main(args)
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["promptci", *args], code, stdout.getvalue(), stderr.getvalue())
