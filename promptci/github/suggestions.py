"""A suggested prompt as review `suggestion` blocks: one per changed run of lines of the head file.

GitHub accepts a review comment only on lines inside the pull request's diff hunks (else 422 "must be
part of the diff"), and a multi-line one only inside a single hunk. `commentable()` finds those hunks
the way `git diff` shows them (3 lines of context); a suggestion that does not fit one is left to the
plain diff in the report.

The optimizer rewrites the file as the merge commit has it, but a review comment's lines are those of
the pull request's head commit: when the base branch added lines above the change since the branch was
cut, the two differ. `on_head()` moves each suggestion to the head's lines, and drops one whose lines the
head does not have as they are.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, replace

from ..rendering import escape

CONTEXT = 3


@dataclass(frozen=True)
class Suggestion:
    start: int  # 1-based lines of the head file, inclusive
    end: int
    lines: list[str]  # what replaces them (empty: delete them)

    def body(self, marker: str) -> str:
        """The review comment: the lines as the block GitHub commits, blank lines at its end kept (inside a YAML block
        scalar they are the prompt's own text: dropping one would commit another prompt than the one judged)."""
        text = escape.printable("".join(self.lines))
        fence = escape.fence(text)
        inner = text if not text or text.endswith("\n") else f"{text}\n"
        return f"{marker}\n{fence}suggestion\n{inner}{fence}\n"


def commentable(old: str | None, new: str) -> list[range]:
    """The head file's line ranges (1-based) that the pull request's diff shows."""
    a, b = (old or "").splitlines(), new.splitlines()
    if old is None:
        return [range(1, len(b) + 1)]
    ranges = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(CONTEXT):
        first, last = group[0][3], group[-1][4]
        if last > first:
            ranges.append(range(first + 1, last + 1))
    return ranges


def suggestions(head: str, suggested: str, allowed: list[range]) -> tuple[list[Suggestion], int]:
    """The suggestions that fit inside one allowed range each, and how many changes did not fit."""
    a, b = head.splitlines(keepends=True), suggested.splitlines(keepends=True)
    fit, left_out = [], 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2:  # a pure insertion: suggest it as a replacement of the line before (or after) it
            if i1 > 0:
                s = Suggestion(i1, i1, [a[i1 - 1]] + b[j1:j2])
            elif a:
                s = Suggestion(1, 1, b[j1:j2] + [a[0]])
            else:
                left_out += 1
                continue
        else:
            s = Suggestion(i1 + 1, i2, b[j1:j2])
        if any(s.start in r and s.end in r for r in allowed):
            fit.append(s)
        else:
            left_out += 1
    return fit, left_out


def on_head(old: str | None, merged: str, head: str, suggested: str) -> list[Suggestion]:
    """The suggestions that turn `merged` (the file in the merge commit, which the pull request's diff from
    `old` shows) into `suggested`, on the lines of `head` (the file in the pull request's head commit)."""
    fit, _ = suggestions(merged, suggested, commentable(old, merged))
    where: dict[int, int] = {}  # a merged line -> the same line in head (1-based), where it is unchanged
    matcher = difflib.SequenceMatcher(None, merged.splitlines(), head.splitlines(), autojunk=False)
    for i, j, n in matcher.get_matching_blocks():
        where.update((i + k + 1, j + k + 1) for k in range(n))
    moved = []
    for s in fit:
        span = range(s.start, s.end + 1)
        lines = [where[n] for n in span if n in where]
        if len(lines) == len(span) and lines == list(range(lines[0], lines[0] + len(lines))):
            moved.append(replace(s, start=lines[0], end=lines[-1]))
    return moved


def marker(path: str, suggested: str) -> str:
    """Names the suggestion, so a re-run that suggests the same prompt again does not repeat it."""
    digest = hashlib.sha256(f"{path}\0{suggested}".encode()).hexdigest()[:16]
    return f"<!-- promptci:suggestion {digest} -->"
