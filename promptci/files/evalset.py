"""Eval pools: the items a prompt is scored on, read from `eval_sets/<name>.jsonl` or `testData`.

A pool line is one JSON object: a stable `id`, the template variables, and `expected` (plus any
field an evaluator reads). An item without an id gets one from a hash of its content, so the id is
stable as long as the item is; two items with the same id are an error in a JSONL pool, never a
silent merge. `testData` is read as gh reads it: a row's `id` is also a variable like any other key,
and a repeated row is a second item (its id gets `~2`, `~3`, ... in the order of the rows).
A file with no items at all is not an error: `NoItems` says so, and it is reported "not gated".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..promptfile import PromptFile, go_text, warn
from .fileio import atomic_write_text, read_input
from .settings import label_key, label_set_problem

ID_LENGTH = 12
MAX_POOL_BYTES = 256 * 1024 * 1024  # a pool of a million short items fits; /dev/zero behind a name does not
MAX_LINE_BYTES = 1024 * 1024  # one item
MAX_DEPTH = 32  # nesting of one item's JSON: items are flat records of variables


@dataclass(frozen=True)
class Item:
    """One eval item: its id and every other field (template variables, expected, options)."""

    id: str
    data: Mapping[str, Any]

    @property
    def expected(self) -> Any:
        return self.data.get("expected")


@dataclass(frozen=True)
class Pool:
    """The items of one prompt, with where they came from and a hash of that source."""

    source: str  # the pool path as written in the settings, or "testData"
    path: Path | None  # the JSONL file; None for testData
    items: tuple[Item, ...]
    sha256: str

    def __len__(self) -> int:
        return len(self.items)

    def by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}


def content_id(data: Mapping[str, Any]) -> str:
    """A stable id from an item's content (canonical JSON, sha256)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:ID_LENGTH]


NO_ITEMS_FIX = "add testData rows to the file, or set promptci.pool to a JSONL pool ('promptci import' makes one)"


class NoItems(InputError):
    """The prompt has nothing to evaluate: gh reports 0/0 and passes; promptci reports it "not gated"."""

    exit_code = 0


def load_pool(prompt: PromptFile) -> Pool:
    """The prompt's pool (`promptci.pool`, else `testData`), checked against its placeholders and labels."""
    settings = prompt.settings
    if settings.pool:
        pool = read_jsonl(prompt.resolve(settings.pool, field="promptci.pool"), source=settings.pool)
    elif prompt.spec.testData:
        pool = _from_rows(
            prompt.spec.testData,
            source="testData",
            path=None,
            sha256=_sha256_json(prompt.spec.testData),
            where=str(prompt.path),
            like_gh=True,
        )
    else:
        raise NoItems(
            "not gated: no items (no testData and no promptci.pool)",
            path=prompt.path,
            field="testData",
            fix=NO_ITEMS_FIX,
        )
    for warning in placeholder_warnings(prompt, pool):
        warn(f"{prompt.path}: {warning}")
    _check_labels(prompt, pool)
    return pool


def read_jsonl(path: Path, *, source: str | None = None) -> Pool:
    """Read a JSONL pool; every malformed line is an InputError naming the file and the line."""
    where = str(path)
    fix_path = "check promptci.pool (a path relative to the prompt file), or create it with 'promptci import'"
    data = read_input(path, what="pool file", field="promptci.pool", fix=fix_path, limit=MAX_POOL_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise InputError("pool is not UTF-8", path=where, line=bad_line, fix="save the pool as UTF-8") from None
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may be inside a string
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            raise InputError(
                f"the item is over {MAX_LINE_BYTES} characters",
                path=where,
                line=number,
                fix="keep long documents out of the pool, or shorten them",
            )
        try:
            row = json.loads(line)
            deep = _depth(row) > MAX_DEPTH
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON ({exc.msg})", path=where, line=number, fix="one JSON object per line"
            ) from None
        except RecursionError:  # deeper than the parser's own stack
            deep = True
        if deep:
            raise InputError(
                f"the item nests JSON over {MAX_DEPTH} levels deep",
                path=where,
                line=number,
                fix="items are flat records of template variables",
            )
        rows.append((number, row))
    return _from_rows(
        [r for _, r in rows],
        source=source or str(path),
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        where=where,
        lines=[n for n, _ in rows],
    )


def _depth(value: Any) -> int:
    """How deep JSON nests (1 for a scalar), counted without recursion and stopping past MAX_DEPTH."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as a JSONL pool, atomically; returns the number written. A pool `read_jsonl` would refuse (an item
    over MAX_LINE_BYTES, the whole over MAX_POOL_BYTES) is refused here, before anything is written."""
    lines, size = [], 0
    for number, row in enumerate(rows, start=1):
        line = json.dumps(dict(row), ensure_ascii=False)
        size += len(line.encode("utf-8")) + 1
        if len(line) > MAX_LINE_BYTES or size > MAX_POOL_BYTES:
            raise InputError(
                f"item {number} would make the pool over its limit ({MAX_LINE_BYTES} characters an item, "
                f"{MAX_POOL_BYTES} bytes in all), which promptci could not read",
                path=str(path),
                fix="import fewer or shorter items (a long document or a long list of values behind file://)",
            )
        lines.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def item_labels(labels: Sequence[str] | str | None, item: Item) -> list[str] | None:
    """The labels an item is scored over: the fixed set, or the item's own options field."""
    if labels is None or not isinstance(labels, str):
        return list(labels) if labels is not None else None
    return list(item.data[labels])


