"""promptci as a required check on a real GitHub (docs/github.md): the one `promptci` status on every run that
reaches a verdict, the precheck that answers a change touching no prompt before anything is installed, the
merge queue's `merge_group` event. Real git repositories, GitHub's own webhook payloads and OpenAPI examples,
the octokit fixtures server checking each request in order; nothing reaches GitHub."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from promptci import demo, gitdiff
from promptci.files import prresults
from promptci.github import actions as gh_actions, overall, precheck, publish
from promptci.github.client import Client
from promptci.github.pulls import DESCRIPTION_LIMIT
from promptci.pullrequest import changes
from promptci.rendering.escape import flat

from . import github_tools as tools
from .helpers import ROOT, run_cli
from .test_gitdiff import HOSTILE_NAMES, add_hostile_names

HEAD_SHA = "a" * 40


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


def _no_prompt_results() -> prresults.PRResults:
    return prresults.PRResults.model_validate(
        {
            "format": prresults.FORMAT,
            "verdict": {"status": "pass", "reason": "no prompt file changed; nothing to gate"},
            "usage": {
                "calls": 0,
                "cache_hits": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "cost_usd": 0.0,
                "wall_s": 0.0,
                "budget": "",
            },
            "prompts": [],
        },
        strict=False,
    )


def _env(tmp_path: Path, payload: dict, event_name: str, api: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    return {
        **tools.actions_env(event, tmp_path, api=api, event_name=event_name),
        "GITHUB_REPOSITORY": payload["repository"]["full_name"],
    }  # no run id: the fixtures server would
    # rewrite a run URL in the expected body to its own address, so the status carries no target_url here


def _pull(number: int, head: str, base: str, base_ref: str = "main") -> dict:
    """GitHub's pull request (its OpenAPI example) at head commit `head`, into `base_ref` at commit `base`."""
    pull = tools.openapi_example("pull-request")
    return {
        **pull,
        "number": number,
        "head": {**pull["head"], "sha": head},
        "base": {**pull["base"], "sha": base, "ref": base_ref},
    }


def _status(repo: str, sha: str, state: str, description: str) -> dict:
    """The `promptci` status request, body and all."""
    body = {"state": state, "context": "promptci", "description": description}
    return tools.fixture("post", f"/repos/{repo}/statuses/{sha}", 201, tools.openapi_example("status"), body=body)


# ---- the overall status from a full run ---------------------------------------------------------------------


def test_every_verdict_sets_the_promptci_status_and_a_fault_never_leaves_it_green(tmp_path: Path) -> None:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    repo, number = payload["repository"]["full_name"], payload["number"]
    sha = payload["pull_request"]["head"]["sha"]
    comments = f"/repos/{repo}/issues/{number}/comments?per_page=100"
    down: dict[str, Any] = {"status": 502, "response": {"message": "Server Error"}}
    scenarios = {
        "fine": [
            tools.fixture("get", comments, 200, []),
            _status(repo, sha, "success", "pass: no prompt file changed; nothing to gate"),
        ],
        "comment-down": [
            tools.fixture("get", comments, **down),
            _status(
                repo,
                sha,
                "error",
                "error: 1 GitHub request failed, re-run the job (pass: no prompt file changed; nothing to gate)",
            ),
        ],
    }
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        for name in ("fine", "comment-down"):
            url = tools.load_scenario(server, name)
            run = gh_actions.from_environ(_env(tmp_path, payload, "pull_request", url))
            with Client(url, run.token, retries=0) as client:
                published = publish.publish(
                    _no_prompt_results(),
                    run,
                    client,
                    repo_dir=str(ROOT),
                    out_dir=tmp_path,
                    settings=publish.PublishSettings(),
                    stdout=io.StringIO(),
                )
            assert published.statuses == [sha] and tools.consumed(url), (name, published.faults)
            assert (len(published.faults) == 1) == (name == "comment-down")
    assert "status-set<<" in (tmp_path / "output").read_text()  # the action's crash step stays quiet


def test_a_neutral_verdict_is_success_that_says_not_gated_and_an_error_is_never_success() -> None:
    assert overall.STATE["neutral"] == "success" and overall.describe("neutral", "x").startswith("not gated")
    assert {overall.STATE[s] for s in ("fail", "undecided", "error")} == {"failure", "error"}


def test_a_merge_queue_gets_only_the_promptci_status_on_its_candidate(tmp_path: Path) -> None:
    payload = tools.webhook_example("merge_group", "checks_requested")
    repo, group = payload["repository"]["full_name"], payload["merge_group"]
    scenarios = {
        "queue": [_status(repo, group["head_sha"], "success", "pass: no prompt file changed; nothing to gate")]
    }
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        url = tools.load_scenario(server, "queue")
        run = gh_actions.from_environ(_env(tmp_path, payload, "merge_group", url))
        assert run.pr is None and run.group == gh_actions.MergeGroup(group["base_sha"], group["head_sha"])
        with Client(url, run.token, retries=0) as client:
            published = publish.publish(
                _no_prompt_results(),
                run,
                client,
                repo_dir=str(ROOT),
                out_dir=tmp_path,
                settings=publish.PublishSettings(),
                stdout=io.StringIO(),
            )
        assert published.statuses == [group["head_sha"]] and not published.comment_url and tools.consumed(url)


