"""GitHub Models `.prompt.yml` files: load, validate, render, and write back without losing layout.

The GitHub Models fields are validated as `gh models eval` reads them (pkg/prompt in gh-models),
and promptci's settings live under one extra top-level key, `promptci:` (settings.py). The file is
parsed with ruamel.yaml's round-trip loader so that errors can name the line of the offending key
and so that a rewritten prompt keeps the file's comments, key order and quoting.

Templates are rendered with Jinja2's SandboxedEnvironment and StrictUndefined: prompt text comes
from pull requests, so it must never reach Python internals, and a missing variable is an error
rather than an empty string.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import io
import json
import typing
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
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

from .errors import InputError
from .fileio import confine
from .fileio import check_input
from .settings import Settings

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Prompt files are small; anything larger is refused before parsing (move eval data to a pool)."""

MAX_NODES = 200_000
"""YAML nodes a file may expand to, aliases followed; more is refused (a 'billion laughs' file)."""

FORMAT_HELP = "see 'Prompt files' in the README"


class _GitHubModel(BaseModel):
    """GitHub Models fields: unknown keys are errors; numbers are accepted where gh reads strings."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Message(_GitHubModel):
    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("role", mode="before")
    @classmethod
    def _lower(cls, role: Any) -> Any:
        return role.lower() if isinstance(role, str) else role


class ModelParameters(_GitHubModel):
    maxTokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    topP: float | None = Field(None, gt=0.0, le=1.0)


class StringCheck(_GitHubModel):
    equals: str | None = None
    contains: str | None = None
    startsWith: str | None = None
    endsWith: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "StringCheck":
        if sum(v is not None for v in (self.equals, self.contains, self.startsWith, self.endsWith)) != 1:
            raise ValueError("needs exactly one of equals, contains, startsWith, endsWith")
        return self


class Choice(_GitHubModel):
    choice: str
    score: float


class LLMJudge(_GitHubModel):
    modelId: str
    prompt: str
    choices: list[Choice] = Field(min_length=1)
    systemPrompt: str | None = None


class Evaluator(_GitHubModel):
    name: str
    string: StringCheck | None = None
    llm: LLMJudge | None = None
    uses: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Evaluator":
        if sum(v is not None for v in (self.string, self.llm, self.uses)) != 1:
            raise ValueError("needs exactly one of string, llm, uses")
        return self


class PromptSpec(_GitHubModel):
    """Every field of the GitHub Models prompt format, plus `promptci:`."""

    name: str | None = None
    description: str | None = None
    model: str
    modelParameters: ModelParameters = Field(default_factory=ModelParameters)
    responseFormat: Literal["text", "json_object", "json_schema"] | None = None
    jsonSchema: str | None = None
    messages: list[Message] = Field(min_length=1)
    testData: list[dict[str, Any]] | None = None
    evaluators: list[Evaluator] = Field(default_factory=list)
    promptci: Settings = Field(default_factory=Settings)

    @field_validator("jsonSchema")
    @classmethod
    def _json_string(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                json.loads(text)
            except ValueError as exc:
                raise ValueError(f"is not valid JSON ({exc})") from None
        return text

    @model_validator(mode="after")
    def _schema_when_needed(self) -> "PromptSpec":
        if self.responseFormat == "json_schema":
            if self.jsonSchema is None:
                raise ValueError("responseFormat json_schema needs a jsonSchema")
            parsed = json.loads(self.jsonSchema)
            if not isinstance(parsed, dict) or "name" not in parsed or "schema" not in parsed:
                raise ValueError("jsonSchema must be a JSON object with 'name' and 'schema'")
        return self


_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def compile_template(source: str) -> jinja2.Template:
    """Compile `{{variable}}` text in the sandbox (raises jinja2.TemplateSyntaxError)."""
    return _ENV.from_string(source)


def template_variables(source: str) -> set[str]:
    """The variables a template reads."""
    return set(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))


def variables_of(sources: Iterable[str]) -> frozenset[str]:
    """The variables a set of templates reads, together."""
    return frozenset().union(*(template_variables(source) for source in sources))


def render_template(template: jinja2.Template, variables: Mapping[str, Any], *, where: str) -> str:
    """Render in the sandbox; a missing variable or a forbidden access becomes an InputError."""
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as exc:
        raise InputError(f"template variable missing: {exc.message}", field=where,
                         fix="give every item the variable or remove it from the template") from None
    except jinja2.exceptions.SecurityError as exc:
        raise InputError(f"template refused by the sandbox: {exc}", field=where,
                         fix="templates may only insert variables") from None
    except jinja2.TemplateError as exc:
        raise InputError(f"template failed: {exc}", field=where, fix=FORMAT_HELP) from None


@dataclass(frozen=True)
class PromptFile:
    """One loaded prompt file; `spec` holds the validated fields, `text` the bytes as read."""

    path: Path
    text: str
    spec: PromptSpec
    _doc: Any = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name or self.path.name.removesuffix(".yml").removesuffix(".prompt")

    @property
    def settings(self) -> Settings:
        return self.spec.promptci

    @property
    def model(self) -> str:
        return self.spec.model

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @cached_property
    def _templates(self) -> list[jinja2.Template]:
        """Each message compiled once; parse() asks for them, so a syntax error fails the load."""
        templates = []
        for i, message in enumerate(self.spec.messages):
            try:
                templates.append(compile_template(message.content))
            except jinja2.TemplateSyntaxError as exc:
                line = _line_of(self._doc, ("messages", i, "content"))
                raise InputError(f"template syntax error: {exc.message}", path=self.path, line=line,
                                 field=f"messages[{i}].content",
                                 fix="use {{variable}} placeholders; write a literal '{{' as {{ '{{' }}") from None
        return templates

    @cached_property
    def variables(self) -> frozenset[str]:
        """Template variables the messages read; the pool must provide each."""
        return variables_of(m.content for m in self.spec.messages)

    def resolve(self, relative: str, *, field: str = "promptci") -> Path:
        """A path from the `promptci:` settings, relative to this file and confined to its repository."""
        return confine(self.path.parent, relative, field=field, where=self.path)

    def render(self, variables: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one item."""
        return [
            {"role": m.role, "content": render_template(t, variables, where=f"messages[{i}].content")}
            for i, (m, t) in enumerate(zip(self.spec.messages, self._templates))
        ]

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
    return replace(prompt, path=judge.path, spec=spec)


