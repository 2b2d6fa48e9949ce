"""The settings a changed prompt is run with, resolved once: the rule for who chooses models, keys and spending.

A pull request chooses its prompt's messages and may try another model of the same provider, but never where
calls go or what they may spend. Everything else comes from the base revision's `promptci:` block (the
reference's settings, see pipeline.py) and from the command line or the workflow's inputs, which are trusted alike:

- **Provider and keys.** The task model may not leave the base version's provider (litellm's provider: whose key a
  call carries and, without `api_base`, which host it goes to) except for the embedded `local/` model, which needs
  neither; `api_base` and the embedding model are the base's.
  A prompt the pull request adds has no base: it may not set `api_base` (pipeline.py), and the GitHub token never
  goes anywhere but GitHub Models' endpoint (models/ghmodels.py).
- **Spending.** `promptci.budget` and `promptci.concurrency` are the base's and hold for the prompt, inside the
  run's `--max-calls` and `--max-usd`; a dollar limit on a model litellm has no price for is refused, since it
  could never bind.
- **GitHub Models' free tier.** When the task model or a judge is a `github/` model the defaults fit the free
  quota: the optimizer runs only when the base's settings turn it on, at most `ghmodels.CONCURRENCY` calls in
  flight unless `promptci.concurrency` is set, and a call limit of the fewest requests a day of those models when
  none is set; `check_quota` holds the run's forecast against that limit before any call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import promptfile
from .errors import InputError
from .files.records import Effective
from .files.settings import GateSettings
from .gitdiff import Change
from .models import ghmodels
from .promptfile import PromptFile
from .runner import models
from .scoring import judge_models


@dataclass(frozen=True)
class Overrides:
    """What the command line or the workflow's inputs set: trusted like the base branch."""

    model: str | None = None  # the task model instead of each prompt's own
    optimizer_model: str | None = None
    optimize: bool = True
    max_calls: int | None = None  # for the whole run
    max_usd: float | None = None  # for the whole run
    gate: Mapping[str, float] = field(default_factory=dict)  # promptci.gate fields set on the command line


def of_change(change: Change, tree: Path, overrides: Overrides) -> Effective | None:
    """`resolve` for a changed prompt (None: the pull request deletes it). The head version is judged by the base
    version's settings; an InputError when the head does not load or moves the model to another provider."""
    if change.new_text is None or change.new_path is None:
        return None
    head = promptfile.parse(change.new_text, tree / change.new_path)
    base = None
    if change.old_text is not None and change.old_path is not None:
        # a base that no longer parses judges nothing (pullrequest/pipeline.py): the head's own settings do
        with contextlib.suppress(InputError):
            base = promptfile.parse(change.old_text, tree / change.old_path)
    return resolve(promptfile.measured_by(head, base) if base is not None else head, base, overrides)


def resolve(prompt: PromptFile, base: PromptFile | None, overrides: Overrides) -> Effective:
    """The settings `prompt` runs with. `prompt` is the version to score as judged (pipeline.py: its messages and
    model under the reference's `promptci:` settings), `base` the base revision's version (None: a new prompt).
    An InputError, before any call, when the pull request moves the model to another provider."""
    settings = prompt.settings
    model, asker = models(prompt, overrides.model, overrides.optimizer_model)
    if base is not None and overrides.model is None and model:
        _same_provider(prompt, model, base.model)
    elif overrides.model and settings.api_base:  # the workflow's model, on a server set up for the prompt's own
        _same_provider(prompt, model, (base or prompt).model, field="--model")
    judges = judge_models(prompt)
    github = sorted(m for m in {model, *judges} if ghmodels.is_github(m))  # the task's calls or their judges'
    optimizer = settings.optimizer
    optimize = overrides.optimize and optimizer.enabled and (not github or "enabled" in optimizer.model_fields_set)
    concurrency = settings.concurrency
    if github and "concurrency" not in settings.model_fields_set:
        concurrency = min(concurrency, ghmodels.CONCURRENCY)
    daily = min((d for d in map(ghmodels.daily_limit, github) if d is not None), default=None)
    max_calls = settings.budget.max_calls if settings.budget.max_calls is not None else daily
    called = {model, *judges, *([asker] if optimize else [])}
    return Effective(
        model=model,
        optimizer_model=asker,
        optimize=optimize,
        concurrency=concurrency,
        max_calls=max_calls,
        max_usd=settings.budget.max_usd,
        embedding_model=settings.embedding_model,
        daily_limit=daily,
        models=tuple(sorted(m for m in called if m)),
    )


