"""promptci's own settings: everything under the one top-level `promptci:` key of a prompt file.

GitHub Models' `gh models eval` ignores keys it does not know, so these settings live beside the
GitHub Models fields without breaking that tool. Every setting has a default, and its `description` is
its documentation: scripts/settings_reference writes docs/settings.md from them (a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SEED_MAX = 2**32 - 1
"""The largest seed numpy and scikit-learn accept."""


MAX_REPEATS = 50


def label_key(label: str) -> str:
    """What a label match compares: the text without surrounding space, in lower case."""
    return label.strip().lower()


MAX_LABELS = 300  # each label is scored on every item: a pull request's label set must not buy unbounded time
MAX_LABEL_CHARS = 200


def label_set_problem(labels: Sequence[str]) -> str | None:
    """Why a list of labels cannot be a label set: fewer than two or more than MAX_LABELS, an empty or overlong
    one, or two that a label match cannot tell apart (equal once case and surrounding space are ignored). None
    when it can."""
    if len(labels) < 2:
        return "needs at least two labels"
    if len(labels) > MAX_LABELS:
        return f"at most {MAX_LABELS} labels ({len(labels)} given)"
    seen: dict[str, str] = {}
    for label in labels:
        if not label.strip():
            return "labels must be non-empty"
        if len(label) > MAX_LABEL_CHARS:
            return f"a label has at most {MAX_LABEL_CHARS} characters ({label[:40]!r}… has {len(label)})"
        first = seen.get(label_key(label))
        if first == label:
            return f"labels must be distinct: {label!r} is listed twice"
        if first is not None:
            return f"labels must be distinct: {first!r} and {label!r} differ only by case or surrounding space"
        seen[label_key(label)] = label
    return None


class Strict(BaseModel):
    """A model that rejects unknown keys and wrong types, so a typo or `seed: "3"` / `size: true` is an
    error instead of being silently ignored or coerced; NaN and infinity are refused as numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class SelectionSettings(Strict):
    """How the evaluation subset is chosen (IPOMP, docs/algorithms.md)."""

    method: Literal["ipomp", "random", "boundary", "clustering", "anchor"] = Field(
        "ipomp", description="how the subset is chosen: IPOMP, or one of the baselines it is compared with"
    )
    size: int = Field(20, ge=1, description="N, items in the subset")
    alpha: float = Field(
        0.5, ge=0.0, le=1.0, description="α, the share of representative (cluster) items; the rest are boundary items"
    )
    clusters: int = Field(5, ge=1, description="k, K-means clusters")
    seed: int = Field(0, ge=0, le=SEED_MAX, description="seed for every random choice")
    correlation: Literal["pearson", "cosine"] = Field(
        "pearson",
        description="similarity of items' score rows in the optimizer's stage 2 (between runs, the "
        "ledger's 0/1 rows are always compared by Pearson correlation)",
    )
    threshold: float = Field(0.9, gt=0.0, le=1.0, description="CT: items more similar than this are redundant")
    replace_share: float = Field(0.5, ge=0.0, le=1.0, description="β, the share of redundant items replaced")
    min_prompts: int = Field(
        10,
        ge=2,
        le=64,
        description="stage 2 judges two items redundant only on at least "
        "this many prompts that scored both (from the subset file's evidence ledger)",
    )
    max_replacements: int = Field(
        2, ge=0, description="the most items stage 2 replaces per pull request or `refine` (0: never)"
    )


