"""Pools from tables (CSV) and the writing every pool importer shares: ids, duplicates, the `ImportReport`.

Each importer returns an `ImportReport` so the CLI can tell the user what to put under `promptci:`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..errors import InputError
from ..files.evalset import content_id, write_jsonl
from ..files.fileio import read_input
from ..files.settings import label_key, label_set_problem

OPTIONS_FIELD = "choices"
MAX_IMPORT_BYTES = 64 * 1024 * 1024  # one file an importer reads


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote, and the label set it found (fixed, per item, or none)."""

    out: Path
    count: int
    labels: list[str] | None  # the one label set shared by every item
    per_item_labels: bool  # items carry their own options in OPTIONS_FIELD

    def settings_snippet(self, prompt_dir: Path | None = None) -> str:
        """The `promptci:` lines a prompt file needs to use this pool, written by a YAML emitter so that
        a path or label YAML would read otherwise (`true`, `1`, `a: b`, `#x`) is quoted."""
        pool = self.out
        if prompt_dir is not None:
            pool = Path(relative(self.out, prompt_dir))
        settings = CommentedMap(pool=pool.as_posix())
        if self.labels:
            settings["labels"] = CommentedSeq(self.labels)
            settings["labels"].fa.set_flow_style()
        elif self.per_item_labels:
            settings["labels"] = OPTIONS_FIELD
        yaml = YAML(typ="rt")
        yaml.width = 4096
        yaml.indent(mapping=2, sequence=4, offset=2)
        text = io.StringIO()
        yaml.dump(CommentedMap(promptci=settings), text)
        return text.getvalue().rstrip("\n")


def import_csv(csv_path: Path, out: Path, *, labels: list[str] | None = None) -> ImportReport:
    """A CSV file with a header row: each column becomes a field; an `id` column is kept."""
    where = str(csv_path)
    try:
        text = read_input(csv_path, what="CSV file", limit=MAX_IMPORT_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("CSV is not UTF-8", path=where, fix="save the file as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))  # a quoted cell may hold line breaks
    if not reader.fieldnames:
        raise InputError("CSV has no header row", path=where, line=1, fix="put column names on the first line")
    if "expected" not in reader.fieldnames:
        raise InputError(
            "CSV has no 'expected' column",
            path=where,
            line=1,
            fix="name the column holding the right answer 'expected'",
        )
    rows = []
    for record in reader:
        if None in record:
            raise InputError(
                "row has more cells than the header",
                path=where,
                line=reader.line_num,
                fix="quote cells that contain commas",
            )
        rows.append({k: v for k, v in record.items()})
    if not rows:
        raise InputError("CSV has no rows", path=where, fix="add items below the header")
    if labels:
        check_label_set(labels, rows, where)
    return write_pool(out, rows, labels=labels or None, per_item=False)


def check_label_set(labels: list[str], rows: list[dict[str, Any]], where: str) -> None:
    """--labels is a label set and every row's expected is in it, as the prompt will require."""
    problem = label_set_problem(labels)
    if problem:
        raise InputError(problem, field="--labels", fix="list each label once, comma-separated")
    keys = {label_key(label) for label in labels}
    outside = [
        (number, row["expected"])
        for number, row in enumerate(rows, start=1)
        if label_key(row["expected"] or "") not in keys
    ]
    if outside:
        shown = ", ".join(f"row {n} ({value!r})" for n, value in outside[:3])
        raise InputError(
            f"expected label not in --labels for {len(outside)} of {len(rows)} rows: {shown}"
            + (f" and {len(outside) - 3} more" if len(outside) > 3 else ""),
            path=where,
            field="expected",
            fix="correct those rows, or add the label to --labels",
        )


def write_pool(out: Path, rows: list[dict[str, Any]], *, labels: list[str] | None, per_item: bool) -> ImportReport:
    with_ids = []
    for row in rows:
        rest = {k: v for k, v in row.items() if k != "id"}
        with_ids.append({"id": row.get("id") or content_id(rest), **rest})
    ids = [r["id"] for r in with_ids]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise InputError(
            f"duplicate items (ids {', '.join(map(str, dupes[:3]))})",
            path=str(out),
            fix="remove the repeated rows, or give them distinct ids",
        )
    count = write_jsonl(out, with_ids)
    return ImportReport(out=out, count=count, labels=labels, per_item_labels=per_item)


def shared_options(option_sets: list[list[str]], n_rows: int) -> list[str] | None:
    if len(option_sets) != n_rows or not option_sets:
        return None
    first = sorted(option_sets[0])
    if all(sorted(s) == first for s in option_sets):
        return sorted(option_sets[0])
    return None


def read_json(path: Path, *, fix: str) -> Any:
    """A JSON input file, bounded in size and depth; every fault is one line naming the file."""
    try:
        return json.loads(read_input(path, what="JSON file", limit=MAX_IMPORT_BYTES).decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("file is not UTF-8", path=str(path), fix="save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=str(path), line=exc.lineno, fix=fix) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path=str(path), fix=fix) from None


def relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())