def gate_settings(reference: GateSettings, overrides: Overrides) -> GateSettings:
    """The gate a change is judged by: its reference's `promptci.gate` with the command line's values over it,
    validated as one (a range error names the setting, exit 2)."""
    return GateSettings.model_validate({**reference.model_dump(), **overrides.gate})


def of_prompt(prompt: PromptFile, overrides: Overrides) -> Effective:
    """`resolve` for a prompt the command line names (`eval`, `optimize`): its own settings, no base."""
    return resolve(prompt, None, overrides)


def choosing_subsets(prompt: PromptFile, effective: Effective) -> PromptFile:
    """`prompt` with the embedding model the effective settings name: a subset offered for the pull request's own
    pool is still chosen with the base's embeddings (host, key and usage are the base's to choose)."""
    settings = prompt.settings.model_copy(update={"embedding_model": effective.embedding_model})
    return replace(prompt, spec=prompt.spec.model_copy(update={"promptci": settings}))


def provider(model: str) -> str:
    """The provider litellm routes a model to (`openai`, `anthropic`, `github`, `local`): whose key a call carries
    and, without an api_base, which host it goes to."""
    from .models.llm import _litellm, in_process, interactive

    if in_process(model):  # the embedded model and the mock: no key, no host
        return "local"
    if interactive(model):  # asking litellm would start a login: the prefix names the provider
        return model.split("/", 1)[0].lower()
    if ghmodels.is_github(model):
        return "github"
    try:
        return str(_litellm().get_llm_provider(model)[1])
    except Exception:  # litellm knows no provider for it: the call itself fails, naming the model
        return model.split("/", 1)[0]


def _same_provider(prompt: PromptFile, model: str, base_model: str | None, field: str = "model") -> None:
    was = provider(base_model) if base_model else None
    now = provider(model)
    if now in (was, "local"):  # the embedded model carries no key and goes nowhere
        return
    if field == "model":
        raise InputError(
            f"this pull request moves the model from {base_model or 'none'} ({was or 'no provider'}) "
            f"to {model} ({now}); model calls carry the keys of the base's provider",
            path=prompt.path,
            field=field,
            fix="keep the base's provider here and change it on the base branch first (a separate, "
            "reviewed change), or pass the model with --model (the action's model input)",
        )
    raise InputError(
        f"{model} ({now}) would be sent with its key to promptci.api_base {prompt.settings.api_base}, "
        f"which is set for {base_model} ({was or 'no provider'})",
        path=prompt.path,
        field=field,
        fix="pass a model of the server's provider, or drop --model for this prompt (--prompts)",
    )


def refuse_unpriced(path: str | Path, limits: Sequence[tuple[str, float | None]], models: Sequence[str]) -> None:
    """A dollar limit binds only on models litellm has a price for: one it could never stop is refused (exit 2)
    before any call. `limits` pairs each limit's name (`--max-usd`, `promptci.budget.max_usd`) with its value."""
    set_ = [(name, value) for name, value in limits if value]
    if not set_:
        return
    from .pullrequest.forecast import price

    unpriced = sorted({m for m in models if m and not price(m).known})
    if unpriced:
        name, value = set_[0]
        raise InputError(
            f"{name} {value:g} cannot bind: litellm has no price for {', '.join(unpriced)}, so its "
            "calls would count as free",
            path=path,
            field=name,
            fix="limit calls instead (--max-calls or --budget-calls, the action's max-calls input, "
            "or promptci.budget.max_calls)",
        )


def check_quota(calls: int, limit: int | None, models: Sequence[str]) -> None:
    """The most calls a run may make to GitHub Models (the forecast's) against the requests a day its free tier
    allows: an InputError before any call when they cannot fit."""
    if limit is not None and calls > limit:
        raise InputError(
            f"this run may make {calls} calls to GitHub Models ({', '.join(models)}), more than the "
            f"{limit} requests a day its free tier allows",
            field="--max-calls",
            fix=f"set max-calls to {limit} or fewer (the action's max-calls input, --max-calls), score "
            f"fewer items (promptci.selection.size, promptci.gate.max_items), or with a plan or paid "
            f"usage that allows more set {ghmodels.DAILY_LIMIT_ENV} (0: no daily limit)",
        )
