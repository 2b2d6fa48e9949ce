"""The GitHub Actions run we are in: its environment variables and the pull request in the event payload.

Statuses go on the pull request's head commit (`pull_request.head.sha`), not on `GITHUB_SHA`, which is
the test merge commit. A pull request counts as from a fork when its head repository is not the base
repository (or is gone); such runs get a read-only token and no secrets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

PR_EVENTS = ("pull_request", "pull_request_target")
RUN_EVENT = "workflow_run"  # the trusted half of the fork-safe pattern: it posts what a pull_request run found
QUEUE_EVENT = "merge_group"  # a merge queue's candidate: only the `promptci` status is set, on its head commit


@dataclass(frozen=True)
class PullRequest:
    number: int
    repo: str  # owner/name of the base repository
    head_sha: str
    head_ref: str
    head_repo: str | None
    base_ref: str
    base_sha: str

    @property
    def from_fork(self) -> bool:
        return self.head_repo != self.repo


@dataclass(frozen=True)
class MergeGroup:
    """A merge queue's candidate commit (`head_sha`: the base branch with the queued pull requests merged)."""

    base_sha: str
    head_sha: str


@dataclass(frozen=True)
class Actions:
    api_url: str
    server_url: str
    repository: str
    run_id: str
    token: str
    event_name: str
    output_path: Path | None
    summary_path: Path | None
    pr: PullRequest | None
    group: MergeGroup | None = None
    event_path: Path | None = None  # the event payload (a `labeled` event's label and sender: accept.py)

    @property
    def run_url(self) -> str:
        if not self.run_id:
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def from_environ(environ: Mapping[str, str] = os.environ) -> Actions:
    """Read the run from the variables Actions sets; a pull request from the event file when there is one."""
    if environ.get("GITHUB_ACTIONS") != "true" and "GITHUB_EVENT_PATH" not in environ:
        raise InputError(
            "not inside a GitHub Actions run",
            field="--github",
            fix="run 'promptci pr --github' from a workflow, or drop --github to report locally",
        )
    event_name = environ.get("GITHUB_EVENT_NAME", "")
    pr = None
    if event_name in PR_EVENTS:
        pr = read_event(Path(environ.get("GITHUB_EVENT_PATH", "")))
    elif event_name == RUN_EVENT:
        pr = read_workflow_run(Path(environ.get("GITHUB_EVENT_PATH", "")))
    group = read_merge_group(Path(environ.get("GITHUB_EVENT_PATH", ""))) if event_name == QUEUE_EVENT else None
    token = environ.get("PROMPTCI_GITHUB_TOKEN") or environ.get("GITHUB_TOKEN") or ""
    return Actions(
        api_url=environ.get("GITHUB_API_URL", "https://api.github.com"),
        server_url=environ.get("GITHUB_SERVER_URL", "https://github.com"),
        repository=environ.get("GITHUB_REPOSITORY", pr.repo if pr else ""),
        run_id=environ.get("GITHUB_RUN_ID", ""),
        token=token,
        event_name=event_name,
        output_path=_path(environ.get("GITHUB_OUTPUT")),
        summary_path=_path(environ.get("GITHUB_STEP_SUMMARY")),
        pr=pr,
        group=group,
        event_path=_path(environ.get("GITHUB_EVENT_PATH")),
    )


def read_event(path: Path) -> PullRequest:
    """The pull request of a `pull_request` event payload."""
    payload = read_payload(path, "pull_request")
    try:
        pr = payload["pull_request"]
        head, base = pr["head"], pr["base"]
        head_repo = (head.get("repo") or {}).get("full_name")  # null when the fork was deleted
        return PullRequest(
            number=int(pr["number"]),
            repo=str(base["repo"]["full_name"]),
            head_sha=str(head["sha"]),
            head_ref=str(head["ref"]),
            head_repo=head_repo,
            base_ref=str(base["ref"]),
            base_sha=str(base["sha"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"the event payload has no pull request field {exc}",
            path=path,
            field="pull_request",
            fix="run on the pull_request event",
        ) from None


def read_workflow_run(path: Path) -> PullRequest:
    """The pull request a finished `pull_request` run was for, from GitHub's own `workflow_run` payload.

    The head commit and repository come from GitHub. The number does too when GitHub gives it; for a
    fork it does not (`pull_requests` is empty), and `number` is 0 until the results supply it and
    GitHub confirms it (publish.confirm_pull_request).
    """
    payload = read_payload(path, "workflow_run")
    try:
        run = payload["workflow_run"]
        pulls = run.get("pull_requests") or []
        return PullRequest(
            number=int(pulls[0]["number"]) if pulls else 0,
            repo=str(payload["repository"]["full_name"]),
            head_sha=str(run["head_sha"]),
            head_ref=str(run.get("head_branch") or ""),
            head_repo=(run.get("head_repository") or {}).get("full_name"),
            base_ref="",
            base_sha="",
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(
            f"the workflow_run payload lacks {exc}",
            path=path,
            field="workflow_run",
            fix="run on the workflow_run event",
        ) from None


def read_merge_group(path: Path) -> MergeGroup:
    """The queue's base and candidate commits from a `merge_group` payload."""
    payload = read_payload(path, QUEUE_EVENT)
    try:
        group = payload["merge_group"]
        return MergeGroup(base_sha=str(group["base_sha"]), head_sha=str(group["head_sha"]))
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"the merge_group payload lacks {exc}", path=path, field="merge_group", fix="run on the merge_group event"
        ) from None


def read_payload(path: Path, event: str) -> dict:
    """The event payload file, read as JSON."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"cannot read the event payload ({exc.strerror})",
            path=path,
            field="GITHUB_EVENT_PATH",
            fix=f"run inside a {event} workflow",
        ) from None
    except ValueError as exc:
        raise InputError(
            f"the event payload is not JSON ({exc})", path=path, fix=f"run inside a {event} workflow"
        ) from None
    if not isinstance(payload, dict):
        raise InputError("the event payload is not a JSON object", path=path, fix=f"run inside a {event} workflow")
    return payload


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
