"""The one commit status a repository can require: context `promptci`, the pull request's overall verdict.

Per-prompt statuses (`promptci/<path>`) come and go as prompts are added or renamed, so a branch rule
cannot name them; this context is set on every run that reaches a verdict, including one that finds no
prompt changed (docs/github.md, "Required checks"). Standard library only: the precheck step imports it
before anything is installed.
"""

from __future__ import annotations

from ..gate.verdicts import Status

CONTEXT = "promptci"
ERROR = "error"  # the run stopped before a verdict
STATE = {
    Status.PASS: "success",
    Status.FAIL: "failure",
    Status.UNDECIDED: "failure",
    ERROR: "error",
    Status.NEUTRAL: "success",
    Status.INCONCLUSIVE: "failure",
}  # commit statuses have no neutral state: the description says "not gated"; an inconclusive verdict is never
# success (branch rules and auto-merge read only the state) until someone with write access accepts it (accept.py)
ACCEPT_LABEL = "promptci-accept"  # the label that accepts an inconclusive verdict on the commit it is applied to
NO_CHANGE = "no prompt changed: no prompt file, pool or subset in this change"
CRASHED = "promptci stopped before a verdict: see the run's log"
STOPPED = "the job was cancelled or timed out before a verdict: re-run it, or push"
BOT_LOGIN = "github-actions[bot]"  # the login GITHUB_TOKEN comments as (the action's bot-login default)
MARKER = "<!-- promptci:report -->"  # the sticky comment's hidden marker (with the bot's login, it finds the comment)
FORK_UNBLOCK = (
    "A pull request from a fork gets a read-only token, so its own run cannot set the `promptci` status; "
    "it stays expected until a trusted run sets it: add the fork-safe pair (promptci-fork-run.yml and "
    "promptci-fork-post.yml), which passes a fork that changes no prompt, or have a maintainer push the "
    "fork's head to a branch here (git fetch origin pull/N/head && git push origin "
    "FETCH_HEAD:refs/heads/fork-pr-N) and open a pull request from it, whose run gates the same commit"
)


def describe(status: str, reason: str) -> str:
    """The status description: the verdict and why (a neutral result says plainly that nothing was gated)."""
    if status == Status.NEUTRAL:
        return f"not gated: {reason}"
    if status == Status.INCONCLUSIVE:  # the description is cut at 140 characters: what to do comes first
        return f"undecided, not passed (a maintainer's {ACCEPT_LABEL} label accepts it): {reason}"
    return f"{status}: {reason}"


UNTRUSTED = "untrusted fork results"


def state(status: str, reason: str, *, trusted: bool = True) -> tuple[str, str]:
    """A commit status's state and description for a verdict. Scores that a fork's own run uploaded (the
    fork-post job) can fail a check but never pass it: every byte of them is the pull request's, so where they
    would give `success` the state is `pending`, and the description says a trusted run must gate the commit."""
    if not trusted and STATE[status] == "success":
        return "pending", f"{UNTRUSTED}: {status} (needs a trusted run): {reason}"
    return STATE[status], describe(status, reason)
