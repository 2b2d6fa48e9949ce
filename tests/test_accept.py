"""An inconclusive verdict never sets the required `promptci` check to success, unless someone with write access
accepts that very commit with the promptci-accept label (github/accept.py). Real webhook payloads; requests checked
by Prism against GitHub's API description, or answered by a stand-in where a refusal is the point."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptci.files import prresults
from promptci.github import accept, actions as gh_actions, overall, publish
from promptci.github.client import Client
from promptci.github.pulls import PullRequestAPI

from . import github_tools as tools

REASON = "inconclusive: not shown either way; the budget is spent (300 calls)"


def _env(tmp_path: Path, payload: dict) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return {
        **tools.actions_env(path, tmp_path, token="ghs_secret_value_123456"),
        "GITHUB_REPOSITORY": payload["repository"]["full_name"],
        "GITHUB_RUN_ID": "7",
    }


def _inconclusive(results: dict) -> prresults.PRResults:
    results = copy.deepcopy(results)
    for p in results["prompts"]:
        p["verdict"] = {"status": "inconclusive", "reason": REASON}
    results["verdict"] = {"status": "inconclusive", "reason": "1 prompt inconclusive"}
    return prresults.parse(results)


class Recording(tools.PrismTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        return super().handle_request(request)


@pytest.fixture(scope="module")
def prism():
    with tools.prism() as url:
        yield url


def _publish(prism: str, tmp_path: Path, payload: dict, data: prresults.PRResults) -> tuple[list, list[dict]]:
    run = gh_actions.from_environ({**_env(tmp_path, payload), "GITHUB_API_URL": prism})
    transport = Recording()
    with Client(run.api_url, run.token, retries=0, transport=transport) as client:
        published = publish.publish(
            data, run, client, repo_dir=".", out_dir=tmp_path, settings=publish.PublishSettings(), stdout=io.StringIO()
        )
    assert published.faults == []  # Prism answers 422 for any request GitHub's description does not accept
    statuses = [body for method, path, body in transport.sent if method == "POST" and "/statuses/" in path]
    return transport.sent, [s for s in statuses if s["context"] == overall.CONTEXT]


def test_an_inconclusive_verdict_fails_the_required_check_and_says_what_to_do(
    prism: str, demo_results: dict, tmp_path: Path
) -> None:
    sent, [status] = _publish(
        prism, tmp_path, tools.webhook_example("pull_request", "synchronize"), _inconclusive(demo_results)
    )
    assert status["state"] == "failure" and overall.ACCEPT_LABEL in status["description"]
    assert not any("/permission" in path for _, path, _ in sent)  # no label event: nobody to ask about
    assert overall.STATE["inconclusive"] != "success"


def test_the_accept_label_asks_github_who_applied_it_and_fails_closed_on_an_unknown_role(
    prism: str, demo_results: dict, tmp_path: Path
) -> None:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "labeled"))
    payload["label"]["name"] = overall.ACCEPT_LABEL
    sent, [status] = _publish(prism, tmp_path, payload, _inconclusive(demo_results))
    login = payload["sender"]["login"]
    assert any(path.endswith(f"/collaborators/{login}/permission") for _, path, _ in sent)  # a valid request
    # Prism answers with made-up values of the right types: a role that is not a writer's accepts nothing
    assert status["state"] == "failure" and "no write access" in status["description"], status
    failed = copy.deepcopy(demo_results)  # a verdict that is not inconclusive is not the label's to change
    assert failed["verdict"]["status"] == "fail"
    sent, [status] = _publish(prism, tmp_path, payload, prresults.parse(failed))
    assert status["state"] == "failure" and not any("/permission" in path for _, path, _ in sent)


class StandIn:
    """GitHub's answer to the permission question, as given; every other request recorded."""

    def __init__(self, permission: str) -> None:
        self.permission = permission
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        self.sent.append((method, path, json))
        if path.endswith("/permission"):
            return {"permission": self.permission, "role_name": self.permission}
        return {}


@pytest.mark.parametrize(
    ("action", "label", "permission", "state", "says"),
    [
        ("labeled", overall.ACCEPT_LABEL, "read", "failure", "has no write access"),
        ("labeled", overall.ACCEPT_LABEL, "triage", "failure", "has no write access"),
        ("labeled", overall.ACCEPT_LABEL, "maintain", "success", "accepted by @"),
        ("labeled", overall.ACCEPT_LABEL, "admin", "success", "accepted by @"),
        ("labeled", "bug", "admin", "failure", "undecided, not passed"),  # another label accepts nothing
        ("synchronize", overall.ACCEPT_LABEL, "admin", "failure", "applied to an earlier commit"),  # pushed since
    ],
)
def test_only_a_writer_accepts_and_only_the_commit_labeled(
    demo_results: dict, tmp_path: Path, action: str, label: str, permission: str, state: str, says: str
) -> None:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "labeled"))
    payload["action"] = action
    payload["label"]["name"] = label
    payload["pull_request"]["labels"] = [{"name": label}]
    run = gh_actions.from_environ(_env(tmp_path, payload))
    client = StandIn(permission)
    assert run.pr is not None
    api = PullRequestAPI(client, run.pr.repo, run.pr.number)  # type: ignore[arg-type]
    data = _inconclusive(demo_results)
    accepted = accept.acceptance(run, client)  # type: ignore[arg-type]
    publish._overall(api, [run.pr.head_sha], data, run, publish.Published(), accepted)
    [(_, path, body)] = [s for s in client.sent if "/statuses/" in s[1]]
    assert path.endswith(run.pr.head_sha) and body["state"] == state and says in body["description"], body
