"""Evaluators: each turns one model output into a score in [0, 1] and a reason.

GitHub Models' own evaluators (`evaluators:` in the prompt file) behave as `gh models eval` runs
them (cmd/eval): `string` checks use their first non-empty condition (equals is exact; contains,
startsWith and endsWith ignore case), `llm` judges answer in text and the first choice the answer
contains gives the score (none: 0), and `uses: github/<name>` runs GitHub's built-in judges
(judges.py) on the judge model. With no judge model to hand (no `promptci.judge_model`, no GitHub
token) `github/similarity` is the bundled MiniLM's cosine instead, reported under its own name.
promptci adds its own under `promptci.evaluators`: label match, regex, JSON validity, JSON
schema, and the `check:`/`judge:` comparisons with several values (checks.py). With no evaluator
at all, a labelled prompt is scored by label match against `expected`, and an unlabelled one by
exact match against `expected`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jsonschema
import regex

from . import checks
from .errors import InputError
from .files.evalresults import Evaluation, Fingerprint
from .files.evalset import Item
from .files.settings import PromptciEvaluator, label_key
from .judges import BUILTINS, Builtin
from .models import ghmodels
from .models.llm import ModelClient, Params, in_process
from .promptfile import Evaluator as GitHubEvaluator, PromptFile, substitute

REGEX_SECONDS = checks.REGEX_SECONDS

Check = checks.Check


def build_checks(prompt: PromptFile, client: ModelClient) -> list[Check]:
    """Every evaluator of the prompt, validated now so that a bad one fails before any model call."""
    built = [_github_check(e, i, prompt, client) for i, e in enumerate(prompt.spec.evaluators)]
    built += [_promptci_check(e, i, prompt, client) for i, e in enumerate(prompt.settings.evaluators)]
    if not built:
        built.append(_label_match("label-match" if prompt.settings.labels else "exact-match", "expected"))
    return built


async def evaluate(built: list[Check], output: str, item: Item, grade_sample: int = 0) -> list[Evaluation]:
    """Every check's verdict on one output; LLM judges give their grade number `grade_sample` (0: the first)."""
    token = checks.GRADE_SAMPLE.set(grade_sample)
    try:
        return [await check(output, item) for check in built]
    finally:
        checks.GRADE_SAMPLE.reset(token)


def fingerprints(prompt: PromptFile) -> dict[str, Fingerprint]:
    """Every evaluator by its report name, with a digest of everything that decides its grades: for a judge its
    model, system and user prompt, choices and built-in name; for a check its whole definition. Two runs whose
    digests differ were not graded by the same evaluator."""
    found: dict[str, Fingerprint] = {}
    for index, spec in enumerate(prompt.spec.evaluators):
        material: dict[str, Any] = spec.model_dump(mode="json", exclude_none=True)
        llm = spec.kind == "llm"
        if llm and spec.llm is not None:
            material["model"] = _llm_judge_model(prompt, spec.llm.modelId)
        name = spec.name or (spec.uses if spec.kind == "uses" else f"{spec.kind}[{index}]")
        builtin = BUILTINS.get(spec.uses.removeprefix("github/")) if spec.kind == "uses" else None
        if builtin is not None:
            model = builtin_judge_model(prompt)
            llm = model is not None
            if model is None and builtin.name == "similarity":
                name = spec.name or "similarity-minilm"
            material.update(builtin=builtin.name, model=model or "all-MiniLM-L6-v2 cosine", system=builtin.system)
            material.update(prompt=builtin.prompt, choices=builtin.choices, cap=_answer_tokens(builtin, model))
        found[name] = Fingerprint(_digest(material), material.get("model"), llm)
    for own in prompt.settings.evaluators:
        material = own.model_dump(mode="json", by_alias=True, exclude_none=True)
        model = _promptci_judge_model(prompt, own) if own.judge is not None else None
        material["model"] = model
        found[own.name] = Fingerprint(_digest(material), model, own.judge is not None)
    if not found:
        name = "label-match" if prompt.settings.labels else "exact-match"
        found[name] = Fingerprint(_digest({"builtin": name}), None, False)
    return found


def _digest(material: dict[str, Any]) -> str:
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def builtin_judge_model(prompt: PromptFile) -> str | None:
    """The model GitHub's built-in judges run on: `promptci.judge_model`, else GitHub's own judge model
    when a GitHub token is set; None: no judge at hand. (An llm judge runs on its modelId unless
    `promptci.judge_model` is set.)"""
    return prompt.settings.judge_model or (ghmodels.DEFAULT_JUDGE if ghmodels.token() else None)


