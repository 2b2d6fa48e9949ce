"""The fork-safe post job's check that the uploaded results cover the pull request's change.

The results come from the pull request's own run, so they may leave a prompt out: the set of prompts to
report is taken from GitHub's list of the pull request's files, judged by the precheck's rule against
the trusted checkout (the default branch), and a prompt that list touches but the results lack makes the
verdict a failure. Anything that cannot be checked fails too (never a pass on a partial upload).
"""

from __future__ import annotations

import os
import subprocess
from typing import Mapping

from .. import prresults
from ..errors import InfraError
from . import precheck
from .actions import RUN_EVENT, Actions


def missing(data: prresults.PRResults, changed: list[str], repo_dir: str) -> list[str]:
    """The prompts the changed paths touch (at the checkout's HEAD, or by their own path) that no result covers."""
    covered = {path for p in data.prompts for path in (p.path, p.change.old_path, p.change.new_path) if path}
    try:
        touched = precheck.prompts_touched(changed, cwd=repo_dir)
    except (subprocess.CalledProcessError, OSError) as exc:
        raise InfraError(f"could not tell which prompts the pull request changes: {exc} (fix: re-run the job)") \
            from None
    return [path for path in touched if path not in covered]


def require(data: prresults.PRResults, actions: Actions, repo_dir: str,
            environ: Mapping[str, str] = os.environ) -> prresults.PRResults:
    """`data`, or a failing verdict naming the changed prompts it lacks; only in the workflow_run (post) job."""
    if actions.event_name != RUN_EVENT or actions.pr is None:
        return data
    try:
        changed = precheck.pull_request_files(environ, actions.pr.repo, actions.pr.number)
    except precheck.GitHubError as exc:
        raise InfraError(f"{exc} (the pull request's file list is needed to check the results; re-run the job)") \
            from None
    if changed is None:
        reason = "results cannot be checked: GitHub lists only the first 3,000 files of this pull request"
    else:
        lacking = missing(data, changed, repo_dir)
        if not lacking:
            return data
        reason = f"results do not cover {', '.join(lacking)} changed by the pull request: re-run"
    return data.model_copy(update={"verdict": prresults.Verdict(status="fail", reason=reason)})

