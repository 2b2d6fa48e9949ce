"""Hostile and malformed input, made up by Hypothesis: every loader answers with an InputError naming the
file (exit 2) or a valid object — never a crash, a hang on a bomb, or a traceback; the report stays within
GitHub's limit and lets no HTML through, whatever the results hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings, strategies as st
from markdown_it import MarkdownIt

from promptci import promptfile
from promptci.errors import InputError
from promptci.files import evalset, subsetfile
from promptci.rendering import render

FIELDS = [
    "name",
    "model",
    "messages",
    "role",
    "content",
    "modelParameters",
    "testData",
    "promptci",
    "pool",
    "labels",
    "evaluators",
    "string",
    "equals",
    "{{input}}",
    "expected",
    "selection",
    "size",
    "gate",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(FIELDS),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)
YAMLISH = st.lists(
    st.sampled_from(
        [
            "name: x\n",
            "messages:\n",
            "  - role: user\n",
            "    content: '{{input}}'\n",
            "&a [*a, *a]\n",
            "- ",
            ": ",
            "{",
            "}",
            "[",
            "]",
            "\t",
            "\0",
            "!!python/object:os.system\n",
            "%YAML 1.1\n",
            "---\n",
            "'",
            '"',
            "\\",
            "\n",
            "{{",
            "}}",
            "{% for %}",
        ]
    )
    | st.text(max_size=20),
    max_size=30,
).map("".join)
SUITE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SUITE
@given(st.one_of(YAMLISH, TREES.map(lambda t: yaml.safe_dump(t, allow_unicode=True))))
def test_the_prompt_loader_only_ever_says_input_error(text: str) -> None:
    path = Path("prompts/fuzz.prompt.yml")
    try:
        prompt = promptfile.parse(text, path)
    except InputError as exc:
        assert "fuzz.prompt.yml" in str(exc) and "\n" not in str(exc)
    else:
        assert prompt.spec.messages is not None


@SUITE
@given(st.lists(st.one_of(st.binary(max_size=40), TREES.map(lambda t: json.dumps(t).encode())), max_size=12))
def test_the_pool_reader_only_ever_says_input_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        pool = evalset.read_jsonl(path)
    except InputError as exc:
        assert "pool.jsonl" in str(exc)
    else:
        assert len({item.id for item in pool.items}) == len(pool.items)


@SUITE
@given(
    st.one_of(
        YAMLISH,
        TREES.map(
            lambda t: yaml.safe_dump(
                {"format": "promptci.subset/1", "pool": t, "items": t, "embedding_model": t, "method": t}
            )
        ),
    )
)
def test_the_subset_reader_only_ever_says_input_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("subset") / "x.subset.yml"
    path.write_text(text, encoding="utf-8")
    try:
        subsetfile.read(path)
    except InputError as exc:
        assert "x.subset.yml" in str(exc)


@pytest.mark.parametrize(
    "text,words",
    [
        ("a: " + "x" * (50 * 1024 * 1024), "byte limit"),  # a 50 MB string
        ("a: " + "[" * 100_000 + "]" * 100_000, "malformed YAML"),  # deep nesting
        ("name: x\x00\x01\x02\nmodel: y\n", "binary data"),  # binary data
        ("testData:\n  - {a: [" + "0," * 900_000 + "0]}\n", "more than 50000 nodes"),  # 1.8 MB of tiny nodes
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")),
            "aliases expand",
        ),
    ],
)
def test_bombs_fail_fast_with_a_clear_error(text: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        promptfile.parse(text, Path("bomb.prompt.yml"))


MD = MarkdownIt("commonmark").enable("table")
ALLOWED_HTML = re.compile(r"^(<!-- promptci:report -->|</?details>|<details><summary>.*|</summary>|</?sub>.*)$", re.S)


def _results(text: str, outputs: list[str]) -> dict:
    """A results document of the promptci.pr/1 shape whose every string came from the pull request."""
    items = [f"i{n}" for n in range(len(outputs))]
    run: dict[str, dict[str, Any]] = {
        i: {"id": i, "output": o, "expected": text, "score": float(n % 2)}
        for n, (i, o) in enumerate(zip(items, outputs))
    }
    flipped = {i: {**r, "score": 1.0 - r["score"]} for i, r in run.items()}
    prompt = {
        "path": f"prompts/{text}.prompt.yml",
        "change": {
            "status": "modified",
            "reason": text,
            "old_text": text,
            "new_text": text,
            "old_path": text,
            "new_path": f"prompts/{text}.prompt.yml",
        },
        "model": text,
        "seed": 0,
        "hashes": {"head": "0" * 64, "pool": "1" * 64},
        "error": text or None,
        "verdict": {"status": "fail", "reason": text},
        "timings": {},
        "comparison": {
            "n": len(items),
            "base_mean": 0.5,
            "head_mean": 0.5,
            "delta": 0.0,
            "low": -0.1,
            "high": 0.1,
            "p_value": 1.0,
            "method": "mcnemar",
            "improved": 1,
            "regressed": 1,
        },
        "scores": {"base": 0.5, "head": 0.5},
        "items": items,
        "subset_items": len(items),
        "subset_note": text,
        "subset": {
            "path": text,
            "changed": True,
            "text": text,
            "patch": text,
            "replacements": [{"removed": text, "added": text, "why": text}],
        },
        "texts": {i: text for i in [*items, text]},
        "base": run,
        "head": flipped,
        "optimizer": {
            "improved": True,
            "stopped": text,
            "steps_done": 2,
            "score_after_step": [0.1, 0.5, 0.9],
            "subset_score": {"head": 0.1, "best": 0.9},
            "best_text": text,
            "diff": text,
            "attempts": [],
        },
    }
    return {
        "format": "promptci.pr/1",
        "verdict": {"status": "fail", "reason": text},
        "prompts": [prompt] * 3,
        "usage": {
            "calls": 1,
            "cache_hits": 0,
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "cost_usd": 0.0,
            "wall_s": 1.0,
            "budget": text,
        },
    }


HOSTILE = st.lists(
    st.sampled_from(
        [
            "<img src=x onerror=alert(1)>",
            "</details>",
            "<details>",
            "@org/team",
            "```",
            "````\n",
            "|",
            "\n\n# h",
            "<!--",
            "-->",
            "<script>",
            "\\",
            "`",
        ]
    )
    | st.text(max_size=30),
    max_size=10,
).map("".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE, st.lists(HOSTILE, min_size=1, max_size=6), st.integers(2_000, 65_536))
@example("<img src=x onerror=alert(1)>" * 3 + "</details>", [""], 2_000)  # the cut once split a code span
def test_the_comment_keeps_its_limit_and_lets_no_html_through(text: str, outputs: list[str], limit: int) -> None:
    comment = render.render(_results(text, outputs), limit=limit)
    assert len(comment) <= limit and comment.lstrip().startswith(render.MARKER)
    tokens = [t for block in MD.parse(comment) for t in [block, *(block.children or [])]]
    html = [t.content.strip() for t in tokens if t.type in ("html_inline", "html_block")]
    assert all(ALLOWED_HTML.match(h) for h in html), html


def test_a_crash_while_writing_a_subset_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from .helpers import ROOT

    committed = ROOT / "eval_sets" / "intent_recognition.subset.yml"
    target = tmp_path / "intent_recognition.subset.yml"
    target.write_bytes(committed.read_bytes())
    subset = subsetfile.read(committed)
    refreshed = subsetfile.Subset(**{**subset.__dict__, "items": subset.items[1:]})

    def disk_full(fd: int) -> None:  # the write fails half-way, as on a full disk (the one simulated fault here)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        subsetfile.write(target, refreshed)
    assert target.read_bytes() == committed.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind
