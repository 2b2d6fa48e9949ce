"""GitHub Models compatibility: the files in tests/data/ghmodels load, render and score as `gh models eval` does.

Every expectation below was derived by reading gh-models (github/gh-models, `pkg/prompt/prompt.go` and
`cmd/eval/eval.go`, `builtins.go`), not by running gh:

- Loading: Go's yaml.v3 into `prompt.File` — unknown keys are dropped, any scalar reads as text, numbers
  only as numbers; `model`, evaluator `name` and llm `choices` may be absent.
- Rendering (`TemplateString`): for each key of the row, every `{{key}}` becomes the value, a string as is,
  anything else as Go's `fmt.Sprintf("%v")` (`3`, `0.5`, `1.5e+06`, `true`, `[bug p1]`, `<nil>`,
  `map[a:x b:2]`); everything else, `{{ input }}`, `${{ ... }}`, `{% ... %}` included, is sent as written.
- Scoring (`runStringEvaluator`, `runLLMEvaluator`, `runPluginEvaluator`): a string check uses its first
  non-empty condition in the order equals, contains, startsWith, endsWith (all but equals ignore case); a
  judge's answer, lower-cased, scores the first choice it contains, else 0; `github/<name>` are judges on
  `openai/gpt-4o` with choices "1".."5" scored 0, 0.25, 0.5, 0.75, 1.

GitHub cannot be reached from the tests, so GitHub Models' inference endpoint is stood in for by a real HTTP
server on loopback (tests/openai_server.py) at the path gh calls, `/inference/chat/completions`; the tests
check that promptci sends what that endpoint expects: the path, `Authorization: Bearer <token>`, the catalog id
as `model`, and the messages and parameters in the body.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from promptci import promptfile
from promptci.errors import InfraError, InputError
from promptci.files import evalset
from promptci.files.evalset import Item
from promptci.models import ghmodels
from promptci.models.llm import ModelClient, Params
from promptci.runner import Task, run
from promptci.scoring import build_checks, evaluate

from .helpers import ROOT, run_cli
from .openai_server import Fault, OpenAIServer

DATA = ROOT / "tests" / "data" / "ghmodels"
TOKEN = "ghs_stand-in-token-not-a-secret"

# The messages gh sends for each file's first row.
FIRST_MESSAGES: dict[str, list[dict[str, str]]] = {
    "editor.prompt.yml": [  # the message's name: is not sent (gh's Message has role and content only)
        {"role": "system", "content": "You write short release notes."},
        {"role": "user", "content": "Pull requests: #1 fix login, #2 add dark mode"},
    ],
    "placeholders.prompt.yml": [
        {
            "role": "system",
            "content": "Workflow context: ${{ secrets.TOKEN }} and {{ input }} stay as written.\n"
            "{% if urgent %}Urgent!{% endif %} {{PASTE your data here}}",
        },
        {
            "role": "user",
            "content": "Issue 42: Crash on start (a,b\n1,2); count=3 ratio=0.5 big=1.5e+06 ok=true "
            "tags=[bug p1] none=<nil> meta=map[a:x b:2] {{missing}}",
        },
    ],
    "rows.prompt.yml": [{"role": "user", "content": "Repeat: hello"}],
    "checks.prompt.yml": [{"role": "user", "content": "Capital of France?"}],
    "judges.prompt.yml": [{"role": "user", "content": "How do I reset my password?"}],
}

# For a given model output, each evaluator's name and score for the first row. gh names an unnamed evaluator
# "" in its output; promptci names it by what it is (the `uses:` value, or kind and position).
JUDGE_REPLIES = {"Reply good or bad": "Good.", "Grade (1-5)": "Score: 4", "the capital of": "yes"}
EVALUATIONS: dict[str, tuple[str, list[tuple[str, float]]]] = {
    "editor.prompt.yml": ("Dark Mode arrives, and login is fixed.", [("mentions dark mode", 1.0)]),
    "placeholders.prompt.yml": ("It is a CRASH.", [("says crash", 1.0)]),
    "rows.prompt.yml": ("hello", [("string[0]", 1.0)]),
    "checks.prompt.yml": (
        "The capital is Paris.",
        [
            (
                "several conditions",
                1.0,
            ),  # equals is empty, so contains "{{expected}}" = "Paris" decides; endsWith unused
            ("string[1]", 1.0),  # startsWith THE, ignoring case
            ("exact", 0.0),  # equals "Paris", case and all
            ("no choices", 0.0),  # the judge said "yes", but there is no choice to match
            ("graded", 1.0),  # "good." contains "good"
        ],
    ),
    "judges.prompt.yml": (
        'Click "Forgot password" on the sign-in page.',
        [
            ("github/similarity", 0.75),
            ("coherent", 0.75),
            ("github/fluency", 0.75),
            ("github/relevance", 0.75),
            ("github/groundedness", 0.75),  # "score: 4" contains "4" and no lower digit: 0.75
        ],
    ),
}


def _reply(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    return next((answer for cue, answer in JUDGE_REPLIES.items() if cue in text), "an answer")


@pytest.fixture
def github_models(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stand-in endpoint, with only a GitHub token in the environment (no other provider's key)."""
    for name in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL", *ghmodels.TOKEN_ENVS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with OpenAIServer(_reply) as server:
        monkeypatch.setenv("PROMPTCI_GITHUB_MODELS_URL", server.url.removesuffix("/v1") + "/inference")
        yield server


