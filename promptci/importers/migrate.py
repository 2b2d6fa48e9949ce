"""What the prompt-file importers share: reading the files a config names (confined to its folder, bounded),
the report of what could not be carried (one warning per kind, with the tests it affects), the judges that
carry model-graded assertions, and writing prompt files and pools that `promptci eval` accepts as they are."""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from ..errors import InputError
from ..files.evalset import content_id
from ..files.fileio import read_input
from ..promptfile import dump_yaml, parse
from ..promptfile.yamlio import check_text, load_yaml
from .tables import write_pool

MAX_REFERENCED_BYTES = 8 * 1024 * 1024  # one file a config names (a prompt, a test table, a schema)
MAX_ROWS = 100_000

PASS_FAIL = "Think it through, then end your answer with a line that holds only PASS or FAIL."
RUBRIC_JUDGE = (
    "You are grading an output against a rubric. If the output meets the rubric, it passes; "
    "otherwise it fails.\n\n[Rubric]: {{value}}\n\n[Output]: {{completion}}\n\n" + PASS_FAIL
)
CLOSEDQA_JUDGE = (
    "You are assessing a submitted answer on a given task based on a criterion. Here is the data:\n"
    "[BEGIN DATA]\n***\n[Task]: {{judged_task}}\n***\n[Submission]: {{completion}}\n***\n"
    "[Criterion]: {{value}}\n***\n[END DATA]\nDoes the submission meet the criterion? First, write "
    "out in a step by step manner your reasoning about the criterion to be sure that your conclusion "
    'is correct. Then print only the single character "Y" or "N" (without quotes or punctuation) on '
    "its own line, the last line of your answer."
)
FACT_JUDGE = (
    "You are comparing a submitted answer to an expert answer on a given question. Here is the data:\n"
    "[BEGIN DATA]\n************\n[Question]: {{judged_task}}\n************\n[Expert]: {{value}}\n"
    "************\n[Submission]: {{completion}}\n************\n[END DATA]\n\nCompare the factual content "
    "of the submitted answer with the expert answer. Ignore any differences in style, grammar, or "
    "punctuation.\n"
    "The submitted answer may either be a subset or superset of the expert answer, or it may conflict "
    "with it. Determine which case applies. Answer the question by selecting one of the following "
    "options:\n(A) The submitted answer is a subset of the expert answer and is fully consistent with it."
    "\n(B) The submitted answer is a superset of the expert answer and is fully consistent with it.\n"
    "(C) The submitted answer contains all the same details as the expert answer.\n(D) There is a "
    "disagreement between the submitted answer and the expert answer.\n(E) The answers differ, but "
    "these differences don't matter from the perspective of factuality.\nEnd your answer with a line "
    "that holds only the letter of your choice."
)
JUDGES: dict[str, tuple[str, list[tuple[str, float]]]] = {
    "rubric": (RUBRIC_JUDGE, [("PASS", 1.0), ("FAIL", 0.0)]),
    "closedqa": (CLOSEDQA_JUDGE, [("Y", 1.0), ("N", 0.0)]),
    "fact": (FACT_JUDGE, [("A", 1.0), ("B", 1.0), ("C", 1.0), ("D", 0.0), ("E", 1.0)]),
}
"""The judge prompts, as promptfoo's and openai/evals' model-graded specs word them, each ending in an answer
promptci's judge reads (its last line); the choices and their scores (factuality fails only on (D))."""

T = TypeVar("T")


def member(source: Any, key: str, kind: type[T]) -> T | None:
    """`source[key]` when `source` is a mapping and the value is of `kind`, else None: configs are untrusted YAML."""
    value = source.get(key) if isinstance(source, dict) else None
    return value if isinstance(value, kind) else None


@dataclass
class Leftovers:
    """What an import could not carry over faithfully: per kind, the tests (or prompts) it affects."""

    kinds: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, where: str) -> None:
        places = self.kinds.setdefault(kind, [])
        if where not in places:
            places.append(where)

    def lines(self) -> list[str]:
        out = []
        for kind, places in self.kinds.items():
            shown = ", ".join(places[:8]) + (f" and {len(places) - 8} more" if len(places) > 8 else "")
            out.append(f"{kind}: {shown}")
        return out


