"""GitHub Models `.prompt.yml` files: load, validate, render, and write back without losing layout.

The GitHub Models fields are read as `gh models eval` reads them (pkg/prompt in gh-models): keys it
does not know are ignored with a warning and types it refuses are refused,
and promptci's settings live under one extra top-level key, `promptci:` (files/settings.py). The file is
parsed with ruamel.yaml's round-trip loader so that errors can name the line of the offending key
and so that a rewritten prompt keeps the file's comments, key order and quoting.

Messages are rendered as gh renders them: each `{{key}}` of the row's keys is replaced by its value
and everything else is left as text. No template language runs, so a pull request's prompt text can
never run code; answer fields (`expected`, what checks compare against) never go into a prompt.
"""

from __future__ import annotations

from .file import PromptFile, load, measured_by, parse, warn
from .schema import (
    EVALUATOR_KINDS,
    FORMAT_HELP,
    STRING_KINDS,
    Evaluator,
    JudgeChoice,
    LLMJudge,
    Message,
    ModelParameters,
    PromptSpec,
    StringCheck,
)
from .templates import go_text, placeholders, placeholders_of, substitute
from .yamlio import MAX_FILE_BYTES, MAX_NODES, dump_yaml, yaml_events

__all__ = [
    "EVALUATOR_KINDS",
    "FORMAT_HELP",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "STRING_KINDS",
    "Evaluator",
    "JudgeChoice",
    "LLMJudge",
    "Message",
    "ModelParameters",
    "PromptFile",
    "PromptSpec",
    "StringCheck",
    "dump_yaml",
    "go_text",
    "load",
    "measured_by",
    "parse",
    "placeholders",
    "placeholders_of",
    "substitute",
    "warn",
    "yaml_events",
]
