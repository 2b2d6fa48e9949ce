"""The one commit status a repository can require: context `promptci`, the pull request's overall verdict.

Per-prompt statuses (`promptci/<path>`) come and go as prompts are added or renamed, so a branch rule
cannot name them; this context is set on every run that reaches a verdict, including one that finds no
prompt changed (docs/github.md, "Required checks"). Standard library only: the precheck step imports it
before anything is installed.
"""

from __future__ import annotations

CONTEXT = "promptci"
STATE = {"pass": "success", "fail": "failure", "undecided": "failure", "error": "error",
         "neutral": "success", "inconclusive": "success"}  # commit statuses have no neutral state: the description
# says "not gated" or "inconclusive" (promptci.gate.on_inconclusive: neutral neither blocks nor claims a pass)
NO_CHANGE = "no prompt changed: no prompt file, pool or subset in this change"
CRASHED = "promptci stopped before a verdict: see the run's log"


def describe(status: str, reason: str) -> str:
    """The status description: the verdict and why (a neutral result says plainly that nothing was gated)."""
    if status == "neutral":
        return f"not gated: {reason}"
    return f"{status}: {reason}"
