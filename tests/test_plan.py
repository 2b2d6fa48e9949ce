"""Sharding a pull request over the Actions matrix: `promptci plan`, `pr --shard`, and the merge in
`promptci report`, on a real git repository with the embedded model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from promptci.gitdiff import Change
from promptci.plan import matrix, plan

from .helpers import run_cli

PROMPT = """name: {name}
model: local/gemma-3-270m
modelParameters: {{maxTokens: 4}}
messages:
  - role: user
    content: "{body} {{{{input}}}} ="
testData:
{items}
"""


def _prompt(name: str, body: str, n: int) -> str:
    items = "\n".join(f"  - {{input: '{k} + {k}', expected: '{2 * k}'}}" for k in range(n))
    return PROMPT.format(name=name, body=body, items=items)


def _change(path: str, text: str) -> Change:
    return Change(status="modified", old_path=path, new_path=path, old_text=text, new_text=text, reason="test")


def test_shards_balance_pool_sizes_and_the_plan_is_stable(tmp_path: Path) -> None:
    sizes = {"a": 9, "b": 5, "c": 4, "d": 1, "e": 1}
    changes = [_change(f"prompts/{k}.prompt.yml", _prompt(k, "Sum:", n)) for k, n in sizes.items()]
    shards = plan(changes, tmp_path, max_shards=2)
    assert sorted(s.items for s in shards) == [10, 10]  # 9+1 and 5+4+1
    assert sorted(p for s in shards for p in s.prompts) == sorted(c.path for c in changes)
    assert plan(list(reversed(changes)), tmp_path, max_shards=2) == shards  # order of the diff does not matter
    assert [len(s.prompts) for s in plan(changes, tmp_path, max_shards=10)] == [1] * 5  # one per prompt
    assert matrix(shards)["include"][0]["shard"] == "1"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True,
                   capture_output=True)


def test_two_shards_run_apart_and_merge_into_one_report(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    for name, n in (("a", 4), ("b", 3), ("c", 2)):
        (repo / "prompts" / f"{name}.prompt.yml").write_text(_prompt(name, "Sum:", n))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "change")
    for name, n in (("a", 4), ("b", 3), ("c", 2)):
        (repo / "prompts" / f"{name}.prompt.yml").write_text(_prompt(name, "What is", n))
    _git(repo, "commit", "-qam", "reword")

    proc = run_cli("plan", "--base", "main", "--repo", str(repo), "--max-shards", "2")
    assert proc.returncode == 0, proc.stderr
    include = json.loads(proc.stdout)["include"]
    assert [row["shard"] for row in include] == ["1", "2"] and {row["items"] for row in include} == {4, 5}
    outs = []
    for row in include:
        out = tmp_path / f"shard-{row['shard']}"
        proc = run_cli("pr", "--base", "main", "--repo", str(repo), "--shard", row["shard"], "--max-shards", "2",
                       "--out", str(out), "--no-optimize", "--no-refresh")
        assert proc.returncode in (0, 1), proc.stderr
        shard_paths = [p["path"] for p in json.loads((out / "results.json").read_text())["prompts"]]
        assert " ".join(shard_paths) == row["prompts"]
        outs.append(str(out))
    merged = run_cli("report", *outs, "--format", "terminal")
    assert merged.returncode in (0, 1) and all(f"prompts/{n}.prompt.yml" in merged.stdout for n in "abc")
    wrong = run_cli("pr", "--base", "main", "--repo", str(repo), "--shard", "7", "--max-shards", "2")
    assert wrong.returncode == 2 and "no shard '7' in a plan of 2" in wrong.stderr


def test_the_merge_job_posts_one_comment_and_a_status_per_prompt(tmp_path: Path) -> None:
    from . import github_tools as tools

    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    for name in "ab":
        (repo / "prompts" / f"{name}.prompt.yml").write_text(_prompt(name, "Sum:", 2))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "change")
    for name in "ab":
        (repo / "prompts" / f"{name}.prompt.yml").write_text(_prompt(name, "What is", 2))
    _git(repo, "commit", "-qam", "reword")
    outs = []
    for shard in ("1", "2"):
        out = tmp_path / f"shard-{shard}"
        proc = run_cli("pr", "--base", "main", "--repo", str(repo), "--shard", shard, "--max-shards", "2",
                       "--out", str(out), "--no-optimize", "--no-refresh")
        assert proc.returncode in (0, 1), proc.stderr
        outs.append(str(out))

    payload = tools.webhook_example("pull_request", "synchronize")
    where, number, sha = f"/repos/{payload['repository']['full_name']}", payload["number"], payload["pull_request"][
        "head"]["sha"]
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()

    def fixture(method: str, path: str, status: int, response) -> dict:
        return {"scope": "https://api.github.com:443", "method": method, "path": path, "status": status,
                "response": response, "reqheaders": {}, "headers": {"content-type": "application/json"}}

    (scenarios / "merge.json").write_text(json.dumps([
        fixture("get", f"{where}/issues/{number}/comments?per_page=100", 200, []),
        fixture("post", f"{where}/issues/{number}/comments", 201, tools.openapi_example("issue-comment")),
        fixture("post", f"{where}/statuses/{sha}", 201, tools.openapi_example("status")),
        fixture("post", f"{where}/statuses/{sha}", 201, tools.openapi_example("status")),
    ]))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    server = tools.start_fixtures_server(scenarios, recorded=())
    url = next(server)
    try:
        api = tools.load_scenario(url, "merge")
        env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
               "GITHUB_API_URL": api, "GITHUB_TOKEN": "ghs_test", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
               "GITHUB_OUTPUT": str(tmp_path / "output")}
        proc = run_cli("report", *outs, "--github", "--repo", str(repo), env=env)
        assert proc.returncode in (0, 1), proc.stderr
        assert tools.consumed(api)  # one comment for both shards, then one status per prompt
        summary = (tmp_path / "summary.md").read_text()
        assert "prompts/a.prompt.yml" in summary and "prompts/b.prompt.yml" in summary
    finally:
        server.close()


def test_github_failing_for_good_still_leaves_the_summary_and_exits_3(tmp_path: Path) -> None:
    from . import github_tools as tools

    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "prompts" / "a.prompt.yml").write_text(_prompt("a", "Sum:", 3))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "change")
    (repo / "prompts" / "a.prompt.yml").write_text(_prompt("a", "What is", 3))
    _git(repo, "commit", "-qam", "reword")
    out = tmp_path / "out"
    proc = run_cli("pr", "--base", "main", "--repo", str(repo), "--out", str(out), "--no-optimize", "--no-refresh")
    assert proc.returncode == 0, proc.stderr  # 3 items cannot show a significant drop: the gate passes

    payload = tools.webhook_example("pull_request", "synchronize")
    where, number = f"/repos/{payload['repository']['full_name']}", payload["number"]
    sha = payload["pull_request"]["head"]["sha"]
    down = {"scope": "https://api.github.com:443", "status": 502, "response": {"message": "Server Error"},
            "reqheaders": {}, "headers": {"content-type": "application/json", "retry-after": "0"}}
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "down.json").write_text(json.dumps(
        [{**down, "method": "get", "path": f"{where}/issues/{number}/comments?per_page=100"}] * 5
        + [{**down, "method": "post", "path": f"{where}/statuses/{sha}"}] * 5))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    server = tools.start_fixtures_server(scenarios, recorded=())
    url = next(server)
    try:
        api = tools.load_scenario(url, "down")
        env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
               "GITHUB_API_URL": api, "GITHUB_TOKEN": "ghs_test", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
               "GITHUB_OUTPUT": str(tmp_path / "output")}
        proc = run_cli("report", str(out), "--github", "--repo", str(repo), env=env)
        assert tools.consumed(api)  # each call tried 5 times (4 retries), then given up
    finally:
        server.close()
    assert proc.returncode == 3 and "GitHub requests failed" in proc.stderr
    assert "::error title=promptci%3A GitHub refused a request::GitHub GET" in proc.stdout
    assert "prompts/a.prompt.yml" in (tmp_path / "summary.md").read_text()  # the report is not lost
    assert "verdict<<" in (tmp_path / "output").read_text() and (out / "results.json").exists()


def test_the_fork_safe_pattern_posts_results_only_on_the_pull_request_github_confirms(tmp_path: Path) -> None:
    import copy

    import jsonschema

    from . import github_tools as tools

    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "prompts" / "a.prompt.yml").write_text(_prompt("a", "Sum:", 3))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    _git(repo, "checkout", "-qb", "change")
    (repo / "prompts" / "a.prompt.yml").write_text(_prompt("a", "What is", 3))
    _git(repo, "commit", "-qam", "reword")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()

    # part 1: the pull_request run (read-only, from a fork) scores and writes results naming its pull request
    pr_event = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    pr_event["pull_request"]["head"].update(sha=head, ref="change")
    pr_event["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    pr_event["pull_request"]["base"].update(sha=base, ref="main")
    (tmp_path / "pr.json").write_text(json.dumps(pr_event))
    out = tmp_path / "results" / "run"
    run_env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
               "GITHUB_EVENT_PATH": str(tmp_path / "pr.json"), "GITHUB_TOKEN": "ghs_read_only"}
    proc = run_cli("pr", "--github", "--repo", str(repo), "--shard", "1", "--max-shards", "1", "--out", str(out),
                   "--no-optimize", "--no-refresh", env=run_env)
    assert proc.returncode == 0, proc.stderr
    number = pr_event["number"]
    assert json.loads((out / "results.json").read_text())["pull_request"] == {"number": number, "head_sha": head}

    # part 2: the trusted workflow_run job, from GitHub's own payload (a fork's run lists no pull requests)
    run_event = copy.deepcopy(tools.webhook_example("workflow_run", "completed"))
    run_event["workflow_run"].update(event="pull_request", head_sha=head, head_branch="change", pull_requests=[])
    jsonschema.validate(run_event, tools.webhook_schema("workflow_run", "completed"))
    (tmp_path / "run.json").write_text(json.dumps(run_event))
    where = f"/repos/{run_event['repository']['full_name']}"
    pull = tools.openapi_example("pull-request")

    def fixture(method: str, path: str, status: int, response) -> dict:
        return {"scope": "https://api.github.com:443", "method": method, "path": path, "status": status,
                "response": response, "reqheaders": {}, "headers": {"content-type": "application/json"}}

    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "post.json").write_text(json.dumps([
        fixture("get", f"{where}/pulls/{number}", 200, {**pull, "head": {**pull["head"], "sha": head}}),
        fixture("get", f"{where}/issues/{number}/comments?per_page=100", 200, []),
        fixture("post", f"{where}/issues/{number}/comments", 201, tools.openapi_example("issue-comment")),
        fixture("post", f"{where}/statuses/{head}", 201, tools.openapi_example("status")),
    ]))
    (scenarios / "moved.json").write_text(json.dumps([
        fixture("get", f"{where}/pulls/{number}", 200, {**pull, "head": {**pull["head"], "sha": "f" * 40}}),
    ]))
    server = tools.start_fixtures_server(scenarios, recorded=())
    url = next(server)
    try:
        post_env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "workflow_run",
                    "GITHUB_EVENT_PATH": str(tmp_path / "run.json"), "GITHUB_TOKEN": "ghs_write",
                    "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
        api = tools.load_scenario(url, "post")
        proc = run_cli("report", "--github", "--no-commit-subsets", str(tmp_path / "results" / "run"),
                       env={**post_env, "GITHUB_API_URL": api})
        assert proc.returncode == 0, proc.stderr
        assert tools.consumed(api)  # confirmed, then the comment and the status
        api = tools.load_scenario(url, "moved")
        proc = run_cli("report", "--github", str(tmp_path / "results" / "run"), env={**post_env, "GITHUB_API_URL": api})
        assert proc.returncode == 2 and "not at the tested" in proc.stderr  # results for an old head: nothing posted
        assert tools.consumed(api)
    finally:
        server.close()
