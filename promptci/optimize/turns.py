"""Demonstrations for chat prompts, as user/assistant turns.

A chat prompt whose query is a user turn with no literal text around its placeholders (`content: "{{input}}"`)
gives a demonstration no shape to be written in (units.Shape): it is shown as a conversation instead, a user turn
with an item's input followed by an assistant turn with its gold answer, just before the query turn. Turns already
there in that form (user turns of fixed text, each answered by an assistant turn, right before the query) are the
prompt's demonstrations, and a proposal replaces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..files.evalset import Item
from ..promptfile import Message, PromptFile, placeholders, substitute


@dataclass(frozen=True)
class Turns:
    """Where a chat prompt's demonstration turns are: messages[start:query] are (user, assistant) pairs."""

    start: int
    query: int
    pairs: tuple[tuple[str, str], ...]


def find(prompt: PromptFile) -> Turns | None:
    """The prompt's demonstration turns (none yet: an empty run before the query), or None when its query is not
    a user turn of placeholders alone."""
    messages = prompt.spec.messages
    query = next((n for n in range(len(messages) - 1, -1, -1) if placeholders(messages[n].content)), None)
    if query is None or messages[query].role != "user" or _literal(messages[query].content):
        return None
    start = query
    while start >= 2 and _pair(messages[start - 2], messages[start - 1]):
        start -= 2
    pairs = tuple((messages[n].content, messages[n + 1].content) for n in range(start, query, 2))
    return Turns(start=start, query=query, pairs=pairs)


def pair(prompt: PromptFile, turns: Turns, item: Item) -> tuple[str, str]:
    """One demonstration: the query turn filled with the item's input, and its gold answer."""
    return substitute(prompt.spec.messages[turns.query].content, item.data).strip(), str(item.expected).strip()


def with_pairs(prompt: PromptFile, turns: Turns, pairs: Sequence[tuple[str, str]]) -> str:
    """The prompt file's text with its demonstration turns replaced by these."""
    messages: list[tuple[str, str]] = [(m.role, m.content) for m in prompt.spec.messages]
    shown = [turn for user, answer in pairs for turn in (("user", user), ("assistant", answer))]
    return prompt.with_messages(messages[: turns.start] + shown + messages[turns.query :])


def _literal(content: str) -> bool:
    """Whether a query has literal text around its placeholders (then demonstrations are written in its shape)."""
    rest = content
    for name in placeholders(content):
        rest = rest.replace("{{" + name + "}}", " ")
    return any(ch.isalnum() for ch in rest)


def _pair(user: Message, answer: Message) -> bool:
    """Whether two turns are a demonstration: a user turn of fixed text answered by an assistant turn."""
    fixed = not (placeholders(user.content) or placeholders(answer.content))
    said = bool(user.content.strip() and answer.content.strip())
    return user.role == "user" and answer.role == "assistant" and fixed and said
