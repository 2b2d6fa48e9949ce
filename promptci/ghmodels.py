"""GitHub Models as a provider: the catalog ids of `.prompt.yml` files, called with the workflow's token.

A prompt file's `model:` (`openai/gpt-4o`, `microsoft/phi-4`) names a model of the GitHub Models
catalog, as `gh models eval` and `actions/ai-inference` read it. promptci calls it through litellm's
OpenAI-compatible `github/` provider, pointed at the endpoint gh itself uses
(`https://models.github.ai/inference/chat/completions`, the catalog id in the body, the token as a
bearer key), so retries, the cache and cost counting are those of every other model. In a workflow
the token is the job's own `GITHUB_TOKEN` with `permissions: models: read`; no other key is needed.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import InputError

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


def litellm_name(catalog_id: str) -> str:
    """The litellm name of a GitHub Models catalog id."""
    return PREFIX + catalog_id


def token() -> str | None:
    """The GitHub token in the environment, if any."""
    return next((os.environ[name] for name in TOKEN_ENVS if os.environ.get(name)), None)


def request_kwargs(model: str, api_base: str | None) -> dict[str, Any]:
    """Endpoint and token for a `github/` model; an InputError (before any call) when no token is set."""
    key = token()
    if key is None:
        raise InputError(f"model '{model}' is a GitHub Models model and needs a token: none of "
                         f"{', '.join(TOKEN_ENVS)} is set", field="model",
                         fix="in a workflow give the job 'permissions: models: read' and pass "
                             "GITHUB_TOKEN: ${{ github.token }}; locally export GITHUB_TOKEN=$(gh auth token)")
    return {"api_base": api_base or os.environ.get(ENDPOINT_ENV) or ENDPOINT, "api_key": key}
