"""The GitHub side against GitHub's own artifacts: real webhook payloads and their schemas, the octokit
fixtures server (recordings of the real API, and scenarios of ours in the same format), Prism serving
GitHub's OpenAPI description for every request `publish` makes. Nothing here reaches GitHub."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import jsonschema
import pytest

from promptci.errors import InfraError, InputError
from promptci.files import prresults
from promptci.github import actions as gh_actions, gitdata, publish, suggestions, workflow
from promptci.github.client import APIError, Client
from promptci.github.pulls import PullRequestAPI, review_comment
from promptci.rendering.render import MARKER

from . import github_tools as tools

BOT = "github-actions[bot]"
OCTOKIT = {
    "Accept": "application/vnd.github.v3+json",
    "Authorization": "token 0000000000000000000000000000000000000001",
}


# ---- the Actions environment and real payloads ----------------------------------------------------------


def _event(tmp_path: Path, payload: dict) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return {
        **tools.actions_env(path, tmp_path, token="ghs_secret_value_123456"),
        "GITHUB_REPOSITORY": payload["repository"]["full_name"],
        "GITHUB_RUN_ID": "7",
    }


def test_a_real_pull_request_payload_is_read(tmp_path: Path) -> None:
    payload = tools.webhook_example("pull_request", "synchronize")
    run = gh_actions.from_environ(_event(tmp_path, payload))
    pr = run.pr
    assert pr is not None and pr.number == payload["number"] and pr.head_sha == payload["pull_request"]["head"]["sha"]
    assert pr.repo == "Codertocat/Hello-World" and not pr.from_fork
    assert run.run_url == "https://github.com/Codertocat/Hello-World/actions/runs/7"
    assert publish.read_only_reason(run) == ""


def test_a_fork_pull_request_is_read_only_and_says_why(tmp_path: Path) -> None:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    jsonschema.validate(payload, tools.webhook_schema("pull_request", "synchronize"))  # still a valid payload
    run = gh_actions.from_environ(_event(tmp_path, payload))
    assert run.pr is not None and run.pr.from_fork and "fork" in publish.read_only_reason(run)


def test_a_payload_without_the_head_commit_is_refused_with_the_field(tmp_path: Path) -> None:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    del payload["pull_request"]["head"]["sha"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, tools.webhook_schema("pull_request", "synchronize"))
    with pytest.raises(InputError, match=r"event.json.*pull_request.*'sha'"):
        gh_actions.from_environ(_event(tmp_path, payload))


def test_outside_actions_github_mode_is_a_usage_error() -> None:
    with pytest.raises(InputError, match="not inside a GitHub Actions run"):
        gh_actions.from_environ({})


# ---- workflow commands ------------------------------------------------------------------------------------


def test_annotations_escape_what_could_start_a_command() -> None:
    line = workflow.annotation("error", "50% worse\n::add-mask::x", file="p/a,b:c.prompt.yml", line=3, title="t")
    assert line == "::error file=p/a%2Cb%3Ac.prompt.yml,line=3,title=t::50%25 worse%0A::add-mask::x"
    out = io.StringIO()
    workflow.annotate(out, [("error", f"e{n}", {}) for n in range(12)] + [("warning", "w", {})])
    lines = out.getvalue().splitlines()
    assert sum(1 for x in lines if x.startswith("::error")) == 10 and "2 more annotations" in lines[-1]


def test_outputs_survive_any_value_and_the_summary_stays_under_one_mebibyte(tmp_path: Path) -> None:
    output = tmp_path / "output"
    workflow.set_outputs(output, {"scores": '{"a": 1}\nEOF\nverdict=pass', "verdict": "fail"})
    parsed, lines = {}, output.read_text().splitlines()
    while lines:  # parse as the runner does: name<<DELIM, value lines, DELIM
        name, delimiter = lines.pop(0).split("<<")
        end = lines.index(delimiter)
        parsed[name], lines = "\n".join(lines[:end]), lines[end + 1 :]
    assert parsed == {"scores": '{"a": 1}\nEOF\nverdict=pass', "verdict": "fail"}
    summary = tmp_path / "summary.md"
    workflow.write_summary(summary, "🙂" * 400_000)  # 1.6 MB of UTF-8 in 400,000 characters
    data = summary.read_bytes()
    assert len(data) <= workflow.SUMMARY_LIMIT_BYTES and data.decode("utf-8").endswith("results.json)\n")


# ---- the client on recorded GitHub responses -------------------------------------------------------------


@pytest.fixture(scope="module")
def fixtures_server(tmp_path_factory: pytest.TempPathFactory):
    with tools.fixtures_server(
        tmp_path_factory.mktemp("gh-scenarios"), _scenarios(), recorded=("paginate-issues",)
    ) as url:
        yield url


def test_pagination_follows_githubs_own_link_headers(fixtures_server: str) -> None:
    url = tools.load_scenario(fixtures_server, "paginate-issues")  # recorded against api.github.com
    with Client(url, "", headers=OCTOKIT) as client:
        issues = list(client.paginate("/repos/octokit-fixture-org/paginate-issues/issues", {"per_page": 3}))
    assert len(issues) == 13 and len({i["id"] for i in issues}) == 13  # 5 pages, the later ones at /repositories/
    assert tools.consumed(url)


def test_the_sticky_comment_is_found_past_100_comments_and_updated_in_place(fixtures_server: str) -> None:
    url = tools.load_scenario(fixtures_server, "sticky-update")
    with Client(url, "t0ken") as client:
        api = PullRequestAPI(client, "octo/repo", 1)
        comment = api.upsert_comment(f"{MARKER}\nnew report", marker=MARKER, login=BOT)
        api.set_status("a" * 40, context="promptci/prompts/a.prompt.yml", state="failure", description="worse")
    assert comment is not None and comment.id == 4242 and not comment.created  # not mallory's planted marker
    assert tools.consumed(url)


def test_the_first_report_creates_the_sticky_comment(fixtures_server: str) -> None:
    url = tools.load_scenario(fixtures_server, "sticky-create")
    with Client(url, "t0ken") as client:
        comment = PullRequestAPI(client, "octo/repo", 1).upsert_comment(f"{MARKER}\nr", marker=MARKER, login=BOT)
    assert comment is not None and comment.created and tools.consumed(url)


def test_server_errors_and_rate_limits_are_retried(fixtures_server: str) -> None:
    url = tools.load_scenario(fixtures_server, "flaky")
    waits: list[float] = []
    with Client(url, "t0ken", sleep=waits.append) as client:
        PullRequestAPI(client, "octo/repo", 1).set_status("a" * 40, context="c", state="success", description="d")
    assert waits == [1.0, 3.0] and tools.consumed(url)  # backoff after the 502; GitHub's retry-after after the 403


def test_a_refused_token_is_an_infrastructure_error_that_names_the_fix_not_the_token(fixtures_server: str) -> None:
    url = tools.load_scenario(fixtures_server, "unauthorized")
    with Client(url, "ghs_secret_value_123456", sleep=lambda _: None) as client, pytest.raises(APIError) as caught:
        PullRequestAPI(client, "octo/repo", 1).set_status("a" * 40, context="c", state="success", description="d")
    assert isinstance(caught.value, InfraError) and caught.value.exit_code == 3 and caught.value.status == 401
    assert "Bad credentials" in str(caught.value) and "token" in str(caught.value)
    assert "ghs_secret" not in str(caught.value)


def test_a_comment_github_finds_too_long_is_replaced_by_a_short_one(fixtures_server: str, tmp_path: Path) -> None:
    url = tools.load_scenario(fixtures_server, "too-long")
    run = gh_actions.from_environ(_event(tmp_path, tools.webhook_example("pull_request", "synchronize")))
    body = f"{MARKER}\n## ✅ promptci: fine\n\nlots of detail\n\nmore"
    with Client(url, "t0ken") as client:
        comment = publish._comment(
            PullRequestAPI(client, "octo/repo", 1), body, publish.PublishSettings(), run, create=True
        )
    assert comment is not None and comment.created and tools.consumed(url)


def test_a_fault_on_a_fork_is_neutral_and_anywhere_else_an_error(tmp_path: Path) -> None:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    same = gh_actions.from_environ(_event(tmp_path, payload))
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    fork = gh_actions.from_environ(_event(tmp_path, payload))
    missing_key = InfraError("openai/gpt-4o-mini: AuthenticationError (fix: set OPENAI_API_KEY)")
    out = io.StringIO()
    assert publish.fault(fork, missing_key, stdout=out) == 0
    assert "::warning" in out.getvalue() and "not gated" in (tmp_path / "summary.md").read_text()
    assert "verdict<<" in (tmp_path / "output").read_text() and "\nneutral\n" in (tmp_path / "output").read_text()
    assert publish.fault(same, missing_key, stdout=io.StringIO()) == 3


def test_an_unreachable_github_is_reported_after_retries() -> None:
    with (
        Client("http://127.0.0.1:9", "t", sleep=lambda _: None, retries=2) as client,
        pytest.raises(InfraError, match="unreachable after 3 tries"),
    ):
        client.request("GET", "/repos/o/r")


def _tested_pr() -> gh_actions.PullRequest:
    return gh_actions.PullRequest(
        number=1,
        repo="octo/repo",
        head_sha=TESTED,
        head_ref="feature/x",
        head_repo="octo/repo",
        base_ref="main",
        base_sha="c" * 40,
    )


def _commit(url: str, tmp_path: Path, *, job_token: bool = False) -> tuple[publish.Published, str]:
    published, stdout = publish.Published(), io.StringIO()
    with Client(url, "t0ken", retries=0) as client:
        publish._commit_subsets(SUBSETS, client, _tested_pr(), str(tmp_path), published, stdout, job_token=job_token)
    return published, stdout.getvalue()


def test_the_subsets_are_one_commit_on_the_tested_head_and_a_fast_forward(fixtures_server: str, tmp_path: Path) -> None:
    url = tools.load_scenario(fixtures_server, "commit-subsets")  # each request's body is matched exactly
    published, log = _commit(url, tmp_path)
    sha = tools.openapi_example("git-commit")["sha"]
    assert published.pushed == sha and published.commits == dict.fromkeys(SUBSETS, sha)
    assert published.faults == [] and "::warning" not in log and tools.consumed(url)


def test_a_subset_commit_pushed_with_the_jobs_token_says_other_checks_will_not_run_on_it(
    fixtures_server: str, tmp_path: Path
) -> None:
    """With GITHUB_TOKEN (the default bot login) promptci's commit starts no workflow: the repository's other
    required checks never run on the new head, and a warning on the run says so and what to do."""
    url = tools.load_scenario(fixtures_server, "commit-subsets")
    published, log = _commit(url, tmp_path, job_token=True)
    assert published.pushed and tools.consumed(url)
    assert "::warning title=promptci%3A other checks do not run on its commit::" in log
    assert publish.NO_RUN_ON_OWN_COMMIT in log and "app's token" in log


@pytest.mark.parametrize("scenario", ["commit-branch-moved", "commit-race-lost"])
def test_a_branch_the_author_moved_gets_no_commit_but_a_warning(
    fixtures_server: str, tmp_path: Path, scenario: str
) -> None:
    url = tools.load_scenario(fixtures_server, scenario)
    published, log = _commit(url, tmp_path)
    assert published.pushed == "" and published.commits == {} and published.faults == []
    assert "::warning title=promptci%3A subset not committed::" in log and "feature/x" in log
    assert ("is at bbbbbbbbbbbb" if scenario == "commit-branch-moved" else "refused a fast-forward") in log
    assert tools.consumed(url)  # and no request beyond the scenario's: a later one would not have matched


def test_a_crash_halfway_through_the_commit_moves_no_branch(fixtures_server: str, tmp_path: Path) -> None:
    url = tools.load_scenario(fixtures_server, "commit-crash")  # GitHub fails on the second blob
    published, _ = _commit(url, tmp_path)
    assert published.pushed == "" and published.commits == {}
    assert len(published.faults) == 1 and "500" in published.faults[0]
    assert tools.consumed(url)  # no tree, no commit, no ref update was asked for


def test_a_token_that_may_not_push_gets_the_patch_and_a_warning_not_a_fault(
    fixtures_server: str, tmp_path: Path
) -> None:
    url = tools.load_scenario(fixtures_server, "commit-forbidden")  # contents: read, as the shipped workflow has
    published, log = _commit(url, tmp_path)
    assert published.pushed == "" and published.faults == [] and "contents: write" in log
    assert tools.consumed(url)


def _scenarios() -> dict[str, list[dict]]:
    """Our flows in the fixtures server's format; response bodies are GitHub's own OpenAPI examples."""
    comment = tools.openapi_example("issue-comment")
    status = tools.openapi_example("status")

    def someone(n: int, login: str, body: str) -> dict:
        return {**comment, "id": n, "body": body, "user": {**comment["user"], "login": login}}

    page1 = [someone(n, "octocat", "LGTM") for n in range(1, 100)] + [someone(100, "mallory", f"{MARKER} gotcha")]
    page2 = [someone(4242, BOT, f"{MARKER}\nold report")]
    link = '<https://api.github.com/repositories/9/issues/1/comments?per_page=100&page=2>; rel="next"'
    status_path = f"/repos/octo/repo/statuses/{'a' * 40}"
    comments, updated, fixture = "/repos/octo/repo/issues/1/comments", f"{MARKER}\nnew report", tools.fixture
    return {
        "sticky-update": [
            fixture("get", f"{comments}?per_page=100", 200, page1, headers={"link": link}),
            fixture("get", "/repositories/9/issues/1/comments?per_page=100&page=2", 200, page2),
            fixture(
                "patch",
                "/repos/octo/repo/issues/comments/4242",
                200,
                {**page2[0], "body": updated},
                body={"body": updated},
            ),
            fixture(
                "post",
                status_path,
                201,
                status,
                body={"state": "failure", "context": "promptci/prompts/a.prompt.yml", "description": "worse"},
            ),
        ],
        "sticky-create": [
            fixture("get", f"{comments}?per_page=100", 200, []),
            fixture("post", comments, 201, comment, body={"body": f"{MARKER}\nr"}),
        ],
        "flaky": [
            fixture("post", status_path, 502, {"message": "Server Error"}),
            fixture(
                "post",
                status_path,
                403,
                {"message": "You have exceeded a secondary rate limit."},
                headers={"retry-after": "3"},
            ),
            fixture("post", status_path, 201, status),
        ],
        "too-long": [
            fixture("get", f"{comments}?per_page=100", 200, []),
            fixture(
                "post",
                comments,
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "IssueComment", "code": "custom", "field": "body", "message": "Body is too long"}
                    ],
                },
            ),
            fixture("get", f"{comments}?per_page=100", 200, []),
            fixture("post", comments, 201, comment),
        ],
        "unauthorized": [
            fixture(
                "post",
                status_path,
                401,
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            ),
        ],
        **_commit_scenarios(),
    }


TESTED, AUTHORS = "a" * 40, "b" * 40  # the head promptci tested; a commit the author pushed after it
SUBSETS = {"eval_sets/a.subset.yml": "items: [x, y]\n", "eval_sets/b.subset.yml": "items: [z]\n"}


def _commit_scenarios() -> dict[str, list[dict]]:
    """The Git data API flow of a subset commit: the branch checked, blobs, a tree on the tested head's tree,
    a commit whose parent is the tested head, a fast-forward-only ref update."""
    where, fixture = "/repos/octo/repo/git", tools.fixture
    ref, commit = tools.openapi_example("git-ref"), tools.openapi_example("git-commit")
    tree, blob = tools.openapi_example("git-tree"), tools.openapi_example("short-blob")
    head_commit = {**tools.openapi_example("git-commit-2"), "sha": TESTED}

    def at(sha: str) -> dict:
        return fixture("get", f"{where}/ref/heads/feature/x", 200, {**ref, "object": {**ref["object"], "sha": sha}})

    blobs = [
        fixture(
            "post", f"{where}/blobs", 201, {**blob, "sha": f"{n}" * 40}, body={"content": text, "encoding": "utf-8"}
        )
        for n, text in enumerate(SUBSETS.values(), 1)
    ]
    entries = [
        {"path": path, "mode": "100644", "type": "blob", "sha": f"{n}" * 40} for n, path in enumerate(SUBSETS, 1)
    ]
    made = (
        [at(TESTED), fixture("get", f"{where}/commits/{TESTED}", 200, head_commit)]
        + blobs
        + [
            fixture(
                "post", f"{where}/trees", 201, tree, body={"base_tree": head_commit["tree"]["sha"], "tree": entries}
            ),
            fixture(
                "post",
                f"{where}/commits",
                201,
                commit,
                body={
                    "message": publish.OWN_COMMIT + "\n\n- eval_sets/a.subset.yml\n- eval_sets/b.subset.yml\n",
                    "tree": tree["sha"],
                    "parents": [TESTED],
                },
            ),
        ]
    )
    update = f"{where}/refs/heads/feature/x"
    return {
        "commit-subsets": made
        + [
            fixture(
                "patch",
                update,
                200,
                {**ref, "object": {**ref["object"], "sha": commit["sha"]}},
                body={"sha": commit["sha"], "force": False},
            )
        ],
        "commit-branch-moved": [at(AUTHORS)],  # nothing is made at all
        "commit-race-lost": made
        + [
            fixture(
                "patch",
                update,
                422,
                {"message": "Update is not a fast forward", "documentation_url": "https://docs.github.com/rest"},
                body={"sha": commit["sha"], "force": False},
            )
        ],
        "commit-crash": made[:3] + [fixture("post", f"{where}/blobs", 500, {"message": "Server Error"})],
        "commit-forbidden": made[:2]
        + [
            fixture(
                "post",
                f"{where}/blobs",
                403,
                {
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        ],
    }


# ---- suggestions ------------------------------------------------------------------------------------------

HEAD = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\ni: 9\nj: 10\n"


def test_suggestions_fit_only_inside_the_pull_requests_hunks() -> None:
    old = HEAD.replace("b: 2", "b: two")  # the pull request changed line 2: lines 1-5 are in its hunk
    allowed = suggestions.commentable(old, HEAD)
    assert allowed == [range(1, 6)]
    fit, left_out = suggestions.suggestions(HEAD, HEAD.replace("c: 3", "c: three").replace("j: 10", "j: ten"), allowed)
    assert [(s.start, s.end, s.lines) for s in fit] == [(3, 3, ["c: three\n"])] and left_out == 1
    body = fit[0].body("<!-- m -->")
    assert body == "<!-- m -->\n```suggestion\nc: three\n```\n"
    tricky = suggestions.Suggestion(1, 1, ["````\n"]).body("<!-- m -->")
    assert tricky.splitlines()[1] == "`````suggestion"  # a longer fence than anything inside


# ---- every request of a whole publish, checked by GitHub's OpenAPI description ------------------------------


@pytest.fixture(scope="module")
def prism():
    with tools.prism() as url:
        yield url


def test_publish_sends_only_requests_githubs_api_description_accepts(
    prism: str, demo_results: dict, tmp_path: Path
) -> None:
    payload = tools.webhook_example("pull_request", "synchronize")
    run = gh_actions.from_environ({**_event(tmp_path, payload), "GITHUB_API_URL": prism})
    assert demo_results["prompts"][0]["subset"]["text"]  # the demo refreshes the subset: offered, not committed
    stdout = io.StringIO()
    with Client(run.api_url, run.token, retries=0, transport=tools.PrismTransport()) as client:
        published = publish.publish(
            prresults.parse(demo_results),
            run,
            client,
            repo_dir=".",
            out_dir=tmp_path,
            settings=publish.PublishSettings(),
            stdout=stdout,
        )
    assert published.faults == []  # Prism answers 422 with the rule broken for any invalid request
    assert published.comment_url and published.commits == {} and published.pushed == ""  # commit-subsets is off
    assert run.pr is not None and published.statuses == [
        run.pr.head_sha
    ]  # `promptci` on the tested head (no commit of promptci's own)
    summary = (tmp_path / "summary.md").read_text()
    assert "Apply with `git apply`" in summary and "intent_recognition.subset.yml" in summary
    assert summary.startswith(MARKER) and "Every item compared" in summary
    assert "::error file=prompts/intent.prompt.yml,line=" in stdout.getvalue()  # the demo's regression
    assert "verdict<<" in (tmp_path / "output").read_text()


def test_a_fork_gets_the_summary_and_a_warning_and_nothing_is_sent(demo_results: dict, tmp_path: Path) -> None:
    payload = copy.deepcopy(tools.webhook_example("pull_request", "synchronize"))
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    run = gh_actions.from_environ({**_event(tmp_path, payload), "GITHUB_API_URL": "http://127.0.0.1:9"})
    stdout = io.StringIO()
    with Client(run.api_url, run.token, retries=0) as client:  # nothing listens there: any request would fail
        published = publish.publish(
            prresults.parse(demo_results),
            run,
            client,
            repo_dir=".",
            out_dir=tmp_path,
            settings=publish.PublishSettings(),
            stdout=stdout,
        )
    assert published.faults == [] and not published.comment_url and "fork" in published.read_only
    assert "::warning title=promptci%3A report in the job summary only::" in stdout.getvalue()
    summary = (tmp_path / "summary.md").read_text()
    assert "Not posted to the pull request" in summary and "subset" in summary and "git apply" in summary


def test_the_git_data_requests_of_a_subset_commit_are_valid(prism: str) -> None:
    # static examples: the branch is at the git-ref example's commit, so the whole flow runs
    tested = tools.openapi_example("git-ref")["object"]["sha"]
    with Client(
        prism, "t0ken", retries=0, transport=tools.PrismTransport(), headers={"Prefer": "dynamic=false"}
    ) as client:
        sha = gitdata.commit_files(client, "octo/repo", "feature/x", tested, SUBSETS, "m")
        assert sha == tools.openapi_example("git-commit")["sha"]
        with pytest.raises(APIError) as caught:  # a tree entry GitHub's description does not allow
            client.request(
                "POST",
                "/repos/octo/repo/git/trees",
                json={"base_tree": "t", "tree": [{"path": "p", "mode": "100645", "type": "blob", "sha": "s"}]},
            )
    assert caught.value.status == 422


def test_a_review_of_suggestions_is_valid(prism: str) -> None:
    fit, _ = suggestions.suggestions(
        HEAD, HEAD.replace("c: 3", "c: three\nc2: 3.5").replace("e: 5\nf: 6", "ef"), [range(1, 10)]
    )
    assert [(s.start, s.end) for s in fit] == [(3, 3), (5, 6)]  # a one-line and a two-line suggestion
    with Client(prism, "t0ken", retries=0, transport=tools.PrismTransport()) as client:
        api = PullRequestAPI(client, "octo/repo", 1)
        mark = suggestions.marker("p", "x")
        api.review(
            "a" * 40,
            [review_comment("prompts/a.prompt.yml", s.start, s.end, s.body(mark)) for s in fit],
            publish.SUGGESTED,
        )
        with pytest.raises(APIError) as caught:  # Prism holds us to the description: a side GitHub does not know
            client.request(
                "POST",
                "/repos/octo/repo/pulls/1/comments",
                json={"body": "x", "commit_id": "a" * 40, "path": "p", "line": 1, "side": "MIDDLE"},
            )
    assert caught.value.status == 422  # (the body is generated from the description's 422 schema)


# ---- suggestions on the head commit's lines, when the base branch moved under the pull request ----------

PROMPT_LINES = [
    "name: triage",
    "model: local/gemma-3-270m",
    "messages:",
    "  - role: system",
    "    content: Sort the ticket.",
    "  - role: user",
    "    content: '{{input}}'",
    "testData:",
    "  - input: my card was charged twice",
    "    expected: billing",
]


def _git(repo: Path, *args: str) -> str:
    import subprocess

    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout.strip()


def _moved_base_checkout(tmp_path: Path) -> tuple[Path, str]:
    """A pull request that changes line 5 of a prompt; after it branched, main added 3 lines at the top.
    Returned: the fetch-depth 2 checkout of GitHub's merge commit (as actions/checkout makes it) and the
    pull request's head SHA."""
    origin, clone, path = tmp_path / "origin", tmp_path / "checkout", "prompts/triage.prompt.yml"
    origin.mkdir()
    clone.mkdir()
    (origin / "prompts").mkdir()
    (origin / path).write_text("\n".join(PROMPT_LINES) + "\n")
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "base")
    _git(origin, "checkout", "-qb", "pr")
    (origin / path).write_text("\n".join(PROMPT_LINES).replace("Sort the ticket.", "Sort it.") + "\n")
    _git(origin, "commit", "-qam", "shorter instruction")
    head = _git(origin, "rev-parse", "HEAD")
    _git(origin, "checkout", "-q", "main")
    (origin / path).write_text(
        "# owner: support\n# reviewed: 2025\n# keep labels short\n" + "\n".join(PROMPT_LINES) + "\n"
    )
    _git(origin, "commit", "-qam", "main adds a header")
    _git(origin, "merge", "-q", "--no-ff", "-m", "Merge pr into main", "pr")
    _git(origin, "update-ref", "refs/pull/1/merge", "HEAD")
    _git(clone, "init", "-q")
    _git(clone, "fetch", "-q", "--depth=2", f"file://{origin}", "+refs/pull/1/merge:refs/remotes/pull/1/merge")
    _git(clone, "checkout", "-q", "--detach", "refs/remotes/pull/1/merge")
    return clone, head


