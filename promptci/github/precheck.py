"""The action's first step: whether this change touches a prompt at all, decided before anything is installed.

It runs on the runner's own Python with the standard library and git only (`python3 -m
promptci.github.precheck`, with the action's folder on PYTHONPATH), so a pull request that changes no
prompt gets its `promptci` status in seconds instead of after a model install (and the bot's sticky comment,
if an earlier push left one, says that nothing is gated now).

The rule over-approximates changes.changed_prompts, which stays the one definition of what a change
touches: a changed path counts when it is a prompt file, a subset file, or a file whose name appears in a
prompt file's text (its pool, its `promptci.subset`). So a change may go on to the full run and be found
to touch nothing, but a change that touches a prompt is never skipped. Whatever it cannot decide (a merge
commit of another head, an event it does not know) goes on to the full run, which reports it.

`python3 -m promptci.github.precheck crash` is the action's last step when the gate step failed without
setting the `promptci` status: it sets `error`, so a crash can never leave the required check green. The
action's `mode: stopped` (a workflow step of its own, outside the composite action, which the runner stops
whole on cancellation) sets `error` for a job that was cancelled or timed out, unless a later run of the
workflow has set the status on that commit since.

In the fork-safe post job (`merge` on `workflow_run`) only a pull request from a fork is acted on: a
same-repository pull request's own run sets `promptci`, and a post job finishing after it must not touch it.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import overall, workflow

PROMPT_SUFFIXES = (".prompt.yml", ".prompt.yaml")  # as gitdiff.PROMPT_SUFFIXES (a test keeps them equal)
SUBSET_SUFFIX = ".subset.yml"  # a subset file's default name (subsetfile.relative_path)
POSTING_MODES = ("pr", "merge")  # the modes whose job may set statuses (plan and shard jobs only read)
STOPPED_MODE = "stopped"  # a workflow step after a cancelled or timed-out job: `promptci` is set to error
SAME_REPOSITORY = (
    "the fork-safe post job acts only on pull requests from forks: this pull request's branch is in "
    "the repository, and its own promptci run sets the `promptci` status"
)
RETRIES = 4
PAGES = 30  # 100 a page: GitHub lists at most 3,000 files of a pull request (comments are read as far)


def main(argv: list[str], environ: Mapping[str, str] = os.environ) -> int:
    mode = environ.get("IN_MODE", "pr")
    event = environ.get("GITHUB_EVENT_NAME", "")
    payload = _payload(environ)
    if argv[:1] == ["crash"]:
        if mode in POSTING_MODES:
            return _post(environ, payload, "error", overall.CRASHED)
        return 0
    if mode == STOPPED_MODE:
        _outputs(environ, {"changed": "false"})  # nothing else of the action runs
        if _later_run_set(environ, payload):
            return 0
        return _post(environ, payload, "error", overall.STOPPED)
    if mode == "merge" and event == "workflow_run" and not _fork_run(payload):
        _outputs(environ, {"changed": "false"})
        _summary(environ, f"## promptci: nothing to post\n\n{SAME_REPOSITORY}\n")
        print(f"promptci: {SAME_REPOSITORY}")
        return 0
    if mode == "merge":  # the planner found no prompt, or (fork-post) GitHub's file list shows none
        unchanged = _plan_is_empty(environ.get("IN_PLAN", "")) or _fork_post_unchanged(environ, payload)
    else:
        unchanged = touches(event, payload) is False
    _outputs(environ, {"changed": "false" if unchanged else "true"})
    if not unchanged:
        return 0
    _outputs(
        environ,
        {
            "verdict": "pass",
            "prompts": "0",
            "failed": "0",
            "scores": "{}",
            "shards": "0",
            "matrix": json.dumps({"include": []}),
            "report": "",
            "results": "",
        },
    )
    _summary(environ, f"## ✅ promptci: {overall.NO_CHANGE}\n\nNothing was installed or scored.\n")
    print(f"promptci: {overall.NO_CHANGE}")
    if mode not in POSTING_MODES:
        return 0
    if _retire_comment(environ, payload):
        return _post(environ, payload, "error", f"1 GitHub request failed, re-run the job (pass: {overall.NO_CHANGE})")
    return _post(environ, payload, "success", overall.NO_CHANGE)


def touches(event: str, payload: dict) -> bool | None:
    """Whether the checked-out change may touch a prompt; None when this checkout cannot say."""
    try:
        base = _base(event, payload)
        if base is None:
            return None
        changed = _git("diff", "--name-only", "-z", "--no-renames", base, "HEAD").split("\0")
        return touches_prompts([p for p in changed if p])
    except (subprocess.CalledProcessError, OSError, KeyError, TypeError, AttributeError, UnicodeError):
        return None  # (a file name that is not UTF-8 included): the full run decides


def touches_prompts(changed: list[str], rev: str = "HEAD") -> bool:
    """Whether any of the changed paths is a prompt file, a subset file, or named in a prompt file at `rev`."""
    if any(p.endswith(SUBSET_SUFFIX) for p in changed):
        return True
    try:
        return bool(prompts_touched(changed, rev))
    except (OSError, UnicodeError):
        return True  # git could not tell, or named a file that is not UTF-8: the full run decides


def prompts_touched(changed: list[str], rev: str = "HEAD", cwd: str | None = None) -> list[str]:
    """The prompt files among the changed paths, and those at `rev` that name a changed path's file name (its
    pool, its subset): touches_prompts's rule, prompt by prompt."""
    found = {p for p in changed if p.endswith(PROMPT_SUFFIXES)}
    names = {posixpath.basename(p) for p in changed if not p.endswith(PROMPT_SUFFIXES)}
    # a subset file of the default name names no prompt: it is `<pool>.subset.yml` or `<prompt>.subset.yml`
    stems = {n[: -len(SUBSET_SUFFIX)] for n in names if n.endswith(SUBSET_SUFFIX)}
    wanted = sorted(names | {f"{s}." for s in stems})
    if stems:
        tree = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev], capture_output=True, text=True, cwd=cwd)
        if tree.returncode:
            raise OSError(f"git ls-tree failed: {tree.stderr.strip()}")
        found |= {
            p
            for p in tree.stdout.splitlines()
            for s in PROMPT_SUFFIXES
            if p.endswith(s) and posixpath.basename(p)[: -len(s)] in stems
        }
    if wanted:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as patterns:
            patterns.write("\n".join(wanted) + "\n")
            patterns.flush()
            listed = subprocess.run(
                ["git", "grep", "-l", "-F", "-f", patterns.name, rev, "--", *(f"*{s}" for s in PROMPT_SUFFIXES)],
                capture_output=True,
                text=True,
                cwd=cwd,
            )
        if listed.returncode not in (0, 1):
            raise OSError(f"git grep failed: {listed.stderr.strip()}")
        found |= {line.split(":", 1)[1] for line in listed.stdout.splitlines() if ":" in line}
    return sorted(found)