def _first_item(prompt: promptfile.PromptFile) -> Item:
    return evalset.load_pool(prompt).items[0]


@pytest.mark.parametrize("name", sorted(FIRST_MESSAGES))
def test_first_row_renders_the_messages_gh_sends(name: str) -> None:
    prompt = promptfile.load(DATA / name)
    assert prompt.render(_first_item(prompt).data) == FIRST_MESSAGES[name]


@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_evaluators_score_as_gh_scores(name: str, github_models: OpenAIServer, tmp_path: Path) -> None:
    prompt = promptfile.load(DATA / name)
    output, expected = EVALUATIONS[name]
    client = ModelClient(cache_path=tmp_path / "cache")
    results = asyncio.run(evaluate(build_checks(prompt, client), output, _first_item(prompt)))
    assert [(r.name, r.score) for r in results] == expected
    for body in github_models.requests:  # judges run on GitHub Models: the llm's modelId, or gh's openai/gpt-4o
        assert body["model"] == ("openai/gpt-4o" if name == "judges.prompt.yml" else "openai/gpt-4o-mini")


def test_builtin_judges_fill_in_what_githubs_read(github_models: OpenAIServer, tmp_path: Path) -> None:
    prompt = promptfile.load(DATA / "judges.prompt.yml")
    item = _first_item(prompt)
    asyncio.run(evaluate(build_checks(prompt, ModelClient(cache_path=tmp_path / "c")), "ANSWER", item))
    asks = [body["messages"][-1]["content"] for body in github_models.requests]
    assert len(asks) == 5 and all("ANSWER" in ask and "{{" not in ask for ask in asks)
    reads = [(item.data["input"] in ask, item.data["expected"] in ask) for ask in asks]
    # similarity: question, reference, answer; coherence, relevance: question; fluency: the answer only;
    # groundedness: the reference as context (gh passes `expected` as its CONTEXT)
    assert reads == [(True, True), (True, False), (False, False), (True, False), (True, True)]


