"""GitHub Models `.prompt.yml` files: load, validate, render, and write back without losing layout.

The GitHub Models fields are read as `gh models eval` reads them (pkg/prompt in gh-models): keys it
does not know are ignored with a warning and types it refuses are refused,
and promptci's settings live under one extra top-level key, `promptci:` (settings.py). The file is
parsed with ruamel.yaml's round-trip loader so that errors can name the line of the offending key
and so that a rewritten prompt keeps the file's comments, key order and quoting.

Messages are rendered as gh renders them: each `{{key}}` of the row's keys is replaced by its value
and everything else is left as text. No template language runs, so a pull request's prompt text can
never run code; answer fields (`expected`, what checks compare against) never go into a prompt.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import io
import json
import re
import sys
import typing
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, Literal, Mapping, Sequence

import yaml as pyyaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.util import load_yaml_guess_indent

from . import ghmodels
from .errors import InputError
from .fileio import check_input, confine, repository_root
from .settings import Settings

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Prompt files are small; anything larger is refused before parsing (move eval data to a pool)."""

MAX_NODES = 50_000
"""YAML nodes a file may expand to, aliases followed: a prompt file with 10,000 rows of testData; more is
refused before the slow load (a 'billion laughs' file, or a megabyte of tiny nodes)."""

FORMAT_HELP = "see 'Prompt files' in the README"


def _go_string(value: Any) -> Any:
    """A YAML scalar read into a Go string field: gh's YAML reader takes any scalar's text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        raise ValueError("must be text, not a " + ("mapping" if isinstance(value, dict) else "list"))
    return value


def _go_number(kind: type) -> Any:
    """A Go number field: YAML numbers only; true/false or quoted text are refused, as gh refuses them."""
    def check(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            shown = ("true/false" if isinstance(value, bool) else "text" if isinstance(value, str)
                     else "a mapping" if isinstance(value, dict) else "a list")
            raise ValueError(f"must be a number, not {shown} (gh refuses it too); write it unquoted")
        if kind is int:
            if value != value or value in (float("inf"), float("-inf")) or value != int(value):
                raise ValueError("must be a whole number")
            return int(value)
        return float(value)
    return BeforeValidator(check)


GoStr = Annotated[str, BeforeValidator(_go_string)]
GoInt = Annotated[int, _go_number(int)]
GoFloat = Annotated[float, _go_number(float)]


class _GitHubModel(BaseModel):
    """GitHub Models fields: keys gh does not know are kept aside and reported as ignored, as gh ignores them."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Message(_GitHubModel):
    role: Literal["system", "user", "assistant"]
    content: GoStr = ""  # gh reads a message without `content:` as an empty one (Go's zero value)

    @field_validator("role", mode="before")
    @classmethod
    def _lower(cls, role: Any) -> Any:
        return role.lower() if isinstance(role, str) else role


class ModelParameters(_GitHubModel):
    """gh reads maxTokens/temperature/topP; `max_tokens`/`top_p`, as GitHub's prompt editor writes them, are
    honoured too (the camel-case spelling wins when both are given)."""

    maxTokens: GoInt | None = Field(None, ge=1)
    temperature: GoFloat | None = Field(None, ge=0.0, le=2.0)
    topP: GoFloat | None = Field(None, gt=0.0, le=1.0)
    max_tokens: GoInt | None = Field(None, ge=1)
    top_p: GoFloat | None = Field(None, gt=0.0, le=1.0)

    @property
    def max_tokens_sent(self) -> int | None:
        return self.maxTokens if self.maxTokens is not None else self.max_tokens

    @property
    def top_p_sent(self) -> float | None:
        return self.topP if self.topP is not None else self.top_p


STRING_KINDS = ("equals", "contains", "startsWith", "endsWith")
"""gh's order: a string check with several conditions uses the first non-empty one."""


class StringCheck(_GitHubModel):
    equals: GoStr = ""
    contains: GoStr = ""
    startsWith: GoStr = ""
    endsWith: GoStr = ""

    @model_validator(mode="after")
    def _one_at_least(self) -> "StringCheck":
        if not self.conditions:
            raise ValueError("needs one of equals, contains, startsWith, endsWith "
                             "(gh fails such a check: 'no string evaluation criteria specified')")
        return self

    @property
    def conditions(self) -> list[tuple[str, str]]:
        return [(kind, getattr(self, kind)) for kind in STRING_KINDS if getattr(self, kind)]

    @property
    def condition(self) -> tuple[str, str]:
        """The condition gh checks: the first non-empty one."""
        return self.conditions[0]


