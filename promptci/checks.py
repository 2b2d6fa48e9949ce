"""promptci's `check:` and `judge:` evaluators: the output compared with each of several values.

They carry other tools' assertions over faithfully (docs/import.md): a promptfoo test's `icontains` values, an
openai/evals sample's list of ideal answers. The prompt file fixes the comparison; the values come from the file
(`value`) or from the item (`field`), as `expected` does, so a pool supplies answers but never chooses what judges
them. Each value passes or fails; all must pass (`any`: one), no values pass (`any`: fail), and `negate` turns the
verdict over. A value that is itself a list passes when one of its entries does (promptfoo's `contains-any`).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import jsonschema
import regex

from .errors import InputError
from .files.evalresults import Evaluation
from .files.evalset import Item
from .files.settings import PromptciEvaluator
from .models.llm import ModelClient, Params
from .promptfile import substitute

REGEX_SECONDS = 1.0
SIMILAR_THRESHOLD = 0.75  # promptfoo's default for `similar`
JSON_CHECKS = ("json", "contains_json")  # their values are schemas (or true), never lists of alternatives

Check = Callable[[str, Item], Awaitable[Evaluation]]

GRADE_SAMPLE: ContextVar[int] = ContextVar("grade_sample", default=0)
"""Which sample of a judge's grade the checks now running ask for (scoring.evaluate sets it per draw): a judge's
grade is itself a draw, cached under its sample index like a sampled answer."""
Verdict = tuple[float, str]


def build(spec: PromptciEvaluator, where: str, *, path: Any, judge_model: str | None, client: ModelClient) -> Check:
    """A `check:` or `judge:` evaluator; values given in the file are validated now, before any model call."""
    compare = _judge(spec, judge_model, client, where, path) if spec.judge is not None else _comparison(spec)
    if spec.value is not None:
        for value in _values(spec.value):
            problem = _problem(spec, value)
            if problem:
                raise InputError(problem, path=path, field=f"{where}.value", fix="correct the value")

    async def check(output: str, item: Item) -> Evaluation:
        if spec.field is not None and spec.field not in item.data:
            return Evaluation(spec.name, 0.0, f"item has no field '{spec.field}'")
        values = _values(item.data[spec.field] if spec.field is not None else spec.value)
        if spec.judge is not None and spec.field is None and spec.value is None:
            values = [""]  # a judge with no values of its own is asked once
        verdicts = [await _one(compare, spec, output, item, value) for value in values]
        if not verdicts:
            score, why = (0.0, "no values to match") if spec.any_of else (1.0, "no values to check")
        else:
            pick = max if spec.any_of else min
            score = pick(v[0] for v in verdicts)
            why = "; ".join(v[1] for v in verdicts)[:300]
        if spec.negate:
            score, why = 1.0 - score, f"not ({why})"
        return Evaluation(spec.name, score, why)

    return check


def _values(value: Any) -> list[Any]:
    """The values to compare with: a list's entries, or the one value (None: none)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


async def _one(
    compare: Callable[[str, Item, Any], Awaitable[Verdict]],
    spec: PromptciEvaluator,
    output: str,
    item: Item,
    value: Any,
) -> Verdict:
    """One value; a list of alternatives passes with its best entry."""
    if isinstance(value, list) and spec.check not in JSON_CHECKS:
        verdicts = [await compare(output, item, v) for v in value]
        return max(verdicts, default=(0.0, "no alternatives"))
    return await compare(output, item, value)


def _problem(spec: PromptciEvaluator, value: Any) -> str | None:
    """Why a value cannot be compared with (None: it can)."""
    entries = value if isinstance(value, list) and spec.check not in JSON_CHECKS else [value]
    for entry in entries:
        if spec.check in JSON_CHECKS:
            if entry is True or entry == {}:
                continue
            if not isinstance(entry, dict):
                return "a JSON check's value is true or a JSON schema (a mapping)"
            return _schema_problem(entry)
        if not isinstance(entry, str):
            return f"{entry!r} is not text"
        if spec.check == "regex":
            try:
                regex.compile(entry)
            except regex.error as exc:
                return f"invalid regular expression {entry!r} ({exc})"
    return None


def _comparison(spec: PromptciEvaluator) -> Callable[[str, Item, Any], Awaitable[Verdict]]:
    kind = spec.check
    fold = str.lower if spec.ignore_case else (lambda text: text)
    text_tests: dict[str, Callable[[str, str], bool]] = {
        "equals": lambda out, v: fold(out) == fold(v),
        "contains": lambda out, v: fold(v) in fold(out),
        "starts_with": lambda out, v: fold(out).startswith(fold(v)),
        "fuzzy": fuzzy_match,
    }

    async def compare(output: str, item: Item, value: Any) -> Verdict:
        problem = _problem(spec, value)
        if problem:
            return 0.0, problem
        if kind in text_tests:
            ok = text_tests[kind](output, value)
            return float(ok), f"{kind} {value[:60]!r}: {'yes' if ok else 'no'}"
        if kind == "regex":
            try:
                ok = regex.search(value, output, timeout=REGEX_SECONDS) is not None
            except TimeoutError:
                return 0.0, f"/{value[:60]}/ ran over {REGEX_SECONDS} s on this output"
            return float(ok), f"/{value[:60]}/ {'matches' if ok else 'does not match'}"
        if kind == "similar":
            return _similar(output, value, spec.threshold if spec.threshold is not None else SIMILAR_THRESHOLD)
        return _json(output, value, inside=kind == "contains_json")

    return compare


