"""A mock model for tests and dry runs: `mockllm/model` answers at once, deterministically, with no weights.

Like Inspect's `mockllm`, it is part of the product, registered with litellm as the custom provider `mockllm`
beside the embedded model (`models/local.py`), so a test drives the real path — cache, retries, usage, budgets,
scoring, the gate — and only the model's arithmetic is fake. Its behaviour is simple enough to steer:

- Label scoring: the answer is the label that occurs **last** in the prompt text (compared without case); when
  no label occurs, one chosen by a hash of the prompt. So a pool whose inputs name their answer scores high
  under a prompt that ends with the input, and low under one that lists the labels after it.
- Generation: the text after the last `ANSWER:` in the prompt when there is one (a test plants the answer),
  and when it lists alternatives (`ANSWER: Paris || Lyon`) a sampled request (temperature > 0) picks one by a hash
  of the prompt and the call's seed (the first at temperature 0), so a noisy prompt has distinct draws;
  else one of a few instruction-like sentences chosen by a hash of the prompt (what the optimizer's writer
  needs to propose something).
- `mockllm/embed`: a bag-of-words embedding (each word hashed to one of DIMENSIONS axes), so texts that share
  words are near each other and stage 1's clustering has something to find.

Every call sleeps for nothing and costs nothing; `MockProvider.calls` counts requests served.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Sequence
from typing import Any

import litellm
from litellm import CustomLLM
from litellm.types.utils import EmbeddingResponse

from . import local

PROVIDER = "mockllm"
MODEL = f"{PROVIDER}/model"
EMBED_MODEL = f"{PROVIDER}/embed"
DIMENSIONS = 64
ANSWER_CUE = "ANSWER:"
ALTERNATIVES = "||"
SENTENCES = (
    "Answer with the label only.",
    "Read the input carefully before you answer.",
    "Think about what the user wants, then give one answer.",
    "Reply with a single word.",
    "Choose the answer that fits the input best.",
)


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode("utf-8")).digest()[:8], "big")


def label_scores(prompt: str, labels: Sequence[str]) -> list[float]:
    """Each label's log-probability: the last label named in the prompt gets nearly all the mass."""
    lowered = prompt.lower()
    positions = {label: lowered.rfind(label.lower()) for label in labels if label}
    named = [label for label, at in positions.items() if at >= 0]
    chosen = (
        max(named, key=lambda label: (positions[label], len(label))) if named else labels[_hash(prompt) % len(labels)]
    )
    scores = [4.0 if label == chosen else (_hash(prompt, label) % 1000) / 1000 for label in labels]
    top = max(scores)
    total = top + math.log(sum(math.exp(s - top) for s in scores))
    return [s - total for s in scores]


def generate(prompt: str, temperature: float = 0.0, seed: int | None = None) -> str:
    """What the mock writes: a planted answer (one of its `||` alternatives when sampling), else an
    instruction-like sentence."""
    at = prompt.rfind(ANSWER_CUE)
    if at >= 0:
        planted = prompt[at + len(ANSWER_CUE) :].strip()
        line = planted.splitlines()[0] if planted else ""
        if ALTERNATIVES not in line:
            return line
        options = [o.strip() for o in line.split(ALTERNATIVES)]
        return options[_hash(prompt, str(seed or 0)) % len(options)] if temperature > 0 else options[0]
    return SENTENCES[_hash(prompt) % len(SENTENCES)]


def embed(text: str) -> list[float]:
    """A normalised bag-of-words vector; a text with no word gets one fixed axis."""
    vector = [0.0] * DIMENSIONS
    words = re.findall(r"\w+", text.lower()) or [""]
    for word in words:
        vector[_hash(word) % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


class MockProvider(CustomLLM):
    """litellm's door to the mock; `model` is the part after `mockllm/`."""

    calls = 0

    def completion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: Any,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if model != "model":
            raise litellm.NotFoundError(
                message=f"unknown mock model '{model}'; the mock is '{MODEL}'", model=model, llm_provider=PROVIDER
            )
        MockProvider.calls += 1
        started = time.perf_counter()
        params = optional_params or {}
        prompt = local.join_messages(messages)
        labels = (params.get("extra_body") or {}).get("labels")
        logprobs = None
        if labels:
            scores = label_scores(prompt, labels)
            text = labels[max(range(len(labels)), key=scores.__getitem__)]
            logprobs = local.label_logprobs(labels, scores)
        else:
            text = generate(prompt, float(params.get("temperature") or 0.0), params.get("seed"))
        tokens = len(prompt.split()) + 1, len(text.split()) + 1
        return local.respond(model_response, MODEL, text, "stop", *tokens, started, logprobs)

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        return self.completion(*args, **kwargs)

    def embedding(
        self, model: str, input: list, model_response: EmbeddingResponse, *args: Any, **kwargs: Any
    ) -> EmbeddingResponse:
        if model != "embed":
            raise litellm.NotFoundError(
                message=f"unknown mock embedding model '{model}'; it is '{EMBED_MODEL}'",
                model=model,
                llm_provider=PROVIDER,
            )
        MockProvider.calls += 1
        model_response.data = [
            {"object": "embedding", "index": i, "embedding": embed(str(text))} for i, text in enumerate(input)
        ]
        model_response.model = EMBED_MODEL
        return model_response

    async def aembedding(self, *args: Any, **kwargs: Any) -> EmbeddingResponse:
        return self.embedding(*args, **kwargs)


_handler = MockProvider()


def register() -> None:
    """Make `mockllm/...` models callable through litellm (idempotent)."""
    if not any(entry.get("provider") == PROVIDER for entry in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": PROVIDER, "custom_handler": _handler}]