class GateSettings(Strict):
    """When a pull request's head prompt passes or fails the merge gate (docs/gate.md)."""

    min_score: float | None = Field(
        None, ge=0.0, le=1.0, description="fail when head's mean is shown below this; a pass needs it shown at or above"
    )
    margin: float = Field(
        0.03,
        ge=0.0,
        le=1.0,
        description="δ, the smallest drop worth blocking: pass when head is shown not worse than "
        "base by more than this (replaces `tolerance`, which is now an error naming it)",
    )
    significance: float = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="α, the chance of each wrong claim: a fail or a pass is shown at confidence 1 − α, at every look",
    )
    max_items: int | None = Field(
        None,
        ge=1,
        description="a cap on the items compared, after which the gate is inconclusive (unset: up to the whole "
        "pool, where the answer is exact)",
    )
    on_inconclusive: Literal["fail", "neutral", "pass"] = Field(
        "neutral",
        description="what an inconclusive gate does: `neutral` (reported as inconclusive: the required check is "
        "not success until a maintainer's promptci-accept label accepts it), `fail`, or `pass`",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_tolerance(cls, data: object) -> object:
        if isinstance(data, dict) and "tolerance" in data:
            raise ValueError(
                "promptci.gate.tolerance was replaced by promptci.gate.margin, the smallest drop worth "
                "blocking (a pass now needs evidence that head is not worse by more than it): rename "
                "tolerance to margin, e.g. margin: 0.03"
            )
        return data


class OptimizerSettings(Strict):
    """The dual-phase optimizer (docs/algorithms.md)."""

    enabled: bool = Field(
        True,
        description="suggest a better prompt on pull requests (for a GitHub Models model: "
        "off unless the base's file sets it, to fit the free tier)",
    )
    model: str | None = Field(None, description="the optimizer model (any litellm model); default: the prompt's model")
    style: Literal["auto", "instruct", "completion"] = Field(
        "auto",
        description="how the optimizer model is asked: `completion` (a pattern to continue, for base models) "
        "or `instruct`; `auto` picks completion for `local/` models",
    )
    holdout: int = Field(
        100,
        ge=0,
        description="pool items held out from the optimizer, to judge its result "
        "on data it never saw (the suggestion's score in a pull request's report)",
    )
    max_calls: int | None = Field(
        260,
        ge=0,
        description="the most model calls the optimizer of a pull request makes, its search and the suggestion's "
        "verdict together, cache hits counted so that a re-run takes the same path; the search stops at it with "
        "the best prompt so far (null: only the run's limits)",
    )
    steps: int = Field(5, ge=0, description="T, the most refinement steps")
    attempts: int = Field(6, ge=1, description="candidate edits per step")
    quick_filter: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="h_f: the accuracy a candidate needs on the current "
        "prompt's failures among the judged items, besides fixing as many of them as "
        "acceptance needs won (4 at `accept_p` 0.1); raise it to spend fewer calls (the "
        "paper's 0.3 stopped net gains of demonstration sets on an 8-answer task)",
    )
    min_gain: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="h_v: the gain in mean a candidate needs on the judged "
        "items (the subset and `filter_items` training items)",
    )
    accept_p: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="the p-value a candidate needs in a one-sided sign test "
        "against the current prompt on the judged items",
    )
    filter_items: int = Field(
        30,
        ge=0,
        description="training items every candidate is judged on besides the "
        "subset (never shown as demonstrations; under a call limit at most an eighth of the "
        "calls left)",
    )
    demos: int = Field(
        4,
        ge=0,
        description="k: demonstrations chosen from the training split for phase 1's few-shot "
        "proposal; phase 2 adds at most k beyond the input's own",
    )
    reward_mix: float = Field(0.4, ge=0.0, le=1.0, description="α of the EXP3 reward")
    learning_rate: float = Field(0.055, gt=0.0, description="μ of the EXP3 weight update")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="sampling temperature of the optimizer model")


class BudgetSettings(Strict):
    """Hard limits on model use per run; the optimizer degrades first, never the base/head comparison."""

    max_calls: int | None = Field(
        None,
        ge=1,
        description="the most uncached model calls per run (in `pr`, per changed "
        "prompt, inside `--max-calls`; for a GitHub Models model, default: its free "
        "requests a day)",
    )
    max_usd: float | None = Field(
        None,
        gt=0.0,
        description="the most dollars per run (in `pr`, per changed prompt, "
        "inside `--max-usd`); refused for a model litellm has no price for",
    )


CheckKind = Literal["equals", "contains", "starts_with", "regex", "fuzzy", "similar", "json", "contains_json"]
"""The comparisons of a `check:` evaluator; each compares the output with one value (docs/import.md)."""


class JudgeChoiceSetting(Strict):
    choice: str = Field(min_length=1)
    score: float = Field(ge=0.0, le=1.0)


class PromptciEvaluator(Strict):
    """An evaluator promptci adds to GitHub Models' own: exactly one of label, regex, json, jsonSchema, check,
    judge. `check` and `judge` compare the output with each of several values (`value`, or the item's `field`):
    all must pass (`any`: one), `negate` turns the verdict over; no values at all pass (`any`: fail). A judge given
    neither is asked once."""

    name: str = Field(description="the evaluator's name in the report")
    label: str | None = Field(None, description="output equals this item field, ignoring case and surrounding space")
    regex: str | None = Field(
        None,
        description="a search with the `regex` module, which reads Python `re` syntax; "
        "a pattern that runs over 1 s on an output scores 0 for it",
    )
    json_valid: bool | None = Field(None, alias="json", description="output parses as JSON")
    json_schema: dict | str | None = Field(
        None,
        alias="jsonSchema",
        description="output is JSON valid against the schema, a mapping or a JSON string; only `#/...` references",
    )
    check: CheckKind | None = Field(None, description="compare the output with each value")
    judge: str | None = Field(None, description="an LLM judge prompt, {{value}} and {{completion}} filled")
    value: str | list[Any] | dict | None = Field(None, description="the values, in the file")
    field: str | None = Field(None, description="the item field holding the values (a value or a list)")
    any_of: bool = Field(False, alias="any", description="one value passing is enough")
    negate: bool = Field(False, description="pass when the comparison fails")
    ignore_case: bool = Field(False, description="equals, contains, starts_with: ignoring case")
    threshold: float | None = Field(None, ge=-1.0, le=1.0, description="similar: the least cosine (default 0.75)")
    choices: list[JudgeChoiceSetting] | None = Field(None, description="judge: each answer and its score")
    model: str | None = Field(None, description="judge: its model (default: promptci.judge_model)")

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> PromptciEvaluator:
        chosen = [
            k for k in ("label", "regex", "json_valid", "json_schema", "check", "judge") if getattr(self, k) is not None
        ]
        if len(chosen) != 1:
            raise ValueError("needs exactly one of label, regex, json, jsonSchema, check, judge")
        compares = self.check is not None or self.judge is not None
        if self.check is not None and (self.value is None) == (self.field is None):
            raise ValueError("check needs exactly one of value, field")
        if self.judge is not None and self.value is not None and self.field is not None:
            raise ValueError("a judge takes value or field, not both")
        extras = [
            k
            for k in ("value", "field", "any_of", "negate", "ignore_case", "threshold", "choices", "model")
            if k in self.model_fields_set
        ]
        if extras and not compares:
            raise ValueError(f"{extras[0].replace('any_of', 'any')} goes with check or judge only")
        if self.threshold is not None and self.check != "similar":
            raise ValueError("threshold goes with check: similar only")
        if self.ignore_case and self.check not in ("equals", "contains", "starts_with"):
            raise ValueError("ignore_case goes with check: equals, contains or starts_with only")
        if self.judge is not None and not self.choices:
            raise ValueError("a judge needs choices, e.g. [{choice: PASS, score: 1}, {choice: FAIL, score: 0}]")
        if (self.choices is not None or self.model is not None) and self.judge is None:
            raise ValueError("choices and model go with judge only")
        return self