def test_a_merge_queue_needs_only_its_base_and_candidate_one_commit_deep_and_skips_the_optimizer(
    tmp_path: Path,
) -> None:
    """The workflows fetch a merge group's base commit and its candidate, each one commit deep (two
    actions/checkout steps into one clone), not the history: that is enough to find and read what changed. And a
    queue's run neither optimizes nor refreshes (nothing can be suggested or committed without a pull request)."""
    from promptci.flows import pull_request as flow

    origin = tmp_path / "origin"
    base, _ = demo.make_repo(origin)
    _merge_checkout(origin, "trim-examples")
    candidate = _git(origin, "rev-parse", "HEAD")  # main with the queued pull request merged
    _git(origin, "config", "uploadpack.allowAnySHA1InWant", "true")
    clone = tmp_path / "clone"
    clone.mkdir()
    _git(clone, "init", "-q")
    _git(clone, "remote", "add", "origin", origin.as_uri())
    for sha in (base, candidate):  # as actions/checkout does it: `git fetch --depth=1 origin <sha>`
        _git(clone, "fetch", "-q", "--no-tags", "--depth=1", "origin", sha)
    _git(clone, "checkout", "-q", "--detach", candidate)
    assert _git(clone, "rev-list", "--count", "HEAD") == "1"  # one commit deep: no history at all
    payload = copy.deepcopy(tools.webhook_example("merge_group", "checks_requested"))
    payload["merge_group"].update(base_sha=base, head_sha=candidate)
    proc = _precheck(clone, {**_env(tmp_path, payload, "merge_group", "http://127.0.0.1:9"), "IN_MODE": "pr"})
    assert proc.returncode == 0 and (tmp_path / "output").read_text().split("\n")[1] == "true", proc.stderr
    assert [c.path for c in changes.changed_prompts(str(clone), base, "HEAD")] == [demo.PROMPT]

    run = gh_actions.from_environ(_env(tmp_path, payload, "merge_group", "http://127.0.0.1:9"))
    request = flow.FlowRequest(out=tmp_path / "out", options=flow.Options())
    queued = flow.for_event(request, run).options
    assert (queued.optimize, queued.refresh) == (False, False) and request.options.optimize
    assert flow.for_event(request, None) is request  # outside a queue, nothing changes


# ---- the precheck: a change that touches no prompt, decided before any install -----------------------------


def test_the_precheck_suffixes_are_gitdiffs() -> None:
    assert precheck.PROMPT_SUFFIXES == gitdiff.PROMPT_SUFFIXES


