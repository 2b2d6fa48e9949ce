"""The real GitHub test stack of docs/testing.md, started for the tests: Prism serving GitHub's OpenAPI
description, the octokit fixtures server with recorded and our own scenarios, real webhook payloads.

The npm packages come from package.json via `npm ci` (scripts/setup). When they are missing a test
is skipped on a developer's machine but fails under CI=true, so a missing install cannot turn green.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import ROOT

NODE_MODULES = ROOT / "node_modules"
OPENAPI = NODE_MODULES / "@octokit" / "openapi" / "generated" / "api.github.com.json"
WEBHOOK_EXAMPLES = NODE_MODULES / "@octokit" / "webhooks-examples" / "api.github.com" / "index.json"
WEBHOOK_SCHEMA = NODE_MODULES / "@octokit" / "webhooks-schemas" / "schema.json"
STOCK_SCENARIOS = NODE_MODULES / "@octokit" / "fixtures" / "scenarios" / "api.github.com"


def need(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path.relative_to(ROOT)} is missing: run scripts/setup (npm ci)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not start in time")


class PrismTransport(httpx.HTTPTransport):
    """Two known limits of Prism, worked around on the wire (docs/testing.md, "Prism: the contract"):

    - a slash inside the `{path}` of the contents endpoint, or the `{ref}` of the Git refs endpoints
      (`heads/BRANCH`), does not route, so it is sent as %2F (GitHub itself takes the slashes as they are,
      which is what the client sends);
    - the `Link` header Prism copies from the description's examples points at api.github.com (the
      client rightly refuses to follow it there), and stateless Prism has no second page anyway."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for slashed in (b"/contents/", b"/git/ref/", b"/git/refs/"):
            head, found, rest = request.url.raw_path.partition(slashed)
            if found:
                path, _, query = rest.partition(b"?")
                raw = head + found + path.replace(b"/", b"%2F") + (b"?" + query if query else b"")
                request.url = request.url.copy_with(raw_path=raw)
        response = super().handle_request(request)
        if "api.github.com" in response.headers.get("link", ""):
            del response.headers["link"]
        return response


@contextmanager
def prism() -> Iterator[str]:
    """Prism validating every request against GitHub's description; answers generated from its schemas."""
    spec = need(OPENAPI)
    port = free_port()
    proc = subprocess.Popen(
        [str(NODE_MODULES / ".bin" / "prism"), "mock", "--dynamic", "-h", "127.0.0.1", "-p", str(port), str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/", headers={"Accept": "application/json"}).status_code == 200, 90, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def fixtures_server(folder: Path, scenarios: dict[str, list[dict]], recorded: tuple[str, ...] = ()) -> Iterator[str]:
    """The octokit fixtures server with `scenarios` of ours (written to `folder`) and the `recorded` ones."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in scenarios.items():
        (folder / f"{name}.json").write_text(json.dumps(entries))
    for name in recorded:
        shutil.copyfile(need(STOCK_SCENARIOS / name / "normalized-fixture.json"), folder / f"{name}.json")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(NODE_MODULES / ".bin" / "octokit-fixtures-server"),
            f"--port={port}",
            f"--fixtures={folder}/*.json",
            "--log-level=warn",
            "--ttl=3600000",  # an hour: a scenario loaded before a slow `act` run must outlive it (10 min did not)
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://localhost:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/ping").status_code == 200, 60, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def fixture(
    method: str, path: str, status: int, response: Any, *, headers: dict | None = None, body: Any = None
) -> dict:
    """One request and its answer in the fixtures server's (nock) format; any request body matches unless given."""
    entry = {
        "scope": "https://api.github.com:443",
        "method": method,
        "path": path,
        "status": status,
        "response": response,
        "reqheaders": {},
        "headers": {"content-type": "application/json; charset=utf-8", **(headers or {})},
    }
    if body is not None:
        entry["body"] = body
    return entry


def publish_flow(repo: str, number: int, sha: str, statuses: int) -> list[dict]:
    """What publishing a first report asks of GitHub: no comment yet, so one is created, then a status per prompt,
    then the overall `promptci` status."""
    where = f"/repos/{repo}"
    return [
        fixture("get", f"{where}/issues/{number}/comments?per_page=100", 200, []),
        fixture("post", f"{where}/issues/{number}/comments", 201, openapi_example("issue-comment")),
    ] + [fixture("post", f"{where}/statuses/{sha}", 201, openapi_example("status"))] * (statuses + 1)


def actions_env(
    event: Path, tmp_path: Path, *, api: str | None = None, event_name: str = "pull_request", token: str = "ghs_test"
) -> dict[str, str]:
    """The variables Actions sets for a step: the event, the token, the output and summary files."""
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": token,
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    return {**env, "GITHUB_API_URL": api} if api else env


def load_scenario(server: str, name: str) -> str:
    """A fresh one-shot copy of a scenario; its base URL."""
    answer = httpx.post(f"{server}/fixtures", json={"scenario": name})
    assert answer.status_code == 201, answer.text
    return answer.json()["url"]


def consumed(base_url: str) -> bool:
    """Whether every request of a loaded scenario was made (the server forgets a finished scenario)."""
    probe = httpx.get(f"{base_url}/probe")
    return probe.status_code == 404 and "not found" in probe.json().get("error", probe.text).lower()


def openapi_example(name: str) -> Any:
    """One of the examples in GitHub's OpenAPI description (components.examples)."""
    spec = json.loads(need(OPENAPI).read_text())
    return spec["components"]["examples"][name]["value"]


def webhook_example(event: str, action: str) -> dict:
    """A real payload from @octokit/webhooks-examples, validated against @octokit/webhooks-schemas."""
    import jsonschema

    events = json.loads(need(WEBHOOK_EXAMPLES).read_text())
    examples = next(e for e in events if e["name"] == event)["examples"]
    payload = next(p for p in examples if p.get("action") == action and _valid(p, event, action))
    jsonschema.validate(payload, webhook_schema(event, action))
    return payload


def fork_run_event(head_sha: str, branch: str) -> dict:
    """GitHub's `workflow_run` payload of a finished `pull_request` run for a pull request from a fork: its head
    repository is the fork, and (as for every fork) it lists no pull request."""
    import copy

    import jsonschema

    payload = copy.deepcopy(webhook_example("workflow_run", "completed"))
    run = payload["workflow_run"]
    run.update(event="pull_request", head_sha=head_sha, head_branch=branch, pull_requests=[])
    fork = run["head_repository"]
    fork.update(full_name=f"mallory/{fork['name']}", owner={**fork["owner"], "login": "mallory"})
    jsonschema.validate(payload, webhook_schema("workflow_run", "completed"))
    return payload


def webhook_schema(event: str, action: str) -> dict:
    schema = json.loads(need(WEBHOOK_SCHEMA).read_text())
    return {**schema, "$ref": f"#/definitions/{event}${action}"}


def _valid(payload: dict, event: str, action: str) -> bool:
    import jsonschema

    return jsonschema.Draft7Validator(webhook_schema(event, action)).is_valid(payload)