def judge_models(prompt: PromptFile) -> set[str]:
    """The models the prompt's judges run on: its llm judges' and GitHub's built-in ones' (when one is at hand)."""
    models = {
        _llm_judge_model(prompt, e.llm.modelId) for e in prompt.spec.evaluators if e.kind == "llm" and e.llm is not None
    }
    builtin = builtin_judge_model(prompt) if any(e.kind == "uses" for e in prompt.spec.evaluators) else None
    judges = {_promptci_judge_model(prompt, e) for e in prompt.settings.evaluators if e.judge is not None}
    return models | ({builtin} if builtin else set()) | {m for m in judges if m}


def _promptci_judge_model(prompt: PromptFile, spec: PromptciEvaluator) -> str | None:
    """A `judge:` evaluator's model: `promptci.judge_model`, else its own `model`, else GitHub's judge."""
    return (
        prompt.settings.judge_model
        or (prompt.litellm_name(spec.model) if spec.model else None)
        or builtin_judge_model(prompt)
    )


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
        return _judge(
            name,
            _llm_judge_model(prompt, spec.llm.modelId),
            spec.llm.prompt,
            spec.llm.systemPrompt,
            [(c.choice, c.score) for c in spec.llm.choices],
            client,
        )
    uses = spec.uses
    builtin = BUILTINS.get(uses.removeprefix("github/")) if uses.startswith("github/") else None
    if builtin is None:
        raise InputError(
            f"unknown evaluator '{uses}'",
            path=prompt.path,
            field=f"{where}.uses",
            fix="use github/similarity, coherence, fluency, relevance or groundedness, a string: check "
            "or an llm: judge (gh scores an unknown one 0)",
        )
    judge_model = builtin_judge_model(prompt)
    if judge_model is None:
        if builtin.name == "similarity":
            return _similarity(spec.name or "similarity-minilm")
        raise InputError(
            f"'{uses}' needs a judge model and none is set",
            path=prompt.path,
            field=f"{where}.uses",
            fix="set promptci.judge_model (any litellm model, e.g. local/gemma-3-270m) or GITHUB_TOKEN "
            "for GitHub Models' openai/gpt-4o",
        )
    cap = _answer_tokens(builtin, judge_model)
    return _judge(name, judge_model, builtin.prompt, builtin.system, list(builtin.choices), client, cap)


def _answer_tokens(builtin: Builtin, model: str | None) -> int | None:
    """A built-in judge's answer is capped where it runs here (the embedded model rambles for seconds past its
    digit); a provider's judge gets no cap, as gh sends none (a reasoning model would spend a cap on thought)."""
    return builtin.answer_tokens if model is not None and in_process(model) else None


def _promptci_check(spec: PromptciEvaluator, index: int, prompt: PromptFile, client: ModelClient) -> Check:
    where = f"promptci.evaluators[{index}]"
    if spec.check is not None or spec.judge is not None:
        judge_model = _promptci_judge_model(prompt, spec)
        return checks.build(spec, where, path=prompt.path, judge_model=judge_model, client=client)
    if spec.label is not None:
        return _label_match(spec.name, spec.label)
    if spec.regex is not None:
        try:
            pattern = regex.compile(spec.regex)
        except regex.error as exc:
            raise InputError(
                f"invalid regular expression ({exc})",
                path=prompt.path,
                field=f"{where}.regex",
                fix="correct the pattern (Python re syntax)",
            ) from None
        return _regex(spec.name, pattern)
    if spec.json_valid is not None:
        return _json_valid(spec.name)
    schema: Any = spec.json_schema  # the one check left (PromptciEvaluator has exactly one); then any JSON
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except (ValueError, RecursionError):
            raise InputError(
                "jsonSchema is not valid JSON",
                path=prompt.path,
                field=f"{where}.jsonSchema",
                fix="give the schema as a mapping or a JSON string",
            ) from None
    remote = checks.remote_ref(schema)
    if remote is not None:
        raise InputError(
            f"the schema refers to {remote!r}, outside itself",
            path=prompt.path,
            field=f"{where}.jsonSchema",
            fix="keep the schema in one piece: only '#/...' references",
        )
    if {"unevaluatedProperties", "patternProperties"} <= _keys(schema):
        raise InputError(
            "the schema has unevaluatedProperties and patternProperties: jsonschema would run those "
            "patterns without a time limit",
            path=prompt.path,
            field=f"{where}.jsonSchema",
            fix="use additionalProperties instead of unevaluatedProperties",
        )
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InputError(
            f"invalid JSON schema ({exc.message})",
            path=prompt.path,
            field=f"{where}.jsonSchema",
            fix="correct the schema",
        ) from None
    except RecursionError:
        raise InputError(
            "the JSON schema nests too deeply", path=prompt.path, field=f"{where}.jsonSchema", fix="correct the schema"
        ) from None
    clock = _Clock()
    return _json_schema(spec.name, _bounded(validator_class, clock)(schema), clock)


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


