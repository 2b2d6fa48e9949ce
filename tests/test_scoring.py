"""Evaluators: GitHub Models' own semantics, promptci's additions, judges and similarity on real models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptci import judges, promptfile, scoring
from promptci.errors import InputError
from promptci.files.evalset import Item
from promptci.models import ghmodels
from promptci.models.llm import Completion, ModelClient, Params, Usage
from promptci.scoring import build_checks, evaluate

BASE = """\
name: t
model: local/gemma-3-270m
messages:
  - role: user
    content: "{{input}}"
"""


def checks_for(tmp_path: Path, extra: str) -> list:
    path = tmp_path / "t.prompt.yml"
    path.write_text(BASE + extra, encoding="utf-8")
    return build_checks(promptfile.load(path), ModelClient(cache_path=tmp_path / "cache"))


def scores(checks: list, output: str, **data: object) -> list[float]:
    results = asyncio.run(evaluate(checks, output, Item(id="i", data={"input": "x", **data})))
    assert all(0.0 <= r.score <= 1.0 and r.reason for r in results)
    return [r.score for r in results]


def test_github_string_evaluators_match_gh_models(tmp_path: Path) -> None:
    checks = checks_for(
        tmp_path,
        """evaluators:
  - {name: eq, string: {equals: "{{expected}}"}}
  - {name: has, string: {contains: FOX}}
  - {name: starts, string: {startsWith: the}}
  - {name: ends, string: {endsWith: DOG.}}
""",
    )
    assert scores(checks, "The fox and the dog.", expected="The fox and the dog.") == [1.0, 1.0, 1.0, 1.0]
    # equals is case-sensitive in gh models; the others ignore case
    assert scores(checks, "the fox and the dog.", expected="The fox and the dog.") == [0.0, 1.0, 1.0, 1.0]
    assert scores(checks, "A cat.", expected="x") == [0.0, 0.0, 0.0, 0.0]


def test_promptci_evaluators(tmp_path: Path) -> None:
    checks = checks_for(
        tmp_path,
        """promptci:
  evaluators:
    - {name: label, label: expected}
    - {name: digits, regex: '^\\d+$'}
    - {name: json, json: true}
    - name: schema
      jsonSchema: {type: object, required: [a], properties: {a: {type: integer}}}
""",
    )
    assert scores(checks, "42", expected=" 42 ") == [1.0, 1.0, 1.0, 0.0]
    assert scores(checks, '{"a": 1}', expected="no") == [0.0, 0.0, 1.0, 1.0]
    assert scores(checks, '{"a": "one"}', expected="no") == [0.0, 0.0, 1.0, 0.0]


def test_default_evaluator_is_label_or_exact_match(tmp_path: Path) -> None:
    checks = checks_for(tmp_path, "promptci:\n  labels: [yes, no]\n")
    assert scores(checks, "Yes", expected="yes") == [1.0]
    assert scores(checks, "no", expected="yes") == [0.0]


@pytest.mark.parametrize(
    "extra, words",
    [
        ("evaluators:\n  - {name: x, uses: github/nonsense}\n", "unknown evaluator 'github/nonsense'"),
        ("evaluators:\n  - {name: x, uses: github/coherence}\n", "needs a judge model"),
        ("promptci:\n  evaluators:\n    - {name: x, regex: '('}\n", "invalid regular expression"),
        ("promptci:\n  evaluators:\n    - {name: x, jsonSchema: {type: 12}}\n", "invalid JSON schema"),
    ],
)
def test_bad_evaluators_fail_before_any_call(tmp_path: Path, extra: str, words: str, no_github_token: None) -> None:
    with pytest.raises(InputError, match=words):
        checks_for(tmp_path, extra)


def test_unknown_evaluator_kind_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "t.prompt.yml"
    path.write_text(BASE + "evaluators:\n  - {name: x, python: 'import os'}\n")
    # gh ignores the unknown key (docs/github-models.md), and then the evaluator has no method: gh fails it, promptci at
    # load
    with pytest.raises(InputError, match="evaluators\\[0\\]: needs one of string, llm, uses"):
        promptfile.load(path)


@pytest.fixture
def no_github_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """No judge model: github/similarity falls back to MiniLM, GitHub's other judges are refused."""
    for name in ghmodels.TOKEN_ENVS:
        monkeypatch.delenv(name, raising=False)


