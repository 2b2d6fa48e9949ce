"""promptfoo providers as promptci models: the first provider becomes `model:` (a GitHub Models id) or
`promptci.model` (a litellm name); a grading provider becomes `promptci.judge_model`; custom providers none."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .migrate import Migration, member


def apply_provider(spec: Any, migration: Migration, config: Path) -> None:
    entries = spec if isinstance(spec, list) else [spec] if spec is not None else []
    if not entries:
        return
    for other in entries[1:]:
        migration.leftovers.add(
            "further providers (a prompt file runs one model; use --model to compare)", _provider_id(other) or "?"
        )
    first = entries[0]
    pid = _provider_id(first)
    config_block: dict[str, Any] = member(first, "config", dict) or {}
    model, litellm = provider_model(pid or "", config_block)
    if model is None and litellm is None:
        migration.leftovers.add("custom providers (no model set: pass --model to promptci eval)", pid or "?")
        return
    migration.model, migration.litellm_model = model, litellm
    for key, value in config_block.items():
        if key == "temperature" and isinstance(value, (int, float)) and not isinstance(value, bool):
            migration.parameters["temperature"] = value
        elif key in ("max_tokens", "maxTokens") and isinstance(value, int) and not isinstance(value, bool):
            migration.parameters["maxTokens"] = value
        elif key in ("top_p", "topP") and isinstance(value, (int, float)) and not isinstance(value, bool):
            migration.parameters["topP"] = value
        elif key == "response_format" and isinstance(value, dict) and value.get("type") == "json_object":
            migration.response_format = "json_object"
        elif key != "model":
            migration.leftovers.add("provider settings not carried", f"{pid} {key}")


def _provider_id(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        if isinstance(entry.get("id"), str):
            return entry["id"]
        if len(entry) == 1 and isinstance(next(iter(entry)), str):
            return next(iter(entry))
    return None


GITHUB_OPENAI = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-5|o1|o3|o4)(-[\w.-]+)?$")
LITELLM_PREFIX = {
    "anthropic": "anthropic",
    "groq": "groq",
    "mistral": "mistral",
    "ollama": "ollama_chat",
    "google": "gemini",
    "vertex": "vertex_ai",
    "openrouter": "openrouter",
    "bedrock": "bedrock",
    "azureopenai": "azure",
    "azure": "azure",
    "deepseek": "deepseek",
    "togetherai": "together_ai",
    "perplexity": "perplexity",
    "xai": "xai",
    "fireworks": "fireworks_ai",
    "cohere": "cohere",
}


def provider_model(pid: str, config: dict[str, Any]) -> tuple[str | None, str | None]:
    """A promptfoo provider id as (GitHub Models id, litellm name); (None, None) for a custom provider."""
    parts = pid.split(":")
    kind = parts[0]
    name = parts[-1] if len(parts) > 1 else ""
    if kind == "github" and name:
        return name, None
    if config.get("apiBaseUrl") or config.get("baseUrl") or config.get("url") or config.get("apiHost"):
        return None, None  # a server of its own: not a model promptci can name
    if kind == "openai" and len(parts) > 1 and name:
        return (f"openai/{name}", None) if GITHUB_OPENAI.match(name) else (None, f"openai/{name}")
    if kind in LITELLM_PREFIX and len(parts) > 1 and name and not name.startswith("claude-agent-sdk"):
        return None, f"{LITELLM_PREFIX[kind]}/{name}"
    return None, None


def grader(spec: Any, migration: Migration, label: str) -> None:
    pid = _provider_id(spec) or ""
    model, litellm = provider_model(pid, spec.get("config") or {} if isinstance(spec, dict) else {})
    if model or litellm:
        migration.judge_model = litellm or f"github/{model}"
    else:
        migration.leftovers.add("custom grading providers (the judge runs on promptci.judge_model)", label)