def test_loading_warns_about_what_gh_ignores(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = promptfile.load(DATA / "editor.prompt.yml")
    err = capsys.readouterr().err
    assert "keys gh ignores, ignored here too: version, modelParameters.frequency_penalty, messages[0].name" in err
    mp = prompt.spec.modelParameters
    assert (mp.max_tokens_sent, mp.top_p_sent, mp.temperature) == (256, 0.9, 0.2)
    promptfile.load(DATA / "checks.prompt.yml")
    assert "evaluators[0].string has contains, endsWith; gh checks only 'contains'" in capsys.readouterr().err
    check = promptfile.load(DATA / "checks.prompt.yml").spec.evaluators[0].string
    assert check is not None and check.condition == ("contains", "{{expected}}")


def test_placeholders_no_row_fills_stay_and_some_rows_lack_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = promptfile.load(DATA / "placeholders.prompt.yml")
    pool = evalset.load_pool(prompt)
    err = capsys.readouterr().err
    assert "placeholder {{missing}} is not filled for item '42'" in err
    assert "{{ input }}" not in err and "secrets" not in err  # never filled by any row: plain text, as in gh
    assert prompt.render(pool.items[1].data)[1]["content"].endswith("meta=map[] only here")


def test_repeated_rows_are_separate_items_and_ids_are_variables() -> None:
    pool = evalset.load_pool(promptfile.load(DATA / "rows.prompt.yml"))
    ids = [item.id for item in pool.items]
    assert len(ids) == 4 and ids[1] == ids[0] + "~2" and ids[2:] == ["a", "a~2"]
    assert pool.items[2].data["id"] == "a"


def test_a_file_without_items_is_not_gated() -> None:
    proc = run_cli("eval", str(DATA / "no-items.prompt.yml"))
    assert proc.returncode == 0, proc.stderr
    assert "not gated: no items" in proc.stderr and "add testData" in proc.stderr and "error" not in proc.stderr


def test_a_pull_request_that_changes_a_file_without_items_is_neutral_and_stays_so(tmp_path: Path) -> None:
    import json
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    (tmp_path / "prompts").mkdir()
    prompt = tmp_path / "prompts" / "p.prompt.yml"
    prompt.write_text((DATA / "no-items.prompt.yml").read_text())
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "change")
    prompt.write_text(prompt.read_text() + "description: reworded\n")
    git("commit", "-qam", "change")
    out = tmp_path / "out"
    proc = run_cli("pr", "--base", "main", "--head", "change", "--repo", str(tmp_path), "--out", str(out))
    assert proc.returncode == 0 and "NOT GATED" in proc.stdout, proc.stdout + proc.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["verdict"]["status"] == "neutral" and data["prompts"][0]["verdict"]["status"] == "neutral"
    again = run_cli("report", str(out / "results.json"))  # recomputed from the file: still not gated, not failed
    assert again.returncode == 0 and "➖ not gated" in again.stdout, again.stdout + again.stderr


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("temperature", "true", "must be a number, not true/false"),
        ("temperature", "'0.5'", "must be a number, not text"),
        ("maxTokens", "1.5", "must be a whole number"),
    ],
)
def test_types_gh_refuses_are_refused(tmp_path: Path, field: str, value: str, words: str) -> None:
    path = tmp_path / "t.prompt.yml"
    path.write_text(
        f"model: openai/gpt-4o\nmodelParameters:\n  {field}: {value}\nmessages: [{{role: user, content: hi}}]\n"
    )
    with pytest.raises(InputError, match=words) as info:
        promptfile.load(path)
    assert f"modelParameters.{field}" in str(info.value) and "\n" not in str(info.value)


def test_scalars_read_as_text_as_gh_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "t.prompt.yml"
    path.write_text(
        "model: openai/gpt-4o\nmessages: [{role: user, content: 42}, {role: user, content: true}]\n"
        "evaluators: [{string: {equals: 7}}]\n"
    )
    prompt = promptfile.load(path)
    assert [m.content for m in prompt.spec.messages] == ["42", "true"]
    check = prompt.spec.evaluators[0].string
    assert check is not None and check.condition == ("equals", "7")
    path.write_text("model: openai/gpt-4o\nmessages: [{role: system}, {role: user, content: hi}]\n")
    assert promptfile.load(path).render({}) == [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}]


