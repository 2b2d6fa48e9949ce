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
SHARDED = ROOT / ".github" / "workflows" / "promptci-sharded.yml"


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
                                          ("vendor.github-workflows",
                                           sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml")))])
def test_action_and_workflow_match_githubs_schemas(schema: str, paths: list[str]) -> None:
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, *paths], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing() -> None:
    proc = subprocess.run([tool("zizmor"), "--offline", "--no-progress", "action.yml", ".github/workflows"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and "No findings" in proc.stdout, proc.stdout + proc.stderr


def _action_steps() -> list[dict]:
    return yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]


def test_every_python_the_action_starts_in_the_checkout_ignores_the_working_directory() -> None:
    """The steps run in the pull request's checkout: `python -m x` (or `-c`) would import a module of that name
    from it (a pull request adding promptci/github/precheck.py, or pip/, ran its own code with the token)."""
    import re

    scripts = [s["run"] for s in _action_steps() if "run" in s]
    scripts += [(ROOT / name).read_text() for name in sorted(set(re.findall(r"\$GITHUB_ACTION_PATH/(scripts/\w+)",
                                                                             "\n".join(scripts))))]
    calls = re.findall(r"(\S*(?:python3?|PYTHON)\S*)\s+((?:-[A-Za-z]\s+)*)-[mc]\s", "\n".join(scripts))
    assert len(calls) >= 6, calls  # the precheck, its crash step, the version checks, venv and pip
    assert all({"-P", "-I"} & set(flags.split()) for _, flags in calls), calls


def test_a_run_that_fails_is_cancelled_or_times_out_never_leaves_the_status_pending() -> None:
    """The last step sets `promptci` to error when the gate step stopped without a status: after a failure, and
    after a cancellation or `timeout-minutes` (GitHub skips `failure()` steps then; the status stayed pending)."""
    last = _action_steps()[-1]
    assert last["name"] == "Report a run that stopped" and "precheck crash" in last["run"]
    condition = last["if"].replace(" ", "")
    assert condition.startswith("(failure()||cancelled())&&steps.gate.outputs.status-set!='true'"), last["if"]


def test_a_pull_request_shipping_its_own_promptci_package_runs_none_of_it(tmp_path: Path) -> None:
    """The precheck and crash steps, as action.yml writes them, in a checkout holding promptci/github/precheck.py."""
    repo = tmp_path / "repo"
    demo.make_repo(repo)
    shadow = repo / "promptci" / "github"
    shadow.mkdir(parents=True)
    for folder in (repo / "promptci", shadow):
        (folder / "__init__.py").write_text("")
    (shadow / "precheck.py").write_text("import pathlib; pathlib.Path('pwned').write_text('ran')\n")
    steps = {s.get("name"): s["run"] for s in _action_steps() if "run" in s}
    env = {"PATH": os.environ["PATH"], "PROMPTCI_PYTHON": sys.executable, "GITHUB_ACTION_PATH": str(ROOT),
           "IN_MODE": "pr", "GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_EVENT_NAME": "push"}
    for name in ("Did any prompt change?", "Report a run that stopped"):
        proc = subprocess.run(["bash", "-e", "-c", steps[name]], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0 and not (repo / "pwned").exists(), (name, proc.stdout + proc.stderr)
    assert "changed<<" in (tmp_path / "output").read_text()  # the action's own precheck ran


def test_every_job_that_checks_out_may_read_the_contents() -> None:
    # a job's `permissions:` replaces the workflow's; without contents: read, actions/checkout fails on a
    # private repository (GitHub docs, "Assigning permissions to jobs")
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        for name, job in workflow["jobs"].items():
            checks_out = any("actions/checkout" in str(step.get("uses", "")) for step in job.get("steps", []))
            scope = job.get("permissions", workflow.get("permissions", {}))
            if checks_out and isinstance(scope, dict):
                assert scope.get("contents") in ("read", "write"), f"{path.name}: job {name} cannot check out"


CACHE_ACTION = "actions/cache@9255dc7a253b0ccc959486e2bca901246202afeb"  # action.yml's restore and save
ACT_CACHE = ROOT / "tests" / "data" / "act-cache"  # its stand-in under act (see its README.md)


def _promptci(target: Path) -> None:
    """promptci itself in `target`, as `uses: ./` finds it."""
    for name in ("action.yml", "pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "promptci", target / "promptci", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "scripts", target / "scripts")


def _workflow(source: Path, target: Path, edit) -> None:
    """One of our workflows, edited by `edit(jobs)` for act, written into `target`."""
    flow = yaml.safe_load(source.read_text())
    flow["on"] = flow.pop(True)  # YAML 1.1 reads the key `on` as true
    for job in flow["jobs"].values():
        # act runs no remote action offline except its built-in checkout: the cache steps go (and `edit` says
        # what becomes of the artifact steps)
        job["steps"] = [s for s in job["steps"] if "actions/cache" not in s.get("uses", "")]
    edit(flow["jobs"])
    (target / ".github" / "workflows").mkdir(parents=True)
    (target / ".github" / "workflows" / source.name).write_text(yaml.safe_dump(flow, sort_keys=False))


def no_artifacts(jobs: dict) -> None:
    """act cannot upload artifacts offline: the upload steps go."""
    for job in jobs.values():
        job["steps"] = [s for s in job["steps"] if "upload-artifact" not in s.get("uses", "")]


def _repo(target: Path) -> tuple[str, str]:
    """promptci, our workflow using it as `uses: ./`, and the demo's pull request on top."""
    _promptci(target)

    def edit(jobs: dict) -> None:
        gate = next(s for s in jobs["gate"]["steps"] if s.get("uses") == "./")
        gate["with"].update({"optimize": "false", "commit-subsets": "false"})
        no_artifacts(jobs)

    _workflow(WORKFLOW, target, edit)
    base, head = demo.make_repo(target)
    # act names the repository after `origin` (nothing is fetched)
    subprocess.run(["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=target,
                   check=True)
    return base, head


def _act(repo: Path, event: Path, api: str, home: Path) -> tuple[subprocess.CompletedProcess, list[dict], str]:
    proc = subprocess.run(
        [tool("act"), "pull_request", "-e", str(event), "-P", "ubuntu-latest=-self-hosted", "--json",
         "--env", f"GITHUB_API_URL={api}", "-s", "GITHUB_TOKEN=ghs_test_token_0123456789",
         "--local-repository", f"{CACHE_ACTION}={ACT_CACHE}"],
        cwd=repo, capture_output=True, text=True, timeout=1500,
        # no PyTorch index offline: torch comes from the configured indexes
        env={**os.environ, "HOME": str(home), "PIP_CACHE_DIR": _pip_cache(), "PROMPTCI_TORCH_INDEX": "",
             "PROMPTCI_ACT_CACHE": str(home / "act-cache")})
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, records, "\n".join(str(r.get("msg", "")) for r in records)


def _event(tmp_path: Path, base: str, head: str, branch: str) -> tuple[Path, dict]:
    import jsonschema

    payload = tools.webhook_example("pull_request", "synchronize")
    pr = payload["pull_request"]
    pr["head"].update(sha=head, ref=branch)
    pr["base"].update(sha=base, ref="main")
    jsonschema.validate(payload, tools.webhook_schema("pull_request", "synchronize"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    return event, payload


@pytest.mark.integration
def test_the_action_gates_a_pull_request_under_act(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    base, head = _repo(repo)
    event, payload = _event(tmp_path, base, head, "trim-examples")
    flow = tools.publish_flow(payload["repository"]["full_name"], payload["number"], head, statuses=1)
    with tools.fixtures_server(tmp_path / "scenarios", {"action": flow}) as url:
        api = tools.load_scenario(url, "action")
        proc, records, messages = _act(repo, event, api, tmp_path / "home")
        assert proc.returncode == 1, messages[-4000:] + proc.stderr[-2000:]  # the demo's change fails the gate
        assert any(r.get("jobResult") == "failure" for r in records), messages[-3000:]
        assert "::error file=prompts/intent.prompt.yml,line=" in messages
        assert "verdict=fail" in messages.replace(" ", "") or "verdict<<" in messages
        assert "report posted" in messages and "ghs_test_token" not in messages
        assert tools.consumed(api)  # exactly the expected requests, in order


@pytest.mark.integration
def test_the_sharded_workflow_plans_gates_two_shards_and_merges_under_act(tmp_path: Path) -> None:
    from .test_plan import reworded_repo

    repo = tmp_path / "repo"
    repo.mkdir()
    _promptci(repo)
    artifacts = tmp_path / "artifacts"

    def edit(jobs: dict) -> None:
        # the artifact actions cannot run offline: the shards' folders go to a folder on this host instead
        gate = jobs["gate"]["steps"]
        upload = next(s for s in gate if "upload-artifact" in s.get("uses", ""))
        copy = f"mkdir -p {artifacts} && cp -r " + "${{ runner.temp }}/promptci-shard " + f"{artifacts}/shard-"
        gate[gate.index(upload)] = {"if": upload["if"], "run": copy + "${{ matrix.shard }}"}
        report = jobs["report"]["steps"]
        report[:] = [s for s in report if "download-artifact" not in s.get("uses", "")]
        next(s for s in report if s.get("uses") == "./")["with"]["results"] = str(artifacts)
        jobs["gate"]["strategy"]["max-parallel"] = 1  # two cores

    _workflow(SHARDED, repo, edit)
    base, head = reworded_repo(repo, {"a": 3, "b": 2}, branch="reword")
    subprocess.run(["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=repo,
                   check=True)
    event, payload = _event(tmp_path, base, head, "reword")
    flow = tools.publish_flow(payload["repository"]["full_name"], payload["number"], head, statuses=2)
    with tools.fixtures_server(tmp_path / "scenarios", {"sharded": flow}) as url:
        api = tools.load_scenario(url, "sharded")
        proc, _records, messages = _act(repo, event, api, tmp_path / "home")
        assert sorted(p.name for p in artifacts.iterdir()) == ["shard-1", "shard-2"], messages[-4000:]
        shards = [json.loads((artifacts / f"shard-{n}" / "results.json").read_text()) for n in (1, 2)]
        assert sorted(p["path"] for s in shards for p in s["prompts"]) == ["prompts/a.prompt.yml",
                                                                           "prompts/b.prompt.yml"]
        assert "report posted" in messages, messages[-4000:] + proc.stderr[-2000:]
        assert tools.consumed(api)  # one comment for both shards, one status per prompt


def _pip_cache() -> str:
    """The developer's pip cache, so the action's install reuses wheels built by scripts/setup."""
    proc = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return proc.stdout.strip() or str(Path.home() / ".cache" / "pip")


@pytest.mark.integration
def test_a_second_run_restores_the_install_from_the_actions_cache_under_act(tmp_path: Path) -> None:
    """A remote-only install (no torch), saved to the Actions cache by the first run and restored by the second on
    a fresh runner (no venv): the install step is skipped, and the restored venv runs the action's own code."""
    repo, home = tmp_path / "repo", tmp_path / "home"
    repo.mkdir()
    _promptci(repo)
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "plan.yml").write_text(yaml.safe_dump({
        "name": "plan", "on": {"pull_request": {}}, "jobs": {"plan": {"runs-on": "ubuntu-latest", "steps": [
            {"uses": "actions/checkout@v5"}, {"uses": "./", "with": {"mode": "plan", "extras": ""}}]}}}))
    base, head = demo.make_repo(repo)
    subprocess.run(["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=repo,
                   check=True)
    event, _ = _event(tmp_path, base, head, "trim-examples")
    runs = []
    for _ in range(2):
        for venv in home.glob(".cache/act/*/tmp/promptci-venv"):  # a fresh runner: the venv is gone
            shutil.rmtree(venv)
        proc, _records, messages = _act(repo, event, "http://127.0.0.1:9", home)
        assert proc.returncode == 0, messages[-4000:] + proc.stderr[-2000:]
        assert "shards=1" in messages.replace("::set-output:: ", "") or "shards<<" in messages, messages[-3000:]
        runs.append(messages)
    cold, warm = runs
    assert "cache miss: promptci-venv-" in cold and "Success - Main Install promptci" in cold
    assert "restored " in warm and "Install promptci" not in warm  # skipped on the exact key
    assert len(list((home / "act-cache").glob("promptci-venv-*-none-*.tar"))) == 1  # saved once, by the cold run
