"""The Action as GitHub runs it: action.yml and the workflow pass the three linters, and the real `act`
runner executes the workflow on a pull request of a throwaway repository, with the embedded model,
against the octokit fixtures server playing GitHub (a scenario of the exact requests expected)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from promptci import demo

from . import github_tools as tools
from .helpers import ROOT

BIN = Path(sys.executable).parent
WORKFLOW = ROOT / ".github" / "workflows" / "promptci.yml"


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        message = f"{name} is missing: run scripts/setup"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return str(path)


def test_actionlint_checks_the_workflow_and_the_action_it_uses() -> None:
    proc = subprocess.run([tool("actionlint"), "-no-color"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("schema,paths", [("vendor.github-actions", ["action.yml"]),
                                          ("vendor.github-workflows", [str(WORKFLOW)])])
def test_action_and_workflow_match_githubs_schemas(schema: str, paths: list[str]) -> None:
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, *paths], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing() -> None:
    proc = subprocess.run([tool("zizmor"), "--offline", "--no-progress", "action.yml", ".github/workflows"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and "No findings" in proc.stdout, proc.stdout + proc.stderr


def _repo(target: Path) -> tuple[str, str]:
    """promptci itself, a workflow using it as `uses: ./`, and the demo's pull request on top."""
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "promptci", target / "promptci", ignore=shutil.ignore_patterns("__pycache__"))
    flow = yaml.safe_load(WORKFLOW.read_text())
    flow["on"] = flow.pop(True)  # YAML 1.1 reads the key `on` as true
    steps = flow["jobs"]["gate"]["steps"]
    # act runs no remote action offline except its built-in checkout: the cache step goes
    steps[:] = [s for s in steps if "actions/cache" not in s.get("uses", "")]
    gate = next(s for s in steps if s.get("uses") == "./")
    gate["with"].update({"optimize": "false", "commit-subsets": "false"})
    (target / ".github" / "workflows").mkdir(parents=True)
    (target / ".github" / "workflows" / "promptci.yml").write_text(yaml.safe_dump(flow, sort_keys=False))
    base, head = demo.make_repo(target)
    # act names the repository after `origin` (nothing is fetched)
    subprocess.run(["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=target,
                   check=True)
    return base, head


@pytest.mark.slow
def test_the_action_gates_a_pull_request_under_act(tmp_path: Path) -> None:
    act = tool("act")
    repo = tmp_path / "repo"
    repo.mkdir()
    base, head = _repo(repo)
    payload = tools.webhook_example("pull_request", "synchronize")
    pr = payload["pull_request"]
    pr["head"].update(sha=head, ref="trim-examples")
    pr["base"].update(sha=base, ref="main")
    import jsonschema
    jsonschema.validate(payload, tools.webhook_schema("pull_request", "synchronize"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))

    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    where = f"/repos/{payload['repository']['full_name']}"
    number = payload["number"]
    (scenarios / "action.json").write_text(json.dumps([
        _fixture("get", f"{where}/issues/{number}/comments?per_page=100", 200, []),
        _fixture("post", f"{where}/issues/{number}/comments", 201, tools.openapi_example("issue-comment")),
        _fixture("post", f"{where}/statuses/{head}", 201, tools.openapi_example("status")),
    ]))
    server = tools.start_fixtures_server(scenarios, recorded=())
    url = next(server)
    try:
        api = tools.load_scenario(url, "action")
        proc = subprocess.run(
            [act, "pull_request", "-e", str(event), "-P", "ubuntu-latest=-self-hosted", "--json",
             "--env", f"GITHUB_API_URL={api}", "-s", "GITHUB_TOKEN=ghs_test_token_0123456789"],
            cwd=repo, capture_output=True, text=True, timeout=1200,
            env={**os.environ, "HOME": str(tmp_path / "home"), "PIP_CACHE_DIR": _pip_cache()})
        records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        messages = "\n".join(str(r.get("msg", "")) for r in records)
        assert proc.returncode == 1, messages[-4000:] + proc.stderr[-2000:]  # the demo's change fails the gate
        assert any(r.get("jobResult") == "failure" for r in records), messages[-3000:] + proc.stderr[-3000:]
        assert "::error file=prompts/intent.prompt.yml,line=" in messages
        assert "verdict=fail" in messages.replace(" ", "") or "verdict<<" in messages
        assert "report posted" in messages and "ghs_test_token" not in messages
        assert tools.consumed(api)  # exactly the expected requests, in order
    finally:
        server.close()


def _fixture(method: str, path: str, status: int, response) -> dict:
    return {"scope": "https://api.github.com:443", "method": method, "path": path, "status": status,
            "response": response, "reqheaders": {}, "headers": {"content-type": "application/json; charset=utf-8"}}


def _pip_cache() -> str:
    """The developer's pip cache, so the action's install reuses wheels built by scripts/setup."""
    proc = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return proc.stdout.strip() or str(Path.home() / ".cache" / "pip")
