"""A loaded prompt file (`PromptFile`): its validated fields, how it renders a row, the answer fields it keeps
out of prompts; `load`/`parse` build one, `measured_by` puts a version under another's evaluators and settings."""

from __future__ import annotations

import copy
import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from ..errors import InputError
from ..files.fileio import confine
from ..files.settings import Settings
from ..models import ghmodels
from ..models.llm import in_process
from .problems import input_error, line_of
from .schema import FORMAT_HELP, PromptSpec, ignored_keys
from .templates import placeholders, placeholders_of, substitute
from .yamlio import check_text, dump_yaml, load_yaml, read_text, same_style


@dataclass(frozen=True)
class PromptFile:
    """One loaded prompt file; `spec` holds the validated fields, `text` the bytes as read."""

    path: Path
    text: str
    spec: PromptSpec
    _doc: Any = field(repr=False, compare=False)
    reference_answers: frozenset[str] = field(default=frozenset(), compare=False)  # answer fields of its reference

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
        catalog id, unless it is answered in process (`local/`, `mockllm/`) or `promptci.api_base` names the
        server."""
        if in_process(model_id) or self.settings.api_base:
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
        """Row fields that hold answers: `expected`, the fields promptci's label, check and judge evaluators and
        the string checks compare against, and the fields an `llm` judge reads that the messages do not (a judge's
        reference answer); with those of the prompt it is judged by. They are never put into a prompt, so a pull request
        cannot see them."""
        named = (e.label or e.field for e in self.settings.evaluators)
        fields = {"expected"} | {name for name in named if name}
        for evaluator in self.spec.evaluators:
            if evaluator.kind == "string" and evaluator.string is not None:
                fields |= placeholders(evaluator.string.condition[1])
            if evaluator.kind == "llm" and evaluator.llm is not None:
                fields |= (
                    (placeholders(evaluator.llm.prompt) | placeholders(evaluator.llm.systemPrompt))
                    - self.variables
                    - {"completion"}
                )
        return frozenset(fields) | self.reference_answers

    @cached_property
    def warnings(self) -> tuple[str, ...]:
        """What gh ignores or reads in its own way here, one line each (load() prints them)."""
        out = []
        ignored = ignored_keys(self.spec, "")
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
            message["content"] = same_style(message["content"], new)
        return dump_yaml(doc, like=self.text)

    def with_messages(self, messages: Sequence[tuple[str, str]]) -> str:
        """The file's text with a new list of (role, content) messages (demonstrations added as turns, say): a
        message written as before keeps its style and comments, a new one is plain (a block over several lines)."""
        doc = copy.deepcopy(self._doc)
        old = list(doc["messages"])
        new = []
        for role, content in messages:
            same = next((m for m in old if m.get("role") == role and m.get("content") == content), None)
            if same is not None:
                old.remove(same)
            new.append(same if same is not None else CommentedMap(role=role, content=same_style("", content)))
        doc["messages"].clear()
        doc["messages"].extend(new)
        return dump_yaml(doc, like=self.text)


def measured_by(prompt: PromptFile, reference: PromptFile) -> PromptFile:
    """`prompt`'s messages, model and parameters, measured as `reference` is: its evaluators, its `promptci:` settings
    and its place (paths in the settings resolve beside it). A pull request's version of a prompt is measured by
    the base version; an optimizer's candidate by the prompt it was made from."""
    if prompt is reference:
        return prompt
    spec = prompt.spec.model_copy(update={"evaluators": reference.spec.evaluators, "promptci": reference.spec.promptci})
    measured = replace(prompt, spec=spec, reference_answers=reference.answer_fields)
    _refuse_answer_placeholders(measured)  # a field the reference reads as the answer, named in the head's messages
    return replace(measured, path=reference.path)


def load(path: str | Path) -> PromptFile:
    """Load and validate a prompt file; every problem is an InputError naming the line and the fix."""
    path = Path(path)
    text = read_text(path)
    prompt = parse(text, path)
    for warning in prompt.warnings:
        warn(f"{path}: {warning}")
    return prompt


def warn(message: str) -> None:
    """A warning on stderr: the run goes on, and the user sees what is read differently from what is written."""
    print(f"promptci: warning: {message}", file=sys.stderr)


def parse(text: str, path: Path) -> PromptFile:
    """Validate prompt-file text that was read from `path` (or from a git blob: the same limits apply)."""
    check_text(text, path)
    doc = load_yaml(text, path)
    if not isinstance(doc, CommentedMap):
        raise InputError("the file must be a YAML mapping of GitHub Models fields", path=path, fix=FORMAT_HELP)
    try:
        spec = PromptSpec.model_validate(doc)
    except ValidationError as exc:
        raise input_error(exc, doc, path) from None
    prompt = PromptFile(path=path, text=text, spec=spec, _doc=doc)
    _refuse_answer_placeholders(prompt)
    return prompt


def _refuse_answer_placeholders(prompt: PromptFile) -> None:
    """A message that would put an answer field into the prompt is refused: the gate would score a leak."""
    for i, message in enumerate(prompt.spec.messages):
        leaked = sorted(placeholders(message.content) & prompt.answer_fields)
        if leaked:
            raise InputError(
                f"placeholder {{{{{leaked[0]}}}}} puts the answer field '{leaked[0]}' into the prompt",
                path=prompt.path,
                line=line_of(prompt._doc, ("messages", i, "content")),
                field=f"messages[{i}].content",
                fix=f"remove {{{{{leaked[0]}}}}}; evaluators read '{leaked[0]}', the model must not",
            )
