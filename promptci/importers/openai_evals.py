"""openai/evals registry evals: a registry YAML (`evals/registry/evals/NAME.yaml`) and its `samples_jsonl`
(under the registry's `data/`) become a prompt file, a pool and the evaluator of the eval's class.

`Match` (the output starts with an ideal answer), `Includes` (holds one, `ignore_case` kept) and `FuzzyMatch`
(openai/evals' normalised either-way inclusion) are carried exactly; the model-graded `closedqa` and `fact` specs
become LLM judges with their prompts. Each sample's chat is a template: messages equal in every sample are kept
as text, the others become `{{input}}` (`{{input_2}}`, ...), filled from the pool.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import migrate
from .migrate import Evaluator, Leftovers, Migration

MATCHERS = {
    "evals.elsuite.basic.match:Match": {"check": "starts_with", "any": True},
    "evals.elsuite.basic.includes:Includes": {"check": "contains", "any": True},
    "evals.elsuite.basic.fuzzy_match:FuzzyMatch": {"check": "fuzzy", "any": True},
}
GRADED = "evals.elsuite.modelgraded.classify:ModelBasedClassify"


def import_openai_evals(spec: Path, out: Path, *, judge_model: str | None = None) -> list[migrate.Written]:
    """Every eval of a registry YAML file, each into DIR/prompts and DIR/eval_sets."""
    doc = migrate.read_yaml(spec)
    if not isinstance(doc, dict):
        raise InputError(
            "an openai/evals registry file is a YAML mapping", path=spec, fix="pass evals/registry/evals/NAME.yaml"
        )
    runs = {name: body for name, body in doc.items() if isinstance(body, dict) and "class" in body}
    if not runs:
        raise InputError("no eval with a 'class' in the file", path=spec, fix="pass an eval's registry YAML")
    registry = spec.parent.parent if spec.parent.name == "evals" else spec.parent
    importable = {name: body for name, body in runs.items() if _importable(body)}
    if not importable:
        name, body = next(iter(runs.items()))
        raise InputError(
            f"the class {_class_label(body)} has no faithful promptci evaluator",
            path=spec,
            field=f"{name}.class",
            fix="import Match, Includes, FuzzyMatch, or ModelBasedClassify with closedqa or fact",
        )
    aliases = {body.get("id"): name for name, body in doc.items() if isinstance(body, dict) and "class" not in body}
    written = [
        migrate.write(_migration(aliases.get(name, name), body, spec, registry, judge_model), out)
        for name, body in importable.items()
    ]
    skipped = [f"{aliases.get(n, n)} ({_class_label(b)})" for n, b in runs.items() if n not in importable]
    if skipped:
        written[0].leftovers.append("evals of classes promptci cannot carry: " + ", ".join(skipped))
    return written


def _importable(body: dict[str, Any]) -> bool:
    args: dict[str, Any] = migrate.member(body, "args", dict) or {}
    graded = body["class"] == GRADED and args.get("modelgraded_spec") in ("closedqa", "fact")
    return body["class"] in MATCHERS or graded


def _class_label(body: dict[str, Any]) -> str:
    args: dict[str, Any] = migrate.member(body, "args", dict) or {}
    return str(body["class"]) + (f" with {args['modelgraded_spec']}" if args.get("modelgraded_spec") else "")


def _migration(name: str, body: dict[str, Any], spec: Path, registry: Path, judge_model: str | None) -> Migration:
    left = Leftovers()
    cls = body["class"]
    args = body.get("args") or {}
    if not isinstance(args, dict) or not isinstance(args.get("samples_jsonl"), str):
        raise InputError(
            "args.samples_jsonl is missing",
            path=spec,
            field=f"{name}.args.samples_jsonl",
            fix="name the samples file, relative to the registry's data folder",
        )
    samples = _samples(registry, args["samples_jsonl"], spec, f"{name}.args.samples_jsonl")
    if args.get("num_few_shot"):
        left.add("few-shot examples (not added to the prompt)", f"{name} num_few_shot")
    messages, rows = _template(samples, spec, name, left)
    evaluators: list[Evaluator] = []
    count = len(rows)
    if cls in MATCHERS:
        settings = dict(MATCHERS[cls])
        if cls.endswith("Includes") and args.get("ignore_case"):
            settings["ignore_case"] = True
        evaluators.append(Evaluator(cls.rsplit(":", 1)[1].lower(), settings, [None] * count))
    else:
        kind = args["modelgraded_spec"]
        if kind == "fact":
            evaluators.append(Evaluator("fact", migrate.judge_settings("fact"), [None] * count))
        else:
            criteria = (args.get("modelgraded_spec_args") or {}).get("criteria")
            if not isinstance(criteria, dict) or not criteria:
                raise InputError(
                    "closedqa needs modelgraded_spec_args.criteria",
                    path=spec,
                    field=f"{name}.args.modelgraded_spec_args",
                    fix="give the criteria to judge by",
                )
            for criterion, text in criteria.items():
                evaluators.append(
                    Evaluator(f"closedqa-{criterion}", migrate.judge_settings("closedqa"), [[str(text)]] * count)
                )
    return Migration(
        source=spec,
        name=name,
        description=_description(name, spec),
        prompts={name: messages},
        rows=rows,
        evaluators=[_field_or_values(e) for e in evaluators],
        judge_model=judge_model,
        leftovers=left,
    )


def _field_or_values(evaluator: Evaluator) -> Evaluator:
    """Evaluators whose values are each item's ideal answers read the pool's `expected`."""
    if evaluator.values and evaluator.values[0] is None:
        evaluator.settings["field"] = "expected"
        evaluator.values = []
    return evaluator


def _description(name: str, spec: Path) -> str:
    return f"openai/evals registry eval {name} ({spec.name})"


def _samples(registry: Path, relative: str, spec: Path, field: str) -> list[dict[str, Any]]:
    path = migrate.confined(registry / "data", relative, where=spec, field_name=field)[0]
    text = migrate.read_referenced(path, field_name=field)
    if text.startswith("version https://git-lfs.github.com/spec/"):
        raise InputError(
            "is a Git LFS pointer, not the samples",
            path=path,
            field=field,
            fix="run 'git lfs pull' in the evals checkout first",
        )
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except ValueError:
            raise InputError("invalid JSON", path=path, line=number, fix="one sample per line") from None
        if not isinstance(sample, dict) or "input" not in sample or "ideal" not in sample:
            raise InputError(
                "a sample needs 'input' and 'ideal'",
                path=path,
                line=number,
                fix='write {"input": [...], "ideal": "..."}',
            )
        ideal = sample["ideal"]
        if not (isinstance(ideal, str) or (isinstance(ideal, list) and all(isinstance(i, str) for i in ideal))):
            raise InputError(
                "'ideal' is not a text or a list of texts",
                path=path,
                line=number,
                field="ideal",
                fix="write the ideal answer as text",
            )
        samples.append({"line": number, **sample})
    return samples


def _template(
    samples: list[dict[str, Any]], spec: Path, name: str, left: Leftovers
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The messages every sample shares, with `{{input}}` where they differ, and a row per sample."""
    chats = [_chat(s["input"], spec, name, s["line"]) for s in samples]
    named = [s["line"] for s in samples if isinstance(s["input"], list) and any("name" in m for m in s["input"])]
    if named:
        left.add(
            "message names (example_user, example_assistant: sent without them)", ", ".join(f"line {n}" for n in named)
        )
    shape = [m["role"] for m in chats[0]]
    kept = [(s, c) for s, c in zip(samples, chats) if [m["role"] for m in c] == shape]
    for sample, chat in zip(samples, chats):
        if [m["role"] for m in chat] != shape:
            left.add("samples whose chat has other roles than the first sample's (left out)", f"line {sample['line']}")
    varying = [i for i in range(len(shape)) if len({c[i]["content"] for _, c in kept}) > 1]
    names = {i: "input" if n == 0 else f"input_{n + 1}" for n, i in enumerate(varying)}
    messages = [
        {"role": role, "content": "{{" + names[i] + "}}" if i in names else chats[0][i]["content"]}
        for i, role in enumerate(shape)
    ]
    rows = []
    for sample, chat in kept:
        row: dict[str, Any] = {names[i]: chat[i]["content"] for i in varying}
        row["expected"] = sample["ideal"]
        asked = [m["content"] for m in chat if m["role"] != "system"] or [m["content"] for m in chat]
        row["judged_task"] = "\n\n".join(asked)
        rows.append(row)
    return messages, rows


def _chat(value: Any, spec: Path, name: str, line: int) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        chat = []
        for message in value:
            role, content = message.get("role"), message.get("content")
            if role not in ("system", "user", "assistant") or not isinstance(content, str):
                raise InputError(
                    f"a message has role {role!r} or content that is not text",
                    path=spec,
                    field=f"{name} samples line {line}",
                    fix="use text messages",
                )
            chat.append({"role": role, "content": content})
        return chat
    raise InputError(
        "'input' is neither text nor a list of messages",
        path=spec,
        field=f"{name} samples line {line}",
        fix="write the input as text or chat messages",
    )
