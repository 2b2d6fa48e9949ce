"""The one door to models: litellm calls with concurrency, retries, a disk cache, and label scoring.

Everything that asks a model anything goes through `ModelClient`, so every call is counted, cached,
retried and costed in one place:

- **Concurrency**: at most `concurrency` requests in flight (an asyncio semaphore).
- **Retries**: 429, 5xx, timeouts and refused connections are retried with exponential backoff
  and jitter (honouring `Retry-After`); then the call fails with `InfraError` (exit 3). Bad
  requests (unknown model, missing key, prompt too long) fail at once with `InputError` (exit 2).
- **Disk cache**: keyed by model, api_base, messages, parameters, (for label scoring) the label
  set and, for a sampled answer or a judge's grade, its sample index: draw 2 of an item is another key than
  draw 1, so a repeat is a new sample and a re-run reuses the same samples (sample 0 keeps the key it always had).
  A hit returns the stored answer and its original token counts and costs no call. It is a
  `diskcache` store of JSON values (never pickles: a restored CI cache is data, not code). litellm's
  own cache key omits `api_base` and provider-specific parameters, so promptci keys its own.
- **Label scoring** (`score_labels`): a probability per label, by the best method the model offers:
  `exact` for the embedded model (each label's full log-likelihood, the prompt's KV state reused),
  `top_logprobs` for providers that return them (the label's first token), `constrained` (a JSON
  schema enum) otherwise, and plain generation matched to a label as the last resort.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import diskcache

from ..errors import InfraError, InputError, redact
from ..files.records import LabelMethod
from ..paths import cache_dir
from . import ghmodels, labelprobs
from .usage import Counters

CACHE_VERSION = 1
TOP_LOGPROBS = 20
LONG_WAIT_S = 120.0
"""A rate limit that asks to wait longer than this is reported at once instead of waited out."""
LOCAL_PREFIX = "local/"
MOCK_PREFIX = "mockllm/"


INTERACTIVE_PREFIXES = ("github_copilot/", "chatgpt/")
"""Providers whose very lookup in litellm starts an OAuth device login (a code printed to the log, minutes of
polling): a CI job cannot log in, and a pull request must not make one start, so they are refused by name."""


def interactive(model: str) -> bool:
    """Whether naming `model` to litellm would start an interactive login (never asked: refused by its prefix)."""
    return model.lower().startswith(INTERACTIVE_PREFIXES)


def in_process(model: str) -> bool:
    """The embedded model or the mock: answered in this process, exact label scores, no cost, no key."""
    return model.startswith((LOCAL_PREFIX, MOCK_PREFIX))


_litellm_module: Any = None


def _litellm() -> Any:
    """litellm, imported on the first real call: it takes about 2 s to import, and a run answered
    entirely from the cache never needs it."""
    global _litellm_module
    if _litellm_module is None:
        import litellm

        from . import local, mockllm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        # promptci retries itself; litellm's embedding path reads max_retries=0 as "the default", so the default is 0
        litellm.DEFAULT_MAX_RETRIES = 0  # type: ignore[misc]  # litellm types it Final; promptci sets it once
        logging.getLogger("LiteLLM").setLevel(logging.ERROR)  # noise; failures come back as exceptions
        local.register()
        mockllm.register()
        _litellm_module = litellm
    return _litellm_module


def _retryable(lit: Any) -> tuple[type[Exception], ...]:
    return (
        lit.RateLimitError,
        lit.Timeout,
        lit.APIConnectionError,
        lit.InternalServerError,
        lit.ServiceUnavailableError,
        lit.BadGatewayError,
    )


def _fix_for(exc: Exception) -> str:
    lit = _litellm()
    fixes = (
        (lit.AuthenticationError, "set the provider's API key in the environment (for example OPENAI_API_KEY)"),
        (lit.PermissionDeniedError, "check that the API key may use this model"),
        (lit.NotFoundError, "check the model name (a litellm model such as openai/gpt-4o-mini or local/gemma-3-270m)"),
        (lit.ContextWindowExceededError, "shorten the prompt or the item, or use a model with a longer context"),
    )
    return next((fix for cls, fix in fixes if isinstance(exc, cls)), "check the model name and the request parameters")


@dataclass(frozen=True)
class Params:
    """Request parameters; everything here is part of the cache key."""

    temperature: float = 0.0
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    response_format: Any = None
    api_base: str | None = None
    sample: int = 0
    """Which draw this request is (0: the first); part of the cache key but not sent, except as a seed (`seeded`)."""

    def seeded(self, model: str) -> dict[str, Any]:
        """The request arguments, with draw `sample` > 0 made a distinct sample: the prompt's seed moved on by
        `sample`, or, for the embedded model and the mock (which seed every call, 0 by default), seed `sample`.
        Other providers draw afresh on every uncached call."""
        kwargs = self.litellm_kwargs()
        if self.sample and self.seed is not None:
            kwargs["seed"] = self.seed + self.sample
        elif self.sample and in_process(model):
            kwargs["seed"] = self.sample
        return kwargs

    def litellm_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"temperature": self.temperature}
        for name in ("max_tokens", "top_p", "seed", "response_format", "api_base"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.stop:
            kwargs["stop"] = list(self.stop)
        return kwargs


@dataclass(frozen=True)
class Usage:
    """What one request cost. A cache hit keeps the original token counts but costs no call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0  # None when litellm has no price for the model
    latency_s: float = 0.0
    cached: bool = False


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage


@dataclass(frozen=True)
class LabelScores:
    """A probability per label (they sum to 1), how it was measured, and the model's answer."""

    probs: dict[str, float]
    method: LabelMethod
    output: str
    usage: Usage

    @property
    def best(self) -> str:
        return max(self.probs, key=self.probs.__getitem__)


@dataclass
class ModelClient:
    """Async access to any litellm model, cached and retried. One per run; close() when done."""

    concurrency: int = 4
    use_cache: bool = True
    cache_path: Path | None = None
    retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    timeout_s: float = 120.0
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._cache: diskcache.Cache | None = None
        if self.use_cache:
            path = self.cache_path or cache_dir() / "llm"
            self._cache = diskcache.Cache(str(path), disk=diskcache.JSONDisk, size_limit=4 * 2**30)
        self._semaphore: asyncio.Semaphore | None = None
        self._checked_models: dict[tuple[str, str | None], dict[str, Any]] = {}

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def set_concurrency(self, concurrency: int) -> None:
        """Calls in flight from now on; between two prompts' work only, when no call is in flight (`pr` runs each
        prompt at its own `promptci.concurrency`)."""
        self.concurrency = concurrency
        self._semaphore = None

    async def complete(self, model: str, messages: Sequence[dict[str, str]], params: Params = Params()) -> Completion:
        """The model's text answer to `messages`."""
        payload, usage = await self._cached("complete", model, messages, params, None, self._complete_uncached)
        return Completion(text=payload["text"], usage=usage)

    async def score_labels(
        self, model: str, messages: Sequence[dict[str, str]], labels: Sequence[str], params: Params = Params()
    ) -> LabelScores:
        """A probability for each label as the answer to `messages`."""
        if len(labels) < 2:
            raise InputError(
                "label scoring needs at least two labels", field="promptci.labels", fix="list the possible answers"
            )
        payload, usage = await self._cached("labels", model, messages, params, list(labels), self._labels_uncached)
        return LabelScores(probs=payload["probs"], method=payload["method"], output=payload["output"], usage=usage)

    async def embed(self, model: str, texts: Sequence[str], *, api_base: str | None = None) -> list[list[float]]:
        """Embeddings of `texts` from a litellm embedding model (such as openai/text-embedding-3-small), in one
        request, retried like a completion. Not cached here: models/embeddings.py keeps every vector it gets."""
        kwargs = {"api_base": api_base} if api_base else {}
        response = await self._request(model, [], kwargs, embed=list(texts))
        self.counters.calls += 1
        self.counters.prompt_tokens += int(getattr(getattr(response, "usage", None), "prompt_tokens", 0) or 0)
        rows = sorted(response.data, key=lambda row: row["index"])
        if len(rows) != len(texts):
            raise InfraError(f"model '{model}' returned {len(rows)} embeddings for {len(texts)} texts")
        return [list(row["embedding"]) for row in rows]

    # -- cache -----------------------------------------------------------------------------------------------

    async def _cached(
        self,
        kind: str,
        model: str,
        messages: Sequence[dict[str, str]],
        params: Params,
        labels: list[str] | None,
        compute: Any,
    ) -> tuple[dict[str, Any], Usage]:
        key = self._key(kind, model, messages, params, labels)
        started = time.perf_counter()
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                usage = Usage(
                    prompt_tokens=hit["prompt_tokens"],
                    completion_tokens=hit["completion_tokens"],
                    cost_usd=hit["cost_usd"],
                    latency_s=time.perf_counter() - started,
                    cached=True,
                )
                self.counters.cache_hits += 1
                self._count_tokens(usage)
                return hit, usage
        payload = await compute(model, list(messages), params, labels)
        usage = Usage(
            prompt_tokens=payload["prompt_tokens"],
            completion_tokens=payload["completion_tokens"],
            cost_usd=payload["cost_usd"],
            latency_s=time.perf_counter() - started,
            cached=False,
        )
        self.counters.calls += 1
        self._count_tokens(usage)
        if usage.cost_usd:
            self.counters.cost_usd += usage.cost_usd
        if self._cache is not None:
            self._cache.set(key, payload)
        return payload, usage

    def _count_tokens(self, usage: Usage) -> None:
        self.counters.prompt_tokens += usage.prompt_tokens
        self.counters.completion_tokens += usage.completion_tokens

    @staticmethod
    def _key(
        kind: str, model: str, messages: Sequence[dict[str, str]], params: Params, labels: list[str] | None
    ) -> str:
        material = {
            "v": CACHE_VERSION,
            "kind": kind,
            "model": model,
            "messages": list(messages),
            "params": params.litellm_kwargs(),
            "labels": labels,
        }
        if params.sample:  # draw 0 keeps the key caches made before draws existed
            material["sample"] = params.sample
        canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # -- the calls -------------------------------------------------------------------------------------------

    async def _complete_uncached(
        self, model: str, messages: list[dict[str, str]], params: Params, labels: None
    ) -> dict[str, Any]:
        response = await self._request(model, messages, params.seeded(model))
        return {"text": _content(response), **_usage(model, response)}

    async def _labels_uncached(
        self, model: str, messages: list[dict[str, str]], params: Params, labels: list[str]
    ) -> dict[str, Any]:
        kwargs = replace(params, temperature=0.0).litellm_kwargs()
        if in_process(model):
            response = await self._request(
                model, messages, {**kwargs, "max_tokens": 1, "extra_body": {"labels": labels}}
            )
            logprobs = {e["token"]: e["logprob"] for e in labelprobs.top_logprobs(response)}
            probs = labelprobs.softmax({lab: logprobs.get(lab) for lab in labels})
            return {"probs": probs, "method": "exact", "output": _content(response), **_usage(model, response)}
        supported = set(_litellm().get_supported_openai_params(model=model) or [])
        if {"logprobs", "top_logprobs"} <= supported:
            response = await self._request(
                model,
                messages,
                {
                    **kwargs,
                    "logprobs": True,
                    "top_logprobs": TOP_LOGPROBS,
                    "max_tokens": kwargs.get("max_tokens") or 16,
                },
            )
            raw = _content(response)
            probs = labelprobs.first_token_probs(labelprobs.top_logprobs(response), labels, raw)
            return {
                "probs": probs,
                "method": "top_logprobs",
                "output": labelprobs.answer(probs, raw),
                **_usage(model, response),
            }
        if "response_format" in supported:
            schema = {
                "type": "object",
                "properties": {"label": {"type": "string", "enum": labels}},
                "required": ["label"],
                "additionalProperties": False,
            }
            response = await self._request(
                model,
                messages,
                {
                    **kwargs,
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": "label", "schema": schema, "strict": True},
                    },
                },
            )
            output = _content(response)
            try:
                answer = str(json.loads(output).get("label", ""))
            except (ValueError, AttributeError):
                answer = output
            probs = labelprobs.one_hot(labels, answer)
            return {
                "probs": probs,
                "method": "constrained",
                "output": labelprobs.answer(probs, answer),
                **_usage(model, response),
            }
        response = await self._request(model, messages, kwargs)
        raw = _content(response)
        probs = labelprobs.one_hot(labels, raw)
        return {
            "probs": probs,
            "method": "generated",
            "output": labelprobs.answer(probs, raw),
            **_usage(model, response),
        }

    async def _request(
        self, model: str, messages: list[dict[str, str]], kwargs: dict[str, Any], *, embed: list[str] | None = None
    ) -> Any:
        """One litellm call (a completion, or embeddings of `embed`) with retries on transient faults; errors
        become InputError or InfraError."""
        lit = _litellm()
        kwargs = {**kwargs, **self._check_model(model, kwargs.get("api_base"))}
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        attempt = 0
        async with self._semaphore:
            while True:
                try:
                    if embed is not None:
                        return await lit.aembedding(
                            model=model, input=embed, timeout=self.timeout_s, max_retries=0, num_retries=0, **kwargs
                        )
                    return await lit.acompletion(
                        model=model, messages=messages, timeout=self.timeout_s, max_retries=0, num_retries=0, **kwargs
                    )
                except _retryable(lit) as exc:
                    wait = _retry_after(exc)
                    if ghmodels.is_github(model) and ghmodels.quota_spent(
                        getattr(exc, "status_code", None), str(exc), wait
                    ):
                        raise InfraError(ghmodels.quota_message(model, wait)) from None
                    if isinstance(exc, lit.RateLimitError) and wait is not None and wait > LONG_WAIT_S:
                        raise InfraError(
                            f"model '{model}' is rate limited for {wait:.0f} s more (a per-day or "
                            f"per-hour limit; GitHub Models has both): {_describe(exc)}"
                        ) from None
                    if attempt >= self.retries:
                        limited = "rate limited" if isinstance(exc, lit.RateLimitError) else "unreachable"
                        raise InfraError(
                            f"model '{model}' {limited} after {attempt + 1} attempts: {_describe(exc)}"
                        ) from None
                    await asyncio.sleep(self._delay(attempt, exc))
                    attempt += 1
                except lit.BadRequestError as exc:
                    raise InputError(
                        f"model '{model}' refused the request: {_describe(exc)}", field="model", fix=_fix_for(exc)
                    ) from None
                except (lit.AuthenticationError, lit.PermissionDeniedError, lit.NotFoundError) as exc:
                    raise InputError(f"model '{model}': {_describe(exc)}", field="model", fix=_fix_for(exc)) from None
                except lit.APIError as exc:
                    raise InfraError(f"model '{model}' failed: {_describe(exc)}") from None

    def _delay(self, attempt: int, exc: Exception) -> float:
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        return min(self.backoff_s * 2**attempt, self.max_backoff_s) * (0.5 + random.random() / 2)

    def _check_model(self, model: str, api_base: str | None) -> dict[str, Any]:
        """Fail fast, before any call, on a model litellm cannot route or whose key is not set.

        Returns extra request arguments: a placeholder key for an OpenAI-compatible server at
        `api_base` that needs none (litellm's OpenAI client insists on one)."""
        if (model, api_base) in self._checked_models:
            return self._checked_models[model, api_base]
        from . import local, mockllm

        lit = _litellm()
        extra: dict[str, Any] = {}
        if model.startswith(LOCAL_PREFIX):
            if model != local.DEFAULT_MODEL:
                raise InputError(
                    f"unknown local model '{model}'", field="model", fix=f"the embedded model is {local.DEFAULT_MODEL}"
                )
        elif model.startswith(MOCK_PREFIX):
            if model not in (mockllm.MODEL, mockllm.EMBED_MODEL):
                raise InputError(
                    f"unknown mock model '{model}'",
                    field="model",
                    fix=f"the mock is {mockllm.MODEL} (embeddings: {mockllm.EMBED_MODEL})",
                )
        elif model.startswith(ghmodels.PREFIX):
            extra = ghmodels.request_kwargs(model, api_base)
        elif interactive(model):
            raise InputError(
                f"model '{model}' logs in interactively (an OAuth device flow), which a CI run cannot do",
                field="model",
                fix="use a model the provider's API key reaches (openai/..., github/..., anthropic/...)",
            )
        else:
            try:
                lit.get_llm_provider(model)
            except Exception:
                raise InputError(
                    f"model '{model}' names no provider litellm knows",
                    field="model",
                    fix="use provider/model, for example openai/gpt-4o-mini or local/gemma-3-270m",
                ) from None
            missing = lit.validate_environment(model).get("missing_keys") or []
            if api_base:
                missing = [k for k in missing if not k.endswith("_API_BASE")]
                if missing:
                    extra["api_key"] = "no-key"
            elif missing:
                raise InputError(
                    f"model '{model}' needs {', '.join(missing)} in the environment",
                    field="model",
                    fix=f"export {missing[0]}=... (or set promptci.api_base for a local server)",
                )
        self._checked_models[model, api_base] = extra
        return extra


def _content(response: Any) -> str:
    return (response.choices[0].message.content or "").strip()


def _usage(model: str, response: Any) -> dict[str, Any]:
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    if in_process(model):
        cost: float | None = 0.0
    else:
        try:
            cost = float(_litellm().completion_cost(completion_response=response))
        except Exception:
            cost = None  # litellm has no price for this model
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "cost_usd": cost}


def _retry_after(exc: Exception) -> float | None:
    """Seconds the server asks to wait: GitHub Models' `x-ratelimit-timeremaining`, else `Retry-After`."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "litellm_response_headers", None)
    if not headers:
        return None
    for name in ("x-ratelimit-timeremaining", "retry-after"):
        try:
            return max(0.0, float(headers.get(name)))
        except (TypeError, ValueError):
            continue
    return None


def _describe(exc: Exception) -> str:
    """A one-line, secret-free description of a provider error: 'ErrorType: first line'."""
    lines = str(getattr(exc, "message", "") or exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    name = type(exc).__name__
    for prefix in ("litellm.", f"{name}:", "litellm.", f"{name}:"):
        text = text.removeprefix(prefix).strip()
    return redact(f"{name}: {text}", limit=300 + len(name) + 2)
