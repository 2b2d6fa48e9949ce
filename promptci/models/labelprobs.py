"""A label's probability read from a model's answer: from the first token's top logprobs, or all on the label the
answer names; and a label drawn from them as a sampler would draw it. The door (models/llm.py) asks for them; these are
the arithmetic, with no model and no network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def top_logprobs(response: Any) -> list[dict[str, Any]]:
    """The alternatives for the first answer token, as plain dicts (token, logprob)."""
    logprobs = getattr(response.choices[0], "logprobs", None)
    if logprobs is None:
        return []
    content = logprobs.get("content") if isinstance(logprobs, dict) else getattr(logprobs, "content", None)
    if not content:
        return []
    first = content[0]
    tops = first.get("top_logprobs") if isinstance(first, dict) else getattr(first, "top_logprobs", None)
    out = []
    for entry in tops or []:
        token = entry.get("token") if isinstance(entry, dict) else entry.token
        logprob: Any = entry.get("logprob") if isinstance(entry, dict) else entry.logprob  # a number, as sent
        out.append({"token": token, "logprob": float(logprob)})
    return out


def first_token_probs(tops: list[dict[str, Any]], labels: Sequence[str], output: str) -> dict[str, float]:
    """Each label gets the probability of the best top-logprob token that starts it."""
    scores: dict[str, float | None] = {}
    for label in labels:
        matches = [e["logprob"] for e in tops if e["token"].strip() and label.startswith(e["token"].strip())]
        scores[label] = max(matches) if matches else None
    if all(v is None for v in scores.values()):
        return one_hot(labels, output)
    return softmax(scores)


def softmax(logprobs: dict[str, float | None]) -> dict[str, float]:
    finite = [v for v in logprobs.values() if v is not None and math.isfinite(v)]
    if not finite:
        return {k: 1.0 / len(logprobs) for k in logprobs}
    top = max(finite)
    weights = {k: (math.exp(v - top) if v is not None and math.isfinite(v) else 0.0) for k, v in logprobs.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def one_hot(labels: Sequence[str], answer: str) -> dict[str, float]:
    """All probability on the label the answer names (case-insensitive); uniform when it names none."""
    wanted = answer.strip().lower()
    chosen = next((lab for lab in labels if lab.lower() == wanted), None)
    chosen = chosen or next((lab for lab in labels if wanted.startswith(lab.lower())), None)
    if chosen is None:
        return {lab: 1.0 / len(labels) for lab in labels}
    return {lab: float(lab == chosen) for lab in labels}


def answer(probs: dict[str, float], raw: str) -> str:
    """The most probable label, or the raw answer when the model gave no evidence for any label."""
    if max(probs.values()) > min(probs.values()):
        return max(probs, key=probs.__getitem__)
    return raw


def tempered(probs: dict[str, float], temperature: float, top_p: float | None) -> dict[str, float] | None:
    """The chance of each label as the answer of a model sampling at `temperature` and `top_p`, from its
    probabilities at temperature 1: p^(1/T) renormalised, then cut to the most likely labels whose mass reaches
    top_p and renormalised again. Whole labels are tempered, not each token (for one-token labels this is exactly
    the sampler's chance given that it answers with a label). None: the answer is not a sample (temperature 0) or
    the method gave no evidence (all labels equal)."""
    top = max(probs.values())
    if temperature <= 0 or top <= min(probs.values()):  # greedy: the most probable label, whatever top_p keeps
        return None
    weights = {k: (p / top) ** (1.0 / temperature) if p > 0 else 0.0 for k, p in probs.items()}
    if top_p is not None and top_p < 1:
        total, kept, mass = sum(weights.values()), set(), 0.0
        for k in sorted(weights, key=weights.__getitem__, reverse=True):
            if mass >= top_p * total:
                break
            kept.add(k)
            mass += weights[k]
        weights = {k: w if k in kept else 0.0 for k, w in weights.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def sample(probs: dict[str, float], temperature: float, top_p: float | None, u: float) -> str | None:
    """The label drawn with `u` (uniform in [0, 1)) by inverse CDF over `tempered`'s chances, in the labels' order:
    two prompts given one u draw alike where their chances are alike (the common draw that shared seeds give
    generated answers, llm.py). None where `tempered` is None (the most probable label stands)."""
    chances = tempered(probs, temperature, top_p)
    if chances is None:
        return None
    edge = u
    for label, chance in chances.items():
        if chance > 0 and edge < chance:
            return label
        edge -= chance
    return max(chances, key=chances.__getitem__)  # u within rounding of 1