def test_similarity_uses_the_bundled_minilm(tmp_path: Path, no_github_token: None) -> None:
    checks = checks_for(tmp_path, "evaluators:\n  - {name: sim, uses: github/similarity}\n")
    close = scores(checks, "The weather is sunny and warm today.", expected="Today it is warm and sunny.")[0]
    far = scores(checks, "Quarterly revenue grew by four percent.", expected="Today it is warm and sunny.")[0]
    assert close > 0.7 > 0.3 > far


def test_a_builtin_judge_is_asked_for_its_digit_alone_and_an_llm_judge_for_what_its_prompt_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: dict[str, int | None] = {}

    async def complete(self: ModelClient, model: str, messages: list, params: Params) -> Completion:
        sent["builtin" if "Grade (1-5)" in messages[-1]["content"] else "llm"] = params.max_tokens
        return Completion("4, and here is why at length", Usage())

    monkeypatch.setattr(ModelClient, "complete", complete)
    checks = checks_for(
        tmp_path,
        "evaluators:\n  - {name: c, uses: github/coherence}\n"
        "  - {name: j, llm: {modelId: mockllm/model, prompt: 'Think, then rate {{completion}}', "
        "choices: [{choice: '4', score: 1}]}}\npromptci:\n  judge_model: mockllm/model\n",
    )
    assert scores(checks, "an answer") == [0.75, 1.0]
    # a rambling local judge stops after a few tokens; a judge told to reason first is not cut short
    assert sent == {"builtin": judges.BUILTINS["coherence"].answer_tokens, "llm": None}
    sent.clear()
    remote = checks_for(
        tmp_path, "evaluators:\n  - {name: c, uses: github/coherence}\npromptci:\n  judge_model: openai/o3\n"
    )
    assert scores(remote, "an answer") == [0.75] and sent == {"builtin": None}  # a provider's judge: as gh, no cap


@pytest.mark.integration
def test_llm_judge_with_the_embedded_model(tmp_path: Path) -> None:
    checks = checks_for(
        tmp_path,
        """evaluators:
  - name: judge
    llm:
      modelId: local/gemma-3-270m
      prompt: |-
        Question: Is the sky blue?
        Answer: yes

        Question: Is fire cold?
        Answer: no

        Question: Is "{{completion}}" the capital of France?
        Answer:
      choices:
        - {choice: 'yes', score: 1}
        - {choice: 'no', score: 0}
""",
    )
    results = asyncio.run(evaluate(checks, "Paris", Item(id="i", data={"input": "x"})))
    # gh's reading (docs/github-models.md): the judge answers in text; the first choice it contains gives the score
    assert results[0].score in (0.0, 1.0) and "judge answer" in results[0].reason


def test_a_judge_evaluators_model_is_planned_like_every_judge(tmp_path: Path) -> None:
    """A `judge:` evaluator's model (its own, or GitHub's judge) counts among the prompt's judge models, so the free
    tier's limits, the dollar check and the forecast see its calls."""
    text = (
        "model: openai/gpt-4o-mini\nmessages: [{role: user, content: '{{q}}'}]\n"
        "promptci:\n  evaluators:\n    - {name: j, judge: 'Is {{completion}} right?', model: openai/gpt-4o,\n"
        "       choices: [{choice: 'yes', score: 1}, {choice: 'no', score: 0}]}\n"
    )
    prompt = promptfile.parse(text, tmp_path / "p.prompt.yml")
    assert scoring.judge_models(prompt) == {"github/openai/gpt-4o"}