def _keys(schema: Any) -> set[str]:
    """Every mapping key anywhere in the schema."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.update(k for k in node if isinstance(k, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class PatternTimeout(Exception):
    """A schema's pattern ran past the time one output's patterns have together."""


class _Clock:
    """The patterns of a JSON schema run with `regex` under one deadline per output (REGEX_SECONDS for all of them
    together), as a regex evaluator's pattern does: jsonschema's own `re` has no time limit, and a schema's
    `pattern: '^(a+)+$'` on "aaa…ab" would hold the run for hours."""

    deadline = 0.0

    def search(self, pattern: str, text: str) -> bool:
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return _compiled(pattern).search(text, timeout=left) is not None
        except TimeoutError:
            raise PatternTimeout(pattern) from None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _bounded(validator_class: Any, clock: _Clock) -> Any:
    """`validator_class` with every keyword that matches a pattern (`pattern`, `patternProperties`, and
    `additionalProperties`, which skips names the patterns match) searching through `clock`. (`format` asserts
    nothing without a format checker, and none is given; unevaluatedProperties is refused with patternProperties.)"""
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, wanted: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string") and not clock.search(wanted, instance):
            yield ValidationError(f"{instance!r} does not match {wanted!r}")

    def pattern_properties(validator: Any, patterns: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        for wanted, subschema in patterns.items():
            for key, value in instance.items():
                if clock.search(wanted, key):
                    yield from validator.descend(value, subschema, path=key, schema_path=wanted)

    def additional_properties(validator: Any, allowed: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        named, patterns = schema.get("properties", {}), list(schema.get("patternProperties", {}))
        extras = [k for k in instance if k not in named and not any(clock.search(p, k) for p in patterns)]
        if validator.is_type(allowed, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], allowed, path=extra)
        elif not allowed and extras:
            yield ValidationError(
                f"additional properties are not allowed ({', '.join(map(repr, sorted(extras)))} "
                f"{'was' if len(extras) == 1 else 'were'} unexpected)"
            )

    return jsonschema.validators.extend(
        validator_class,
        {"pattern": pattern, "patternProperties": pattern_properties, "additionalProperties": additional_properties},
    )


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


def _json_schema(name: str, validator: Any, clock: _Clock) -> Check:
    async def check(output: str, item: Item) -> Evaluation:
        try:
            value = json.loads(output)
            clock.deadline = time.monotonic() + REGEX_SECONDS  # no await from here to the verdict: one item at a time
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        except PatternTimeout as exc:
            return Evaluation(name, 0.0, f"the schema's patterns ran over {REGEX_SECONDS} s on this output (/{exc}/)")
        except regex.error as exc:
            return Evaluation(name, 0.0, f"the schema's pattern cannot be read ({exc})")
        except ValueError as exc:
            return Evaluation(name, 0.0, f"not JSON: {exc}")
        except RecursionError:
            return Evaluation(name, 0.0, "JSON nested too deeply to read")
        if error is not None:
            return Evaluation(name, 0.0, f"schema: {error.message}")
        return Evaluation(name, 1.0, "valid against the schema")

    return check


def _judge(
    name: str,
    model: str,
    prompt_text: str,
    system: str,
    choices: list[tuple[str, float]],
    client: ModelClient,
    max_tokens: int | None = None,
) -> Check:
    """An LLM judge as gh runs it: the judge answers in text, and the first choice (in the file's order) that
    the answer contains, ignoring case, gives the score; no choice contained scores 0. Temperature 0 here,
    so that a re-run gives the same grade (gh sends none); `max_tokens` only for built-in judges run here, whose
    prompts ask for the digit alone (an llm judge's own prompt may ask it to reason first)."""
    if model.startswith(ghmodels.PREFIX):
        ghmodels.request_kwargs(model, None)  # no token: refused now, before the prompt's first call

    async def check(output: str, item: Item) -> Evaluation:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": substitute(prompt_text, {**item.data, "completion": output})})
        answer = (
            await client.complete(
                model, messages, Params(temperature=0.0, max_tokens=max_tokens, sample=checks.GRADE_SAMPLE.get())
            )
        ).text
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
        from .models.embeddings import embed

        vectors = embed([output, str(item.expected)])
        cosine = float(vectors[0] @ vectors[1])
        return Evaluation(
            name, max(0.0, min(1.0, cosine)), f"MiniLM cosine {cosine:.3f} to expected (offline, not GitHub's judge)"
        )

    return check