def _from_rows(
    rows: Sequence[Any],
    *,
    source: str,
    path: Path | None,
    sha256: str,
    where: str,
    lines: Sequence[int] | None = None,
    like_gh: bool = False,
) -> Pool:
    if not rows:
        raise InputError("pool is empty", path=where, fix="add at least one item")
    seen: dict[str, int] = {}
    items = []
    for index, row in enumerate(rows):
        line = lines[index] if lines else None
        label = f"line {line}" if line else f"item {index}"
        if not isinstance(row, dict):
            raise InputError(
                f"{label} is not a JSON object",
                path=where,
                line=line,
                fix="each item is an object of template variables and 'expected'",
            )
        data = dict(row) if like_gh else {k: v for k, v in row.items() if k != "id"}
        raw_id = row.get("id")
        usable = isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id).strip()
        if usable:
            item_id = str(raw_id)
        elif raw_id is None or like_gh:  # in testData an id is just a variable to gh, whatever its value
            item_id = content_id(data)
        else:
            raise InputError(
                f"{label}: 'id' must be a non-empty string",
                path=where,
                line=line,
                fix="use a string id, or leave it out to get one from the content",
            )
        if item_id in seen and like_gh:
            item_id = next(f"{item_id}~{n}" for n in range(2, len(rows) + 2) if f"{item_id}~{n}" not in seen)
        if item_id in seen:
            first = seen[item_id]
            raise InputError(
                f"duplicate id '{item_id}' ({label} repeats {'line' if lines else 'item'} {first})",
                path=where,
                line=line,
                fix="give every item a distinct id",
            )
        seen[item_id] = line if line else index
        items.append(Item(id=item_id, data=data))
    return Pool(source=source, path=path, items=tuple(items), sha256=sha256)


def placeholder_warnings(prompt: PromptFile, pool: Pool) -> list[str]:
    """A line per placeholder that some items fill and others do not: gh sends it to those as text.
    A placeholder no item fills is plain text (`${{ secrets.X }}`, `{{ spaced }}`), as in gh."""
    out = []
    for name in sorted(prompt.variables):
        lacking = [item.id for item in pool.items if name not in item.data]
        if lacking and len(lacking) < len(pool.items):
            shown = ", ".join(f"'{i}'" for i in lacking[:5]) + (
                f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
            )
            out.append(
                f"placeholder {{{{{name}}}}} is not filled for item {shown} of pool {pool.source}: "
                f"gh sends it as text (add '{name}' to those items)"
            )
    return out


def check_answers_hidden(prompt: PromptFile, items: Sequence[Item]) -> None:
    """Refuse a placeholder whose value is the answer on most items: a pool column that holds the answer under
    another name (`label` beside `expected`, as an import of every CSV column keeps it) puts the answer into the
    prompt as surely as `{{expected}}` would, and the gate would score the leak. Checked before any model call."""
    answers = sorted(prompt.answer_fields)
    judged = [(item, {label_key(go_text(item.data[a])) for a in answers if a in item.data} - {""}) for item in items]
    judged = [(item, known) for item, known in judged if known]
    for name in sorted(prompt.variables - prompt.answer_fields):
        same = sum(1 for item, known in judged if name in item.data and _holds(item.data[name], known))
        if judged and same * 2 > len(judged):
            raise InputError(
                f"placeholder {{{{{name}}}}} holds the answer: its value equals the expected answer on "
                f"{same} of {len(judged)} items",
                path=prompt.path,
                field="messages",
                fix=f"drop the '{name}' column from the pool, or {{{{{name}}}}} from the messages: "
                "the model must not see the answer",
            )


def _holds(value: Any, answers: set[str]) -> bool:
    """Whether a row's value is one of its answers, or a list with one among its entries (`alts: [good]`)."""
    values = value if isinstance(value, list) else [value]
    return any(label_key(go_text(v)) in answers for v in values)


def _check_labels(prompt: PromptFile, pool: Pool) -> None:
    """Each item's options make a label set, and its `expected` is one of them (a label match ignores
    case and surrounding space, so that is how membership is judged)."""
    labels = prompt.settings.labels
    if labels is None:
        return
    outside = []
    for item in pool.items:
        if isinstance(labels, str):
            options = item.data.get(labels)
            fix = (
                f"give every item a '{labels}' list of at least two distinct options, "
                "or set promptci.labels to a fixed list"
            )
            if not (isinstance(options, list) and all(isinstance(o, str) for o in options)):
                raise InputError(
                    f"item '{item.id}' has no list of at least two string options in field '{labels}'",
                    path=prompt.path,
                    field="promptci.labels",
                    fix=fix,
                )
            problem = label_set_problem(options)
            if problem:
                raise InputError(
                    f"item '{item.id}' field '{labels}': {problem}", path=prompt.path, field="promptci.labels", fix=fix
                )
        else:
            options = labels
        if "expected" in item.data and label_key(str(item.expected)) not in {label_key(o) for o in options}:
            outside.append(item)
    if outside:
        shown = ", ".join(f"'{i.id}' ({str(i.expected)!r})" for i in outside[:3])
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        where = f"its field '{labels}'" if isinstance(labels, str) else "promptci.labels"
        raise InputError(
            f"expected label not in {where} for {len(outside)} of {len(pool)} items: {shown}{more}",
            path=pool.path or prompt.path,
            field="expected",
            fix="correct those items' expected, or add the label to the label set",
        )


def _sha256_json(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
