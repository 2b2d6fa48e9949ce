"""Escaping of pull-request content, checked by rendering with markdown-it-py (a CommonMark renderer; GitHub's
GFM is CommonMark plus extensions) on text Hypothesis makes up, including hostile shapes."""

from __future__ import annotations

import html
import re

from hypothesis import example, given, settings, strategies as st
from markdown_it import MarkdownIt

from promptci.rendering import escape

MD = MarkdownIt("commonmark").enable("table")
HOSTILE = st.sampled_from(
    [
        "<img src=x onerror=alert(1)>",
        "</details>",
        "<details><summary>x",
        "@octocat",
        "@org/team",
        "```",
        "````\n",
        "~~~",
        "| a | b |",
        "[link](javascript:alert(1))",
        "<!-- marker -->",
        "&amp;",
        "\\",
        "`",
        "\n\n# heading",
        "<script>",
        "</code></pre>",
    ]
)
TEXT = st.lists(st.one_of(HOSTILE, st.text(max_size=30)), max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXT)
@example("-")  # found by Hypothesis: a lone dash rendered as an empty list
@example("1. first")
@example("= heading?")
def test_inline_text_renders_as_one_plain_paragraph(text: str) -> None:
    rendered = MD.render(escape.inline(text, limit=10_000))
    tags = set(re.findall(r"</?([a-z0-9]+)", rendered))
    assert tags <= {"p"}, rendered
    assert "\n" not in escape.inline(text).strip()
    assert not re.search(r"@[A-Za-z0-9_-]", rendered)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.sampled_from(["", "yaml", "diff", "x`y <b>"]))
def test_block_renders_as_one_code_block_holding_the_text(text: str, language: str) -> None:
    rendered = MD.render(escape.block(text, language))
    assert rendered.count("<pre>") == 1 and rendered.strip().endswith("</code></pre>"), rendered
    body = html.unescape(re.sub(r"^<pre><code[^>]*>|</code></pre>\s*$", "", rendered.strip()))
    assert body.rstrip("\n") == escape.printable(text).rstrip("\n")


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_code_span_holds_the_text(text: str) -> None:
    rendered = MD.render(escape.code(text, limit=10_000))
    tags = set(re.findall(r"</?([a-z0-9]+)", rendered))
    assert tags <= {"p", "code"}, rendered
    assert rendered.count("<code>") == (1 if " ".join(text.split()) else rendered.count("<code>"))


def test_inline_truncates_and_block_outnumbers_backticks() -> None:
    assert escape.inline("x" * 500, limit=20).endswith("…") and len(escape.inline("x" * 500, limit=20)) == 20
    assert escape.block("a ```` b").startswith("`````\n")
    assert escape.inline("@octocat <b>hi</b>") == "@\u200boctocat &lt;b&gt;hi&lt;/b&gt;"


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT)
@example("a | b", "<img src=x onerror=alert(1)> | c")  # found by the report test: a pipe ended the cell mid-span
def test_code_spans_in_a_table_row_stay_in_their_cells(left: str, right: str) -> None:
    row = f"| {escape.code(left, 10_000, table=True)} | {escape.code(right, 10_000, table=True)} |"
    rendered = MD.render(f"| a | b |\n|---|---|\n{row}\n")
    body = rendered.split("<tbody>")[1] if "<tbody>" in rendered else ""
    assert body.count("<td>") == 2, rendered
    tags = set(re.findall(r"</?([a-z0-9]+)", body))
    assert tags <= {"tr", "td", "code", "tbody", "table"}, rendered
