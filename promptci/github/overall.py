"""The one commit status a repository can require: context `promptci`, the pull request's overall verdict.

Per-prompt statuses (`promptci/<path>`) come and go as prompts are added or renamed, so a branch rule
cannot name them; this context is set on every run that reaches a verdict, including one that finds no
prompt changed (docs/github.md, "Required checks"). Standard library only: the precheck step imports it
before anything is installed.
"""

from __future__ import annotations

from ..verdicts import Status

CONTEXT = "promptci"
ERROR = "error"  # the run stopped before a verdict
STATE = {Status.PASS: "success", Status.FAIL: "failure", Status.UNDECIDED: "failure", ERROR: "error",
         Status.NEUTRAL: "success", Status.INCONCLUSIVE: "success"}  # commit statuses have no neutral state: the
# description says "not gated" or "inconclusive" (promptci.gate.on_inconclusive: neutral neither blocks nor passes)
NO_CHANGE = "no prompt changed: no prompt file, pool or subset in this change"
CRASHED = "promptci stopped before a verdict: see the run's log"


def describe(status: str, reason: str) -> str:
    """The status description: the verdict and why (a neutral result says plainly that nothing was gated)."""
    if status == Status.NEUTRAL:
        return f"not gated: {reason}"
    return f"{status}: {reason}"


UNTRUSTED = "untrusted fork results"


def state(status: str, reason: str, *, trusted: bool = True) -> tuple[str, str]:
    """A commit status's state and description for a verdict. Scores that a fork's own run uploaded (the
    fork-post job) can fail a check but never pass it: every byte of them is the pull request's, so where they
    would give `success` the state is `pending`, and the description says a trusted run must gate the commit."""
    if not trusted and STATE[status] == "success":
        return "pending", f"{UNTRUSTED}: {status} (needs a trusted run): {reason}"
    return STATE[status], describe(status, reason)
