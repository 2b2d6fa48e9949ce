"""The Action as GitHub runs it: action.yml and the workflow pass the three linters, and the real `act`
runner executes the workflow on a pull request of a throwaway repository, with the embedded model,
against the octokit fixtures server playing GitHub (a scenario of the exact requests expected)."""

from __future__ import annotations

import copy
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
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "promptci.yml"
SHARDED = WORKFLOWS / "promptci-sharded.yml"


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        message = f"{name} is missing: run scripts/setup"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return str(path)


def test_actionlint_checks_the_workflow_and_the_action_it_uses() -> None:
    proc = subprocess.run([tool("actionlint"), "-no-color"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "schema,paths",
    [
        ("vendor.github-actions", ["action.yml"]),
        ("vendor.github-workflows", sorted(str(p) for p in WORKFLOWS.glob("*.yml"))),
        ("vendor.dependabot", [".github/dependabot.yml"]),
    ],
)
def test_action_and_workflow_match_githubs_schemas(schema: str, paths: list[str]) -> None:
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing() -> None:
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "action.yml", ".github/workflows"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "No findings" in proc.stdout, proc.stdout + proc.stderr


def _action_steps() -> list[dict]:
    return yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]


def test_every_python_the_action_starts_in_the_checkout_ignores_the_working_directory() -> None:
    """The steps run in the pull request's checkout: `python -m x` (or `-c`) would import a module of that name
    from it (a pull request adding promptci/github/precheck.py, or pip/, ran its own code with the token)."""
    import re

    scripts = [s["run"] for s in _action_steps() if "run" in s]
    scripts += [
        (ROOT / name).read_text()
        for name in sorted(set(re.findall(r"\$GITHUB_ACTION_PATH/(scripts/\w+)", "\n".join(scripts))))
    ]
    calls = re.findall(r"(\S*(?:python3?|PYTHON)\S*)\s+((?:-[A-Za-z]\s+)*)-[mc]\s", "\n".join(scripts))
    assert len(calls) >= 6, calls  # the precheck, its crash step, the version checks, venv and pip
    assert all({"-P", "-I"} & set(flags.split()) for _, flags in calls), calls


def _uses(path: Path) -> list[str]:
    """Every `uses:` line of a workflow or of action.yml, as written (with its comment)."""
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]


def test_every_action_is_pinned_to_a_full_commit_of_a_release_and_dependabot_keeps_them_current() -> None:
    import re

    used = [u for path in (ROOT / "action.yml", *sorted(WORKFLOWS.glob("*.yml"))) for u in _uses(path)]
    remote = [u for u in used if not u.startswith("./")]
    assert len(remote) >= 10, used
    bad = [u for u in remote if not re.fullmatch(r"actions/[\w-]+(/\w+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+", u)]
    assert not bad, bad  # a full SHA (a tag can be moved), with the release it is as a comment
    for name in {u.split("@")[0] for u in remote}:  # one release of each action everywhere
        assert len({u.split("@")[1] for u in remote if u.split("@")[0].split("/")[:2] == name.split("/")[:2]}) == 1
    updates = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())["updates"]
    assert {"package-ecosystem": "github-actions", "directory": "/"}.items() <= updates[0].items()


def test_every_job_that_runs_promptci_first_sets_up_the_python_the_lock_is_tested_on() -> None:
    """ubuntu-latest's own Python moves with the image (3.14 on Ubuntu 26.04); the lock (constraints.txt) and CI
    are Python 3.11, pyproject's minimum. So each job pins it with actions/setup-python before anything else, on a
    named image (setup-python builds Python per image, and a new image can lack the version)."""
    import tomllib

    minimum = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"].removeprefix(">=")
    jobs = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            if any(step.get("uses") == "./" for step in job["steps"]):
                assert not job["runs-on"].endswith("-latest"), (path.name, name)
                first = job["steps"][0]
                assert first["uses"].startswith("actions/setup-python@"), (path.name, name)
                assert first["with"]["python-version"] == minimum, (path.name, name)
                jobs += 1
    assert jobs >= 7