def status_sha(event: str, payload: dict) -> str:
    """The commit the `promptci` status belongs on in this event ('' when the event has none)."""
    try:
        if event == "pull_request":
            return str(payload["pull_request"]["head"]["sha"])
        if event == "merge_group":
            return str(payload["merge_group"]["head_sha"])
        if event == "workflow_run" and payload["workflow_run"].get("event") == "pull_request":
            return str(payload["workflow_run"]["head_sha"])
    except (KeyError, TypeError, AttributeError):
        pass
    return ""


def _base(event: str, payload: dict) -> str | None:
    """The commit the checked-out change is measured from, or None when this checkout cannot tell."""
    head = _git("rev-parse", "HEAD").strip()
    if event == "pull_request":
        pr = payload["pull_request"]
        parents = _git("rev-list", "--parents", "-n", "1", "HEAD").split()[1:]
        if len(parents) == 2 and parents[1] == pr["head"]["sha"]:
            return parents[0]  # the refs/pull/N/merge commit: its first parent is the base tip
        if head == pr["head"]["sha"]:
            return _git("merge-base", pr["base"]["sha"], head).strip()
        return None  # a merge commit of an earlier head: the full run says so
    if event == "merge_group":
        group = payload["merge_group"]
        if head == group["head_sha"]:
            _git("cat-file", "-e", f"{group['base_sha']}^{{commit}}")
            return str(group["base_sha"])  # the queue's head descends from its base: their diff is the change
    if event == "push" and head == payload["after"] and not payload.get("forced") and set(payload["before"]) != {"0"}:
        _git("cat-file", "-e", f"{payload['before']}^{{commit}}")  # absent from a shallow clone: the full run
        return str(payload["before"])  # (the warm job on the default branch: nothing to warm when no prompt changed)
    return None


def _plan_is_empty(plan: str) -> bool:
    """A merge job whose plan job planned no shard: the planner (the full rule) found no prompt changed."""
    try:
        return bool(plan) and json.loads(plan).get("include") == []
    except (ValueError, AttributeError):
        return False


class GitHubError(Exception):
    """GitHub refused or could not be reached, after retries."""