def test_the_inference_call_is_what_github_models_expects(github_models: OpenAIServer, tmp_path: Path) -> None:
    """A stand-in for https://models.github.ai/inference/chat/completions: GitHub cannot be reached here."""
    prompt = promptfile.load(DATA / "editor.prompt.yml")
    pool = evalset.load_pool(prompt)
    result = asyncio.run(run(Task(prompt=prompt, pool=pool, items=pool.items), ModelClient(cache_path=tmp_path / "c")))
    assert result.model == "github/openai/gpt-4o-mini" and not result.fault
    assert github_models.paths[0] == "/inference/chat/completions"
    assert github_models.headers[0]["authorization"] == f"Bearer {TOKEN}"
    body = github_models.requests[0]
    assert body["model"] == "openai/gpt-4o-mini" and body["messages"] == FIRST_MESSAGES["editor.prompt.yml"]
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.2, 256, 0.9)


def test_a_github_models_file_without_a_token_fails_before_any_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ghmodels.TOKEN_ENVS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="GITHUB_TOKEN") as info:
        asyncio.run(ModelClient(use_cache=False).complete("github/openai/gpt-4o", [{"role": "user", "content": "x"}]))
    assert "models: read" in str(info.value)


def test_github_models_rate_limits_are_backed_off_and_reported(github_models: OpenAIServer) -> None:
    """GitHub Models says how long to wait in x-ratelimit-timeremaining: a short wait is waited out, a long
    one (a per-day limit) is reported at once as the spent daily quota rather than slept through."""
    calls = {"n": 0}

    def limited(body: dict[str, Any]) -> str | Fault:
        calls["n"] += 1
        if body["messages"][0]["content"] == "day":
            return Fault(429, time_remaining=86400)
        return Fault(429, time_remaining=0) if calls["n"] == 1 else "ok"

    github_models.reply = limited
    client = ModelClient(use_cache=False)
    answer = asyncio.run(client.complete("github/openai/gpt-4o", [{"role": "user", "content": "minute"}], Params()))
    assert answer.text == "ok" and calls["n"] == 2
    with pytest.raises(
        InfraError, match=r"daily quota for 'github/openai/gpt-4o' is spent .it resets in about 24\.0 h"
    ):
        asyncio.run(client.complete("github/openai/gpt-4o", [{"role": "user", "content": "day"}], Params()))
    assert calls["n"] == 3


def test_a_github_models_judge_without_a_token_fails_before_any_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ghmodels.TOKEN_ENVS:
        monkeypatch.delenv(name, raising=False)
    prompt = promptfile.load(DATA / "checks.prompt.yml")
    client = ModelClient(cache_path=tmp_path / "c")
    with pytest.raises(InputError, match="GITHUB_TOKEN"):
        build_checks(prompt, client)
    assert client.counters.calls == 0


def test_judge_model_moves_every_judge_to_another_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`promptci.judge_model` (a litellm name) runs the built-in and llm judges there instead of GitHub Models."""
    for name in ghmodels.TOKEN_ENVS:
        monkeypatch.delenv(name, raising=False)
    with OpenAIServer(_reply) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        for name in ("judges.prompt.yml", "checks.prompt.yml"):
            path = tmp_path / name
            path.write_text((DATA / name).read_text() + "promptci:\n  judge_model: openai/judge\n")
            prompt = promptfile.load(path)
            output, expected = EVALUATIONS[name]
            results = asyncio.run(
                evaluate(build_checks(prompt, ModelClient(cache_path=tmp_path / "c")), output, _first_item(prompt))
            )
            assert [(r.name, r.score) for r in results] == expected
    assert len(server.requests) == 7 and {body["model"] for body in server.requests} == {"judge"}


def test_the_rest_token_never_goes_to_models_and_the_models_token_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The action's `token` (PROMPTCI_GITHUB_TOKEN, the REST API's) and `models-token` (PROMPTCI_MODELS_TOKEN) are
    separate inputs: a GitHub Models call gets the second, and without it none of the first."""
    for name in (*ghmodels.TOKEN_ENVS, "PROMPTCI_GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMPTCI_GITHUB_TOKEN", "ghs_rest_token")
    with pytest.raises(InputError, match="needs a token"):
        ghmodels.request_kwargs("github/openai/gpt-4o", None)
    monkeypatch.setenv("PROMPTCI_MODELS_TOKEN", "ghs_models_token")
    assert ghmodels.request_kwargs("github/openai/gpt-4o", None)["api_key"] == "ghs_models_token"
