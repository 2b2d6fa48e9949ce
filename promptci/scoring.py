"""Evaluators: each turns one model output into a score in [0, 1] and a reason.

GitHub Models' own evaluators (`evaluators:` in the prompt file) behave as `gh models eval` runs
them (cmd/eval): `string` checks use their first non-empty condition (equals is exact; contains,
startsWith and endsWith ignore case), `llm` judges answer in text and the first choice the answer
contains gives the score (none: 0), and `uses: github/<name>` runs GitHub's built-in judges
(judges.py) on the judge model. With no judge model to hand (no `promptci.judge_model`, no GitHub
token) `github/similarity` is the bundled MiniLM's cosine instead, reported under its own name.
promptci adds its own under `promptci.evaluators`: label match, regex, JSON validity and JSON
schema. With no evaluator at all, a labelled prompt is scored by label match against `expected`,
and an unlabelled one by exact match against `expected`.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

import jsonschema
import regex

from . import ghmodels
from .errors import InputError
from .evalset import Item
from .llm import ModelClient, Params
from .promptfile import Evaluator as GitHubEvaluator
from .judges import BUILTINS
from .promptfile import PromptFile, substitute
from .results import Evaluation
from .settings import PromptciEvaluator, label_key

REGEX_SECONDS = 1.0

Check = Callable[[str, Item], Awaitable[Evaluation]]


def build_checks(prompt: PromptFile, client: ModelClient) -> list[Check]:
    """Every evaluator of the prompt, validated now so that a bad one fails before any model call."""
    checks = [_github_check(e, i, prompt, client) for i, e in enumerate(prompt.spec.evaluators)]
    checks += [_promptci_check(e, i, prompt) for i, e in enumerate(prompt.settings.evaluators)]
    if not checks:
        checks.append(_label_match("label-match" if prompt.settings.labels else "exact-match", "expected"))
    return checks


async def evaluate(checks: list[Check], output: str, item: Item) -> list[Evaluation]:
    return [await check(output, item) for check in checks]


def builtin_judge_model(prompt: PromptFile) -> str | None:
    """The model GitHub's built-in judges run on: `promptci.judge_model`, else GitHub's own judge model
    when a GitHub token is set; None: no judge at hand. (An llm judge runs on its modelId unless
    `promptci.judge_model` is set.)"""
    return prompt.settings.judge_model or (ghmodels.DEFAULT_JUDGE if ghmodels.token() else None)


def judge_models(prompt: PromptFile) -> set[str]:
    """The models the prompt's judges run on: its llm judges' and GitHub's built-in ones' (when one is at hand)."""
    models = {_llm_judge_model(prompt, e.llm.modelId) for e in prompt.spec.evaluators
              if e.kind == "llm" and e.llm is not None}
    builtin = builtin_judge_model(prompt) if any(e.kind == "uses" for e in prompt.spec.evaluators) else None
    return models | ({builtin} if builtin else set())


def _llm_judge_model(prompt: PromptFile, model_id: str) -> str:
    """An llm judge's model: `promptci.judge_model` when set, else its `modelId`."""
    return prompt.settings.judge_model or prompt.litellm_name(model_id)


def _github_check(spec: GitHubEvaluator, index: int, prompt: PromptFile, client: ModelClient) -> Check:
    where = f"evaluators[{index}]"
    kind = spec.kind
    name = spec.name or (spec.uses if kind == "uses" else f"{kind}[{index}]")
    if kind == "string" and spec.string is not None:
        check_kind, value = spec.string.condition
        return _string_check(name, check_kind, value)
    if kind == "llm" and spec.llm is not None:
        return _judge(name, _llm_judge_model(prompt, spec.llm.modelId), spec.llm.prompt, spec.llm.systemPrompt,
                      [(c.choice, c.score) for c in spec.llm.choices], client)
    uses = spec.uses
    builtin = BUILTINS.get(uses.removeprefix("github/")) if uses.startswith("github/") else None
    if builtin is None:
        raise InputError(f"unknown evaluator '{uses}'", path=prompt.path, field=f"{where}.uses",
                         fix="use github/similarity, coherence, fluency, relevance or groundedness, a string: check "
                             "or an llm: judge (gh scores an unknown one 0)")
    model = builtin_judge_model(prompt)
    if model is None:
        if builtin.name == "similarity":
            return _similarity(spec.name or "similarity-minilm")
        raise InputError(f"'{uses}' needs a judge model and none is set", path=prompt.path, field=f"{where}.uses",
                         fix="set promptci.judge_model (any litellm model, e.g. local/gemma-3-270m) or GITHUB_TOKEN "
                             "for GitHub Models' openai/gpt-4o")
    return _judge(name, model, builtin.prompt, builtin.system, list(builtin.choices), client)


