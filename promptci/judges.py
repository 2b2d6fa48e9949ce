"""GitHub Models' built-in judges (`uses: github/<name>`), with GitHub's scales and choices, our own words.

gh-models runs each as an `llm` evaluator on `openai/gpt-4o`: a system prompt, a user prompt with the
row's `{{input}}`, `{{expected}}` and the model's `{{completion}}` filled in, and five choices "1" to
"5" scored 0, 0.25, 0.5, 0.75 and 1. The choices, scores, placeholders and the model are GitHub's
(cmd/eval/builtins.go); the prompts below were written for promptci and ask for the digit alone.
"""

from __future__ import annotations

from dataclasses import dataclass

STARS = (("1", 0.0), ("2", 0.25), ("3", 0.5), ("4", 0.75), ("5", 1.0))

_SYSTEM = (
    "You grade one answer of an AI system on a single quality, on a scale of 1 (worst) to 5 (best). "
    "Reply with the grade alone: one digit from 1 to 5, no other text."
)


@dataclass(frozen=True)
class Builtin:
    """One built-in judge: what it reads and how it asks."""

    name: str
    reads: tuple[str, ...]  # row fields it fills in besides the completion
    system: str
    prompt: str
    choices: tuple[tuple[str, float], ...] = STARS
    answer_tokens: int = 8  # the prompt asks for one digit: where the judge runs here, its answer stops here


def _ask(quality: str, scale: str, data: str) -> str:
    return f"Quality to grade: {quality}\n\nScale:\n{scale}\n\n{data}\n\nGrade (1-5):"


BUILTINS: dict[str, Builtin] = {
    "similarity": Builtin(
        "similarity",
        ("input", "expected"),
        _SYSTEM,
        _ask(
            "how closely the given answer matches the reference answer in meaning and content.",
            "5 = the same meaning and facts\n4 = mostly the same, small gaps\n3 = partly the same\n"
            "2 = mostly different\n1 = unrelated or contradicting",
            "Question: {{input}}\nReference answer: {{expected}}\nGiven answer: {{completion}}",
        ),
    ),
    "coherence": Builtin(
        "coherence",
        ("input",),
        _SYSTEM,
        _ask(
            "coherence: whether the answer's ideas follow in a clear, logical order that a reader can follow, "
            "and whether it addresses the question.",
            "5 = clear, well ordered, every step follows\n4 = mostly clear and ordered\n"
            "3 = understandable but jumps or repeats\n2 = hard to follow, weak connections\n"
            "1 = disjointed words or sentences with no sense",
            "Question: {{input}}\nAnswer: {{completion}}",
        ),
    ),
    "fluency": Builtin(
        "fluency",
        (),
        _SYSTEM,
        _ask(
            "fluency: grammar, word choice and how naturally the text reads, whatever it says.",
            "5 = polished, natural and varied\n4 = fluent with rare slips\n3 = clear but plain or with some errors\n"
            "2 = frequent errors that hinder reading\n1 = barely readable",
            "Text: {{completion}}",
        ),
    ),
    "relevance": Builtin(
        "relevance",
        ("input",),
        _SYSTEM,
        _ask(
            "relevance: whether the answer addresses the question and gives the information it asks for.",
            "5 = fully answers it, with useful detail\n4 = answers it completely\n3 = answers part of it\n"
            "2 = touches the topic but does not answer\n1 = off topic",
            "Question: {{input}}\nAnswer: {{completion}}",
        ),
    ),
    "groundedness": Builtin(
        "groundedness",
        ("input", "expected"),
        _SYSTEM,
        _ask(
            "groundedness: whether every claim of the answer is supported by the context, adding nothing the "
            "context does not say.",
            "5 = fully supported and complete\n4 = supported but leaves out something relevant\n"
            "3 = mostly supported, with some unsupported detail\n2 = largely unsupported or off the context\n"
            "1 = contradicts the context or ignores it",
            "Context: {{expected}}\nQuestion: {{input}}\nAnswer: {{completion}}",
        ),
    ),
}