def load(path: str | Path) -> PromptFile:
    """Load and validate a prompt file; every problem is an InputError naming the line and the fix."""
    path = Path(path)
    text = _read_text(path)
    return parse(text, path)


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
    prompt._templates  # compile now: a template syntax error is a load error
    return prompt


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
    if "*" in text and _expanded_size(text) > MAX_NODES:
        raise InputError(f"YAML aliases expand to more than {MAX_NODES} nodes", path=path,
                         fix="write values out instead of nesting anchors")
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


def _expanded_size(text: str) -> int:
    """Nodes the document would have with every alias expanded, counted from parser events."""
    from ruamel.yaml import events

    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]  # [anchor, nodes so far] per open collection
    try:
        for event in YAML(typ="safe", pure=True).parse(text):
            if isinstance(event, events.AliasEvent):
                stack[-1][1] += sizes.get(event.anchor, 1)
            elif isinstance(event, events.ScalarEvent):
                stack[-1][1] += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, (events.SequenceStartEvent, events.MappingStartEvent)):
                stack.append([event.anchor, 0])
            elif isinstance(event, (events.SequenceEndEvent, events.MappingEndEvent)):
                anchor, count = stack.pop()
                if anchor:
                    sizes[anchor] = count + 1
                stack[-1][1] += count + 1
            total = sum(count for _, count in stack)
            if total > MAX_NODES:
                return total
    except YAMLError:
        return 0  # the real load reports the syntax error with its line
    return sum(count for _, count in stack)


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
