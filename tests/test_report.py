"""The report from real pull-request results (`promptci demo` with the embedded model): what it says,
what it refuses to let a pull request smuggle in, the limits it keeps, and user templates."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from promptci.errors import InputError
from promptci.rendering import render
from promptci.rendering.render import MARKER

from .helpers import run_cli

HOSTILE = "<img src=x onerror=alert(1)> @octo-org/admins ```` </details> <!-- | x | --> [x](javascript:alert(1))"
MD = MarkdownIt("commonmark").enable("table")


def test_the_comment_leads_with_the_verdict_then_scores_flips_and_subset(demo_results: dict) -> None:
    comment = render.render(demo_results)
    lines = comment.splitlines()
    # the demo's change (about 15 points worse, but 9 items up for 20 down on 60) is not passed: with the fixture's
    # budget of calls the gate either shows it worse or says inconclusive, with its bounds, never a pass
    assert lines[0] == MARKER and lines[1].startswith(("## ❌ promptci:", "## ⚠️ promptci:"))
    assert demo_results["prompts"][0]["verdict"]["status"] in ("fail", "inconclusive")
    p = demo_results["prompts"][0]
    c = p["comparison"]  # the pool's means as the gate estimates them, beside its Δ
    assert f"{c['base_mean']:.3f}" in comment and f"{c['head_mean']:.3f}" in comment
    assert "Items that flipped" in comment and "IPOMP stage 2" in comment
    assert f"seed {p['seed']}" in comment and p["hashes"]["head"][:12] in comment
    assert "model calls" in comment and "cache hits" in comment


def test_a_budget_cuts_the_optimizer_never_the_comparison(demo_results: dict) -> None:
    p = demo_results["prompts"][0]
    assert p["comparison"]["n"] >= p["subset_items"] == 20  # base and head on every subset item
    budget = re.fullmatch(r"(\d+) of (\d+) calls", demo_results["usage"]["budget"])
    assert budget is not None, demo_results["usage"]["budget"]
    used, limit = map(int, budget.groups())
    assert demo_results["usage"]["calls"] == used <= limit
    optimizer = p["optimizer"]
    assert optimizer["steps_done"] < 5 and "budget" in optimizer["stopped"]


def test_pull_request_content_cannot_add_html_mentions_or_break_out(demo_results: dict) -> None:
    data = copy.deepcopy(demo_results)
    p = data["prompts"][0]
    p["path"] = p["change"]["new_path"] = f"prompts/{HOSTILE}.prompt.yml"
    p["error"] = HOSTILE
    for item in p["head"].values():
        item["output"] = HOSTILE
    p["subset"]["replacements"] = [{"removed": HOSTILE, "added": HOSTILE, "why": HOSTILE}]  # ids a pool can hold
    if p["optimizer"]:
        p["optimizer"].update(improved=True, diff=f"+{HOSTILE}\n", best_text=HOSTILE)
    for name in (render.COMMENT, render.SUMMARY):
        text = render.render(data, name=name, limit=render.SUMMARY_LIMIT)
        tokens = [t for block in MD.parse(text) for t in [block, *(block.children or [])]]
        html = [t.content for t in tokens if t.type in ("html_inline", "html_block")]
        assert all(
            h.strip() in (MARKER, "<details>", "</details>")
            or h.startswith(("<details><summary>", "</summary>", "<sub>", "</sub>"))
            for h in html
        ), html
        outside_code = re.sub(r"<code[^>]*>.*?</code>", "", MD.render(text), flags=re.S)
        assert "@octo-org" not in outside_code  # GitHub notifies no one from code; elsewhere a zero-width space
        opened = sum(1 for h in html if h.startswith("<details>"))
        assert opened == sum(1 for h in html if h.strip() == "</details>") > 0  # every section closes where we close it


def test_a_huge_report_is_cut_to_githubs_limit_with_the_marker_kept(demo_results: dict) -> None:
    data = copy.deepcopy(demo_results)
    p = data["prompts"][0]
    data["prompts"] = [copy.deepcopy(p) for _ in range(400)]  # 400 prompts, each with its flipped items
    for n, q in enumerate(data["prompts"]):
        q["path"] = f"prompts/p{n}-{'🙂' * 30}.prompt.yml"
    comment = render.render(data)
    assert len(comment) <= render.COMMENT_LIMIT and comment.rstrip().endswith(MARKER)
    assert comment.startswith(MARKER) and "job summary" in comment


def test_a_user_template_renders_in_the_sandbox_and_must_keep_the_marker(demo_results: dict, tmp_path: Path) -> None:
    good = tmp_path / "good.md.j2"
    good.write_text("{{ marker }}\n{% for p in prompts %}{{ p.path | code }}: {{ p.verdict.status }}\n{% endfor %}")
    status = demo_results["prompts"][0]["verdict"]["status"]
    assert render.render(demo_results, template=good).startswith(f"{MARKER}\n`prompts/intent.prompt.yml`: {status}")
    lost = tmp_path / "lost.md.j2"
    lost.write_text("{{ verdict.status }}")
    with pytest.raises(InputError, match=r"lost.md.j2.*hidden marker"):
        render.render(demo_results, template=lost)
    escape = tmp_path / "escape.md.j2"
    escape.write_text("{{ marker }}{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(InputError, match=r"escape.md.j2.*template failed"):
        render.render(demo_results, template=escape)


def test_bad_templates_and_results_files_are_one_line_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md.j2"
    broken.write_text("{% for %}")
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"format": "something/else"}))
    proc = run_cli("report", str(results))
    assert proc.returncode == 2 and "results.json: format: not a promptci.pr/1 results file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("pr", "--base", "HEAD", "--template", str(broken), "--repo", str(tmp_path))
    assert proc.returncode == 2 and "broken.md.j2:1: template syntax error" in proc.stderr


@pytest.mark.integration
def test_the_committed_demo_results_have_the_shape_a_live_demo_writes(demo_run, demo_results: dict) -> None:
    """The fast tier reads tests/data/demo/results.json; a live demo on the embedded model must still write
    the same format, keys and kinds of verdict, or that file is stale (docs/example/README.md: make it again)."""
    live = demo_run.results

    def keys(data: dict) -> tuple[str, ...]:
        return tuple(sorted(data))

    assert live["format"] == demo_results["format"] and keys(live) == keys(demo_results)
    for part in ("verdict", "comparison", "subset", "gate"):
        assert keys(live["prompts"][0][part]) == keys(demo_results["prompts"][0][part]), part
    assert keys(live["prompts"][0]) == keys(demo_results["prompts"][0])
    assert live["prompts"][0]["model"] == demo_results["prompts"][0]["model"] == "local/gemma-3-270m"