def _post(environ: Mapping[str, str], payload: dict, state: str, description: str) -> int:
    """Set the `promptci` status on this event's commit, retrying GitHub's faults; 3 when it cannot be set."""
    sha = status_sha(environ.get("GITHUB_EVENT_NAME", ""), payload)
    pr = payload.get("pull_request") or {}
    repo = _repo(environ, payload)
    if not sha or not _token(environ) or not repo:
        print(f"::warning title=promptci::no `{overall.CONTEXT}` status set: no commit, token or repository")
        return 0
    if pr and _from_fork(pr):
        print(f"::warning title=promptci: no status from a fork::{overall.FORK_UNBLOCK}")
        return 0
    body = {"state": state, "context": overall.CONTEXT, "description": description[:140]}
    run_id = environ.get("GITHUB_RUN_ID")
    if run_id:
        body["target_url"] = f"{environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{repo}/actions/runs/{run_id}"
    try:
        _api(environ, "POST", f"/repos/{repo}/statuses/{sha}", body)
    except GitHubError as exc:
        print(
            f"::error title=promptci::{exc} (the `{overall.CONTEXT}` status needs `statuses: write` in the job's "
            "permissions; re-run the job)"
        )
        return 3
    print(f"promptci: status `{overall.CONTEXT}` set to {state} on {sha[:12]}")
    _outputs(environ, {"status-set": "true"})  # a later step that would report a stopped run stays quiet
    return 0


def _fork_run(payload: dict) -> bool:
    """Whether the finished run of a `workflow_run` event was for a pull request from a fork (or from a deleted
    one): its head repository is not this repository."""
    run = payload.get("workflow_run") or {}
    head = (run.get("head_repository") or {}).get("full_name")
    return head != (payload.get("repository") or {}).get("full_name")


def _later_run_set(environ: Mapping[str, str], payload: dict) -> bool:
    """Whether the newest `promptci` status on this event's commit comes from a later run of the workflow (one
    that cancelled this run, say): a stopped run must not overwrite its verdict. Any doubt: False."""
    sha, repo = status_sha(environ.get("GITHUB_EVENT_NAME", ""), payload), _repo(environ, payload)
    if not sha or not repo or not _token(environ):
        return False
    try:
        statuses = _api(environ, "GET", f"/repos/{repo}/commits/{sha}/statuses?per_page=100")
        newest = next((s for s in statuses if s.get("context") == overall.CONTEXT), None)
    except (GitHubError, TypeError, AttributeError):
        return False
    found = re.search(r"/actions/runs/(\d+)", str((newest or {}).get("target_url") or ""))
    ours = environ.get("GITHUB_RUN_ID", "")
    if found and ours.isdigit() and int(found.group(1)) > int(ours):
        print(
            f"promptci: run {found.group(1)} set `{overall.CONTEXT}` on {sha[:12]} after this one started; "
            "it is left as it is"
        )
        return True
    return False


def _retire_comment(environ: Mapping[str, str], payload: dict) -> str:
    """A pull request that now touches no prompt: the bot's sticky comment, if an earlier push left one, says so
    instead of showing that push's verdict. '' when done or there is none; else what failed."""
    pr, repo = payload.get("pull_request") or {}, _repo(environ, payload)
    login = environ.get("IN_BOT_LOGIN") or overall.BOT_LOGIN
    if not pr.get("number") or not repo or not _token(environ) or _from_fork(pr):
        return ""
    try:
        for page in range(1, PAGES + 1):
            comments = _api(environ, "GET", f"/repos/{repo}/issues/{pr['number']}/comments?per_page=100&page={page}")
            mine = next(
                (
                    c
                    for c in comments
                    if overall.MARKER in (c.get("body") or "") and (c.get("user") or {}).get("login") == login
                ),
                None,
            )
            if mine is not None:
                sha = str((pr.get("head") or {}).get("sha", ""))[:12]
                body = (
                    f"{overall.MARKER}\n## ✅ promptci: {overall.NO_CHANGE}\n\nAt {sha} this pull request changes "
                    "no prompt file, pool or subset, so nothing is gated; the report of an earlier push no longer "
                    "applies.\n"
                )
                _api(environ, "PATCH", f"/repos/{repo}/issues/comments/{mine['id']}", {"body": body})
                print(f"promptci: the sticky comment now says that no prompt changed at {sha}")
                return ""
            if len(comments) < 100:
                return ""
    except (GitHubError, KeyError, TypeError, AttributeError) as exc:
        print(f"::error title=promptci::could not update the earlier report: {exc}")
        return str(exc)
    return ""


def _from_fork(pr: dict) -> bool:
    head = ((pr.get("head") or {}).get("repo") or {}).get("full_name")
    return head != ((pr.get("base") or {}).get("repo") or {}).get("full_name")