def _branch(repo: Path, name: str, edit) -> None:
    _git(repo, "checkout", "-q", "-B", name, "main")
    edit(repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", name)


def test_the_precheck_never_skips_a_change_the_full_rule_counts(tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    pool = repo / "eval_sets" / "intent_recognition.jsonl"
    edits = {
        "pool": lambda r: pool.write_text(pool.read_text() + pool.read_text().splitlines()[0] + "\n"),
        "subset": lambda r: (r / "eval_sets" / "intent_recognition.subset.yml").write_text("# edited\n"),
        "notes": lambda r: (r / "eval_sets" / "NOTES.md").write_text("unrelated\n"),
        "code": lambda r: (r / "app.py").write_text("print('hi')\n"),
    }
    for name, edit in edits.items():
        _branch(repo, name, edit)
    monkeypatch.chdir(repo)
    for name in ["prompt", *edits]:  # the demo's own branch, trim-examples, edits the prompt
        head = "trim-examples" if name == "prompt" else name
        _git(repo, "checkout", "-q", head)
        changed = [d for d in _git(repo, "diff", "--name-only", "main", "HEAD").splitlines() if d]
        full = bool(changes.changed_prompts(str(repo), "main", "HEAD"))
        quick = precheck.touches_prompts(changed)
        assert quick or not full, f"{name}: the precheck would skip a change that touches a prompt"
        assert quick == (name in ("prompt", "pool", "subset")), name  # and skips the ones that touch none
        # prompt by prompt (the fork-post coverage check): a subset file of the default name, which the prompt
        # does not mention, belongs to the prompt whose pool it is named after
        touched = precheck.prompts_touched(changed)
        assert touched == ([] if name in ("notes", "code") else ["prompts/intent.prompt.yml"]), name


def _merge_checkout(repo: Path, head_branch: str) -> tuple[str, str]:
    """The `refs/pull/N/merge` commit actions/checkout makes: main merged with the branch, checked out detached."""
    head = _git(repo, "rev-parse", head_branch)
    _git(repo, "checkout", "-q", "--detach", "main")
    _git(repo, "merge", "-q", "--no-ff", "-m", "Merge", head)
    return _git(repo, "rev-parse", "main"), head


def _pull_request(base: str, head: str) -> dict:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    payload["pull_request"]["head"]["sha"] = head
    payload["pull_request"]["base"]["sha"] = base
    return payload


def _precheck(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "promptci.github.precheck", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
    )


def _comment(number: int, login: str, body: str) -> dict:
    comment = tools.openapi_example("issue-comment")
    return {**comment, "id": number, "body": body, "user": {**comment["user"], "login": login}}


def test_a_pull_request_that_changes_no_prompt_gets_the_status_and_no_stale_report(tmp_path: Path) -> None:
    """No prompt changed: `promptci` is success, and an earlier push's sticky comment (a "fail", say) is replaced
    by one saying that nothing is gated now; a comment someone else wrote with the marker is left alone."""
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _branch(repo, "docs", lambda r: (r / "NOTES.md").write_text("notes\n"))
    base, head = _merge_checkout(repo, "docs")
    payload = _pull_request(base, head)
    name, number = payload["repository"]["full_name"], payload["number"]
    comments = f"/repos/{name}/issues/{number}/comments?per_page=100&page=1"
    earlier = [
        _comment(7, "mallory", f"{overall.MARKER} planted"),
        _comment(8, "github-actions[bot]", f"{overall.MARKER}\n## ❌ promptci: fail"),
    ]
    retired = (
        f"{overall.MARKER}\n## ✅ promptci: {overall.NO_CHANGE}\n\nAt {head[:12]} this pull request changes no "
        "prompt file, pool or subset, so nothing is gated; the report of an earlier push no longer applies.\n"
    )
    scenarios = {
        "none": [tools.fixture("get", comments, 200, []), _status(name, head, "success", overall.NO_CHANGE)],
        "stale": [
            tools.fixture("get", comments, 200, earlier),
            tools.fixture(
                "patch",
                f"/repos/{name}/issues/comments/8",
                200,
                tools.openapi_example("issue-comment"),
                body={"body": retired},
            ),
            _status(name, head, "success", overall.NO_CHANGE),
        ],
        "crash": [_status(name, head, "error", overall.CRASHED)],
    }
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        for scenario in ("none", "stale"):
            url = tools.load_scenario(server, scenario)
            proc = _precheck(repo, {**_env(tmp_path, payload, "pull_request", url), "IN_MODE": "pr"})
            assert proc.returncode == 0 and tools.consumed(url), proc.stdout + proc.stderr  # exactly these requests
        output = (tmp_path / "output").read_text()
        assert "changed<<" in output and "\nfalse\n" in output and "\npass\n" in output
        assert "status-set<<" in output  # a later step that reports a stopped run stays quiet
        assert overall.NO_CHANGE in (tmp_path / "summary.md").read_text()

        url = tools.load_scenario(server, "crash")  # the gate step failed before it set the status
        proc = _precheck(repo, {**_env(tmp_path, payload, "pull_request", url), "IN_MODE": "pr"}, "crash")
        assert proc.returncode == 0 and tools.consumed(url), proc.stdout + proc.stderr


def test_a_stopped_run_sets_error_unless_a_later_run_has_set_the_status(tmp_path: Path) -> None:
    """The workflow's `mode: stopped` step (after a cancelled or timed-out job) sets `promptci` to error, but never
    over the status a later run of the workflow set on the same commit (the run that cancelled this one)."""
    payload = _pull_request("b" * 40, HEAD_SHA)
    name = payload["repository"]["full_name"]
    statuses = f"/repos/{name}/commits/{HEAD_SHA}/statuses?per_page=100"

    def by_run(run: int) -> dict:
        return {
            **tools.openapi_example("status"),
            "context": "promptci",
            "target_url": f"https://github.com/{name}/actions/runs/{run}",
        }

    scenarios = {
        "earlier": [
            tools.fixture("get", statuses, 200, [by_run(41)]),
            tools.fixture("post", f"/repos/{name}/statuses/{HEAD_SHA}", 201, tools.openapi_example("status")),
        ],
        "later": [tools.fixture("get", statuses, 200, [by_run(43)])],
    }
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        for scenario, posted in (("earlier", True), ("later", False)):
            url = tools.load_scenario(server, scenario)
            (tmp_path / "output").unlink(missing_ok=True)
            env = {**_env(tmp_path, payload, "pull_request", url), "IN_MODE": "stopped", "GITHUB_RUN_ID": "42"}
            proc = _precheck(tmp_path, env)
            assert proc.returncode == 0 and tools.consumed(url), proc.stdout + proc.stderr
            assert ("set to error" in proc.stdout) == posted and ("run 43 set" in proc.stdout) != posted, proc.stdout
            assert "changed<<" in (tmp_path / "output").read_text()  # nothing else of the action runs


def test_a_fork_in_the_recommended_setup_is_told_how_its_check_gets_set(tmp_path: Path) -> None:
    """With promptci.yml alone, a fork's run has a read-only token and cannot set `promptci`, so the required check
    stays expected, docs-only pull requests included: the run says so, and how to unblock it."""
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _branch(repo, "docs", lambda r: (r / "NOTES.md").write_text("notes\n"))
    base, head = _merge_checkout(repo, "docs")
    payload = _pull_request(base, head)
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    proc = _precheck(repo, {**_env(tmp_path, payload, "pull_request", "http://127.0.0.1:9"), "IN_MODE": "pr"})
    assert proc.returncode == 0 and "::warning title=promptci: no status from a fork::" in proc.stdout, proc.stdout
    assert "promptci-fork-post.yml" in proc.stdout and "git fetch origin pull/N/head" in proc.stdout
    assert "status-set<<" not in (tmp_path / "output").read_text()  # nothing was set, and nothing was sent


def test_a_prompt_change_or_a_checkout_the_precheck_cannot_read_goes_to_the_full_run(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, head = demo.make_repo(repo)
    _merge_checkout(repo, "trim-examples")
    nowhere = "http://127.0.0.1:9"  # no request may be made: nothing listens there
    for case, payload in (
        ("prompt", _pull_request(base, head)),
        ("stale merge", _pull_request(base, "f" * 40)),  # GitHub's merge of an earlier head
        ("push", {"repository": {"full_name": "o/r"}}),
    ):
        (tmp_path / "output").unlink(missing_ok=True)
        event = "push" if case == "push" else "pull_request"
        proc = _precheck(repo, {**_env(tmp_path, payload, event, nowhere), "IN_MODE": "pr"})
        assert proc.returncode == 0, case + proc.stderr
        assert (tmp_path / "output").read_text().split("\n")[1] == "true", case  # changed: the full run decides


def test_a_file_name_that_is_not_utf8_sends_the_precheck_to_the_full_run(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, _ = demo.make_repo(repo)
    _git(repo, "checkout", "-q", "trim-examples")
    add_hostile_names(repo)  # beside the prompt change: git names them in bytes the precheck must not choke on
    _, head = _merge_checkout(repo, "trim-examples")
    proc = _precheck(
        repo, {**_env(tmp_path, _pull_request(base, head), "pull_request", "http://127.0.0.1:9"), "IN_MODE": "pr"}
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "output").read_text().split("\n")[1] == "true"  # changed: the full run decides
    assert precheck.touches_prompts([HOSTILE_NAMES[1]]) is True  # fail safe, prompt by prompt too


def test_a_sharded_merge_job_whose_plan_is_empty_sets_the_status_without_installing(tmp_path: Path) -> None:
    payload = _pull_request("b" * 40, HEAD_SHA)
    name = payload["repository"]["full_name"]
    comments = tools.fixture("get", f"/repos/{name}/issues/{payload['number']}/comments?per_page=100&page=1", 200, [])
    with tools.fixtures_server(
        tmp_path / "scenarios", {"s": [comments, _status(name, HEAD_SHA, "success", overall.NO_CHANGE)]}
    ) as server:
        url = tools.load_scenario(server, "s")
        env = {**_env(tmp_path, payload, "pull_request", url), "IN_MODE": "merge", "IN_PLAN": '{"include":[]}'}
        proc = _precheck(tmp_path, env)
        assert proc.returncode == 0 and tools.consumed(url), proc.stdout + proc.stderr


@pytest.mark.parametrize("mode", ["plan", "shard"])
def test_plan_and_shard_jobs_decide_but_never_post(tmp_path: Path, mode: str) -> None:
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _branch(repo, "docs", lambda r: (r / "NOTES.md").write_text("notes\n"))
    base, head = _merge_checkout(repo, "docs")
    proc = _precheck(
        repo, {**_env(tmp_path, _pull_request(base, head), "pull_request", "http://127.0.0.1:9"), "IN_MODE": mode}
    )
    output = (tmp_path / "output").read_text()
    assert proc.returncode == 0 and "shards<<" in output and '{"include": []}' in output, proc.stderr


# ---- under act: the whole workflow on a pull request that changes no prompt --------------------------------


def test_a_pull_request_without_prompt_changes_gets_only_the_promptci_status_under_act(tmp_path: Path) -> None:
    """The shipped workflow, run by the real `act` runner: the precheck answers before the install step, and its
    requests to GitHub are the list of comments (no earlier report to retire) and the `promptci` status (its time
    is measured in docs/github.md, not asserted)."""
    from .test_action import WORKFLOW, _act, _event, _promptci, _workflow, no_artifacts

    repo = tmp_path / "repo"
    repo.mkdir()
    _promptci(repo)
    _workflow(WORKFLOW, repo, no_artifacts)
    demo.make_repo(repo)
    _branch(repo, "docs", lambda r: (r / "NOTES.md").write_text("no prompt here\n"))
    base, head = _git(repo, "rev-parse", "main"), _git(repo, "rev-parse", "docs")
    subprocess.run(
        ["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=repo, check=True
    )
    event, payload = _event(tmp_path, base, head, "docs")
    name, number = payload["repository"]["full_name"], payload["number"]
    status = tools.fixture(
        "post", f"/repos/{name}/statuses/{head}", 201, tools.openapi_example("status")
    )  # (its body names the run's URL, which the server rewrites)
    comments = tools.fixture("get", f"/repos/{name}/issues/{number}/comments?per_page=100&page=1", 200, [])
    with tools.fixtures_server(tmp_path / "scenarios", {"none": [comments, status]}) as url:
        api = tools.load_scenario(url, "none")
        proc, _records, messages = _act(repo, event, api, tmp_path / "home")
        assert proc.returncode == 0, messages[-4000:] + proc.stderr[-2000:]
        assert f"status `promptci` set to success on {head[:12]}" in messages, messages[-4000:]
        assert "Install promptci" not in messages.replace("Did any prompt change?", ""), messages[-4000:]
        assert tools.consumed(api)  # exactly these two requests


def test_the_fork_post_job_sets_the_status_only_when_githubs_file_list_shows_no_prompt(tmp_path: Path) -> None:
    # the fork's run found nothing to score and uploaded nothing; its word is not taken: GitHub's list of the
    # pull request's files is judged against the prompt files of the trusted checkout (the default branch)
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _git(repo, "checkout", "-q", "main")
    head = "c" * 40
    run_event = tools.fork_run_event(head, "docs")
    owner = run_event["workflow_run"]["head_repository"]["owner"]["login"]
    name = run_event["repository"]["full_name"]
    opened = _pull(5, head, _git(repo, "rev-parse", "main"))
    files = tools.openapi_example("diff-entry-items")

    def flow(changed: list[str]) -> list[dict]:
        listed = [{**files[0], "filename": path} for path in changed]
        return [
            tools.fixture("get", f"/repos/{name}/pulls?head={owner}%3Adocs&state=open", 200, [opened]),
            tools.fixture("get", f"/repos/{name}/pulls/5", 200, opened),
            tools.fixture("get", f"/repos/{name}/pulls/5/files?per_page=100&page=1", 200, listed),
        ]

    scenarios = {
        "docs": flow(["NOTES.md"]) + [_status(name, head, "success", overall.NO_CHANGE)],
        "pool": flow(["NOTES.md", "eval_sets/intent_recognition.jsonl"]),
    }
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        for scenario, changed in (("docs", "false"), ("pool", "true")):
            (tmp_path / "output").unlink(missing_ok=True)
            url = tools.load_scenario(server, scenario)
            env = {
                **_env(tmp_path, run_event, "workflow_run", url),
                "IN_MODE": "merge",
                "IN_RESULTS": str(tmp_path / "no-artifact"),
            }
            proc = _precheck(repo, env)
            assert proc.returncode == 0 and tools.consumed(url), proc.stdout + proc.stderr
            assert (tmp_path / "output").read_text().split("\n")[1] == changed, scenario


def test_the_fork_post_job_acts_only_on_pull_requests_from_forks(tmp_path: Path) -> None:
    """A same-repository pull request is gated by promptci.yml, whose verdict the fork-safe post job (finishing
    later) must never overwrite: the action's first step ends the job without a request, and `report` run there
    posts nothing (the same pull request's run as a fork's is acted on, as the tests above show)."""
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _git(repo, "checkout", "-q", "main")
    same = copy.deepcopy(tools.webhook_example("workflow_run", "completed"))
    same["workflow_run"].update(event="pull_request", head_sha=HEAD_SHA, head_branch="change", pull_requests=[])
    assert same["workflow_run"]["head_repository"]["full_name"] == same["repository"]["full_name"]
    nowhere = "http://127.0.0.1:9"  # nothing listens there: any request would fail (after retries), and say so
    env = {
        **_env(tmp_path, same, "workflow_run", nowhere),
        "IN_MODE": "merge",
        "IN_RESULTS": str(tmp_path / "no-artifact"),
    }
    proc = _precheck(repo, env)
    assert proc.returncode == 0 and precheck.SAME_REPOSITORY in proc.stdout and "::" not in proc.stdout, proc.stdout
    assert (tmp_path / "output").read_text().split("\n")[1] == "false"  # nothing else of the action runs

    upload = tmp_path / "results" / "run"
    upload.mkdir(parents=True)
    forged = _forgeries()["deleted"]  # what a pass the post job would have posted looks like
    forged["pull_request"]["head_sha"] = HEAD_SHA
    (upload / "results.json").write_text(json.dumps(forged))
    proc = run_cli("report", "--github", "--repo", str(repo), str(upload), env=env)
    assert "GitHub" not in proc.stderr and "unreachable" not in proc.stdout, proc.stdout + proc.stderr
    assert "reports only on pull requests from forks" in (tmp_path / "summary.md").read_text()


def test_a_fork_upload_that_leaves_out_a_changed_prompt_fails_the_check(tmp_path: Path) -> None:
    # the fork's run uploads results that claim no prompt changed (or fewer than changed): the post job takes the
    # set of prompts from GitHub's list of the pull request's files, judged on the trusted checkout (main)
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _git(repo, "checkout", "-q", "main")
    head, number = "c" * 40, 5
    upload = tmp_path / "results" / "run"
    upload.mkdir(parents=True)
    claimed = _no_prompt_results().model_copy(
        update={"pull_request": prresults.PullRequestRef(number=number, head_sha=head)}
    )
    (upload / "results.json").write_text(prresults.dump(claimed))
    run_event = tools.fork_run_event(head, "change")
    name = run_event["repository"]["full_name"]
    entry = tools.openapi_example("diff-entry-items")[0]
    main = _git(repo, "rev-parse", "main")

    def flow(changed: list[str], state: str, description: str) -> list[dict]:
        listed = [{**entry, "filename": path, "previous_filename": None} for path in changed]
        return [
            tools.fixture("get", f"/repos/{name}/pulls/{number}", 200, _pull(number, head, main)),
            tools.fixture("get", f"/repos/{name}/pulls/{number}/files?per_page=100&page=1", 200, listed),
            tools.fixture("get", f"/repos/{name}/issues/{number}/comments?per_page=100", 200, []),
            _status(name, head, state, description),
        ]

    omitted = "results do not cover {} changed by the pull request: re-run"
    scenarios = {
        "prompt": flow(
            ["NOTES.md", "prompts/x.prompt.yml"],
            "failure",
            overall.describe("fail", omitted.format("prompts/x.prompt.yml")),
        ),
        "pool": flow(
            ["eval_sets/intent_recognition.jsonl"], "failure", overall.describe("fail", omitted.format(demo.PROMPT))
        ),
        "complete": flow(["NOTES.md"], "success", overall.describe("pass", claimed.verdict.reason)),
        "unlisted": flow([], "", "")[:1]
        + [
            tools.fixture(
                "get", f"/repos/{name}/pulls/{number}/files?per_page=100&page=1", 404, {"message": "Not Found"}
            )
        ],
    }
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        for scenario, code in (("prompt", 1), ("pool", 1), ("complete", 0), ("unlisted", 3)):
            url = tools.load_scenario(server, scenario)
            (tmp_path / "output").unlink(missing_ok=True)
            (tmp_path / "event.json").write_text(json.dumps(run_event))
            env = {
                **tools.actions_env(
                    tmp_path / "event.json", tmp_path, api=url, event_name="workflow_run", token="ghs_write"
                ),
                "GITHUB_REPOSITORY": name,
            }
            proc = run_cli(
                "report",
                "--github",
                "--repo",
                str(repo),
                "--no-commit-subsets",
                "--no-suggestions",
                str(upload),
                env=env,
            )
            assert proc.returncode == code and tools.consumed(url), scenario + proc.stdout[-3000:] + proc.stderr
            if code == 3:  # no file list, nothing posted: the action's crash step sets `error`
                assert "file list is needed" in proc.stderr and not (tmp_path / "output").exists(), proc.stderr
                continue
            lines = (tmp_path / "output").read_text().split("\n")
            verdict = lines[next(i for i, line in enumerate(lines) if line.startswith("verdict<<")) + 1]
            assert verdict == ("fail" if code else "pass"), scenario  # the step output agrees with the status


def test_the_fork_post_job_judges_coverage_against_the_pull_requests_base_branch(tmp_path: Path) -> None:
    """A fork's pull request into `release` that changes a pool only `release`'s prompt uses: the post job runs from
    the default branch, which has no such prompt, but the prompts to cover are those of the pull request's base
    commit as GitHub names it. A forged "no prompt changed" (an upload, or none) is then a failure, not a pass."""
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _branch(
        repo,
        "release",
        lambda r: [
            (r / "prompts" / "rel.prompt.yml").write_text("name: rel\npromptci:\n  pool: ../eval_sets/rel.jsonl\n"),
            (r / "eval_sets" / "rel.jsonl").write_text("{}\n"),
        ],
    )
    release = _git(repo, "rev-parse", "release")
    _git(repo, "checkout", "-q", "main")  # the post job's checkout: the default branch (with every branch's history)
    head, number = "c" * 40, 5
    run_event = tools.fork_run_event(head, "change")
    name = run_event["repository"]["full_name"]
    listed = [
        {**tools.openapi_example("diff-entry-items")[0], "filename": "eval_sets/rel.jsonl", "previous_filename": None}
    ]
    pull = [
        tools.fixture("get", f"/repos/{name}/pulls/{number}", 200, _pull(number, head, release, "release")),
        tools.fixture("get", f"/repos/{name}/pulls/{number}/files?per_page=100&page=1", 200, listed),
    ]
    opened = _pull(number, head, release, "release")
    owner = run_event["workflow_run"]["head_repository"]["owner"]["login"]
    why = overall.describe("fail", "results do not cover prompts/rel.prompt.yml changed by the pull request: re-run")
    scenarios = {
        "upload": pull
        + [
            tools.fixture("get", f"/repos/{name}/issues/{number}/comments?per_page=100", 200, []),
            _status(name, head, "failure", flat(why, DESCRIPTION_LIMIT)),
        ],
        "none": [tools.fixture("get", f"/repos/{name}/pulls?head={owner}%3Achange&state=open", 200, [opened]), *pull],
    }
    upload = tmp_path / "results" / "run"
    upload.mkdir(parents=True)
    claimed = _no_prompt_results().model_copy(
        update={"pull_request": prresults.PullRequestRef(number=number, head_sha=head)}
    )
    (upload / "results.json").write_text(prresults.dump(claimed))
    (tmp_path / "event.json").write_text(json.dumps(run_event))
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        url = tools.load_scenario(server, "upload")
        env = {
            **tools.actions_env(
                tmp_path / "event.json", tmp_path, api=url, event_name="workflow_run", token="ghs_write"
            ),
            "GITHUB_REPOSITORY": name,
        }
        proc = run_cli(
            "report", "--github", "--repo", str(repo), "--no-commit-subsets", "--no-suggestions", str(upload), env=env
        )
        assert proc.returncode == 1 and tools.consumed(url), proc.stdout[-3000:] + proc.stderr

        url = tools.load_scenario(server, "none")  # no upload at all: the first step must not say "no change"
        (tmp_path / "output").unlink(missing_ok=True)
        env = {
            **_env(tmp_path, run_event, "workflow_run", url),
            "IN_MODE": "merge",
            "IN_RESULTS": str(tmp_path / "no-artifact"),
        }
        proc = _precheck(repo, env)
        assert proc.returncode == 0 and tools.consumed(url), proc.stdout + proc.stderr
        assert (tmp_path / "output").read_text().split("\n")[1] == "true"  # the full run, which fails closed


def test_the_shipped_workflows_run_on_every_pull_request_and_on_merge_groups() -> None:
    import yaml

    restores: list[dict] = []
    saves: list[dict] = []
    warm_restores: list[dict] = []
    warm_saves: list[dict] = []
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        flow = yaml.safe_load(path.read_text())
        on = flow[True]  # YAML 1.1 reads the key `on` as true
        if "pull_request" in on:
            assert not (on["pull_request"] or {}).get("paths"), f"{path.name}: a paths filter leaves the check pending"
            if path.name != "promptci-fork-run.yml":  # (a fork pair's post job sets the status)
                assert "merge_group" in on, f"{path.name}: a merge queue would wait for ever"
        for job in flow["jobs"].values():
            for step in job.get("steps", []):
                uses = step.get("uses", "")
                assert not uses.startswith("actions/cache@"), f"{path.name}: saves only when the job succeeds"
                warm = "promptci-warm-" in step.get("with", {}).get("key", "")  # the warm store (files/warmbase.py)
                if uses.startswith("actions/cache/restore@"):
                    (warm_restores if warm else restores).append(step["with"])
                if uses.startswith("actions/cache/save@"):
                    (warm_saves if warm else saves).append(step["with"])
                    assert not warm or path.name == "promptci-warm.yml", (
                        f"{path.name}: only the default branch saves it"
                    )
                    assert step["if"].startswith("always() && steps.promptci.outputs.changed == 'true'"), path.name
                if uses.startswith("actions/upload-artifact@"):  # a re-run of a job is the same run: a name
                    assert step["with"]["overwrite"] is True, path.name  # it uploaded before would fail it
                if "actions/checkout" in uses:  # never the whole history: see the merge queue test below
                    assert str(step["with"].get("fetch-depth")) != "0" or "fork-post" in path.name, path.name
            gates = [
                s
                for s in job.get("steps", [])
                if s.get("uses") == "./" and s.get("with", {}).get("mode") not in ("stopped", "warm")
            ]
            if gates and "merge_group" in on:  # the queue's base commit, one deep, then its candidate
                assert any(
                    s.get("with", {}).get("ref") == "${{ github.event.merge_group.base_sha }}"
                    and s["with"]["fetch-depth"] == 1
                    for s in job["steps"]
                ), path.name
    assert restores and len(restores) == len(saves)
    prefix = "promptci-calls-${{ runner.os }}-"
    paths = {w["path"] for w in restores + saves}
    assert len(paths) == 1 and "/models" not in paths.pop()  # one cache version everywhere; no model weights
    assert all(w["restore-keys"] == prefix and w["key"].startswith(prefix + "${{ github.run_id }}") for w in restores)
    assert [w["key"] for w in restores] == [w["key"] for w in saves]  # each run saves what it restored under a new key
    assert len(warm_restores) == 3 and len(warm_saves) == 1  # every gating workflow reads it; the warm job writes it
    assert {w["path"] for w in warm_restores + warm_saves} == {"${{ runner.temp }}/promptci-cache/warm"}
    assert all(w["restore-keys"] == "promptci-warm-${{ runner.os }}-" for w in warm_restores)


def _forgeries() -> dict[str, dict]:
    """The reviewer's forged uploads (a fork's run writes results.json, so every byte is its author's), each of a
    head that is wrong on 30 of 40 items: told honestly, a failure."""
    from .test_prresults import results

    honest = results(n=40, flips=30)
    forged = {"honest": honest}
    deleted = copy.deepcopy(honest)
    deleted["prompts"][0]["change"]["new_text"] = None  # "deleted, nothing to score": a pass
    forged["deleted"] = deleted
    empty = copy.deepcopy(honest)
    empty["prompts"][0].update(
        items=[], base={}, head={}, subset_items=0, verdict={"status": "neutral", "reason": "no items"}
    )
    forged["no items"] = empty  # neutral: `success` by commit statuses' lights
    ghost = copy.deepcopy(honest)
    ghost["prompts"][0]["path"] = "ghost.prompt.yml"  # no base gate found for it: its own loose one kept
    ghost["prompts"][0]["gate"].update(margin=1.0, min_score=0.0, on_inconclusive="pass")
    forged["ghost path"] = ghost
    other = copy.deepcopy(honest)  # one "renamed away" entry for b covers b; a's entry says a pass
    other["prompts"].append(copy.deepcopy(other["prompts"][0]))
    other["prompts"][1].update(path="prompts/b.prompt.yml")
    other["prompts"][1]["change"].update(
        status="renamed", old_path="prompts/b.prompt.yml", new_path=None, new_text=None
    )
    other["prompts"][0].update(
        items=[], base={}, head={}, subset_items=0, verdict={"status": "neutral", "reason": "no items"}
    )
    forged["old path"] = other
    for data in forged.values():
        data["pull_request"] = {"number": 5, "head_sha": "c" * 40}
    return forged


def test_a_forks_upload_never_passes_the_check(tmp_path: Path) -> None:
    """Forged results from a fork's run: a false claim GitHub's file list contradicts is a failure; what only
    the untrusted scores say is a pass (or not gated) leaves `promptci` pending, "needs a trusted run"."""
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    _git(repo, "checkout", "-q", "main")
    head, number = "c" * 40, 5
    run_event = tools.fork_run_event(head, "change")
    name = run_event["repository"]["full_name"]
    entry = tools.openapi_example("diff-entry-items")[0]
    main = _git(repo, "rev-parse", "main")

    def listed(data: dict) -> list[dict]:  # GitHub's word: the prompts the upload covers, each modified
        return [
            {**entry, "filename": f"prompts/{k}.prompt.yml", "status": "modified", "previous_filename": None}
            for k in "ab"[: len(data["prompts"])]
        ]

    reason = "results call prompts/{}.prompt.yml deleted, which the pull request does not remove: re-run"
    expected = {  # the `promptci` status each upload ends in
        "honest": ("failure", None),
        "deleted": ("failure", reason.format("a")),
        "no items": ("pending", None),
        "ghost path": ("failure", "results file ghost.prompt.yml under another path than its change's: re-run"),
        "old path": ("failure", reason.format("b")),
    }
    where = f"/repos/{name}"
    scenarios = {}
    for key, data in _forgeries().items():
        state, why = expected[key]
        verdict = prresults.recompute(prresults.parse(data)).verdict
        description = (
            overall.state(verdict.status, verdict.reason, trusted=False)[1]
            if why is None
            else overall.describe("fail", why)
        )
        scenarios[key.replace(" ", "-")] = [
            tools.fixture("get", f"{where}/pulls/{number}", 200, _pull(number, head, main)),
            tools.fixture("get", f"{where}/pulls/{number}/files?per_page=100&page=1", 200, listed(data)),
            tools.fixture("get", f"{where}/issues/{number}/comments?per_page=100", 200, []),
            tools.fixture("post", f"{where}/issues/{number}/comments", 201, tools.openapi_example("issue-comment")),
            *[tools.fixture("post", f"{where}/statuses/{head}", 201, tools.openapi_example("status"))]
            * len(data["prompts"]),
            _status(name, head, state, flat(description, DESCRIPTION_LIMIT)),
        ]
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as server:
        for key, data in _forgeries().items():
            upload = tmp_path / key.replace(" ", "-") / "run"
            upload.mkdir(parents=True)
            (upload / "results.json").write_text(json.dumps(data))
            url = tools.load_scenario(server, key.replace(" ", "-"))
            (tmp_path / "event.json").write_text(json.dumps(run_event))
            env = {
                **tools.actions_env(
                    tmp_path / "event.json", tmp_path, api=url, event_name="workflow_run", token="ghs_write"
                ),
                "GITHUB_REPOSITORY": name,
            }
            proc = run_cli(
                "report",
                "--github",
                "--repo",
                str(repo),
                "--no-commit-subsets",
                "--no-suggestions",
                str(upload),
                env=env,
            )
            assert tools.consumed(url), key + proc.stdout[-3000:] + proc.stderr  # the status body matched
            assert proc.returncode == (0 if expected[key][0] == "pending" else 1), key + proc.stderr
    assert expected["no items"][0] != overall.STATE["neutral"]  # what the forgery was after


def test_results_for_another_commit_are_refused_in_the_fork_post_job(tmp_path: Path) -> None:
    data = _forgeries()["honest"]
    data["pull_request"]["head_sha"] = "d" * 40  # an older run's upload, replayed
    run_event = tools.fork_run_event("c" * 40, "change")
    upload = tmp_path / "results" / "run"
    upload.mkdir(parents=True)
    (upload / "results.json").write_text(json.dumps(data))
    (tmp_path / "event.json").write_text(json.dumps(run_event))
    env = tools.actions_env(tmp_path / "event.json", tmp_path, api="http://127.0.0.1:9", event_name="workflow_run")
    proc = run_cli("report", "--github", "--repo", str(ROOT), str(upload), env=env)
    assert proc.returncode == 2 and "pull_request.head_sha" in proc.stderr and "not cccccccccccc" in proc.stderr, (
        proc.stderr
    )
