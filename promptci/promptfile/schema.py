"""The GitHub Models prompt format as `gh models eval` reads it (pkg/prompt in gh-models), plus `promptci:`.

Keys gh does not know are kept aside (`ignored_keys`) and reported, types it refuses are refused.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ..files.settings import Settings

FORMAT_HELP = "see docs/prompt-files.md"


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
            shown = (
                "true/false"
                if isinstance(value, bool)
                else "text"
                if isinstance(value, str)
                else "a mapping"
                if isinstance(value, dict)
                else "a list"
            )
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
    role: Literal["system", "user", "assistant"] = Field(description="`system`, `user` or `assistant`, any case")
    content: GoStr = Field(
        "",
        description="the text; each `{{key}}` of the item's keys is replaced by its value, "
        "literally, and everything else is sent as written",
    )  # absent: empty, as in gh

    @field_validator("role", mode="before")
    @classmethod
    def _lower(cls, role: Any) -> Any:
        return role.lower() if isinstance(role, str) else role


class ModelParameters(_GitHubModel):
    """gh reads maxTokens/temperature/topP; `max_tokens`/`top_p`, as GitHub's prompt editor writes them, are
    honoured too (the camel-case spelling wins when both are given)."""

    maxTokens: GoInt | None = Field(None, ge=1, description="the most tokens of an answer")
    temperature: GoFloat | None = Field(
        None, ge=0.0, le=2.0, description="sampling temperature; promptci sends 0 when it is not set, so runs repeat"
    )
    topP: GoFloat | None = Field(None, gt=0.0, le=1.0, description="nucleus sampling")
    max_tokens: GoInt | None = Field(None, ge=1, description="as GitHub's prompt editor writes `maxTokens`")
    top_p: GoFloat | None = Field(None, gt=0.0, le=1.0, description="as GitHub's prompt editor writes `topP`")

    @property
    def max_tokens_sent(self) -> int | None:
        return self.maxTokens if self.maxTokens is not None else self.max_tokens

    @property
    def top_p_sent(self) -> float | None:
        return self.topP if self.topP is not None else self.top_p


STRING_KINDS = ("equals", "contains", "startsWith", "endsWith")
"""gh's order: a string check with several conditions uses the first non-empty one."""


class StringCheck(_GitHubModel):
    equals: GoStr = Field("", description="output equals this, exactly")
    contains: GoStr = Field("", description="output contains this, ignoring case")
    startsWith: GoStr = Field("", description="output starts with this, ignoring case")
    endsWith: GoStr = Field("", description="output ends with this, ignoring case")

    @model_validator(mode="after")
    def _one_at_least(self) -> StringCheck:
        if not self.conditions:
            raise ValueError(
                "needs one of equals, contains, startsWith, endsWith "
                "(gh fails such a check: 'no string evaluation criteria specified')"
            )
        return self

    @property
    def conditions(self) -> list[tuple[str, str]]:
        return [(kind, getattr(self, kind)) for kind in STRING_KINDS if getattr(self, kind)]

    @property
    def condition(self) -> tuple[str, str]:
        """The condition gh checks: the first non-empty one."""
        return self.conditions[0]


class JudgeChoice(_GitHubModel):
    choice: GoStr = Field(description="a text the judge may answer")
    score: GoFloat = Field(description="the item's score when the judge's answer contains it")


class LLMJudge(_GitHubModel):
    modelId: GoStr = Field(min_length=1, description="the judge's model, a GitHub Models id")
    prompt: GoStr = Field(description="the judge's prompt, with `{{completion}}` and the item's keys")
    choices: list[JudgeChoice] = Field(default_factory=list, description="the answers it may give, with scores")
    systemPrompt: GoStr = Field("", description="the judge's system message")


EVALUATOR_KINDS = ("string", "llm", "uses")
"""gh's order: an evaluator with several kinds runs the first one given."""


class Evaluator(_GitHubModel):
    """One of gh's evaluators; with several kinds given, the first of string, llm, uses runs, as in gh."""

    name: GoStr = Field("", description="the evaluator's name in the report")
    string: StringCheck | None = Field(
        None,
        description="a string check: the first of its non-empty conditions "
        "decides; values may use `{{key}}` placeholders",
    )
    llm: LLMJudge | None = Field(
        None,
        description="an LLM judge: it answers in text, and the first choice its "
        "answer contains gives the score (none: 0)",
    )
    uses: GoStr = Field(
        "",
        description="a built-in judge: `github/similarity`, `coherence`, `fluency`, "
        "`relevance`, `groundedness`, run on `promptci.judge_model`",
    )

    @model_validator(mode="after")
    def _one_at_least(self) -> Evaluator:
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

    name: GoStr | None = Field(None, description="the prompt's name in the report")
    description: GoStr | None = Field(None, description="what the prompt is for")
    model: GoStr | None = Field(
        None,
        description="a GitHub Models catalog id (`openai/gpt-4o`), called on GitHub "
        "Models with the workflow's token; `promptci.model` or `--model` overrides it",
    )
    modelParameters: ModelParameters = Field(default_factory=ModelParameters, description="request parameters")
    responseFormat: Literal["text", "json_object", "json_schema"] | None = Field(
        None, description="`text`, `json_object`, or `json_schema` with `jsonSchema`"
    )
    jsonSchema: str | None = Field(None, description="a JSON string with `name` and `schema`")
    messages: list[Message] = Field(min_length=1, description="the conversation sent for each item")
    testData: list[dict[str, Any]] | None = Field(
        None,
        description="rows of template variables and `expected`: the pool when `promptci.pool` is not set (a "
        "row's `id` is a variable too; a repeated row is a second item)",
    )
    evaluators: list[Evaluator] = Field(
        default_factory=list,
        description="how each answer is scored; none: label "
        "match against `expected` with `promptci.labels`, exact match otherwise",
    )
    promptci: Settings = Field(default_factory=Settings, description="promptci's own settings (the `promptci:` block)")

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
    def _schema_when_needed(self) -> PromptSpec:
        if self.responseFormat == "json_schema":
            if self.jsonSchema is None:
                raise ValueError("responseFormat json_schema needs a jsonSchema")
            parsed = json.loads(self.jsonSchema)
            if "name" not in parsed or "schema" not in parsed:
                raise ValueError("jsonSchema must be a JSON object with 'name' and 'schema'")
        return self


def ignored_keys(model: BaseModel, where: str) -> list[str]:
    """Keys the file gives that gh does not read, with where they are (`version`, `messages[0].name`)."""
    out = [f"{where}{key}" for key in (model.model_extra or {})]
    for name in type(model).model_fields:
        if name == "promptci":
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += ignored_keys(value, f"{where}{name}.")
        elif isinstance(value, list):
            for i, entry in enumerate(value):
                if isinstance(entry, BaseModel):
                    out += ignored_keys(entry, f"{where}{name}[{i}].")
    return out
