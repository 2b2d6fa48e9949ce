"""Escaping for everything a pull request brings into a report: prompt text, pool data, model output.

GitHub renders comment Markdown with a subset of HTML. Text from a pull request must not add HTML
(`<img onerror>`, a stray `</details>` that closes our section), notify people (`@org/team`), become a
link under the bot's name (GitHub autolinks plain URLs, `www.` names, e-mail addresses and `#123`/`GH-123`
references), close our code fences, or break a table. Three shapes cover every place the templates put such text:
`inline` (a table cell or a sentence), `code` (an inline code span) and `block` (a fenced block whose
fence is longer than any backtick run inside it, so nothing inside can close it).
"""

from __future__ import annotations

import html
import re

ZERO_WIDTH_SPACE = "\u200b"
_MENTION = re.compile(r"@(?=\\?[A-Za-z0-9_-])")  # a mention, a team, an e-mail's domain (`_` may be escaped)
_AUTOLINK = re.compile(r"(?<=[A-Za-z]:)(?=//)|(?<=www)(?=\.)|(?<=#)(?=\d)|(?<=GH-)(?=\d)", re.IGNORECASE)
"""Where GitHub's autolinks begin (`https://`, `www.`, `#123`, `GH-123`), after any character (GitHub links
`_www.x.com` too): a zero-width space there leaves the text as it reads and makes no link (code spans and blocks
are never autolinked)."""
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>])")
_LINE_START = re.compile(r"^(\d{1,9}(?=[.)])|(?=[-=]))")  # where a list marker or setext underline would begin
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters, and the bidirectional controls that make `evil\u202eyml.exe` display as another name."""


def printable(text: object) -> str:
    """The text with line endings as \\n and control characters (NUL, escape sequences, bidi overrides) as U+FFFD."""
    return _CONTROL.sub("\ufffd", str(text).replace("\r\n", "\n").replace("\r", "\n"))


def flat(text: object, limit: int) -> str:
    """The text on one line (whitespace runs as one space, control characters replaced), cut to `limit`."""
    line = " ".join(printable(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def inline(text: object, limit: int = 200) -> str:
    """One line of plain text safe anywhere in Markdown: HTML escaped, no mentions or autolinks, no Markdown syntax."""
    line = html.escape(_AUTOLINK.sub(ZERO_WIDTH_SPACE, flat(text, limit)), quote=True)
    line = _MARKDOWN.sub(r"\\\1", line)
    line = _LINE_START.sub(r"\1\\", line)
    return _MENTION.sub("@" + ZERO_WIDTH_SPACE, line)


def code(text: object, limit: int = 200, *, table: bool = False) -> str:
    """An inline code span; backticks inside are outnumbered by the delimiters.

    In a table cell (`table=True`) a pipe would end the cell even inside the span (GitHub's tables
    split cells first), so it is escaped as `\\|`, which GitHub shows as a plain pipe there.
    """
    line = flat(text, limit)
    if table:
        line = line.replace("|", "\\|")
    ticks = "`" * (_longest_run(line, "`") + 1)
    pad = " " if line.startswith("`") or line.endswith("`") or not line else ""
    return f"{ticks}{pad}{line}{pad}{ticks}"


def block(text: object, language: str = "") -> str:
    """A fenced code block that nothing inside can close (GitHub renders no HTML or mentions inside one)."""
    body = printable(text).rstrip("\n")
    return f"{fence(body)}{_language(language)}\n{body}\n{fence(body)}"


def fence(body: str) -> str:
    """A code fence longer than any backtick run in `body`, so nothing inside can close it."""
    return "`" * max(3, _longest_run(body, "`") + 1)


def _language(language: str) -> str:
    return re.sub(r"[^A-Za-z0-9_+-]", "", language)


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", text)
    return max((len(r) for r in runs), default=0)
