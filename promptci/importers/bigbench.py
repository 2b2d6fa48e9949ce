"""BIG-bench `task.json` files: `target_scores` give the expected label and the options, `target` the answer.

Every value is checked before it is used, so a malformed task is one line naming the example and the field
(exit 2), never a traceback.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files.settings import label_set_problem
from .tables import OPTIONS_FIELD, ImportReport, read_json, shared_options, write_pool


def import_bigbench(task_path: Path, out: Path) -> ImportReport:
    """A BIG-bench `task.json`: `target_scores` gives the expected label and the options."""
    where = str(task_path)
    task = read_json(task_path, fix="pass a BIG-bench task.json")
    examples = task.get("examples") if isinstance(task, dict) else None
    if not isinstance(examples, list) or not examples:
        raise InputError(
            "no 'examples' list",
            path=where,
            field="examples",
            fix="pass a BIG-bench task.json (a task with examples, not a folder of subtasks)",
        )
    rows = []
    option_sets = []
    for index, example in enumerate(examples):
        field = f"examples[{index}]"
        if not isinstance(example, dict) or not isinstance(example.get("input"), str):
            raise InputError(
                f"example {index} has no 'input' string",
                path=where,
                field=field,
                fix="each example needs 'input' and 'target_scores' or 'target'",
            )
        row: dict[str, Any] = {"input": example["input"]}
        if example.get("target_scores") is not None:
            options, best = _scores(example["target_scores"], where, f"{field}.target_scores")
            row["expected"] = best
            row[OPTIONS_FIELD] = options
            option_sets.append(options)
        elif "target" in example:
            row["expected"] = _target(example["target"], where, f"{field}.target")
        else:
            raise InputError(
                f"example {index} has neither 'target_scores' nor 'target'",
                path=where,
                field=field,
                fix="this is not a BIG-bench JSON task",
            )
        rows.append(row)
    shared = shared_options(option_sets, len(rows))
    if shared is not None:
        for row in rows:
            row.pop(OPTIONS_FIELD)
    return write_pool(out, rows, labels=shared, per_item=bool(option_sets) and shared is None)


def _scores(scores: Any, where: str, field: str) -> tuple[list[str], str]:
    """The options of `target_scores` and the one scored highest (the first of equals)."""
    if not isinstance(scores, dict) or not scores:
        raise InputError(
            f"is {_kind(scores)}, not a mapping of options to scores",
            path=where,
            field=field,
            fix='write it as {"option": 1, "other option": 0}',
        )
    for option, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InputError(
                f"the score of {option!r} is {_kind(score)}, not a number",
                path=where,
                field=field,
                fix="give each option a number, 1 for the right one and 0 for the others",
            )
    options = [str(k) for k in scores]
    problem = label_set_problem(options)
    if problem:
        raise InputError(problem, path=where, field=field, fix="give each option once, distinct in more than case")
    best = max(scores.values())
    return options, next(str(k) for k, v in scores.items() if v == best)


def _target(target: Any, where: str, field: str) -> str:
    """A `target`: a text, or a list of acceptable texts (the first is kept as `expected`)."""
    first = target[0] if isinstance(target, list) and target else target
    if isinstance(first, bool) or not isinstance(first, (str, int, float)):
        raise InputError(
            f"is {_kind(target)}, not a text or a list of texts",
            path=where,
            field=field,
            fix='write the answer as text, e.g. "Paris", or a list of texts',
        )
    return str(first)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, bool) or value is None:
        return f"{str(value).lower() if value is not None else 'null'}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else type(value).__name__
