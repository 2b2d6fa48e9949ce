"""Prompt-file YAML, read safely and written back without losing layout: limits checked before parsing (size,
binary data, nodes once aliases expand), ruamel's round-trip loader so that errors name lines and a rewritten
prompt keeps its comments, key order and quoting."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.util import load_yaml_guess_indent

from ..errors import InputError
from ..files.fileio import check_input, repository_root

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Prompt files are small; anything larger is refused before parsing (move eval data to a pool)."""

MAX_NODES = 50_000
"""YAML nodes a file may expand to, aliases followed: a prompt file with 10,000 rows of testData; more is
refused before the slow load (a 'billion laughs' file, or a megabyte of tiny nodes)."""


def check_text(content: int | bytes | str, path: Path) -> None:
    """The limits a prompt file's content must keep, read from disk or from a git blob alike: its size (a size
    alone is checked before reading) and no binary data."""
    size = content if isinstance(content, int) else len(content)
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"file is {size} {'bytes' if not isinstance(content, str) else 'characters'}, over the "
            f"{MAX_FILE_BYTES}-byte limit for prompt files",
            path=path,
            fix="move eval data to a JSONL pool (promptci.pool)",
        )
    if (isinstance(content, str) and "\0" in content) or (isinstance(content, bytes) and b"\0" in content):
        raise InputError("file holds binary data", path=path, fix="a prompt file must be UTF-8 YAML text")


def dump_yaml(doc: Any, *, like: str) -> str:
    """Serialise a round-trip document with the indentation found in `like`."""
    _, sequence, offset = load_yaml_guess_indent(like)
    sequence, offset = sequence or 2, offset or 0
    yaml = _yaml()
    yaml.indent(mapping=offset or sequence, sequence=sequence, offset=offset)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.allow_duplicate_keys = False
    return yaml


def read_text(path: Path) -> str:
    """A prompt file's text from disk: a regular file inside its repository, within the limits, UTF-8."""
    size = check_input(path, what="prompt file").st_size  # a folder or a FIFO is refused unopened
    root = repository_root(path)
    if path.is_symlink() and root is not None and not path.resolve().is_relative_to(root.resolve()):
        raise InputError(
            "the prompt file is a link to a file outside the repository", path=path, fix="commit the prompt file itself"
        )
    check_text(size, path)  # before reading: a huge file is never read
    data = path.read_bytes()
    check_text(data, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("file is not UTF-8", path=path, line=line, fix="save the file as UTF-8") from None


def load_yaml(text: str, path: Path) -> Any:
    if _expanded_size(text) > MAX_NODES:
        raise InputError(
            f"the YAML has more than {MAX_NODES} nodes once aliases expand",
            path=path,
            fix="move eval data to a JSONL pool (promptci.pool); write values out instead of anchors",
        )
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and (mark is None or mark.index >= len(text.rstrip())):
            mark = exc.context_mark  # the problem is 'end of file': point at the construct left open
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise InputError(
            f"malformed YAML: {problem}", path=path, line=line, fix="correct the YAML syntax at that line"
        ) from None
    except (YAMLError, RecursionError) as exc:
        raise InputError(f"malformed YAML: {type(exc).__name__}", path=path, fix="correct the YAML syntax") from None


def yaml_events(text: str) -> Iterator[pyyaml.Event]:
    """libyaml's parser events: limits are checked on them at C speed, before the slow pure-Python load."""
    return pyyaml.parse(text, Loader=getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader))


def _expanded_size(text: str) -> int:
    """Nodes the document would have with every alias expanded, counted from libyaml's parser events: fast
    enough (a million nodes in about a second) to refuse a huge file before the slow round-trip load."""
    sizes: dict[str | None, int] = {}  # (an alias always names an anchor; the stubs allow None)
    stack: list[list[Any]] = [[None, 0]]  # [anchor, nodes so far] per open collection
    total = 0
    try:
        for event in yaml_events(text):
            if isinstance(event, pyyaml.AliasEvent):
                added = sizes.get(event.anchor, 1)
            elif isinstance(event, pyyaml.ScalarEvent):
                added = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, pyyaml.CollectionStartEvent):
                stack.append([event.anchor, 0])
                continue
            elif isinstance(event, pyyaml.CollectionEndEvent):
                anchor, count = stack.pop()
                added = 1
                if anchor:
                    sizes[anchor] = count + 1
                stack[-1][1] += count
            else:
                continue
            stack[-1][1] += added
            total += added
            if total > MAX_NODES:
                return total
    except pyyaml.YAMLError:
        return 0  # the real load reports the syntax error with its line
    return total


def same_style(old: Any, new: str) -> Any:
    """Keep a rewritten string in the style of the one it replaces (block, folded, quoted)."""
    if new == old:
        return old
    if isinstance(old, FoldedScalarString) and "\n" not in new:
        return _folded(new)
    if isinstance(old, LiteralScalarString) or "\n" in new:
        return LiteralScalarString(new)
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(new)
    if isinstance(old, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(new)
    return new


def _folded(text: str, width: int = 88) -> FoldedScalarString:
    """A folded block that breaks at spaces near `width` columns, as a person would write it."""
    folded = FoldedScalarString(text)
    positions, line_start = [], 0
    for i, char in enumerate(text):
        if char == " " and i - line_start >= width - 8 and 0 < i < len(text) - 1 and text[i + 1] != " ":
            positions.append(i)
            line_start = i + 1
    folded.fold_pos = positions
    return folded