def test_the_readmes_workflow_is_the_shipped_one() -> None:
    readme = (ROOT / "README.md").read_text()
    shipped = WORKFLOW.read_text().replace("uses: ./", "uses: <owner>/promptci@<sha>")
    assert f"```yaml\n{shipped}```" in readme


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
    env = {
        "PATH": os.environ["PATH"],
        "PROMPTCI_PYTHON": sys.executable,
        "GITHUB_ACTION_PATH": str(ROOT),
        "IN_MODE": "pr",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_EVENT_NAME": "push",
    }
    for name in ("Did any prompt change?", "Report a run that stopped"):
        proc = subprocess.run(
            ["bash", "-e", "-c", steps[name]], cwd=repo, env=env, capture_output=True, text=True, timeout=60
        )
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
            if checks_out and isinstance(scope, dict):  # and never write: only commit-subsets needs it, off here
                assert scope.get("contents") == "read", f"{path.name}: job {name}"


CACHE_ACTION = "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae"  # action.yml's restore and save
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
        # act runs no remote action offline except its built-in checkout of this repository: the cache and Python
        # steps go (this host's Python is 3.11 too), so does a merge queue's checkout of its base commit (never
        # run on the events act plays here), and `edit` says what becomes of the artifact steps
        job["steps"] = [
            s
            for s in job["steps"]
            if not s.get("uses", "").startswith(("actions/cache", "actions/setup-python"))
            and s.get("if") != "github.event_name == 'merge_group'"
        ]
    edit(flow["jobs"])
    (target / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
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
    subprocess.run(
        ["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=target, check=True
    )
    return base, head


def _act_command(event: Path, api: str, name: str = "pull_request") -> list[str]:
    return [
        tool("act"),
        name,
        "-e",
        str(event),
        "-P",
        "ubuntu-latest=-self-hosted",
        "-P",
        "ubuntu-24.04=-self-hosted",
        "--json",
        "--env",
        f"GITHUB_API_URL={api}",
        "-s",
        "GITHUB_TOKEN=ghs_test_token_0123456789",
        "--local-repository",
        f"{CACHE_ACTION}={ACT_CACHE}",
    ]


def _act_env(home: Path) -> dict[str, str]:
    # no PyTorch index offline: torch comes from the configured indexes
    return {
        **os.environ,
        "HOME": str(home),
        "PIP_CACHE_DIR": _pip_cache(),
        "PROMPTCI_TORCH_INDEX": "",
        "PROMPTCI_ACT_CACHE": str(home / "act-cache"),
    }


def _records(stdout: str) -> tuple[list[dict], str]:
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return records, "\n".join(str(r.get("msg", "")) for r in records)


def _act(
    repo: Path, event: Path, api: str, home: Path, name: str = "pull_request"
) -> tuple[subprocess.CompletedProcess, list[dict], str]:
    proc = subprocess.run(
        _act_command(event, api, name), cwd=repo, capture_output=True, text=True, timeout=1500, env=_act_env(home)
    )
    return (proc, *_records(proc.stdout))


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
    subprocess.run(
        ["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=repo, check=True
    )
    event, payload = _event(tmp_path, base, head, "reword")
    flow = tools.publish_flow(payload["repository"]["full_name"], payload["number"], head, statuses=2)
    with tools.fixtures_server(tmp_path / "scenarios", {"sharded": flow}) as url:
        api = tools.load_scenario(url, "sharded")
        proc, _records, messages = _act(repo, event, api, tmp_path / "home")
        assert sorted(p.name for p in artifacts.iterdir()) == ["shard-1", "shard-2"], messages[-4000:]
        shards = [json.loads((artifacts / f"shard-{n}" / "results.json").read_text()) for n in (1, 2)]
        assert sorted(p["path"] for s in shards for p in s["prompts"]) == [
            "prompts/a.prompt.yml",
            "prompts/b.prompt.yml",
        ]
        assert "report posted" in messages, messages[-4000:] + proc.stderr[-2000:]
        assert tools.consumed(api)  # one comment for both shards, one status per prompt


def _pip_cache() -> str:
    """The developer's pip cache, so the action's install reuses wheels built by scripts/setup."""
    proc = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return proc.stdout.strip() or str(Path.home() / ".cache" / "pip")


@pytest.mark.integration
def test_the_install_is_saved_on_the_default_branch_and_restored_by_a_pull_request_under_act(tmp_path: Path) -> None:
    """A remote-only install (no torch), saved to the Actions cache by a run on the default branch (a manual run
    of the warm workflow, say) and restored by a pull request's run on a fresh runner (no venv): the install step
    is skipped, the restored venv runs the action's own code, and the pull request saves nothing (its caches are
    its own alone, and GB-class installs per pull request would crowd out the answer caches)."""
    repo, home = tmp_path / "repo", tmp_path / "home"
    repo.mkdir()
    _promptci(repo)
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "plan.yml").write_text(
        yaml.safe_dump(
            {
                "name": "plan",
                "on": {"pull_request": {}, "workflow_dispatch": {}},
                "jobs": {
                    "plan": {
                        "runs-on": "ubuntu-latest",
                        "steps": [
                            {"uses": "actions/checkout@v5"},
                            {
                                "uses": "./",
                                "with": {
                                    # a pull request plans; the default branch's run warms no prompt (it has only to
                                    # install)
                                    "mode": "${{ github.event_name == 'workflow_dispatch' && 'warm' || 'plan' }}",
                                    "prompts": "${{ github.event_name == 'workflow_dispatch' && 'none/*.prompt.yml' "
                                    "|| '' }}",
                                    "extras": "",
                                },
                            },
                        ],
                    }
                },
            }
        )
    )
    base, head = demo.make_repo(repo)
    subprocess.run(
        ["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=repo, check=True
    )
    event, payload = _event(tmp_path, base, head, "trim-examples")
    dispatch = tmp_path / "dispatch.json"
    repository = {**payload["repository"], "default_branch": "main"}  # (the example's is master)
    dispatch.write_text(
        json.dumps({"ref": "refs/heads/main", "repository": repository, "sender": payload["sender"], "inputs": {}})
    )
    runs, saved = [], []
    for name, path in (("pull_request", event), ("workflow_dispatch", dispatch), ("pull_request", event)):
        for venv in home.glob(".cache/act/*/tmp/promptci-venv"):  # a fresh runner: the venv is gone
            shutil.rmtree(venv)
        proc, _records, messages = _act(repo, path, "http://127.0.0.1:9", home, name)
        assert proc.returncode == 0, messages[-4000:] + proc.stderr[-2000:]
        done = "shards=" in messages.replace("::set-output:: ", "") or "shards<<" in messages
        assert done or "no committed prompt file to warm" in messages, messages[-3000:]
        runs.append(messages)
        saved.append(len(list((home / "act-cache").glob("promptci-venv-*-none-*.tar"))))
    pull, default, warm = runs
    assert "Success - Main Install promptci" in pull and saved[0] == 0  # installed, not saved
    assert "cache miss: promptci-venv-" in default and "Success - Main Install promptci" in default
    assert saved[1:] == [1, 1]  # saved once, on the default branch
    assert "restored " in warm and "Install promptci" not in warm  # skipped on the exact key


def _docs_repo(repo: Path, workflows: dict[Path, object]) -> tuple[str, str]:
    """promptci, the given workflows (each edited for act by its function), the demo, and a pull request branch
    `docs` that changes no prompt."""
    repo.mkdir()
    _promptci(repo)
    for source, edit in workflows.items():
        _workflow(source, repo, edit)
    base, _ = demo.make_repo(repo)
    subprocess.run(["git", "checkout", "-q", "-b", "docs", "main"], cwd=repo, check=True)
    (repo / "NOTES.md").write_text("no prompt here\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "docs"], cwd=repo, check=True
    )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(
        ["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=repo, check=True
    )
    return base, head


def _ran(messages: str) -> bool:
    """Whether the job reached the action (its first step's name shows in act's log)."""
    return "Did any prompt change?" in messages


def test_the_fork_pair_acts_only_on_pull_requests_from_forks_under_act(tmp_path: Path) -> None:
    """Both fork-safe workflows, run by the real `act` runner on GitHub's own payloads: a pull request from a branch
    of the repository starts neither job (promptci.yml's verdict is never overwritten); one from a fork does."""

    def post(jobs: dict) -> None:
        jobs["post"]["steps"] = [s for s in jobs["post"]["steps"] if "download-artifact" not in s.get("uses", "")]

    repo = tmp_path / "repo"
    base, head = _docs_repo(
        repo, {WORKFLOWS / "promptci-fork-run.yml": no_artifacts, WORKFLOWS / "promptci-fork-post.yml": post}
    )
    nowhere = "http://127.0.0.1:9"  # the jobs that run here make no request
    event, payload = _event(tmp_path, base, head, "docs")
    proc, _, messages = _act(repo, event, nowhere, tmp_path / "home")
    assert proc.returncode == 0 and not _ran(messages), messages[-3000:] + proc.stderr[-2000:]

    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"  # the same change, from a fork
    event.write_text(json.dumps(payload))
    proc, _, messages = _act(repo, event, nowhere, tmp_path / "home")
    assert proc.returncode == 0 and _ran(messages), messages[-3000:] + proc.stderr[-2000:]
    assert "no prompt changed" in messages  # (the shard posts nothing; the post job asks GitHub, tested elsewhere)

    run = copy.deepcopy(tools.webhook_example("workflow_run", "completed"))
    run["workflow_run"].update(event="pull_request", head_sha=head, head_branch="docs", pull_requests=[])
    run["repository"]["full_name"] = run["workflow_run"]["head_repository"]["full_name"] = "Codertocat/Hello-World"
    (tmp_path / "run.json").write_text(json.dumps(run))
    proc, _, messages = _act(repo, tmp_path / "run.json", nowhere, tmp_path / "home", "workflow_run")
    assert proc.returncode == 0 and not _ran(messages), messages[-3000:] + proc.stderr[-2000:]


def test_an_edit_runs_the_gate_only_when_it_moves_the_base_under_act(tmp_path: Path) -> None:
    """promptci.yml listens to `edited`: a pull request moved to another base branch is gated again; an edit of its
    title or text starts no job (and, in a group of its own, cancels no run)."""
    repo = tmp_path / "repo"
    base, head = _docs_repo(repo, {WORKFLOW: no_artifacts})
    event, payload = _event(tmp_path, base, head, "docs")
    payload["action"] = "edited"
    name, number = payload["repository"]["full_name"], payload["number"]
    flow = [
        tools.fixture("get", f"/repos/{name}/issues/{number}/comments?per_page=100&page=1", 200, []),
        tools.fixture("post", f"/repos/{name}/statuses/{head}", 201, tools.openapi_example("status")),
    ]
    with tools.fixtures_server(tmp_path / "scenarios", {"retarget": flow}) as url:
        for changes, runs in (
            ({"title": {"from": "an older title"}}, False),
            ({"base": {"ref": {"from": "release"}, "sha": {"from": "f" * 40}}}, True),
        ):
            event.write_text(json.dumps({**payload, "changes": changes}))
            api = tools.load_scenario(url, "retarget")
            proc, _, messages = _act(repo, event, api, tmp_path / "home")
            assert proc.returncode == 0 and _ran(messages) == runs, messages[-3000:] + proc.stderr[-2000:]
            assert tools.consumed(api) == runs  # the new base's verdict: the `promptci` status again


def test_a_cancelled_job_sets_the_promptci_status_to_error_under_act(tmp_path: Path) -> None:
    """The shipped workflow under the real `act` runner, cancelled (SIGINT, the signal a runner's cancellation
    sends) while a step of the action hangs (its install, replaced here by a sleep): the runner stops the whole
    composite action, whose own last step never runs, and the workflow's `mode: stopped` step sets `promptci` to
    error. A job past `timeout-minutes` is cancelled the same way (GitHub's docs; act does not enforce it)."""
    import signal
    import threading

    repo = tmp_path / "repo"
    repo.mkdir()
    _promptci(repo)
    (repo / "scripts" / "install").write_text("#!/usr/bin/env bash\necho 'install hangs'\nsleep 600\n")

    def edit(jobs: dict) -> None:
        gate = next(s for s in jobs["gate"]["steps"] if s.get("id") == "promptci")
        gate["with"]["cache-install"] = "false"
        no_artifacts(jobs)

    _workflow(WORKFLOW, repo, edit)
    base, head = demo.make_repo(repo)  # the demo's pull request changes a prompt: the action goes on to install
    subprocess.run(
        ["git", "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git"], cwd=repo, check=True
    )
    event, payload = _event(tmp_path, base, head, "trim-examples")
    name = payload["repository"]["full_name"]
    flow = [
        tools.fixture("get", f"/repos/{name}/commits/{head}/statuses?per_page=100", 200, []),  # no later run
        tools.fixture("post", f"/repos/{name}/statuses/{head}", 201, tools.openapi_example("status")),
    ]
    with tools.fixtures_server(tmp_path / "scenarios", {"cancel": flow}) as url:
        api = tools.load_scenario(url, "cancel")
        proc = subprocess.Popen(
            _act_command(event, api),
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_act_env(tmp_path / "home"),
        )
        guard = threading.Timer(600, proc.kill)
        guard.start()
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "install hangs" in line:
                proc.send_signal(signal.SIGINT)  # cancel the job
                break
        stdout, stderr = proc.communicate(timeout=300)
        guard.cancel()
        _, messages = _records("".join(seen) + stdout)
        assert "install hangs" in messages, messages[-3000:] + stderr[-2000:]
        assert f"status `promptci` set to error on {head[:12]}" in messages, messages[-4000:] + stderr[-2000:]
        assert "Report a run that stopped" not in messages  # the composite's own last step never ran
        assert tools.consumed(api)  # exactly: no later run's status found, then `error`


def test_only_the_accept_label_runs_the_gate_under_act(tmp_path: Path) -> None:
    """promptci.yml listens to `labeled` for the promptci-accept label (github/accept.py): that label runs the gate
    again; any other label starts no job (and, in a group of its own, cancels no run)."""
    repo = tmp_path / "repo"
    base, head = _docs_repo(repo, {WORKFLOW: no_artifacts})
    event, payload = _event(tmp_path, base, head, "docs")
    payload["action"] = "labeled"
    name, number = payload["repository"]["full_name"], payload["number"]
    flow = [
        tools.fixture("get", f"/repos/{name}/issues/{number}/comments?per_page=100&page=1", 200, []),
        tools.fixture("post", f"/repos/{name}/statuses/{head}", 201, tools.openapi_example("status")),
    ]
    with tools.fixtures_server(tmp_path / "scenarios", {"labeled": flow}) as url:
        for label, runs in (("bug", False), ("promptci-accept", True)):
            event.write_text(json.dumps({**payload, "label": {"name": label}}))
            api = tools.load_scenario(url, "labeled")
            proc, _, messages = _act(repo, event, api, tmp_path / "home")
            assert proc.returncode == 0 and _ran(messages) == runs, messages[-3000:] + proc.stderr[-2000:]
            assert tools.consumed(api) == runs
