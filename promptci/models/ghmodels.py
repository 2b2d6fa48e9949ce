"""GitHub Models as a provider: the catalog ids of `.prompt.yml` files, called with the workflow's token.

A prompt file's `model:` (`openai/gpt-4o`, `microsoft/phi-4`) names a model of the GitHub Models
catalog, as `gh models eval` and `actions/ai-inference` read it. promptci calls it through litellm's
OpenAI-compatible `github/` provider, pointed at the endpoint gh itself uses
(`https://models.github.ai/inference/chat/completions`, the catalog id in the body, the token as a
bearer key), so retries, the cache and cost counting are those of every other model. In a workflow
the token is the job's own `GITHUB_TOKEN` with `permissions: models: read`; no other key is needed.

The token goes to that endpoint only (or the one `PROMPTCI_GITHUB_MODELS_URL` names, set by whoever runs
promptci), never to a `promptci.api_base`. The free tier allows few requests a day per model
(docs/github-models.md cites GitHub's table): `daily_limit` is what a run is planned against, and a 429 that says
the day's quota is spent is reported as such (`quota_spent`).
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import InputError

PREFIX = "github/"
"""litellm's provider prefix; `github/openai/gpt-4o` sends the model `openai/gpt-4o`."""

ENDPOINT = "https://models.github.ai/inference"
"""gh-models' inference root; litellm adds `/chat/completions`."""

ENDPOINT_ENV = "PROMPTCI_GITHUB_MODELS_URL"
"""Overrides ENDPOINT: an organisation's endpoint (`.../orgs/ORG/inference`) or a test's stand-in server."""

TOKEN_ENVS = ("PROMPTCI_MODELS_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_KEY")
"""Where the token is looked for; the Action passes its `models-token` input (the job's token by default) as the
first. Its `token` input (PROMPTCI_GITHUB_TOKEN, for the REST API) is never sent to a model."""

DEFAULT_JUDGE = PREFIX + "openai/gpt-4o"
"""The model gh's built-in judges run on."""


DAILY_LIMIT_ENV = "PROMPTCI_GITHUB_MODELS_DAILY_LIMIT"
"""Requests a day a run may plan for, instead of the free tier's (a paid plan's or opted-in paid usage's);
0: no daily limit."""

HIGH_TIER_PER_DAY = 50
"""GitHub Models' free requests a day for a high-tier model (gpt-4o): the default for a model not listed below."""

PER_DAY = {
    "openai/gpt-4o-mini": 150,  # a low-tier model
    "openai/o1": 8,
    "openai/o3": 8,
    "openai/gpt-5": 8,
    "deepseek/deepseek-r1": 8,
    "deepseek/deepseek-r1-0528": 8,
    "microsoft/mai-ds-r1": 8,
    "openai/o1-mini": 12,
    "openai/o3-mini": 12,
    "openai/o4-mini": 12,
    "openai/gpt-5-mini": 12,
    "openai/gpt-5-nano": 12,
    "openai/gpt-5-chat": 12,
    "xai/grok-3": 15,
}
"""Free requests a day (Copilot Free and Pro) of the models GitHub's rate-limit table names, and of gpt-4o-mini
(low tier); any other model is planned at the high tier's, the strictest of the general tiers."""

CONCURRENCY = 2
"""Calls in flight for a GitHub Models model unless `promptci.concurrency` says otherwise: the high tier's free
limit on concurrent requests."""


def is_github(model: str | None) -> bool:
    """Whether a litellm model name is a GitHub Models model."""
    return model is not None and model.startswith(PREFIX)


def daily_limit(model: str) -> int | None:
    """The requests a day a run on this `github/` model is planned against: PROMPTCI_GITHUB_MODELS_DAILY_LIMIT,
    else the free tier's for the model (the high tier's when GitHub's table does not name it). None: no limit."""
    raw = os.environ.get(DAILY_LIMIT_ENV, "").strip()
    if raw:
        if not raw.isdigit():
            raise InputError(
                f"{DAILY_LIMIT_ENV} is {raw!r}, not a whole number",
                field=DAILY_LIMIT_ENV,
                fix="set it to the requests a day your plan allows, or 0 for no limit",
            )
        return int(raw) or None
    return PER_DAY.get(model.removeprefix(PREFIX).lower(), HIGH_TIER_PER_DAY)


_DAILY = re.compile(r"per 86400s|ByDay|per day|daily", re.IGNORECASE)


def quota_spent(status: int | None, message: str, wait_s: float | None) -> bool:
    """Whether a GitHub Models error says the day's quota is spent: a 429 whose message names the daily limit
    (`Rate limit of 50 per 86400s exceeded for UserByModelByDay`), or that asks to wait over an hour."""
    return status == 429 and (bool(_DAILY.search(message)) or (wait_s is not None and wait_s > 3600))


def quota_message(model: str, wait_s: float | None) -> str:
    """The one line a spent daily quota is reported with: what happened and what to do."""
    when = f"it resets in about {wait_s / 3600:.1f} h" if wait_s else "it resets within a day"
    return (
        f"GitHub Models' daily quota for '{model}' is spent ({when}): re-run the job after it resets, lower "
        f"the calls a run makes (the action's max-calls input, promptci.budget.max_calls, optimizer off), "
        f"or use a plan or paid usage with higher limits (and set {DAILY_LIMIT_ENV})"
    )


def litellm_name(catalog_id: str) -> str:
    """The litellm name of a GitHub Models catalog id."""
    return PREFIX + catalog_id


def token() -> str | None:
    """The GitHub token in the environment, if any."""
    return next((os.environ[name] for name in TOKEN_ENVS if os.environ.get(name)), None)


def request_kwargs(model: str, api_base: str | None) -> dict[str, Any]:
    """Endpoint and token for a `github/` model; an InputError (before any call) when no token is set, or when
    an `api_base` would take the token to another host."""
    if api_base is not None:
        raise InputError(
            f"model '{model}' is a GitHub Models model, and promptci.api_base would send the GitHub "
            f"token to {api_base}",
            field="promptci.api_base",
            fix=f"drop api_base for GitHub Models models; an organisation's endpoint is set with "
            f"{ENDPOINT_ENV} by whoever runs promptci",
        )
    key = token()
    if key is None:
        raise InputError(
            f"model '{model}' is a GitHub Models model and needs a token: none of {', '.join(TOKEN_ENVS)} is set",
            field="model",
            fix="in a workflow give the job 'permissions: models: read' and pass "
            "GITHUB_TOKEN: ${{ github.token }}; locally export GITHUB_TOKEN=$(gh auth token)",
        )
    return {"api_base": os.environ.get(ENDPOINT_ENV) or ENDPOINT, "api_key": key}
