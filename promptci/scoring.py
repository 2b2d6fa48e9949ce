"""Evaluators: each turns one model output into a score in [0, 1] and a reason.

GitHub Models' own evaluators (`evaluators:` in the prompt file) behave as `gh models eval` runs
them: `string` checks (equals is exact; contains, startsWith and endsWith ignore case), `llm`
judges (the judge's answer picks a choice, whose score is the item's score) and `uses:
github/similarity` (here: embedding cosine with the bundled MiniLM instead of a GPT-4o judge, so
it runs offline). promptci adds its own under `promptci.evaluators`: label match, regex, JSON
validity and JSON schema. With no evaluator at all, a labelled prompt is scored by label match
against `expected`, and an unlabelled one by exact match against `expected`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable, Mapping

import jsonschema

from .errors import InputError
from .evalset import Item
from .llm import ModelClient, Params
from .promptfile import Evaluator as GitHubEvaluator
from .promptfile import PromptFile, compile_template, render_template
from .results import Evaluation
from .settings import PromptciEvaluator, label_key

GITHUB_BUILTINS_NOT_OFFLINE = ("coherence", "fluency", "relevance", "groundedness")


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


def _github_check(spec: GitHubEvaluator, index: int, prompt: PromptFile, client: ModelClient) -> Check:
    where = f"evaluators[{index}]"
    if spec.string is not None:
        kind, value = next((k, v) for k, v in spec.string.model_dump().items() if v is not None)
        return _string_check(spec.name, kind, _template(value, prompt, f"{where}.string.{kind}"))
    if spec.llm is not None:
        return _judge(spec.name, spec.llm.modelId, spec.llm.prompt, spec.llm.systemPrompt,
                      {c.choice: c.score for c in spec.llm.choices}, prompt, client, where)
    uses = spec.uses or ""
    if uses == "github/similarity":
        return _similarity(spec.name)
    if uses.removeprefix("github/") in GITHUB_BUILTINS_NOT_OFFLINE:
        raise InputError(f"'{uses}' is a GPT-4o judge in GitHub Models that promptci does not run", path=prompt.path,
                         field=f"{where}.uses", fix="use an llm: evaluator with your own judge prompt and model")
    raise InputError(f"unknown evaluator '{uses}'", path=prompt.path, field=f"{where}.uses",
                     fix="use github/similarity, a string: check or an llm: judge")


def _promptci_check(spec: PromptciEvaluator, index: int, prompt: PromptFile) -> Check:
    where = f"promptci.evaluators[{index}]"
    if spec.label is not None:
        return _label_match(spec.name, spec.label)
    if spec.regex is not None:
        try:
            pattern = re.compile(spec.regex)
        except re.error as exc:
            raise InputError(f"invalid regular expression ({exc})", path=prompt.path, field=f"{where}.regex",
                             fix="correct the pattern (Python re syntax)") from None
        return _regex(spec.name, pattern)
    if spec.json_valid is not None:
        return _json_valid(spec.name)
    schema = spec.json_schema
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError:
            raise InputError("jsonSchema is not valid JSON", path=prompt.path, field=f"{where}.jsonSchema",
                             fix="give the schema as a mapping or a JSON string") from None
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InputError(f"invalid JSON schema ({exc.message})", path=prompt.path, field=f"{where}.jsonSchema",
                         fix="correct the schema") from None
    return _json_schema(spec.name, validator_class(schema))


def _template(source: str, prompt: PromptFile, where: str) -> Callable[[Mapping[str, Any]], str]:
    try:
        template = compile_template(source)
    except Exception as exc:
        raise InputError(f"template syntax error ({exc})", path=prompt.path, field=where,
                         fix="use {{variable}} placeholders") from None
    return lambda variables: render_template(template, variables, where=where)


def _string_check(name: str, kind: str, value: Callable[[Mapping[str, Any]], str]) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        wanted = value(item.data)
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


def _regex(name: str, pattern: re.Pattern[str]) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        ok = pattern.search(output) is not None
        return Evaluation(name, float(ok), f"/{pattern.pattern}/ {'matches' if ok else 'does not match'}")

    return check


def _json_valid(name: str) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        try:
            json.loads(output)
        except ValueError as exc:
            return Evaluation(name, 0.0, f"not JSON: {exc}")
        return Evaluation(name, 1.0, "valid JSON")

    return check


def _json_schema(name: str, validator: Any) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        try:
            value = json.loads(output)
        except ValueError as exc:
            return Evaluation(name, 0.0, f"not JSON: {exc}")
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            return Evaluation(name, 0.0, f"schema: {error.message}")
        return Evaluation(name, 1.0, "valid against the schema")

    return check


def _judge(name: str, model: str, prompt_text: str, system: str | None, choices: dict[str, float],
           prompt: PromptFile, client: ModelClient, where: str) -> Check:
    """An LLM judge: the judge's probabilities over the choices; the most likely choice gives the score."""
    render = _template(prompt_text, prompt, f"{where}.llm.prompt")

    async def check(output: str, item: Item) -> Evaluation:
        messages = ([{"role": "system", "content": system}] if system else [])
        messages.append({"role": "user", "content": render({**item.data, "completion": output})})
        scores = await client.score_labels(model, messages, list(choices), Params(temperature=0.0))
        best = scores.best
        return Evaluation(name, float(min(1.0, max(0.0, choices[best]))),
                          f"judge chose {best!r} (p={scores.probs[best]:.2f})")

    return check


def _similarity(name: str) -> Check:
    """github/similarity, offline: cosine of MiniLM embeddings of the output and `expected`."""

    async def check(output: str, item: Item) -> Evaluation:
        if item.expected is None:
            return Evaluation(name, 0.0, "item has no 'expected'")
        from .embeddings import embed

        vectors = embed([output, str(item.expected)])
        cosine = float(vectors[0] @ vectors[1])
        return Evaluation(name, max(0.0, min(1.0, cosine)), f"cosine similarity {cosine:.3f} to expected")

    return check