def _fork_post_unchanged(environ: Mapping[str, str], payload: dict) -> bool:
    """The trusted fork-post job got no results because the pull request's run found no prompt changed: true only
    when GitHub's own list of the pull request's files touches no prompt file of the pull request's base commit
    (as GitHub names it; the checkout holds every branch's history). The run's word is never taken: an untrusted
    run could skip anything."""
    results = environ.get("IN_RESULTS", "")
    run = payload.get("workflow_run") or {}
    if not results or any(Path(results).glob("*/results.json")) or run.get("event") != "pull_request":
        return False
    repo, head = _repo(environ, payload), str(run.get("head_sha", ""))
    try:
        numbers = [p["number"] for p in run.get("pull_requests") or []]
        if not numbers:  # a fork's run lists none: find the open pull request whose head is this commit
            owner = ((run.get("head_repository") or {}).get("owner") or {}).get("login", "")
            query = urllib.parse.urlencode({"head": f"{owner}:{run.get('head_branch', '')}", "state": "open"})
            numbers = [
                p["number"] for p in _api(environ, "GET", f"/repos/{repo}/pulls?{query}") if p["head"]["sha"] == head
            ]
        pull = _api(environ, "GET", f"/repos/{repo}/pulls/{numbers[0]}") if len(numbers) == 1 else {}
        if not pull or pull["head"]["sha"] != head:
            return False
        files = pull_request_files(environ, repo, numbers[0])
        return files is not None and not touches_prompts(files, rev=str(pull["base"]["sha"]))
    except (GitHubError, KeyError, TypeError, IndexError) as exc:
        print(f"::warning title=promptci::could not confirm that the pull request changes no prompt: {exc}")
        return False


def pull_request_files(environ: Mapping[str, str], repo: str, number: int) -> list[str] | None:
    """Every path GitHub lists as changed by pull request `number` (a rename's old path too); None past GitHub's
    3,000-file limit, where the list cannot be complete. Raises GitHubError."""
    entries = pull_request_file_entries(environ, repo, number)
    if entries is None:
        return None
    return [name for f in entries for name in (f["filename"], f.get("previous_filename")) if name]


def pull_request_file_entries(environ: Mapping[str, str], repo: str, number: int) -> list[dict] | None:
    """GitHub's entries for the files pull request `number` changes (`filename`, `status`: added, removed,
    modified, renamed..., `previous_filename`); None past the 3,000-file limit. Raises GitHubError."""
    entries: list[dict] = []
    for page in range(1, PAGES + 1):
        answer = _api(environ, "GET", f"/repos/{repo}/pulls/{number}/files?per_page=100&page={page}")
        entries += answer
        if len(answer) < 100:
            return entries
    return None


def _api(environ: Mapping[str, str], method: str, path: str, body: dict | None = None) -> Any:
    """One REST call, retried on 5xx, 429 and refused connections; its JSON answer."""
    url = f"{environ.get('GITHUB_API_URL', 'https://api.github.com').rstrip('/')}{path}"
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body else None,
        method=method,
        headers={
            "Authorization": f"Bearer {_token(environ)}",
            "Accept": "application/vnd.github+json, application/json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "promptci-precheck",
            "Content-Type": "application/json",
        },
    )
    reason = ""
    for attempt in range(RETRIES + 1):
        wait = min(2.0**attempt, 30.0)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            reason = f"{exc.code} {exc.reason}"
            if exc.code not in (429, 500, 502, 503, 504):
                break
            wait = float(exc.headers.get("retry-after") or wait)
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            reason = f"unreachable ({type(exc).__name__})"
        if attempt < RETRIES:
            time.sleep(wait)
    raise GitHubError(f"GitHub {method} {path.split('?')[0]}: {reason}")


def _token(environ: Mapping[str, str]) -> str:
    return environ.get("PROMPTCI_GITHUB_TOKEN") or environ.get("GITHUB_TOKEN") or ""


def _repo(environ: Mapping[str, str], payload: dict) -> str:
    return environ.get("GITHUB_REPOSITORY") or (payload.get("repository") or {}).get("full_name", "")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def _payload(environ: Mapping[str, str]) -> dict:
    try:
        with open(environ.get("GITHUB_EVENT_PATH", ""), encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _outputs(environ: Mapping[str, str], values: dict[str, str]) -> None:
    workflow.set_outputs(Path(environ["GITHUB_OUTPUT"]) if environ.get("GITHUB_OUTPUT") else None, values)


def _summary(environ: Mapping[str, str], markdown: str) -> None:
    workflow.write_summary(
        Path(environ["GITHUB_STEP_SUMMARY"]) if environ.get("GITHUB_STEP_SUMMARY") else None, markdown
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
