"""pydantic's complaints about a prompt file as one line naming the field, its line in the file and the fix."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..errors import InputError
from .schema import FORMAT_HELP, PromptSpec


def input_error(exc: ValidationError, doc: CommentedMap, path: Path) -> InputError:
    """Turn pydantic's first complaint into one line naming the field, its line and the fix."""
    # A misspelt key shows up twice: unknown under its typo and missing under its real name.
    # The unknown one, with its "did you mean", is the more useful message.
    errors = exc.errors(include_url=False)
    err = min(errors, key=lambda e: {"extra_forbidden": 0, "missing": 2}.get(e["type"], 1))
    kind = err["type"]
    keys = [p for p in err["loc"] if isinstance(p, int) or _is_field_name(p)]
    if kind == "extra_forbidden":  # the unknown key is the user's, whatever its spelling (found by fuzzing)
        keys = [p for p in err["loc"][:-1] if isinstance(p, int) or _is_field_name(p)] + [err["loc"][-1]]
    field_path = _field_path(keys)
    line = line_of(doc, keys)
    if kind == "extra_forbidden":
        known = sorted(_known_fields(keys[:-1]))
        close = difflib.get_close_matches(str(keys[-1]), known, n=1)
        fix = f"did you mean '{close[0]}'?" if close else "remove it; known fields: " + ", ".join(known)
        return InputError("unknown field", path=path, line=line, field=field_path, fix=fix)
    if kind == "missing":
        return InputError(
            "missing required field", path=path, line=line, field=field_path, fix=f"add '{keys[-1]}:' ({FORMAT_HELP})"
        )
    message = err["msg"].removeprefix("Value error, ")
    return InputError(message, path=path, line=line, field=field_path or None, fix=FORMAT_HELP)


def _is_field_name(part: Any) -> bool:
    """pydantic puts type tags such as 'list[str]' or 'function-after[...]' into error locations."""
    return isinstance(part, str) and part.replace("_", "").isalnum()


def _field_path(keys: Sequence[Any]) -> str:
    out = ""
    for key in keys:
        shown = str(key) if str(key).strip() else repr(key)
        out += f"[{key}]" if isinstance(key, int) else (f".{shown}" if out else shown)
    return out


def line_of(doc: Any, keys: Sequence[Any]) -> int | None:
    """The 1-based line of the deepest key in `keys` that exists in the document."""
    node, line = doc, None
    for key in keys:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
        else:
            break
        node = node[key]
    return line


def _known_fields(keys: Sequence[Any]) -> set[str]:
    """The field names allowed at a location, found by walking the pydantic models."""
    model: type[BaseModel] = PromptSpec
    for key in keys:
        if isinstance(key, int):
            continue
        info = model.model_fields.get(key) or next((f for f in model.model_fields.values() if f.alias == key), None)
        if info is None:
            return set()
        inner = _model_in(info.annotation)
        if inner is None:
            return set()
        model = inner
    return {f.alias or name for name, f in model.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
