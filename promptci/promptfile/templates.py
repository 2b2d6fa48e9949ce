"""gh's templating: each `{{key}}` of a row's keys becomes the key's value (as Go's `%v` prints it) and all else
stays text. No template language runs, so a pull request's prompt text can never run code."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")


def placeholders(text: str) -> set[str]:
    """The names a text's `{{name}}` placeholders give, exactly as written (spaces and all)."""
    return set(_PLACEHOLDER.findall(text))


def placeholders_of(texts: Iterable[str]) -> frozenset[str]:
    """The placeholders of several texts, together."""
    return frozenset().union(*(placeholders(text) for text in texts))


def go_text(value: Any) -> str:
    """A row value as gh puts it into a prompt (Go's `%v`): `true`, `3`, `0.5`, `[a b]`, `map[k:v]`, `<nil>`."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        return (
            "map["
            + " ".join(f"{go_text(k)}:{go_text(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
            + "]"
        )
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's `%v` of a float64 (strconv 'g', shortest): plain digits, or an exponent below 1e-4 and from 1e6 up."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    _sign, digit_tuple, exp = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    exponent = len(digits) + int(exp) - 1
    sign_text = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign_text}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign_text}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    fraction = digits[exponent + 1 :]
    return sign_text + whole + ("." + fraction if fraction else "")


def substitute(text: str, row: Mapping[str, Any]) -> str:
    """gh's templating: each `{{key}}` of the row's keys becomes the key's value; all else stays text.
    One pass over the text, so a value that holds a placeholder is never substituted again."""
    if not row or "{{" not in text:
        return text
    keys = sorted((str(k) for k in row), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape("{{" + key + "}}") for key in keys))
    values = {str(k): v for k, v in row.items()}
    return pattern.sub(lambda m: go_text(values[m.group(0)[2:-2]]), text)
