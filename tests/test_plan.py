"""Sharding a pull request over the Actions matrix: `promptci plan`, `pr --shard`, and the merge in
`promptci report`, on a real git repository with the embedded model."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

from promptci.gitdiff import Change
from promptci.pullrequest.sharding import matrix, plan

from . import github_tools as tools
from .helpers import run_cli
from .test_gitdiff import add_hostile_names

PROMPT = """name: {name}
model: mockllm/model
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


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


def reworded_repo(repo: Path, sizes: dict[str, int], branch: str = "change") -> tuple[str, str]:
    """A git repository (holding whatever `repo` already has) with one prompt per name in `sizes`, committed
    on main, then reworded on `branch`; the base and head SHAs."""
    (repo / "prompts").mkdir(parents=True, exist_ok=True)
    for name, n in sizes.items():
        (repo / "prompts" / f"{name}.prompt.yml").write_text(_prompt(name, "Sum:", n))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-qb", branch)
    for name, n in sizes.items():
        (repo / "prompts" / f"{name}.prompt.yml").write_text(_prompt(name, "What is", n))
    _git(repo, "commit", "-qam", "reword")
    return base, _git(repo, "rev-parse", "HEAD")


def _shards(repo: Path, tmp_path: Path, count: int) -> list[str]:
    """`promptci pr --shard` for every shard of a plan of `count`; their --out folders."""
    outs = []
    for shard in range(1, count + 1):
        out = tmp_path / f"shard-{shard}"
        proc = run_cli(
            "pr",
            "--base",
            "main",
            "--repo",
            str(repo),
            "--shard",
            str(shard),
            "--max-shards",
            str(count),
            "--out",
            str(out),
            "--no-optimize",
            "--no-refresh",
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert f"shard {shard} of {count}: " in proc.stderr, proc.stderr  # each shard says what it runs
        outs.append(str(out))
    return outs


def test_two_shards_run_apart_and_merge_into_one_report(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    reworded_repo(repo, {"a": 4, "b": 3, "c": 2})

    proc = run_cli("plan", "--base", "main", "--repo", str(repo), "--max-shards", "2")
    assert proc.returncode == 0, proc.stderr
    include = json.loads(proc.stdout)["include"]
    assert [row["shard"] for row in include] == ["1", "2"] and {row["items"] for row in include} == {4, 5}
    outs = _shards(repo, tmp_path, 2)
    for row, out in zip(include, outs):
        shard_paths = [p["path"] for p in json.loads((Path(out) / "results.json").read_text())["prompts"]]
        assert " ".join(shard_paths) == row["prompts"]
    plan = tmp_path / "plan.json"
    plan.write_text(proc.stdout)
    merged = run_cli("report", *outs, "--plan", str(plan), "--format", "terminal")
    assert merged.returncode in (0, 1) and all(f"prompts/{n}.prompt.yml" in merged.stdout for n in "abc")
    # fail closed: a shard that left no results is named, with or without the plan job's matrix
    for plan_flags in ([], ["--plan", str(plan)]):
        missing = run_cli("report", outs[0], *plan_flags, "--format", "terminal")
        assert missing.returncode == 3 and "no results from shard 2 of 2 planned" in missing.stderr
        assert include[1]["prompts"] in missing.stderr and not missing.stdout
    wrong = run_cli("pr", "--base", "main", "--repo", str(repo), "--shard", "7", "--max-shards", "2")
    assert wrong.returncode == 2 and "no shard '7' in a plan of 2" in wrong.stderr


def _pull_request_event(tmp_path: Path) -> tuple[Path, dict]:
    payload = tools.webhook_example("pull_request", "synchronize")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    return event, payload


def test_the_merge_job_posts_one_comment_and_a_status_per_prompt(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    reworded_repo(repo, {"a": 2, "b": 2})
    outs = _shards(repo, tmp_path, 2)
    plan = tmp_path / "plan.json"
    plan.write_text(run_cli("plan", "--base", "main", "--repo", str(repo), "--max-shards", "2").stdout)
    event, payload = _pull_request_event(tmp_path)
    flow = tools.publish_flow(
        payload["repository"]["full_name"], payload["number"], payload["pull_request"]["head"]["sha"], statuses=2
    )
    with tools.fixtures_server(tmp_path / "scenarios", {"merge": flow}) as url:
        api = tools.load_scenario(url, "merge")
        proc = run_cli(
            "report",
            *outs,
            "--plan",
            str(plan),
            "--github",
            "--repo",
            str(repo),
            env=tools.actions_env(event, tmp_path, api=api),
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert tools.consumed(api)  # one comment for both shards, then one status per prompt
    summary = (tmp_path / "summary.md").read_text()
    assert "prompts/a.prompt.yml" in summary and "prompts/b.prompt.yml" in summary


def test_github_failing_for_good_still_leaves_the_summary_and_exits_3(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    reworded_repo(repo, {"a": 3})
    out = tmp_path / "out"
    proc = run_cli("pr", "--base", "main", "--repo", str(repo), "--out", str(out), "--no-optimize", "--no-refresh")
    assert proc.returncode == 0, proc.stderr  # 3 items cannot show a significant drop: the gate passes

    event, payload = _pull_request_event(tmp_path)
    where, number = f"/repos/{payload['repository']['full_name']}", payload["number"]
    sha = payload["pull_request"]["head"]["sha"]
    down: dict[str, Any] = {"status": 502, "response": {"message": "Server Error"}, "headers": {"retry-after": "0"}}
    flow = [tools.fixture("get", f"{where}/issues/{number}/comments?per_page=100", **down)] * 5 + [
        tools.fixture("post", f"{where}/statuses/{sha}", **down)
    ] * 10  # the prompt's, then `promptci`
    with tools.fixtures_server(tmp_path / "scenarios", {"down": flow}) as url:
        api = tools.load_scenario(url, "down")
        proc = run_cli(
            "report", str(out), "--github", "--repo", str(repo), env=tools.actions_env(event, tmp_path, api=api)
        )
        assert tools.consumed(api)  # each call tried 5 times (4 retries), then given up
    assert proc.returncode == 3 and "GitHub requests failed" in proc.stderr
    assert "::error title=promptci%3A GitHub refused a request::GitHub GET" in proc.stdout
    assert "prompts/a.prompt.yml" in (tmp_path / "summary.md").read_text()  # the report is not lost
    assert "verdict<<" in (tmp_path / "output").read_text() and (out / "results.json").exists()


def test_the_fork_safe_pattern_posts_results_only_on_the_pull_request_github_confirms(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base, head = reworded_repo(repo, {"a": 3})

    # part 1: the pull_request run (read-only, from a fork) scores and writes results naming its pull request
    pr_event = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    pr_event["pull_request"]["head"].update(sha=head, ref="change")
    pr_event["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    pr_event["pull_request"]["base"].update(sha=base, ref="main")
    (tmp_path / "pr.json").write_text(json.dumps(pr_event))
    out = tmp_path / "results" / "run"
    proc = run_cli(
        "pr",
        "--github",
        "--repo",
        str(repo),
        "--shard",
        "1",
        "--max-shards",
        "1",
        "--out",
        str(out),
        "--no-optimize",
        "--no-refresh",
        env=tools.actions_env(tmp_path / "pr.json", tmp_path, token="ghs_read_only"),
    )
    assert proc.returncode == 0, proc.stderr
    number = pr_event["number"]
    assert json.loads((out / "results.json").read_text())["pull_request"] == {"number": number, "head_sha": head}

    # part 2: the trusted workflow_run job, from GitHub's own payload (a fork's run lists no pull requests)
    run_event = tools.fork_run_event(head, "change")
    (tmp_path / "run.json").write_text(json.dumps(run_event))
    repository = run_event["repository"]["full_name"]
    pull = tools.openapi_example("pull-request")

    def pulls(sha: str) -> dict:
        return tools.fixture(
            "get",
            f"/repos/{repository}/pulls/{number}",
            200,
            {**pull, "head": {**pull["head"], "sha": sha}, "base": {**pull["base"], "sha": base}},
        )

    listed = [{**tools.openapi_example("diff-entry-items")[0], "filename": "prompts/a.prompt.yml"}]
    files = tools.fixture("get", f"/repos/{repository}/pulls/{number}/files?per_page=100&page=1", 200, listed)
    scenarios = {
        "post": [pulls(head), files] + tools.publish_flow(repository, number, head, statuses=1),
        "moved": [pulls("f" * 40)],
    }
    with tools.fixtures_server(tmp_path / "scenarios", scenarios) as url:

        def post(scenario: str, *flags: str) -> tuple[subprocess.CompletedProcess, str]:
            api = tools.load_scenario(url, scenario)
            env = tools.actions_env(
                tmp_path / "run.json", tmp_path, api=api, event_name="workflow_run", token="ghs_write"
            )
            return run_cli("report", "--github", "--repo", str(repo), *flags, str(out), env=env), api

        proc, api = post("post", "--no-commit-subsets")
        assert proc.returncode == 0, proc.stderr
        assert tools.consumed(api)  # confirmed, then the comment and the status
        proc, api = post("moved")
        assert proc.returncode == 2 and "not at the tested" in proc.stderr  # results for an old head: nothing posted
        assert tools.consumed(api)


def test_a_merge_commit_made_for_an_earlier_head_is_refused(tmp_path: Path) -> None:
    # actions/checkout fetches refs/pull/N/merge, which can still be GitHub's merge of the previous head after a
    # force-push (actions/checkout#237): its files are not the pull request's, so nothing is scored or posted
    repo = tmp_path / "repo"
    base, head = reworded_repo(repo, {"a": 2})
    _git(repo, "checkout", "-q", "--detach", base)
    _git(repo, "merge", "-q", "--no-ff", "-m", "Merge change into main", head)
    payload = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    payload["pull_request"]["head"]["sha"] = head
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    env = tools.actions_env(event, tmp_path)
    fresh = run_cli("plan", "--github", "--repo", str(repo), env=env)
    assert fresh.returncode == 0 and json.loads(fresh.stdout.splitlines()[-1])["include"], fresh.stderr

    payload["pull_request"]["head"]["sha"] = "f" * 40  # the author force-pushed after GitHub made this merge
    event.write_text(json.dumps(payload))
    (tmp_path / "output").unlink()
    stale = run_cli("plan", "--github", "--repo", str(repo), env=env)
    assert stale.returncode == 2 and head[:12] in stale.stderr
    # a re-run checks out the same merge commit (GitHub: a re-run uses the same GITHUB_SHA), so the advice is a
    # new event: a push, or closing and reopening the pull request
    assert (
        "push a commit, or close and reopen the pull request" in stale.stderr and "re-run the job" not in stale.stderr
    )
    assert len(stale.stderr.strip().splitlines()) == 1 and not (tmp_path / "output").exists()


def test_a_prompt_change_beside_hostile_file_names_is_gated(tmp_path: Path) -> None:
    """`promptci pr` on a change that also adds a file named with a newline and a colon and one that is not
    UTF-8: GitPython's parser lost the prompt behind them and the run passed as 'no prompt file changed'."""
    repo = tmp_path / "repo"
    reworded_repo(repo, {"a": 2})
    add_hostile_names(repo)
    out = tmp_path / "out"
    proc = run_cli("pr", "--base", "main", "--repo", str(repo), "--out", str(out), "--no-optimize", "--no-refresh")
    assert proc.returncode in (0, 1), proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert [p["path"] for p in results["prompts"]] == ["prompts/a.prompt.yml"]
    assert "no prompt file changed" not in results["verdict"]["reason"]
