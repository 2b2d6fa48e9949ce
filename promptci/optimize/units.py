"""A prompt as a sequence of units the optimizer may edit one at a time (ALGORITHMS.md §2.2).

Each message is cut into paragraphs at blank lines, then:
- a paragraph that reads a template variable is the *query* (frozen: it is where items go in);
- a paragraph that ends on the query's answer cue (``Intent: play_music`` after a query ending
  ``Intent:``) is a *demonstration*, one unit however many lines it has;
- any other paragraph is split into lines; header lines (``###Tips###``, ``# Rules``) are frozen,
  list items are one unit each, and other lines are split into sentences with pysbd.
Every unit keeps its trailing separator, so joining the units gives the message back byte for byte,
and an edit replaces one unit's body and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any, Mapping, Sequence

from ..promptfile import PromptFile, placeholders_of, substitute


class UnitKind(StrEnum):
    SENTENCE = "sentence"  # instruction text, rewritten by the optimizer model
    DEMO = "demo"  # a demonstration, swapped for a training item
    HEADER = "header"
    QUERY = "query"  # the templated line the item fills
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
    query: str | None  # the template paragraph items are rendered into
    cue: str | None  # the text a demonstration's answer follows, e.g. "Intent:"

    @property
    def editable(self) -> list[int]:
        return [i for i, u in enumerate(self.units) if u.editable]

    def contents(self) -> list[str]:
        """The message contents the units make up."""
        out = [""] * self.messages
        for unit in self.units:
            out[unit.message] += unit.body + unit.trail
        return out

    def with_body(self, index: int, body: str) -> "Layout":
        units = list(self.units)
        units[index] = replace(units[index], body=body)
        return replace(self, units=tuple(units))

    def demonstration(self, data: Mapping[str, Any], answer: str) -> str:
        """A demonstration made from a pool item: the query rendered with its data, then its gold answer."""
        if self.query is None or self.cue is None:
            raise ValueError("this prompt has no demonstrations")
        rendered = substitute(self.query, data)
        return f"{rendered.rstrip()} {answer}"


def layout(prompt: PromptFile) -> Layout:
    """Cut a prompt's messages into units."""
    contents = [m.content for m in prompt.spec.messages]
    query = next((p for c in contents for p in _split(c)[::2] if _TEMPLATE.search(p)), None)
    cue = _cue(query)
    units: list[Unit] = []
    for m, content in enumerate(contents):
        pieces = _split(content)
        for p in range(0, len(pieces), 2):
            paragraph, separator = pieces[p], pieces[p + 1] if p + 1 < len(pieces) else ""
            units += _paragraph_units(m, paragraph, separator, cue)
    return Layout(units=tuple(units), messages=len(contents), query=query, cue=cue)


def _split(content: str) -> list[str]:
    return _PARAGRAPHS.split(content)


def _cue(query: str | None) -> str | None:
    """The answer cue: what the query's last line says after its last template expression."""
    if query is None:
        return None
    tail = _TEMPLATE.split(query)[-1]
    last = tail.strip().splitlines()[-1].strip() if tail.strip() else ""
    return last or None


def _is_demo(paragraph: str, cue: str | None) -> bool:
    if not cue or _TEMPLATE.search(paragraph):
        return False
    lines = paragraph.strip().splitlines()
    return len(lines) >= 2 and lines[-1].strip().startswith(cue) and len(lines[-1].strip()) > len(cue)


def _paragraph_units(message: int, paragraph: str, separator: str, cue: str | None) -> list[Unit]:
    if not paragraph.strip():
        return [Unit(message, "", paragraph + separator, UnitKind.BLANK)]
    if _TEMPLATE.search(paragraph):
        return [Unit(message, paragraph, separator, UnitKind.QUERY)]
    if _is_demo(paragraph, cue):
        return [Unit(message, paragraph, separator, UnitKind.DEMO)]
    units: list[Unit] = []
    lines = paragraph.splitlines(keepends=True)
    for n, line in enumerate(lines):
        last = n == len(lines) - 1
        if _HEADER.match(line) or _LIST_ITEM.match(line) or not line.strip():
            kind = UnitKind.HEADER if _HEADER.match(line) else UnitKind.SENTENCE if line.strip() else UnitKind.BLANK
            body = line.rstrip("\n")
            units.append(Unit(message, body, line[len(body):] + (separator if last else ""), kind))
            continue
        sentences = _sentences(line)
        for s, sentence in enumerate(sentences):
            body = sentence.rstrip()
            trail = sentence[len(body):] + (separator if last and s == len(sentences) - 1 else "")
            units.append(Unit(message, body, trail, UnitKind.SENTENCE))
    return units


def _sentences(text: str) -> list[str]:
    """pysbd's sentences with their trailing whitespace; they join back to `text` exactly."""
    spans = _segmenter().segment(text)
    pieces = [text[s.start:s.end] for s in spans]
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
        if unit.kind in (UnitKind.DEMO, UnitKind.QUERY):
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
        units[span[0]:span[-1] + 1] = [new]
    else:
        first_message = units[0].message if units else 0
        units.insert(0, Unit(first_message, instruction, "\n\n", UnitKind.SENTENCE))
    return Layout(units=tuple(units), messages=lay.messages, query=lay.query, cue=lay.cue)


def same_variables(before: PromptFile, after: Sequence[str]) -> bool:
    """Whether new message contents hold exactly the placeholders the prompt holds now."""
    return placeholders_of(after) == before.variables
