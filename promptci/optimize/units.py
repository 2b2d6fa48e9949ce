"""A prompt as a sequence of units the optimizer may edit one at a time (docs/algorithms.md, "Phase 2").

Each message is cut into paragraphs at blank lines, then:
- a paragraph that reads a template variable is the *query* (frozen: it is where items go in);
- a demonstration is text in the query's own shape with an answer after it: the query with every
  ``{{variable}}`` filled and text after its last line's cue (``Utterance: …\nIntent: play_music`` for a
  query ``{{input}}\nIntent:``, or the one-line ``Find a movie like A, B: C`` for ``Find a movie like
  {{input}}:``). A paragraph in that shape is one demonstration however many lines it has; one-line
  demonstrations written just above the query, in its paragraph, are one unit each;
- any other paragraph is split into lines; header lines (``###Tips###``, ``# Rules``) are frozen,
  list items are one unit each, and other lines are split into sentences with pysbd.
Every unit keeps its trailing separator, so joining the units gives the message back byte for byte.
An edit replaces, inserts or removes whole units, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any

from ..promptfile import PromptFile, placeholders_of, substitute
from . import turns


class UnitKind(StrEnum):
    SENTENCE = "sentence"  # instruction text, rewritten by the optimizer model
    DEMO = "demo"  # a demonstration, swapped for a training item
    HEADER = "header"
    QUERY = "query"  # the templated line the item fills
    TURN = "turn"  # a whole message of a chat prompt's demonstration turns (optimize.turns): frozen
    BLANK = "blank"


EDITABLE = (UnitKind.SENTENCE, UnitKind.DEMO)

_PARAGRAPHS = re.compile(r"(\n[ \t]*\n\s*)")
_HEADER = re.compile(r"^\s*(#{1,6}\s|###.*###\s*$)")
_LIST_ITEM = re.compile(r"^\s*([-*•]|\d+[.)])\s+")
_TEMPLATE = re.compile(r"\{\{[^{}]+\}\}")  # a placeholder, as gh fills them


@dataclass(frozen=True)
class Unit:
    """One piece of one message: its text, the whitespace after it, and what kind of piece it is."""

    message: int
    body: str
    trail: str
    kind: UnitKind

    @property
    def editable(self) -> bool:
        return self.kind in EDITABLE


@dataclass(frozen=True)
class Layout:
    """A prompt's messages as units, plus what demonstrations look like in it."""

    units: tuple[Unit, ...]
    messages: int
    query: str | None  # the template text items are rendered into
    shape: Shape | None  # what a demonstration looks like: the query filled, then an answer

    @property
    def editable(self) -> list[int]:
        return [i for i, u in enumerate(self.units) if u.editable]

    def indices(self, kind: UnitKind) -> list[int]:
        return [i for i, u in enumerate(self.units) if u.kind == kind]

    def contents(self) -> list[str]:
        """The message contents the units make up."""
        out = [""] * self.messages
        for unit in self.units:
            out[unit.message] += unit.body + unit.trail
        return out

    def with_body(self, index: int, body: str) -> Layout:
        units = list(self.units)
        units[index] = replace(units[index], body=body)
        return replace(self, units=tuple(units))

    def without(self, index: int) -> Layout:
        """The layout less one unit; the unit before it takes its separator when it ended its paragraph."""
        units = list(self.units)
        gone = units.pop(index)
        if (
            index > 0
            and units[index - 1].message == gone.message
            and "\n\n" in gone.trail
            and "\n\n" not in units[index - 1].trail
        ):
            units[index - 1] = replace(units[index - 1], trail=gone.trail)
        return replace(self, units=tuple(units))

    def with_demo(self, text: str) -> Layout:
        """The layout with one more demonstration, after the last one (or just before the query)."""
        demos, query = self.indices(UnitKind.DEMO), self.indices(UnitKind.QUERY)
        if not query:
            raise ValueError("this prompt has no query to demonstrate")
        units = list(self.units)
        if demos:
            last = units[demos[-1]]
            separator = "\n\n" if "\n\n" in last.trail or "\n" in last.body.strip() else "\n"
            units.insert(demos[-1] + 1, Unit(last.message, text, separator, UnitKind.DEMO))
            if separator not in last.trail:  # the old last demonstration ended its paragraph: the new one does
                units[demos[-1]], units[demos[-1] + 1] = (
                    replace(last, trail=separator),
                    Unit(last.message, text, last.trail, UnitKind.DEMO),
                )
        else:  # a paragraph of its own just above the query
            at, message = query[0], units[query[0]].message
            if at and units[at - 1].message == message and "\n\n" not in units[at - 1].trail:
                units[at - 1] = replace(units[at - 1], trail="\n\n")
            units.insert(at, Unit(message, text, "\n\n", UnitKind.DEMO))
        return replace(self, units=tuple(units))

    def with_demos(self, texts: Sequence[str]) -> Layout:
        """The layout with its demonstrations replaced by these, in order (placed as `with_demo` places them)."""
        lay = self
        for i in reversed(self.indices(UnitKind.DEMO)):
            lay = lay.without(i)
        for text in texts:
            lay = lay.with_demo(text)
        return lay

    def demonstration(self, data: Mapping[str, Any], answer: str) -> str:
        """A demonstration made from a pool item: the query rendered with its data, then its gold answer."""
        if self.query is None or self.shape is None:
            raise ValueError("this prompt has no demonstrations")
        rendered = substitute(self.query, data)
        return f"{rendered.rstrip()} {answer}"

    def answer_of(self, demo: str) -> str | None:
        """The answer a demonstration shows (None when its shape does not say)."""
        return (self.shape.answer(demo) if self.shape else None) or None