class Choice(_GitHubModel):
    choice: GoStr
    score: GoFloat


class LLMJudge(_GitHubModel):
    modelId: GoStr = Field(min_length=1)
    prompt: GoStr
    choices: list[Choice] = Field(default_factory=list)
    systemPrompt: GoStr = ""


EVALUATOR_KINDS = ("string", "llm", "uses")
"""gh's order: an evaluator with several kinds runs the first one given."""


class Evaluator(_GitHubModel):
    name: GoStr = ""
    string: StringCheck | None = None
    llm: LLMJudge | None = None
    uses: GoStr = ""

    @model_validator(mode="after")
    def _one_at_least(self) -> "Evaluator":
        if not self.kinds:
            raise ValueError("needs one of string, llm, uses (gh fails it: 'no evaluation method specified')")
        return self

    @property
    def kinds(self) -> list[str]:
        return [kind for kind in EVALUATOR_KINDS if getattr(self, kind)]

    @property
    def kind(self) -> str:
        return self.kinds[0]


class PromptSpec(_GitHubModel):
    """Every field of the GitHub Models prompt format, plus `promptci:`."""

    name: GoStr | None = None
    description: GoStr | None = None
    model: GoStr | None = None
    modelParameters: ModelParameters = Field(default_factory=ModelParameters)
    responseFormat: Literal["text", "json_object", "json_schema"] | None = None
    jsonSchema: str | None = None
    messages: list[Message] = Field(min_length=1)
    testData: list[dict[str, Any]] | None = None
    evaluators: list[Evaluator] = Field(default_factory=list)
    promptci: Settings = Field(default_factory=Settings)

    @field_validator("modelParameters", "evaluators", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: Any) -> Any:
        """gh reads `key:` with no value as the empty value."""
        return value if value is not None else ({} if info.field_name == "modelParameters" else [])

    @field_validator("testData", mode="before")
    @classmethod
    def _string_keys(cls, rows: Any) -> Any:
        """Row keys are strings in gh (a Go map[string]any): `1: x` is the key "1"."""
        if isinstance(rows, list):
            return [{str(k): v for k, v in row.items()} if isinstance(row, dict) else row for row in rows]
        return rows

    @field_validator("jsonSchema")
    @classmethod
    def _json_string(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"is not valid JSON ({exc})") from None
            except RecursionError:
                raise ValueError("is JSON nested too deeply") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
        return text

    @model_validator(mode="after")
    def _schema_when_needed(self) -> "PromptSpec":
        if self.responseFormat == "json_schema":
            if self.jsonSchema is None:
                raise ValueError("responseFormat json_schema needs a jsonSchema")
            parsed = json.loads(self.jsonSchema)
            if "name" not in parsed or "schema" not in parsed:
                raise ValueError("jsonSchema must be a JSON object with 'name' and 'schema'")
        return self


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
        return "map[" + " ".join(f"{go_text(k)}:{go_text(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "]"
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
    sign, digit_tuple, exp = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    exponent = len(digits) + int(exp) - 1
    sign_text = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign_text}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign_text}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[: exponent + 1].ljust(exponent + 1, "0")
    fraction = digits[exponent + 1:]
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


