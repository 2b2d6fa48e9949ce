"""The runner's file and workflow commands: step outputs, the job summary, annotations, masking.

Limits GitHub sets (docs: workflow commands; actions/toolkit#734): a step summary of at most 1 MiB,
10 error and 10 warning annotations per step. Values are escaped as the runner expects, so text from
a pull request cannot start a command of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

SUMMARY_LIMIT_BYTES = 1024 * 1024
ANNOTATIONS_PER_LEVEL = 10


def set_outputs(path: Path | None, outputs: Mapping[str, str]) -> None:
    """Append `name<<DELIMITER` blocks to $GITHUB_OUTPUT (safe for any value, multi-line included)."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            delimiter = f"promptci_{secrets.token_hex(8)}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def write_summary(path: Path | None, markdown: str) -> bool:
    """Append the report to $GITHUB_STEP_SUMMARY, cut to GitHub's 1 MiB; False when there is no summary file."""
    if path is None:
        return False
    data = markdown.encode("utf-8")
    if len(data) > SUMMARY_LIMIT_BYTES:
        note = "\n\n… (cut at GitHub's 1 MiB job-summary limit; everything is in results.json)\n".encode()
        data = data[: SUMMARY_LIMIT_BYTES - len(note)].decode("utf-8", errors="ignore").encode() + note
    with path.open("ab") as handle:
        handle.write(data)
    return True


def annotation(
    level: str, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
) -> str:
    """One `::error file=…,line=…,title=…::message` line (level: error, warning or notice)."""
    props = {"file": file, "line": str(line) if line else None, "title": title}
    shown = ",".join(f"{k}={_property(v)}" for k, v in props.items() if v)
    return f"::{level}{' ' + shown if shown else ''}::{_data(message)}"


def annotate(out: TextIO, annotations: list[tuple[str, str, dict]]) -> None:
    """Print annotations, at most GitHub's 10 per level; the rest are counted in one last notice."""
    shown: dict[str, int] = {}
    dropped = 0
    for level, message, where in annotations:
        if shown.get(level, 0) >= ANNOTATIONS_PER_LEVEL:
            dropped += 1
            continue
        shown[level] = shown.get(level, 0) + 1
        print(annotation(level, message, **where), file=out)
    if dropped:
        print(annotation("notice", f"{dropped} more annotations are in the job summary"), file=out)


@contextmanager
def commands_off(out: TextIO) -> Iterator[None]:
    """No workflow commands while text from the pull request is logged (a file named `::error::x` would be one)."""
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", file=out, flush=True)
    try:
        yield
    finally:
        print(f"::{token}::", file=out, flush=True)


def mask(out: TextIO, value: str) -> None:
    """Ask the runner to hide `value` in every later log line."""
    if value:
        print(f"::add-mask::{_data(value)}", file=out)


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