def layout(prompt: PromptFile) -> Layout:
    """Cut a prompt's messages into units; a chat prompt's demonstration turns are one frozen unit each."""
    chat = turns.find(prompt)
    frozen = set(range(chat.start, chat.query)) if chat else set()
    contents = [m.content for m in prompt.spec.messages]
    query = next((p for c in contents for p in _split(c)[::2] if _TEMPLATE.search(p)), None)
    shape = _shape(_query_lines(query)) if query else None
    units: list[Unit] = []
    for m, content in enumerate(contents):
        if m in frozen:
            units.append(Unit(m, content, "", UnitKind.TURN))
            continue
        pieces = _split(content)
        for p in range(0, len(pieces), 2):
            paragraph, separator = pieces[p], pieces[p + 1] if p + 1 < len(pieces) else ""
            units += _paragraph_units(m, paragraph, separator, shape)
    found = next((u.body for u in units if u.kind == UnitKind.QUERY), None)
    return Layout(units=tuple(units), messages=len(contents), query=found, shape=shape)


def _query_lines(paragraph: str) -> str:
    """The templated part of the query paragraph: from its first line that reads a variable to its end."""
    lines = paragraph.splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines) if _TEMPLATE.search(line))
    return "".join(lines[first:])


MAX_DEMO_CHARS = 8000  # longer text is never taken for a demonstration (and never searched)


@dataclass(frozen=True)
class Shape:
    """What a demonstration of a query looks like: the query's literal text around its variables (whitespace
    runs as one space), each variable filled with something, then an answer after the last literal. Matched
    with plain string searches, in time linear in the text, since prompt files come from pull requests."""

    literals: tuple[str, ...]

    def answer(self, text: str) -> str | None:
        """The answer `text` shows when it is in this shape ("" when the query ends in a variable, so the answer
        cannot be told apart), else None."""
        if len(text) > MAX_DEMO_CHARS or _TEMPLATE.search(text):
            return None
        flat, (first, *middle, last) = " ".join(text.split()), self.literals
        if not flat.startswith(first):
            return None
        at = len(first)
        for literal in middle:  # every variable filled with at least one character
            found = flat.find(literal, at + 1)
            if found < 0:
                return None
            at = found + len(literal)
        end = flat.rfind(last) if last else len(flat)
        if end <= at or (last and not flat[end + len(last) :].strip()):
            return None
        return flat[end + len(last) :].strip() if last else ""


def _shape(query: str) -> Shape | None:
    """The query's shape; None when the query has no literal text to recognise a demonstration by."""
    literals = tuple(" ".join(piece.split()) for piece in _TEMPLATE.split(query.strip()))
    return Shape(literals) if any(ch.isalnum() for piece in literals for ch in piece) else None