@dataclass(frozen=True)
class PromptFile:
    """One loaded prompt file; `spec` holds the validated fields, `text` the bytes as read."""

    path: Path
    text: str
    spec: PromptSpec
    _doc: Any = field(repr=False, compare=False)
    judge_answers: frozenset[str] = field(default=frozenset(), compare=False)  # answer fields of its judge

    @property
    def name(self) -> str:
        return self.spec.name or self.path.name.removesuffix(".yml").removesuffix(".prompt")

    @property
    def settings(self) -> Settings:
        return self.spec.promptci

    @property
    def model(self) -> str | None:
        """The litellm name of the model to call: `promptci.model` as written, else the file's `model:` as
        a GitHub Models catalog id (`github/openai/gpt-4o`). A `local/` model, or any model when
        `promptci.api_base` points at a server, is that server's name. None: the file names no model."""
        if self.settings.model:
            return self.settings.model
        return self.litellm_name(self.spec.model) if self.spec.model else None

    def litellm_name(self, model_id: str) -> str:
        """A model the file names (`model:`, an llm judge's `modelId`) as litellm knows it: a GitHub Models
        catalog id, unless it is the embedded `local/` model or `promptci.api_base` names the server."""
        if model_id.startswith("local/") or self.settings.api_base:
            return model_id
        return ghmodels.litellm_name(model_id)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @cached_property
    def variables(self) -> frozenset[str]:
        """The placeholders the messages hold; a row's key of that name fills one (gh's templating)."""
        return placeholders_of(m.content for m in self.spec.messages)

    @cached_property
    def answer_fields(self) -> frozenset[str]:
        """Row fields that hold answers: `expected`, the fields promptci's label checks and the string checks
        compare against, and the fields an `llm` judge reads that the messages do not (a judge's reference
        answer); with those of the prompt it is judged by. They are never put into a prompt, so a pull request
        cannot see them."""
        fields = {"expected"} | {e.label for e in self.settings.evaluators if e.label}
        for evaluator in self.spec.evaluators:
            if evaluator.kind == "string" and evaluator.string is not None:
                fields |= placeholders(evaluator.string.condition[1])
            if evaluator.kind == "llm" and evaluator.llm is not None:
                fields |= (placeholders(evaluator.llm.prompt) | placeholders(evaluator.llm.systemPrompt)) \
                    - self.variables - {"completion"}
        return frozenset(fields) | self.judge_answers

    @cached_property
    def warnings(self) -> tuple[str, ...]:
        """What gh ignores or reads in its own way here, one line each (load() prints them)."""
        out = []
        ignored = _ignored_keys(self.spec, "")
        if ignored:
            out.append("keys gh ignores, ignored here too: " + ", ".join(ignored))
        for i, evaluator in enumerate(self.spec.evaluators):
            if len(evaluator.kinds) > 1:
                out.append(f"evaluators[{i}] has {', '.join(evaluator.kinds)}; gh runs only '{evaluator.kind}'")
            if evaluator.kind == "string" and evaluator.string is not None and len(evaluator.string.conditions) > 1:
                kinds = [k for k, _ in evaluator.string.conditions]
                out.append(f"evaluators[{i}].string has {', '.join(kinds)}; gh checks only '{kinds[0]}'")
        return tuple(out)

    def resolve(self, relative: str, *, field: str = "promptci") -> Path:
        """A path from the `promptci:` settings, relative to this file and confined to its repository."""
        return confine(self.path.parent, relative, field=field, where=self.path)

    def render(self, row: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages gh sends for one row: its keys' placeholders filled, all else as written.
        Answer fields are left out, so `{{expected}}` can never reach the model (parse() refuses it anyway)."""
        inputs = {k: v for k, v in row.items() if k not in self.answer_fields}
        return [{"role": m.role, "content": substitute(m.content, inputs)} for m in self.spec.messages]

    def with_message_contents(self, contents: Sequence[str]) -> str:
        """The file's text with new message contents, keeping comments, key order and styles."""
        if len(contents) != len(self.spec.messages):
            raise ValueError("one content per message is needed")
        doc = copy.deepcopy(self._doc)
        for message, new in zip(doc["messages"], contents):
            message["content"] = _same_style(message["content"], new)
        return dump_yaml(doc, like=self.text)


def judged_by(prompt: PromptFile, judge: PromptFile) -> PromptFile:
    """`prompt`'s messages, model and parameters, judged as `judge` is: its evaluators, its `promptci:` settings
    and its place (paths in the settings resolve beside it). A pull request's version of a prompt is judged by
    the base version; an optimizer's candidate by the prompt it was made from."""
    if prompt is judge:
        return prompt
    spec = prompt.spec.model_copy(update={"evaluators": judge.spec.evaluators, "promptci": judge.spec.promptci})
    judged = replace(prompt, spec=spec, judge_answers=judge.answer_fields)
    _refuse_answer_placeholders(judged)  # a field the judge reads as the answer, named in the head's messages
    return replace(judged, path=judge.path)


def load(path: str | Path) -> PromptFile:
    """Load and validate a prompt file; every problem is an InputError naming the line and the fix."""
    path = Path(path)
    text = _read_text(path)
    prompt = parse(text, path)
    for warning in prompt.warnings:
        warn(f"{path}: {warning}")
    return prompt


def warn(message: str) -> None:
    """A warning on stderr: the run goes on, and the user sees what is read differently from what is written."""
    print(f"promptci: warning: {message}", file=sys.stderr)


def parse(text: str, path: Path) -> PromptFile:
    """Validate prompt-file text that was read from `path` (or from a git blob: the same limits apply)."""
    if len(text) > MAX_FILE_BYTES:
        raise InputError(f"file is over the {MAX_FILE_BYTES}-byte limit for prompt files", path=path,
                         fix="move eval data to a JSONL pool (promptci.pool)")
    if "\0" in text:
        raise InputError("file holds binary data", path=path, fix="a prompt file must be UTF-8 YAML text")
    doc = _load_yaml(text, path)
    if not isinstance(doc, CommentedMap):
        raise InputError("the file must be a YAML mapping of GitHub Models fields", path=path,
                         fix=FORMAT_HELP)
    try:
        spec = PromptSpec.model_validate(doc)
    except ValidationError as exc:
        raise _input_error(exc, doc, path) from None
    prompt = PromptFile(path=path, text=text, spec=spec, _doc=doc)
    _refuse_answer_placeholders(prompt)
    return prompt


def _refuse_answer_placeholders(prompt: PromptFile) -> None:
    """A message that would put an answer field into the prompt is refused: the gate would score a leak."""
    for i, message in enumerate(prompt.spec.messages):
        leaked = sorted(placeholders(message.content) & prompt.answer_fields)
        if leaked:
            raise InputError(f"placeholder {{{{{leaked[0]}}}}} puts the answer field '{leaked[0]}' into the prompt",
                             path=prompt.path, line=_line_of(prompt._doc, ("messages", i, "content")),
                             field=f"messages[{i}].content",
                             fix=f"remove {{{{{leaked[0]}}}}}; evaluators read '{leaked[0]}', the model must not")


def _ignored_keys(model: BaseModel, where: str) -> list[str]:
    """Keys the file gives that gh does not read, with where they are (`version`, `messages[0].name`)."""
    out = [f"{where}{key}" for key in (model.model_extra or {})]
    for name in type(model).model_fields:
        if name == "promptci":
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _ignored_keys(value, f"{where}{name}.")
        elif isinstance(value, list):
            for i, entry in enumerate(value):
                if isinstance(entry, BaseModel):
                    out += _ignored_keys(entry, f"{where}{name}[{i}].")
    return out


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


def _read_text(path: Path) -> str:
    size = check_input(path, what="prompt file").st_size  # a folder or a FIFO is refused unopened
    root = repository_root(path)
    if path.is_symlink() and root is not None and not path.resolve().is_relative_to(root.resolve()):
        raise InputError("the prompt file is a link to a file outside the repository", path=path,
                         fix="commit the prompt file itself")
    if size > MAX_FILE_BYTES:
        raise InputError(f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for prompt files",
                         path=path, fix="move eval data to a JSONL pool (promptci.pool)")
    data = path.read_bytes()
    if b"\0" in data:
        raise InputError("file holds binary data", path=path, fix="a prompt file must be UTF-8 YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("file is not UTF-8", path=path, line=line, fix="save the file as UTF-8") from None


def _load_yaml(text: str, path: Path) -> Any:
    if _expanded_size(text) > MAX_NODES:
        raise InputError(f"the YAML has more than {MAX_NODES} nodes once aliases expand", path=path,
                         fix="move eval data to a JSONL pool (promptci.pool); write values out instead of anchors")
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and (mark is None or mark.index >= len(text.rstrip())):
            mark = exc.context_mark  # the problem is 'end of file': point at the construct left open
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise InputError(f"malformed YAML: {problem}", path=path, line=line,
                         fix="correct the YAML syntax at that line") from None
    except (YAMLError, RecursionError) as exc:
        raise InputError(f"malformed YAML: {type(exc).__name__}", path=path,
                         fix="correct the YAML syntax") from None


def yaml_events(text: str) -> Iterator[pyyaml.Event]:
    """libyaml's parser events: limits are checked on them at C speed, before the slow pure-Python load."""
    return pyyaml.parse(text, Loader=getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader))


def _expanded_size(text: str) -> int:
    """Nodes the document would have with every alias expanded, counted from libyaml's parser events: fast
    enough (a million nodes in about a second) to refuse a huge file before the slow round-trip load."""
    sizes: dict[str, int] = {}
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


def _same_style(old: Any, new: str) -> Any:
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


def _input_error(exc: ValidationError, doc: CommentedMap, path: Path) -> InputError:
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
    line = _line_of(doc, keys)
    if kind == "extra_forbidden":
        known = sorted(_known_fields(keys[:-1]))
        close = difflib.get_close_matches(str(keys[-1]), known, n=1)
        fix = f"did you mean '{close[0]}'?" if close else "remove it; known fields: " + ", ".join(known)
        return InputError("unknown field", path=path, line=line, field=field_path, fix=fix)
    if kind == "missing":
        return InputError("missing required field", path=path, line=line, field=field_path,
                          fix=f"add '{keys[-1]}:' ({FORMAT_HELP})")
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


def _line_of(doc: Any, keys: Sequence[Any]) -> int | None:
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
        info = model.model_fields.get(key) or next(
            (f for f in model.model_fields.values() if f.alias == key), None)
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
