"""promptfoo assertions as promptci evaluators: each kind one `check:` or `judge:` evaluator, each test's values
of that kind a list (docs/import.md has the table); kinds with no faithful evaluator are named, never approximated
silently."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..promptfile import substitute
from . import migrate
from .migrate import Evaluator, Leftovers, Migration
from .promptfoo_models import grader

TEXT_ASSERTIONS = {
    "equals": "equals",
    "contains": "contains",
    "icontains": "contains",
    "starts-with": "starts_with",
    "regex": "regex",
    "is-json": "json",
    "contains-json": "contains_json",
    "similar": "similar",
}
LIST_ASSERTIONS = {
    "contains-any": "contains",
    "icontains-any": "icontains",
    "contains-all": "contains",
    "icontains-all": "icontains",
}
JUDGED = {
    "llm-rubric": "rubric",
    "model-graded-closedqa": "closedqa",
    "factuality": "fact",
    "model-graded-factuality": "fact",
}
CODE_ASSERTIONS = ("javascript", "python", "webhook", "ruby")
CODE_SUFFIXES = (".js", ".mjs", ".cjs", ".ts", ".py", ".sh", ".rb")
SPACED = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")


def assertion(
    assertion: dict[str, Any],
    variables: dict[str, Any],
    label: str,
    row: dict[str, list[Any]],
    slots: dict[str, Evaluator],
    left: Leftovers,
    config: Path,
    migration: Migration,
) -> None:
    kind = assertion.get("type")
    if not isinstance(kind, str):
        raise InputError("an assertion has no type", path=config, field=label, fix="give each assertion a type")
    negated = kind.startswith("not-")
    bare = kind.removeprefix("not-")
    if bare in CODE_ASSERTIONS:
        left.add(f"{bare} assertions (code, not run)", label)
        return
    value = _filled(assertion.get("value"), variables)
    if isinstance(value, str) and value.startswith("file://") and bare not in ("is-json", "contains-json"):
        path_part = value.removeprefix("file://")
        if ":" in path_part or path_part.endswith(CODE_SUFFIXES):
            left.add(f"{bare} values computed by code (not run)", label)
            return
        path = migrate.confined(config.parent, value, where=config, field_name=f"{label} {kind}")[0]
        value = migrate.read_referenced(path, field_name=f"{label} {kind}")
    if assertion.get("transform"):
        left.add("assertions with a transform (code, not run)", f"{label} {kind}")
        return
    if isinstance(assertion.get("weight"), (int, float)) and assertion["weight"] != 1:
        left.add("assertion weights (promptci weighs every evaluator equally)", f"{label} {kind}")
    if bare in TEXT_ASSERTIONS:
        check = TEXT_ASSERTIONS[bare]
        settings: dict[str, Any] = {"check": check}
        if bare == "icontains":
            settings["ignore_case"] = True
        if check in ("json", "contains_json"):
            value = _schema(value, config, label)
        elif value is None or isinstance(value, (dict, bool)):
            left.add(f"{kind} without a text value", label)
            return
        elif isinstance(value, list) and check != "similar":
            left.add(f"{kind} with a list value", label)
            return
        elif not isinstance(value, list):
            value = str(value)
        name = kind
        if check == "similar":
            threshold = assertion.get("threshold", 0.75)
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1 <= threshold <= 1:
                raise InputError(
                    f"threshold {threshold!r} is not a number from -1 to 1",
                    path=config,
                    field=f"{label} {kind}.threshold",
                    fix="give the least cosine, e.g. 0.8",
                )
            settings["threshold"] = float(threshold)
            left.add("similar (MiniLM embeddings stand in for promptfoo's embedding provider)", label)
            name = f"{kind}@{threshold}"
        if check == "regex" and "(?<" in str(value) and "(?<=" not in str(value) and "(?<!" not in str(value):
            left.add("regex with JavaScript named groups", label)
        _add(slots, row, name, settings, value, negated)
    elif bare in LIST_ASSERTIONS:
        values = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, (str, int, float)) for v in values):
            left.add(f"{kind} without a list of texts", label)
            return
        values = [str(v) for v in values]
        target = LIST_ASSERTIONS[bare]
        settings = {"check": "contains", **({"ignore_case": True} if target == "icontains" else {})}
        if bare.endswith("-all") and not negated:
            for v in values:
                _add(slots, row, target, settings, v, False)
        elif bare.endswith("-any") and not negated:
            _add(slots, row, target, settings, values, False)
        elif bare.endswith("-any"):  # none of them
            for v in values:
                _add(slots, row, kind.replace("-any", ""), settings, v, True)
        else:
            left.add(f"{kind} (not all of several: no faithful evaluator)", label)
    elif bare in JUDGED:
        rubric = migrate.as_json(value) if value is not None else None
        if rubric is None:
            left.add(f"{kind} without a rubric", label)
            return
        if assertion.get("provider") and migration.judge_model is None:
            grader(assertion["provider"], migration, label)
        _add(slots, row, kind, migrate.judge_settings(JUDGED[bare], negate=negated), rubric, False)
    else:
        left.add(f"{bare} assertions (no faithful promptci evaluator)", label)


def _filled(value: Any, variables: dict[str, Any]) -> Any:
    """An assertion's value with the test's `{{ var }}` filled in, as promptfoo renders it (lists entry by entry)."""
    if isinstance(value, str):
        return substitute(SPACED.sub(r"{{\1}}", value), variables)
    if isinstance(value, list):
        return [_filled(v, variables) for v in value]
    return value


def _add(
    slots: dict[str, Evaluator],
    row: dict[str, list[Any]],
    name: str,
    settings: dict[str, Any],
    value: Any,
    negated: bool,
) -> None:
    """One value for the evaluator of this kind: all must hold; a negated kind holds when none matches."""
    if negated and "judge" not in settings:
        settings = {**settings, "any": True, "negate": True}
    if name not in slots:
        slots[name] = Evaluator(name, settings, [[] for _ in range(_rows_so_far(slots))])
    row.setdefault(name, []).append(value)


def _rows_so_far(slots: dict[str, Evaluator]) -> int:
    return max((len(e.values) for e in slots.values()), default=0)


def _schema(value: Any, config: Path, label: str) -> Any:
    if value is None:
        return True
    if isinstance(value, str) and value.startswith("file://"):
        path = migrate.confined(config.parent, value, where=config, field_name=label)[0]
        value = migrate.read_yaml(path)
    elif isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError("the JSON schema is not JSON", path=config, field=label, fix="give a schema") from None
    if not isinstance(value, dict):
        raise InputError("the JSON schema is not a mapping", path=config, field=label, fix="give a schema mapping")
    return value
