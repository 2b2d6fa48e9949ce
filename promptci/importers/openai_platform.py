"""OpenAI's hosted Evals platform, as its API documents an eval and a run: the Eval object (`name`,
`testing_criteria`) and its items, from a run's `file_content` source or a JSONL of `{"item": {...}}` rows; the
prompt is the run's `input_messages` template. `{{item.x}}` becomes `{{x}}` and `{{sample.output_text}}` the
judged output. `string_check` graders become `check:` evaluators and `label_model` graders judges; graders with
no faithful promptci evaluator (`text_similarity`, `score_model`, `python`, ...) are named.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import migrate
from .migrate import Evaluator, Leftovers, Migration

STRING_CHECKS = {
    "eq": ("equals", False, False),
    "ne": ("equals", True, False),
    "like": ("contains", False, False),
    "ilike": ("contains", False, True),
}
_ITEM = re.compile(r"\{\{\s*item\.([A-Za-z_][\w-]*)\s*\}\}")
_OUTPUT = re.compile(r"\{\{\s*sample\.output_text\s*\}\}")
ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}


def import_openai_platform(
    eval_path: Path, out: Path, *, run: Path | None = None, items: Path | None = None, judge_model: str | None = None
) -> migrate.Written:
    """An exported Eval object with its run (`--run`) or its items (`--items`)."""
    spec = migrate.read_yaml(eval_path)  # JSON is YAML
    if not isinstance(spec, dict) or not isinstance(spec.get("testing_criteria"), list):
        raise InputError(
            "not an Eval object (no testing_criteria list)",
            path=eval_path,
            field="testing_criteria",
            fix="pass the eval as the API returns it (GET /evals/{id})",
        )
    left = Leftovers()
    source = migrate.read_yaml(run) if run is not None else {}
    data: dict[str, Any] = migrate.member(source, "data_source", dict) or {}
    rows = _rows(data, items, run or eval_path, left)
    evaluators = [
        e
        for i, grader in enumerate(spec["testing_criteria"])
        if (e := _evaluator(grader, i, eval_path, left)) is not None
    ]
    if not evaluators:
        raise InputError(
            "no grader promptci can carry",
            path=eval_path,
            field="testing_criteria",
            fix="string_check and label_model graders are carried; " + "; ".join(left.lines()),
        )
    messages = _template(data, left)
    if messages is None:  # the item's inputs, never the fields its graders compare with
        answers = {e.settings["field"] for e in evaluators if "field" in e.settings}
        fields = sorted({k for row in rows for k in row} - answers)
        messages = [{"role": "user", "content": "\n".join(f"{{{{{f}}}}}" for f in fields)}]
        left.add(
            "no input_messages template (the run's outputs were made elsewhere): the prompt sends the item's "
            "fields; write your prompt into it",
            "prompt",
        )
    name: str = migrate.member(spec, "name", str) or eval_path.stem
    model = migrate.member(data, "model", str)
    return migrate.write(
        Migration(
            source=eval_path,
            name=migrate.slug(name),
            description=name,
            prompts={migrate.slug(name): messages},
            rows=rows,
            evaluators=evaluators,
            model=f"openai/{model}" if model else None,
            judge_model=judge_model,
            leftovers=left,
        ),
        out,
    )


def _rows(data: dict[str, Any], items: Path | None, where: Path, left: Leftovers) -> list[dict[str, Any]]:
    source: dict[str, Any] = migrate.member(data, "source", dict) or {}
    if items is not None:
        text = migrate.read_referenced(items, field_name="--items")
        try:
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            raise InputError("invalid JSON line", path=items, fix='one {"item": {...}} per line') from None
    elif source.get("type") == "file_content" and isinstance(source.get("content"), list):
        entries = source["content"]
    else:
        raise InputError(
            "no items: the run's source is not file_content",
            path=where,
            field="data_source.source",
            fix="pass the items' JSONL with --items",
        )
    rows = []
    for number, entry in enumerate(entries):
        item = entry.get("item", entry) if isinstance(entry, dict) else None
        if not isinstance(item, dict):
            raise InputError(f"item {number} is not an object", path=items or where, fix="give each item as an object")
        if isinstance(entry, dict) and "sample" in entry:
            left.add("the export's samples (outputs of an earlier run; promptci asks the model again)", "items")
        rows.append(dict(item))
    return rows


def _template(data: dict[str, Any], left: Leftovers) -> list[dict[str, str]] | None:
    template = (
        (data.get("input_messages") or {}).get("template") if isinstance(data.get("input_messages"), dict) else None
    )
    if not isinstance(template, list):
        return None
    messages = []
    for message in template:
        role, content = _message(message)
        if role is None:
            left.add("template messages that are not text (left out)", str(message)[:60])
            continue
        messages.append({"role": role, "content": _ITEM.sub(r"{{\1}}", content)})
    return messages or None


def _message(message: Any) -> tuple[str | None, str]:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        return None, ""
    content = message.get("content")
    if isinstance(content, dict) and content.get("type") in ("input_text", "output_text"):
        content = content.get("text")
    return (ROLES[message["role"]], content) if isinstance(content, str) else (None, "")


def _evaluator(grader: Any, index: int, where: Path, left: Leftovers) -> Evaluator | None:
    kind = grader.get("type") if isinstance(grader, dict) else None
    name: str = migrate.member(grader, "name", str) or f"grader-{index}"
    if kind == "string_check" and grader.get("operation") in STRING_CHECKS:
        if not _OUTPUT.fullmatch(str(grader.get("input", "")).strip()):
            left.add("string_check graders on another input than the output", name)
            return None
        check, negate, ignore_case = STRING_CHECKS[grader["operation"]]
        settings: dict[str, Any] = {
            "check": check,
            **({"ignore_case": True} if ignore_case else {}),
            **({"any": True, "negate": True} if negate else {}),
        }
        reference = str(grader.get("reference", ""))
        field = _ITEM.fullmatch(reference.strip())
        if field:
            return Evaluator(name, {**settings, "field": field.group(1)}, [])
        return Evaluator(name, {**settings, "value": [reference]}, [])
    if kind == "label_model" and isinstance(grader.get("input"), list) and grader.get("labels"):
        parts = [content.strip() for role, content in map(_message, grader["input"]) if role is not None]
        labels = [str(label) for label in grader["labels"]]
        passing = {str(label) for label in grader.get("passing_labels") or []}
        prompt = _OUTPUT.sub("{{completion}}", _ITEM.sub(r"{{\1}}", "\n\n".join(parts)))
        prompt += "\n\nEnd your answer with a line that holds only one label: " + ", ".join(labels) + "."
        settings = {
            "judge": prompt,
            "choices": [{"choice": label, "score": float(label in passing)} for label in labels],
        }
        if isinstance(grader.get("model"), str):
            settings["model"] = f"openai/{grader['model']}"
        return Evaluator(name, settings, [])
    left.add(f"{kind or 'unknown'} graders (no faithful promptci evaluator)", name)
    return None