def fuzzy_match(output: str, value: str) -> bool:
    """openai/evals' FuzzyMatch: either text, normalised, holds the other (empty only matches empty)."""
    a, b = _normalize(output), _normalize(value)
    return a == b if not a or not b else a in b or b in a


def _normalize(text: str) -> str:
    """openai/evals' normalize: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _similar(output: str, value: str, threshold: float) -> Verdict:
    from .models.embeddings import embed

    vectors = embed([output, value])
    cosine = float(vectors[0] @ vectors[1])
    ok = cosine >= threshold
    return float(ok), f"MiniLM cosine {cosine:.3f} {'>=' if ok else '<'} {threshold} to {value[:40]!r}"


def _json(output: str, value: Any, *, inside: bool) -> Verdict:
    """The output is JSON (`inside`: holds a JSON object or array somewhere), valid against the schema if given."""
    candidates = _embedded_json(output) if inside else _parsed(output)
    if not candidates:
        return 0.0, "no JSON in the output" if inside else "not JSON"
    if value is True or value == {}:
        return 1.0, "JSON found" if inside else "valid JSON"
    validator = jsonschema.validators.validator_for(value)(value)
    for candidate in candidates:
        error = jsonschema.exceptions.best_match(validator.iter_errors(candidate))
        if error is None:
            return 1.0, "JSON valid against the schema"
    return 0.0, f"schema: {error.message[:120]}"


def _parsed(output: str) -> list[Any]:
    try:
        return [json.loads(output)]
    except (ValueError, RecursionError):
        return []


def _embedded_json(output: str, most: int = 50) -> list[Any]:
    """The JSON objects and arrays the text holds, each read from an opening brace or bracket (at most `most`)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    index = 0
    while len(found) < most:
        starts = [i for i in (output.find("{", index), output.find("[", index)) if i != -1]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = decoder.raw_decode(output, start)
        except (ValueError, RecursionError):
            index = start + 1
            continue
        found.append(value)
        index = end
    return found


def _schema_problem(schema: dict) -> str | None:
    remote = remote_ref(schema)
    if remote is not None:
        return f"the schema refers to {remote!r}, outside itself"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"invalid JSON schema ({exc.message})"
    except RecursionError:
        return "the JSON schema nests too deeply"
    return None


def remote_ref(schema: Any) -> str | None:
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


def _judge(
    spec: PromptciEvaluator, model: str | None, client: ModelClient, where: str, path: Any
) -> Callable[[str, Item, Any], Awaitable[Verdict]]:
    """An LLM judge per value: `{{value}}`, `{{completion}}` and the item's fields are filled into the prompt;
    the last line of its answer that names a choice gives the score (none: 0)."""
    if model is None:
        raise InputError(
            "a judge needs a judge model and none is set",
            path=path,
            field=f"{where}.model",
            fix="set promptci.judge_model (any litellm model, e.g. local/gemma-3-270m) or GITHUB_TOKEN",
        )
    choices = [(c.choice, c.score) for c in spec.choices or []]
    prompt = spec.judge or ""

    async def compare(output: str, item: Item, value: Any) -> Verdict:
        if not isinstance(value, str):
            return 0.0, f"{value!r} is not text"
        text = substitute(prompt, {**item.data, "value": value, "completion": output})
        answer = (
            await client.complete(
                model, [{"role": "user", "content": text}], Params(temperature=0.0, sample=GRADE_SAMPLE.get())
            )
        ).text
        return read_verdict(answer, choices)

    return compare


def read_verdict(answer: str, choices: list[tuple[str, float]]) -> Verdict:
    """The judge's verdict: the last line of its answer that holds a choice as a whole word (ignoring case),
    and in that line the choice written last (a judge reasons first and concludes last)."""
    for line in reversed([line for line in answer.splitlines() if line.strip()]):
        hits = [
            (m.start(), choice, score)
            for choice, score in choices
            for m in re.finditer(rf"(?<!\w){re.escape(choice)}(?!\w)", line, re.IGNORECASE)
        ]
        if hits:
            _, choice, score = max(hits)
            return float(min(1.0, max(0.0, score))), f"judge answered {choice!r}"
    return 0.0, f"judge answer {answer.strip()[-80:]!r} named no choice"
