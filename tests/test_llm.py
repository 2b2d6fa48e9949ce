"""The model layer: label scoring and generation on the real embedded model (integration tier); the cache,
retries and errors on the mock model, which takes the same path through litellm."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from pathlib import Path

import pytest

from promptci import promptfile
from promptci.errors import InfraError, InputError, redact
from promptci.files import evalset
from promptci.models import local, mockllm
from promptci.models.labelprobs import first_token_probs, top_logprobs
from promptci.models.labelscore import LabelScorer
from promptci.models.llm import ModelClient, Params

from .helpers import EXAMPLE

MODEL = local.DEFAULT_MODEL
MOCK = mockllm.MODEL
SENTIMENT = [
    {
        "role": "user",
        "content": "Review: I loved it.\nSentiment: positive\n\nReview: Awful film."
        "\nSentiment: negative\n\nReview: What a great film!\nSentiment:",
    }
]


def arun(coro):
    return asyncio.run(coro)


def example_items(n: int) -> tuple[promptfile.PromptFile, list[evalset.Item]]:
    prompt = promptfile.load(EXAMPLE)
    return prompt, list(evalset.load_pool(prompt).items[:n])


@pytest.mark.integration
def test_exact_label_scores_are_probabilities(tmp_path: Path) -> None:
    client = ModelClient(cache_path=tmp_path)
    scores = arun(client.score_labels(MODEL, SENTIMENT, ["positive", "negative", "neutral"]))
    assert scores.method == "exact" and scores.best == "positive" == scores.output
    assert math.isclose(sum(scores.probs.values()), 1.0, rel_tol=1e-9)
    assert scores.probs["positive"] > 0.5 > scores.probs["neutral"]
    assert scores.usage.prompt_tokens > 10 and not scores.usage.cached


@pytest.mark.integration
def test_kv_reuse_gives_the_same_numbers_as_a_fresh_evaluation() -> None:
    """Scoring labels together (the prompt's KV state reused) equals scoring each alone, from any prior state."""
    engine = local.engine()
    prompt = local.join_messages(SENTIMENT)
    together, _, _ = engine.score(prompt, ["positive", "negative", "neutral"])
    engine.score("Something else entirely, to leave other tokens in the cache.", ["a", "b"])
    alone = [engine.score(prompt, [label])[0][0] for label in ["positive", "negative", "neutral"]]
    llm = engine.llm  # a scorer of its own holds nothing yet: a fresh evaluation
    words = ["neutral", "negative", "positive"]
    ids = [llm.tokenize(local.continuation(prompt, w).encode(), add_bos=False, special=False) for w in words]
    scorer = LabelScorer(llm)
    fresh = scorer.score(llm.tokenize(prompt.encode(), add_bos=True, special=False), ids)
    scorer.close()
    assert together == pytest.approx(alone, abs=1e-3)
    assert together == pytest.approx(list(reversed(fresh)), abs=1e-3)


@pytest.mark.integration
def test_labels_in_one_batch_score_as_one_token_at_a_time() -> None:
    """Every label in its own sequence of one batch (models/labelscore.py) gives what evaluating each label token
    after the prompt one at a time gives, up to the few tenths of a nat by which llama.cpp's numbers move with the
    shape of a batch (a label read from another label's sequence, or at the wrong position, is off by nats)."""
    import llama_cpp
    import numpy as np

    prompt, items = example_items(3)
    assert isinstance(prompt.settings.labels, list)
    labels = list(prompt.settings.labels)
    engine = local.engine()
    for item in items:
        text = local.join_messages(prompt.render(item.data))
        batched, _, _ = engine.score(text, labels)
        llm = engine.llm
        one_at_a_time = []
        for label in labels:
            llm.reset()
            llm.eval(llm.tokenize(text.encode(), add_bos=True, special=False))
            total = 0.0
            for token in llm.tokenize(local.continuation(text, label).encode(), add_bos=False, special=False):
                last = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
                total += float(llm.logits_to_logprobs(last)[token])
                llm.eval([token])
            one_at_a_time.append(total)
        assert max(len(llm.tokenize(lab.encode(), add_bos=False)) for lab in labels) > 2  # several tokens a label
        assert batched == pytest.approx(one_at_a_time, abs=0.35)
        assert batched.index(max(batched)) == one_at_a_time.index(max(one_at_a_time))


@pytest.mark.integration
def test_a_fault_while_scoring_labels_leaves_no_label_in_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever raises between copying the prompt into the labels' sequences and reading them, those sequences
    are emptied: a label left there would be read by the next prompt's label of the same sequence."""
    import llama_cpp

    from promptci.models.labelscore import SEQUENCES

    llm = local.engine().llm
    scorer = LabelScorer(llm)
    tokens = llm.tokenize(b"The answer is", add_bos=True, special=False)
    labels = [llm.tokenize(f" {w}".encode(), add_bos=False, special=False) for w in ("search_screening_event", "ok")]
    assert len(labels[0]) > 1
    real, calls = scorer._logprobs, []

    def failing(i: int):  # the first read of a label's token fails
        calls.append(i)
        if len(calls) == 2:
            raise MemoryError("as numpy might")
        return real(i)

    monkeypatch.setattr(scorer, "_logprobs", failing)
    with pytest.raises(MemoryError):
        scorer.score(tokens, labels)
    memory = llama_cpp.llama_get_memory(scorer._ctx)
    assert [llama_cpp.llama_memory_seq_pos_max(memory, s) for s in range(1, SEQUENCES)] == [-1] * (SEQUENCES - 1)
    scorer.close()


@pytest.mark.integration
def test_label_scoring_agrees_with_generation(tmp_path: Path) -> None:
    """On real items, the label the model generates greedily is the label that scores highest."""
    prompt, items = example_items(12)
    assert isinstance(prompt.settings.labels, list)
    labels = list(prompt.settings.labels)
    client = ModelClient(cache_path=tmp_path)

    async def both(item: evalset.Item) -> tuple[str, str]:
        messages = prompt.render(item.data)
        scored = await client.score_labels(MODEL, messages, labels)
        generated = await client.complete(MODEL, messages, Params(max_tokens=8, stop=("\n",)))
        return scored.best, generated.text

    pairs = [arun(both(item)) for item in items]
    comparable = [(best, text) for best, text in pairs if text in labels]
    assert len(comparable) >= 8, pairs
    agree = sum(best == text for best, text in comparable)
    assert agree >= len(comparable) - 1, pairs


def test_a_cache_hit_costs_no_call(tmp_path: Path) -> None:
    first = ModelClient(cache_path=tmp_path)
    a = arun(first.score_labels(MOCK, SENTIMENT, ["positive", "negative"]))
    b = arun(first.complete(MOCK, SENTIMENT, Params(max_tokens=3)))
    first.close()
    calls = mockllm.MockProvider.calls
    second = ModelClient(cache_path=tmp_path)  # a new client, as in a second process
    a2 = arun(second.score_labels(MOCK, SENTIMENT, ["positive", "negative"]))
    b2 = arun(second.complete(MOCK, SENTIMENT, Params(max_tokens=3)))
    assert mockllm.MockProvider.calls == calls, "a cache hit reached the model"
    assert a2.usage.cached and b2.usage.cached and second.counters.calls == 0 and second.counters.cache_hits == 2
    assert (a2.probs, b2.text) == (a.probs, b.text)
    assert a2.usage.prompt_tokens == a.usage.prompt_tokens  # hits keep the tokens they once cost
    # anything in the key changes the answer's identity: other labels, other parameters
    arun(second.score_labels(MOCK, SENTIMENT, ["negative", "positive"]))
    arun(second.complete(MOCK, SENTIMENT, Params(max_tokens=4)))
    assert mockllm.MockProvider.calls == calls + 2


def test_no_cache_always_calls(tmp_path: Path) -> None:
    client = ModelClient(use_cache=False)
    calls = mockllm.MockProvider.calls
    for _ in range(2):
        arun(client.complete(MOCK, SENTIMENT, Params(max_tokens=2)))
    assert mockllm.MockProvider.calls == calls + 2 and client.counters.cache_hits == 0


def test_the_mock_answers_the_label_named_last_and_plants_answers(tmp_path: Path) -> None:
    """The mock's rules, which the fast tier's flow tests steer by: exact scores through litellm, no cost."""
    client = ModelClient(cache_path=tmp_path)
    scores = arun(client.score_labels(MOCK, SENTIMENT, ["positive", "negative", "neutral"]))
    assert scores.method == "exact" and scores.best == "negative"  # 'negative' is the last label the text names
    assert math.isclose(sum(scores.probs.values()), 1.0, rel_tol=1e-9) and scores.probs["negative"] > 0.9
    assert scores.usage.cost_usd == 0.0 and scores.usage.prompt_tokens > 0
    planted = [{"role": "user", "content": "Say it.\nANSWER: forty-two\nmore"}]
    assert arun(client.complete(MOCK, planted)).text == "forty-two"
    assert arun(client.complete(MOCK, SENTIMENT)).text in mockllm.SENTENCES
    vectors = arun(client.embed(mockllm.EMBED_MODEL, ["the cat sat", "the cat sat down", "stock prices fell"]))
    near, far = (sum(a * b for a, b in zip(vectors[0], v)) for v in vectors[1:])
    assert near > 0.8 > far


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_closed_port_is_retried_then_infra_error(tmp_path: Path) -> None:
    client = ModelClient(cache_path=tmp_path, retries=2, backoff_s=0.05)
    started = time.perf_counter()
    with pytest.raises(InfraError, match=r"unreachable after 3 attempts.*Connection error"):
        arun(client.complete("openai/some-model", SENTIMENT, Params(api_base=f"http://127.0.0.1:{_closed_port()}/v1")))
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize(
    "model, words",
    [
        ("nosuchprovider/model", "names no provider litellm knows"),
        ("local/gemma-99b", "unknown local model"),
        ("openai/gpt-4o-mini", "needs OPENAI_API_KEY in the environment"),
        ("github_copilot/gpt-4o", "logs in interactively"),  # litellm's lookup alone would start a device login
        ("chatgpt/gpt-4o", "logs in interactively"),
    ],
)
def test_models_that_cannot_work_fail_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, words: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = ModelClient(cache_path=tmp_path)
    with pytest.raises(InputError, match=words):
        arun(client.complete(model, SENTIMENT))
    assert client.counters.calls == 0


@pytest.mark.integration
def test_prompt_longer_than_the_context_is_an_input_error(tmp_path: Path) -> None:
    client = ModelClient(cache_path=tmp_path)
    long = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(InputError, match="context"):
        arun(client.score_labels(MODEL, long, ["a", "b"]))


def test_top_logprobs_map_to_labels() -> None:
    """Parsing of a provider's top_logprobs (shape of OpenAI's chat completion; no provider is reachable here)."""
    from litellm.types.utils import ModelResponse

    response = ModelResponse(
        choices=[
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "play_music"},
                "logprobs": {
                    "content": [
                        {
                            "token": "play",
                            "logprob": -0.2,
                            "bytes": None,
                            "top_logprobs": [
                                {"token": "play", "logprob": -0.2, "bytes": None},
                                {"token": " get", "logprob": -1.9, "bytes": None},
                                {"token": "xyz", "logprob": -3.0, "bytes": None},
                            ],
                        }
                    ]
                },
            }
        ]
    )
    tops = top_logprobs(response)
    probs = first_token_probs(tops, ["play_music", "get_weather", "rate_book"], "play_music")
    assert probs["rate_book"] == 0.0
    assert probs["play_music"] == pytest.approx(math.exp(-0.2) / (math.exp(-0.2) + math.exp(-1.9)))


def test_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", "sk-very-secret-value-123")
    assert redact("failed with key sk-very-secret-value-123 at host") == "failed with key *** at host"
