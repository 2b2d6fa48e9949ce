"""The pull-request results (`promptci.pr/1`) as data: what the report shows of each item, how a file
is checked before anything is rendered or gated from it, and how shards are merged."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from promptci.report import render
from promptci.report.escape import ZERO_WIDTH_SPACE

from .helpers import run_cli

MD = MarkdownIt("commonmark").enable("table")
ALLOWED_HTML = re.compile(r"^(<!-- promptci:report -->|</?details>|<details><summary>.*|</summary>|</?sub>.*)$", re.S)
HOSTILE = "<img src=x onerror=alert(1)> `x` ``` | a | b | @octo-org/admins\n\n# heading </details> <!--"


def _item(item_id: str, score: float, output: str = "yes", expected: Any = "yes") -> dict[str, Any]:
    return {"id": item_id, "output": output, "expected": expected, "score": score, "evaluations": [],
            "label_probs": None, "label_method": None, "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.0,
            "latency_s": 0.1, "cached": False, "error": None, "error_kind": None}


def results(text: str = "plain", *, n: int = 4, flips: int = 2) -> dict[str, Any]:
    """A small but complete results file: `n` items, base right on all, head wrong on the first `flips`."""
    ids = [f"item-{k}" for k in range(n)]
    base = {i: _item(i, 1.0) for i in ids}
    head = {i: _item(i, 0.0 if k < flips else 1.0, output="no" if k < flips else "yes") for k, i in enumerate(ids)}
    texts = {i: f"{text} {i}" for i in [*ids, "item-new"]}
    prompt = {
        "path": "prompts/a.prompt.yml",
        "change": {"status": "modified", "old_path": "prompts/a.prompt.yml", "new_path": "prompts/a.prompt.yml",
                   "old_text": "a: 1\n", "new_text": "a: 2\n", "reason": "the prompt file changed"},
        "model": "local/gemma", "seed": 0, "hashes": {"head": "ab" * 32, "base": "cd" * 32, "pool": "ef" * 32},
        "error": None, "timings": {"decide": 0.1},
        "verdict": {"status": "pass", "reason": "whatever the file says"}, "comparison": None,
        "scores": {"base": 1.0, "head": 1 - flips / n}, "items": ids, "subset_items": n, "subset_note": "committed",
        "texts": texts,
        "subset": {"path": "eval_sets/a.subset.yml", "changed": True, "text": "items: []\n", "patch": "",
                   "replacements": [{"removed": ids[-1], "added": "item-new", "why": "redundant"}]},
        "base": base, "head": head, "optimizer": None}
    return {"format": "promptci.pr/1", "verdict": {"status": "pass", "reason": "1 prompt passed the gate"},
            "usage": {"calls": 8, "cache_hits": 0, "prompt_tokens": 8, "completion_tokens": 8, "cost_usd": 0.0,
                      "wall_s": 1.0, "budget": "no budget"},
            "prompts": [prompt]}


def _html(markdown: str) -> list[str]:
    tokens = [t for block in MD.parse(markdown) for t in [block, *(block.children or [])]]
    return [t.content.strip() for t in tokens if t.type in ("html_inline", "html_block")]


def test_flipped_items_and_swapped_subset_items_show_their_input_text_escaped() -> None:
    data = results(HOSTILE)
    comment = render.render(data)
    flipped = comment.split("Items that flipped", 1)[1].split("</details>", 1)[0]
    rows = [line for line in flipped.splitlines() if line.startswith("| `item-")]
    assert len(rows) == 2  # one table row per flipped item: the newlines and pipes did not break the table
    for row in rows:
        assert "onerror" in row and "\\`x\\`" in row and "\\|" in row and "@" + ZERO_WIDTH_SPACE + "octo" in row
    cells = MD.parse(flipped)
    assert sum(1 for t in cells if t.type == "tr_open") == 3  # the header and the two flipped items
    refreshed = comment.split("items replaced (IPOMP stage 2)", 1)[1]
    assert "removed `item-3`" in refreshed and "added `item-new`" in refreshed
    assert refreshed.count("onerror") == 2  # both texts, escaped
    assert all(ALLOWED_HTML.match(h) for h in _html(comment)), _html(comment)
    assert "@octo-org" not in re.sub(r"<code[^>]*>.*?</code>", "", MD.render(comment), flags=re.S)
    terminal = render.render(data, name=render.TERMINAL)
    assert terminal.count("<img src=x onerror=alert(1)> `x`") == 4  # 2 flipped, removed, added: one line each
    summary = render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT)
    assert summary.count("onerror") >= 4 + 2 + 2  # every item compared, and the comment's flips and swaps


def test_report_renders_the_item_texts_from_the_results_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results("Is the flight to Paris on time?")))
    proc = run_cli("report", str(path), "--format", "terminal")
    assert "item-0  Is the flight to Paris on time? item-0" in proc.stdout, proc.stdout + proc.stderr