def _split(content: str) -> list[str]:
    return _PARAGRAPHS.split(content)


def _is_demo(text: str, shape: Shape | None) -> bool:
    return shape is not None and shape.answer(text) is not None


def _paragraph_units(message: int, paragraph: str, separator: str, shape: Shape | None) -> list[Unit]:
    if not paragraph.strip():
        return [Unit(message, "", paragraph + separator, UnitKind.BLANK)]
    if _TEMPLATE.search(paragraph):
        return _query_units(message, paragraph, separator, shape)
    if _is_demo(paragraph, shape):
        return [Unit(message, paragraph, separator, UnitKind.DEMO)]
    return _text_units(message, paragraph, separator)


def _query_units(message: int, paragraph: str, separator: str, shape: Shape | None) -> list[Unit]:
    """The query (the paragraph's templated lines), the one-line demonstrations just above it one unit each,
    and any text above those as sentences."""
    query = _query_lines(paragraph)
    above = paragraph[: len(paragraph) - len(query)].splitlines(keepends=True)
    cut = len(above)
    while cut and _is_demo(above[cut - 1], shape):
        cut -= 1
    units = _text_units(message, "".join(above[:cut]).removesuffix("\n"), "\n") if cut else []
    units += [Unit(message, line.rstrip("\n"), line[len(line.rstrip("\n")) :], UnitKind.DEMO) for line in above[cut:]]
    return units + [Unit(message, query, separator, UnitKind.QUERY)]


def _text_units(message: int, paragraph: str, separator: str) -> list[Unit]:
    units: list[Unit] = []
    lines = paragraph.splitlines(keepends=True)
    for n, line in enumerate(lines):
        last = n == len(lines) - 1
        if _HEADER.match(line) or _LIST_ITEM.match(line) or not line.strip():
            kind = UnitKind.HEADER if _HEADER.match(line) else UnitKind.SENTENCE if line.strip() else UnitKind.BLANK
            body = line.rstrip("\n")
            units.append(Unit(message, body, line[len(body) :] + (separator if last else ""), kind))
            continue
        sentences = _sentences(line)
        for s, sentence in enumerate(sentences):
            body = sentence.rstrip()
            trail = sentence[len(body) :] + (separator if last and s == len(sentences) - 1 else "")
            units.append(Unit(message, body, trail, UnitKind.SENTENCE))
    return units


def _sentences(text: str) -> list[str]:
    """pysbd's sentences with their trailing whitespace; they join back to `text` exactly."""
    spans = _segmenter().segment(text)
    pieces = [text[s.start : s.end] for s in spans]
    if "".join(pieces) != text:  # pysbd normalises some input; never lose a character
        return [text]
    return pieces


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def instruction_units(lay: Layout) -> list[int]:
    """The instruction: the sentences and headers before the first demonstration or query."""
    out = []
    for i, unit in enumerate(lay.units):
        if unit.kind in (UnitKind.DEMO, UnitKind.QUERY, UnitKind.TURN):
            break
        out.append(i)
    while out and lay.units[out[-1]].kind == UnitKind.BLANK:
        out.pop()
    return out


def instruction_text(lay: Layout) -> str:
    return "".join(lay.units[i].body + lay.units[i].trail for i in instruction_units(lay)).strip()


def with_instruction(lay: Layout, instruction: str) -> Layout:
    """The layout with its instruction replaced by `instruction` (or `instruction` put first if it had none)."""
    span = instruction_units(lay)
    units = list(lay.units)
    if span:
        first, last = units[span[0]], units[span[-1]]
        same_message = span[-1] + 1 < len(units) and units[span[-1] + 1].message == last.message
        trail = "\n\n" if same_message else ""
        new = Unit(first.message, instruction, trail, UnitKind.SENTENCE)
        units[span[0] : span[-1] + 1] = [new]
    else:
        first_message = units[0].message if units else 0
        units.insert(0, Unit(first_message, instruction, "\n\n", UnitKind.SENTENCE))
    return replace(lay, units=tuple(units))


def same_variables(before: PromptFile, after: Sequence[str]) -> bool:
    """Whether new message contents hold exactly the placeholders the prompt holds now."""
    return placeholders_of(after) == before.variables
