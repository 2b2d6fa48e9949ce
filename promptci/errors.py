"""The two kinds of failure promptci reports, each with its exit code (docs/design.md, "Exit codes and errors").

Every error is one line that names the file, the field and the fix, so the CLI can print it
without a traceback. Messages are built from our own words and the user's file paths, never
from environment variables, so secrets cannot leak through them.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_INPUT = 2
EXIT_INFRA = 3


class PromptCIError(Exception):
    """Base class: carries the exit code the CLI should end with."""

    exit_code = EXIT_INPUT


class InputError(PromptCIError):
    """Bad input or usage: a file, a field, a flag. Exit 2."""

    exit_code = EXIT_INPUT

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, self.field) if p]
        head = ": ".join(parts)
        text = f"{head}: {self.problem}" if head else self.problem
        if self.fix:
            text += f" (fix: {self.fix})"
        return " ".join(text.split("\n"))


class InfraError(PromptCIError):
    """A model or GitHub stayed unreachable after retries. Exit 3."""

    exit_code = EXIT_INFRA


_SECRET_HINTS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "SESSION",
    "COOKIE",
    "SIGNATURE",
    "_PAT",
    "CERT",
)


def redact(text: str, limit: int | None = None) -> str:
    """Replace the value of every secret-looking environment variable in `text` with '***', then cut the
    text to `limit` characters (in that order: a cut first could leave the start of a secret unmasked).

    Used on every message that comes from outside (a provider's error, a server's reply) before it
    is printed or written to a results file.
    """
    import os

    for name, value in os.environ.items():
        if len(value) >= 8 and any(hint in name.upper() for hint in _SECRET_HINTS) and value in text:
            text = text.replace(value, "***")
    return text if limit is None else text[:limit]