class Settings(Strict):
    """The `promptci:` block. Paths are relative to the prompt file."""

    pool: str | None = Field(None, description="JSONL pool of eval items; default: the file's `testData`")
    subset: str | None = Field(
        None, description="the committed evaluation subset; default: the pool's name with `.subset.yml`"
    )
    labels: list[str] | str | None = Field(
        None,
        description="the label set (a list, 2 to 300 labels of at most 200 characters): each item is scored by the "
        "log-probability of every label; or the name of an item field holding that item's own options",
    )
    api_base: str | None = Field(
        None, description="base URL of an OpenAI-compatible server (with `model: openai/<name>`)"
    )
    model: str | None = Field(
        None,
        description="the model to call, as a litellm name (`openai/gpt-4o-mini`, "
        "`anthropic/...`, `local/gemma-3-270m`); `--model` overrides it; "
        "default: the file's `model:`, called on GitHub Models",
    )
    judge_model: str | None = Field(
        None,
        description="the model of the built-in judges (`uses: github/similarity`, "
        "`coherence`, `fluency`, `relevance`, `groundedness`), as a "
        "litellm name; default: GitHub Models' `openai/gpt-4o`",
    )
    embedding_model: str | None = Field(
        None,
        description="a litellm embedding model (e.g. `openai/text-embedding-3-small`) for the pool's "
        "embeddings that choose the subset; with it, an install without the `local` extra (no "
        "torch) can choose subsets; default: the bundled `all-MiniLM-L6-v2` (needs the `local` "
        "extra)",
    )
    concurrency: int = Field(
        4, ge=1, le=256, description="model calls in flight at once (2 for a GitHub Models model unless set)"
    )
    evaluators: list[PromptciEvaluator] = Field(
        default_factory=list, description="promptci's own evaluators, each `{name: ..., <one check>}` (below)"
    )
    repeats: int = Field(
        1,
        ge=1,
        le=MAX_REPEATS,
        description="k, draws per item when an item's score is a sample (temperature > 0, top_p < 1, or an LLM "
        "judge): its score is the mean of k draws, and pass^k and flaky items are reported; in a pull request's "
        "comparison with base, each item is drawn once a side and k times a side (3 when k is 1) only where the "
        "first draws disagree (targeted repeats, docs/gate.md); a deterministic prompt with exact checks is scored "
        "once whatever k is",
    )
    judge_regrades: int = Field(
        5,
        ge=0,
        le=100,
        description="items whose answer each LLM judge grades a second time per run, to measure the judge's "
        "self-agreement (0: none)",
    )
    protected: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="item ids that must never go from pass to fail: a pull request whose head fails one of them in "
        "any draw where base passes it in every draw fails the gate (they are always scored, base and head)",
    )
    gate_slices: bool = Field(
        False,
        description="fail the gate when head is shown worse on one IPOMP cluster of the compared items (tested at "
        "α/K, Bonferroni), even when the mean holds; off: such slices are listed only",
    )
    judge_min_agreement: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="the least share of answers graded twice that must get the same grade both times; below it a "
        "failing verdict of this prompt is advisory (inconclusive, with the reason: not green until accepted)",
    )
    judge_blocks: bool = Field(
        False, description="let a failing verdict block even when the judge agrees with itself less than the minimum"
    )
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, labels: list[str] | str | None) -> list[str] | str | None:
        problem = label_set_problem(labels) if isinstance(labels, list) else None
        if problem:
            raise ValueError(problem)
        return labels
