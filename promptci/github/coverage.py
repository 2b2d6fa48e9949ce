"""The fork-safe post job's check that the uploaded results cover the pull request's change.

The results come from the pull request's own run, so they may leave a prompt out: the set of prompts to
report is taken from GitHub's list of the pull request's files, judged by the precheck's rule at the pull
request's base commit as GitHub names it (the branch it merges into, not the default branch the post job
runs from), and a prompt that list touches but the results lack makes the
verdict a failure. Anything that cannot be checked fails too (never a pass on a partial upload). The
claims a pass could rest on are checked against that list as well: a prompt said to be deleted must be
removed there, one judged without a base must be added there, and each result is filed under its own
change's path. None of this makes the scores trustworthy: from this job the `promptci` status is never
`success` (overall.state); these checks turn what they catch into a failure.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from ..errors import InfraError
from ..files import prresults
from ..gate.verdicts import Status
from . import precheck
from .actions import RUN_EVENT, Actions


def missing(data: prresults.PRResults, changed: list[str], repo_dir: str, base: str) -> list[str]:
    """The prompts the changed paths touch (at commit `base`, or by their own path) that no result covers."""
    covered = {path for p in data.prompts for path in (p.path, p.change.old_path, p.change.new_path) if path}
    if (
        not base
        or subprocess.run(["git", "cat-file", "-e", f"{base}^{{commit}}"], cwd=repo_dir, capture_output=True).returncode
    ):
        raise InfraError(
            f"the pull request's base commit {base[:12] or '(none)'} is not in this checkout (fix: "
            "check out with fetch-depth: 0, as promptci-fork-post.yml does, and re-run the job)"
        )
    try:
        touched = precheck.prompts_touched(changed, base, cwd=repo_dir)
    except (subprocess.CalledProcessError, OSError) as exc:
        raise InfraError(
            f"could not tell which prompts the pull request changes: {exc} (fix: re-run the job)"
        ) from None
    return [path for path in touched if path not in covered]


def require(
    data: prresults.PRResults, actions: Actions, repo_dir: str, environ: Mapping[str, str] = os.environ
) -> prresults.PRResults:
    """`data`, or a failing verdict naming the changed prompts it lacks; only in the workflow_run (post) job."""
    if actions.event_name != RUN_EVENT or actions.pr is None or not actions.pr.from_fork:
        return data  # (not from a fork: the post job posts nothing)
    try:
        entries = precheck.pull_request_file_entries(environ, actions.pr.repo, actions.pr.number)
    except (precheck.GitHubError, KeyError, TypeError) as exc:
        raise InfraError(
            f"{exc} (the pull request's file list is needed to check the results; re-run the job)"
        ) from None
    if entries is None:
        reason = "results cannot be checked: GitHub lists only the first 3,000 files of this pull request"
    else:
        changed = [name for f in entries for name in (f["filename"], f.get("previous_filename")) if name]
        lacking = missing(data, changed, repo_dir, actions.pr.base_sha)
        wrong = false_claims(data, entries)
        if not lacking and not wrong:
            return data
        reason = "; ".join(
            [f"results do not cover {', '.join(lacking)} changed by the pull request: re-run"] * bool(lacking) + wrong
        )
    return data.model_copy(update={"verdict": prresults.Verdict(status=Status.FAIL, reason=reason)})


def false_claims(data: prresults.PRResults, entries: list[dict]) -> list[str]:
    """What the results claim about the change that GitHub's file entries contradict: a result filed under
    another path than its change's, a prompt called deleted that is not removed, one judged without its base
    that is not added (each of which recompute would let pass without comparing anything)."""
    gone = {f["filename"] for f in entries if f.get("status") == "removed"} | {
        f.get("previous_filename") for f in entries if f.get("status") == "renamed"
    }
    new = {f["filename"] for f in entries if f.get("status") in ("added", "copied", "renamed")}
    found = []
    for p in data.prompts:
        change = p.change
        if p.path != (change.new_path or change.old_path):
            found.append(f"results file {p.path} under another path than its change's: re-run")
        elif change.new_text is None and (change.new_path is not None or change.old_path not in gone):
            found.append(f"results call {change.old_path} deleted, which the pull request does not remove: re-run")
        elif change.new_text is not None and not p.has_base and p.error is None and change.new_path not in new:
            found.append(
                f"results judge {change.new_path} without its base, but the pull request does not add it: re-run"
            )
    return found