def _promptci_check(spec: PromptciEvaluator, index: int, prompt: PromptFile) -> Check:
    where = f"promptci.evaluators[{index}]"
    if spec.label is not None:
        return _label_match(spec.name, spec.label)
    if spec.regex is not None:
        try:
            pattern = regex.compile(spec.regex)
        except regex.error as exc:
            raise InputError(f"invalid regular expression ({exc})", path=prompt.path, field=f"{where}.regex",
                             fix="correct the pattern (Python re syntax)") from None
        return _regex(spec.name, pattern)
    if spec.json_valid is not None:
        return _json_valid(spec.name)
    schema = spec.json_schema
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except (ValueError, RecursionError):
            raise InputError("jsonSchema is not valid JSON", path=prompt.path, field=f"{where}.jsonSchema",
                             fix="give the schema as a mapping or a JSON string") from None
    remote = _remote_ref(schema)
    if remote is not None:
        raise InputError(f"the schema refers to {remote!r}, outside itself", path=prompt.path,
                         field=f"{where}.jsonSchema", fix="keep the schema in one piece: only '#/...' references")
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InputError(f"invalid JSON schema ({exc.message})", path=prompt.path, field=f"{where}.jsonSchema",
                         fix="correct the schema") from None
    except RecursionError:
        raise InputError("the JSON schema nests too deeply", path=prompt.path, field=f"{where}.jsonSchema",
                         fix="correct the schema") from None
    return _json_schema(spec.name, validator_class(schema))


def _string_check(name: str, kind: str, value: str) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        wanted = substitute(value, item.data)
        if kind == "equals":
            ok = output == wanted
        else:
            test = {"contains": str.__contains__, "startsWith": str.startswith, "endsWith": str.endswith}[kind]
            ok = test(output.lower(), wanted.lower())
        return Evaluation(name, float(ok), f"{kind} {wanted!r}: {'yes' if ok else 'no'}")

    return check


def _label_match(name: str, field: str) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        if field not in item.data:
            return Evaluation(name, 0.0, f"item has no field '{field}'")
        wanted = str(item.data[field])
        ok = label_key(output) == label_key(wanted)
        return Evaluation(name, float(ok), f"expected {wanted!r}, got {output!r}")

    return check


def _regex(name: str, pattern: regex.Pattern[str]) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        try:  # a pattern that backtracks without end (`^(a|aa)+$`) would hold the run forever
            ok = pattern.search(output, timeout=REGEX_SECONDS) is not None
        except TimeoutError:
            return Evaluation(name, 0.0, f"/{pattern.pattern}/ ran over {REGEX_SECONDS} s on this output")
        return Evaluation(name, float(ok), f"/{pattern.pattern}/ {'matches' if ok else 'does not match'}")

    return check


def _remote_ref(schema: Any) -> str | None:
    """The first `$ref`/`$dynamicRef` that points outside the schema (jsonschema would try to resolve it)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                    return value
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _json_valid(name: str) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        try:
            json.loads(output)
        except ValueError as exc:
            return Evaluation(name, 0.0, f"not JSON: {exc}")
        except RecursionError:  # an output of 3,000 '[' (a model can be asked to write one)
            return Evaluation(name, 0.0, "JSON nested too deeply to read")
        return Evaluation(name, 1.0, "valid JSON")

    return check


def _json_schema(name: str, validator: Any) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        try:
            value = json.loads(output)
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        except ValueError as exc:
            return Evaluation(name, 0.0, f"not JSON: {exc}")
        except RecursionError:
            return Evaluation(name, 0.0, "JSON nested too deeply to read")
        if error is not None:
            return Evaluation(name, 0.0, f"schema: {error.message}")
        return Evaluation(name, 1.0, "valid against the schema")

    return check


def _judge(name: str, model: str, prompt_text: str, system: str, choices: list[tuple[str, float]],
           client: ModelClient) -> Check:
    """An LLM judge as gh runs it: the judge answers in text, and the first choice (in the file's order) that
    the answer contains, ignoring case, gives the score; no choice contained scores 0. Temperature 0 here,
    so that a re-run gives the same grade (gh sends none)."""
    if model.startswith(ghmodels.PREFIX):
        ghmodels.request_kwargs(model, None)  # no token: refused now, before the prompt's first call

    async def check(output: str, item: Item) -> Evaluation:
        messages = ([{"role": "system", "content": system}] if system else [])
        messages.append({"role": "user", "content": substitute(prompt_text, {**item.data, "completion": output})})
        answer = (await client.complete(model, messages, Params(temperature=0.0))).text
        return grade(name, answer, choices)

    return check


def grade(name: str, answer: str, choices: list[tuple[str, float]]) -> Evaluation:
    """gh's reading of a judge's answer (runLLMEvaluator): the first choice contained wins."""
    text = answer.strip().lower()
    for choice, score in choices:
        if choice.lower() in text:
            return Evaluation(name, float(min(1.0, max(0.0, score))), f"judge answer matched choice {choice!r}")
    return Evaluation(name, 0.0, f"judge answer {text[:80]!r} matched no choice")


def _similarity(name: str) -> Check:
    """github/similarity, offline: cosine of MiniLM embeddings of the output and `expected` (not GitHub's
    judge: another scale, so it has its own name)."""

    async def check(output: str, item: Item) -> Evaluation:
        if item.expected is None:
            return Evaluation(name, 0.0, "item has no 'expected'")
        from .embeddings import embed

        vectors = embed([output, str(item.expected)])
        cosine = float(vectors[0] @ vectors[1])
        return Evaluation(name, max(0.0, min(1.0, cosine)),
                          f"MiniLM cosine {cosine:.3f} to expected (offline, not GitHub's judge)")

    return check