def test_suggestions_land_on_the_head_commits_lines_in_one_review(tmp_path: Path) -> None:
    from promptci import gitdiff
    from promptci.pullrequest import changes

    from .test_prresults import results

    clone, head = _moved_base_checkout(tmp_path)
    assert gitdiff.parents(str(clone), "HEAD")[1] == head
    [change] = changes.changed_prompts(str(clone), "HEAD^1", "HEAD")
    assert change.new_text is not None
    merged = change.new_text.splitlines()
    assert merged.index("    content: Sort it.") + 1 == 8  # line 8 in the merge commit, line 5 on the head
    best = (
        change.new_text.replace("Sort it.", "Sort the ticket into one label.")
        .replace("'{{input}}'", "'Ticket: {{input}}'")
        .replace("expected: billing", "expected: billing  # outside the diff")
    )
    data = results()
    prompt = data["prompts"][0]
    prompt.update(
        path=change.path,
        change={
            **prompt["change"],
            "old_path": change.old_path,
            "new_path": change.new_path,
            "old_text": change.old_text,
            "new_text": change.new_text,
        },
    )
    prompt["optimizer"] = {
        "improved": True,
        "stopped": "steps",
        "steps_done": 1,
        "subset_score": {"head": 0.5, "best": 0.75},
        "score_after_step": [0.5, 0.75],
        "best_text": best,
        "diff": "",
        "attempts": [],
        "verdict": {
            "status": "better",
            "reason": "shown better",
            "gain": 0.3,
            "low": 0.1,
            "high": 0.5,
            "items": 40,
            "significance": 0.05,
            "margin": 0.03,
        },
    }
    mark = suggestions.marker(change.path, best)
    expected = [
        review_comment(
            change.path,
            5,
            5,
            suggestions.Suggestion(5, 5, ["    content: Sort the ticket into one label.\n"]).body(mark),
        ),
        review_comment(
            change.path, 7, 7, suggestions.Suggestion(7, 7, ["    content: 'Ticket: {{input}}'\n"]).body(mark)
        ),
    ]
    where = "/repos/octo/repo/pulls/1"
    flow = [
        tools.fixture("get", f"{where}/comments?per_page=100", 200, []),
        tools.fixture(
            "post",
            f"{where}/reviews",
            200,
            tools.openapi_example("pull-request-review"),
            body={"commit_id": head, "event": "COMMENT", "body": publish.SUGGESTED, "comments": expected},
        ),
    ]
    with tools.fixtures_server(tmp_path / "scenarios", {"review": flow}) as server:
        url = tools.load_scenario(server, "review")
        with Client(url, "t0ken", retries=0) as client:
            count = publish._suggest(PullRequestAPI(client, "octo/repo", 1), head, prresults.parse(data), str(clone))
        assert count == 2 and tools.consumed(url)  # on the head's lines (5 and 7, not 8 and 10), in one review
    for verdict in ({**prompt["optimizer"]["verdict"], "status": "not shown better"}, None):
        prompt["optimizer"]["verdict"] = verdict  # not shown better by the gate's test, or not judged: not posted
        with Client("http://127.0.0.1:9", "t0ken", retries=0) as client:  # nothing listens: a request would fail
            assert (
                publish._suggest(PullRequestAPI(client, "octo/repo", 1), head, prresults.parse(data), str(clone)) == 0
            )


@pytest.mark.parametrize("path", ["prompts/a.prompt.yml", ".github/workflows/ci.yml"])
def test_a_subset_commit_never_writes_a_prompt_or_a_workflow(tmp_path: Path, path: str) -> None:
    """The commit checks each path by the pull-request run's rule again (subsetfile.check_destination), before
    any request: nothing here listens, so a request would be an unreachable-GitHub fault, not this refusal."""
    with Client("http://127.0.0.1:9", "t0ken", retries=0) as client:
        with pytest.raises(InputError, match=r"promptci.subset"):
            gitdata.commit_files(client, "octo/repo", "feature/x", TESTED, {**SUBSETS, path: "x: 1\n"}, "m")
        published, stdout = publish.Published(), io.StringIO()
        publish._commit_subsets(
            {path: "x: 1\n"}, client, _tested_pr(), str(tmp_path), published, stdout, job_token=False
        )
    assert not published.pushed and len(published.faults) == 1 and path in published.faults[0]
