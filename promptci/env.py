"""promptci's environment variables: each one read and checked here, and nowhere else.

`check()` runs when the CLI starts, so a bad value is one line naming the variable (exit 2) before
any work, never a model that "was unreachable" minutes later. The variables:

- `PROMPTCI_CACHE_DIR`: the cache folder (else `$XDG_CACHE_HOME/promptci`, else `~/.cache/promptci`);
- `PROMPTCI_LOCAL_N_CTX`: the embedded model's context in tokens (default 2048);
- `PROMPTCI_LOCAL_THREADS`: the embedded model's CPU threads (default: all cores);
- `PROMPTCI_GITHUB_TOKEN`: read with the other Actions variables in github/actions.py; any text is a token;
- `PROMPTCI_MODELS_TOKEN`: the token for GitHub Models (ghmodels.TOKEN_ENVS), never the REST one above;
- `PROMPTCI_GATE_SECRET`: the secret the gate's draws are seeded with (gate.draw_seed); any text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import overload

from .errors import InputError

N_CTX_DEFAULT = 2048
N_CTX_RANGE = (128, 32768)  # Gemma 3 270M's context is 32K tokens


def cache_dir() -> Path:
    """`$PROMPTCI_CACHE_DIR`, else `$XDG_CACHE_HOME/promptci`, else `~/.cache/promptci`."""
    explicit = os.environ.get("PROMPTCI_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "promptci"


def local_n_ctx() -> int:
    return _whole_number("PROMPTCI_LOCAL_N_CTX", N_CTX_DEFAULT, *N_CTX_RANGE)


def local_threads() -> int | None:
    return _whole_number("PROMPTCI_LOCAL_THREADS", None, 1, 1024)


def gate_secret() -> str | None:
    """`$PROMPTCI_GATE_SECRET`: mapped from a repository secret a pull request cannot read (None: unset)."""
    return os.environ.get("PROMPTCI_GATE_SECRET") or None


def check() -> None:
    """Every variable above, checked once; the first bad one is an InputError naming it."""
    from .files.fileio import check_output_folder

    local_n_ctx()
    local_threads()
    source = (
        "PROMPTCI_CACHE_DIR"
        if os.environ.get("PROMPTCI_CACHE_DIR")
        else ("XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "the cache folder (~/.cache/promptci)")
    )
    try:
        check_output_folder(cache_dir(), option=source)
    except InputError as exc:
        raise InputError(
            exc.problem, path=exc.path, field=source, fix="set PROMPTCI_CACHE_DIR to a folder promptci may write in"
        ) from None


@overload
def _whole_number(name: str, default: int, low: int, high: int) -> int: ...
@overload
def _whole_number(name: str, default: None, low: int, high: int) -> int | None: ...
def _whole_number(name: str, default: int | None, low: int, high: int) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise InputError(
            f"{text!r} is not a whole number from {low} to {high}",
            field=name,
            fix=f"set {name} to a whole number from {low} to {high}, or unset it",
        )
    return value