@dataclass
class Evaluator:
    """One promptci evaluator an assertion kind became; `values` holds each row's values in row order."""

    name: str
    settings: dict[str, Any]  # check/judge and its modifiers, without value/field
    values: list[list[Any] | None] = field(default_factory=list)  # None: the row has none


@dataclass
class Migration:
    """Everything one imported config becomes: prompts (name → messages), one pool, the evaluators."""

    source: Path  # the config or spec imported
    name: str  # the pool's name
    description: str | None
    prompts: dict[str, list[dict[str, str]]]
    rows: list[dict[str, Any]]
    evaluators: list[Evaluator]
    model: str | None = None  # a GitHub Models id, for `model:`
    litellm_model: str | None = None  # any other model, for `promptci.model`
    parameters: dict[str, Any] = field(default_factory=dict)
    response_format: str | None = None
    judge_model: str | None = None
    leftovers: Leftovers = field(default_factory=Leftovers)


@dataclass(frozen=True)
class Written:
    prompts: list[Path]
    pool: Path
    items: int
    leftovers: list[str]

    @property
    def summary(self) -> str:
        return f"wrote {self.items} items to {self.pool} and {', '.join(map(str, self.prompts))}"


def confined(base: Path, reference: str, *, where: Path, field_name: str) -> list[Path]:
    """The files a `file://` reference (a glob allowed) names inside `base`, the config's folder: no absolute
    path, no `..`, no symlink anywhere on the way; a config is data, and its paths are hostile like the rest."""
    relative = reference.removeprefix("file://")
    fix = "name a file inside the config's folder, by a relative path without '..'"
    if not relative or relative.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:", relative):
        raise InputError(f"'{reference}' is an absolute path", path=where, field=field_name, fix=fix)
    if ".." in re.split(r"[\\/]", relative):
        raise InputError(f"'{reference}' leaves the config's folder", path=where, field=field_name, fix=fix)
    root = base.resolve()
    paths = sorted(root.glob(relative))[:1000] if glob.has_magic(relative) else [root / relative]
    for path in paths:
        probe = path
        while probe != root and probe != probe.parent:
            if probe.is_symlink():
                raise InputError(
                    f"'{reference}' goes through the symlink {probe.relative_to(root)}",
                    path=where,
                    field=field_name,
                    fix=fix,
                )
            probe = probe.parent
        if not path.resolve().is_relative_to(root):
            raise InputError(
                f"'{reference}' resolves outside the config's folder", path=where, field=field_name, fix=fix
            )
    if not paths:
        raise InputError(f"'{reference}' names no file", path=where, field=field_name, fix="check the pattern")
    return paths


def read_referenced(path: Path, *, field_name: str) -> str:
    """A referenced file's text: bounded, UTF-8."""
    data = read_input(
        path, what="referenced file", field=field_name, limit=MAX_REFERENCED_BYTES, fix="check the path in the config"
    )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("is not UTF-8", path=path, field=field_name, fix="save the file as UTF-8") from None


def read_yaml(path: Path, *, limit: int = MAX_REFERENCED_BYTES) -> Any:
    """A YAML file within promptci's limits for YAML (size, nodes), errors naming the line; a `.json` file is read
    as JSON, up to `limit` bytes."""
    data = read_input(path, what="file", limit=limit, fix="check the path")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("is not UTF-8", path=path, fix="save the file as UTF-8") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno, fix="correct the JSON") from None
        except RecursionError:
            raise InputError("JSON nested too deeply", path=path, fix="correct the JSON") from None
    check_text(text, path)
    return plain(load_yaml(text, path))


def plain(value: Any) -> Any:
    """ruamel's round-trip containers as plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def write(migration: Migration, out: Path) -> Written:
    """DIR/prompts/<prompt>.prompt.yml for each prompt and DIR/eval_sets/<name>.jsonl, every prompt file checked
    by the same parser `promptci eval` uses before anything is written."""
    if not migration.rows:
        raise InputError(
            "no tests to import",
            path=migration.source,
            field="tests",
            fix="add tests to the config (generated tests are not imported)",
        )
    if len(migration.rows) > MAX_ROWS:
        raise InputError(
            f"{len(migration.rows)} tests, over {MAX_ROWS}",
            path=migration.source,
            field="tests",
            fix="split the config",
        )
    if not any("judged_task" in str(e.settings.get("judge")) for e in migration.evaluators):
        for row in migration.rows:
            row.pop("judged_task", None)
    pool_name = slug(migration.name)
    pool_path = out / "eval_sets" / f"{pool_name}.jsonl"
    rows = [dict(row) for row in migration.rows]
    settings_list = []
    for evaluator in migration.evaluators:
        settings = {"name": evaluator.name, **evaluator.settings}
        if {"field", "value"} & settings.keys() or ("judge" in settings and not evaluator.values):
            pass  # the pool already holds the values (`expected`), or the file does, or a judge needs none
        elif all(v == evaluator.values[0] for v in evaluator.values):
            settings["value"] = evaluator.values[0]
        else:
            column = "assert_" + re.sub(r"\W+", "_", evaluator.name).strip("_")
            settings["field"] = column
            for row, values in zip(rows, evaluator.values):
                row[column] = values
        settings_list.append(settings)
    texts = {}
    for prompt_name, messages in migration.prompts.items():
        target = out / "prompts" / f"{slug(prompt_name)}.prompt.yml"
        text = _prompt_text(migration, prompt_name, messages, settings_list, pool_name)
        parse(text, target)  # refused here, not at the first `promptci eval`
        texts[target] = text
    pool_path.parent.mkdir(parents=True, exist_ok=True)
    report = write_pool(pool_path, _with_ids(rows), labels=None, per_item=False)
    for target, text in texts.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return Written(prompts=list(texts), pool=pool_path, items=report.count, leftovers=migration.leftovers.lines())


def _with_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids from each row's content; a repeated test (promptfoo runs it again) gets `~2`, `~3`, as gh's testData."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        rest = {k: v for k, v in row.items() if k != "id"}
        base = str(row["id"]) if isinstance(row.get("id"), (str, int)) and str(row["id"]).strip() else content_id(rest)
        seen[base] = seen.get(base, 0) + 1
        out.append({"id": base if seen[base] == 1 else f"{base}~{seen[base]}", **rest})
    return out


def _prompt_text(
    migration: Migration,
    prompt_name: str,
    messages: list[dict[str, str]],
    evaluators: list[dict[str, Any]],
    pool_name: str,
) -> str:
    doc = CommentedMap()
    doc["name"] = prompt_name
    if migration.description:
        doc["description"] = migration.description
    if migration.model:
        doc["model"] = migration.model
    if migration.parameters:
        doc["modelParameters"] = CommentedMap(migration.parameters)
    if migration.response_format:
        doc["responseFormat"] = migration.response_format
    doc["messages"] = CommentedSeq(_yaml_value(m) for m in messages)
    settings = CommentedMap(pool=f"../eval_sets/{pool_name}.jsonl")
    if migration.litellm_model:
        settings["model"] = migration.litellm_model
    if migration.judge_model:
        settings["judge_model"] = migration.judge_model
    settings["evaluators"] = CommentedSeq(_yaml_value(e) for e in evaluators)
    doc["promptci"] = settings
    header = f"# Imported by 'promptci import' from {migration.source.name}; docs/import.md says what maps to what.\n"
    return header + dump_yaml(doc, like="a:\n  - b: 1\n")


def _yaml_value(value: Any) -> Any:
    if isinstance(value, str) and "\n" in value.strip("\n"):
        return LiteralScalarString(value)
    if isinstance(value, dict):
        return CommentedMap((k, _yaml_value(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_yaml_value(v) for v in value)
    return value


def judge_settings(kind: str, *, negate: bool = False) -> dict[str, Any]:
    prompt, choices = JUDGES[kind]
    if negate:
        choices = [(choice, 1.0 - score) for choice, score in choices]
    return {"judge": prompt, "choices": [{"choice": c, "score": s} for c, s in choices]}


def slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return slug or "imported"


def as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
