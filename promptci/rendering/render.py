"""Rendering pull-request results (the `promptci.pr/1` data) with Jinja2: the PR comment, the job summary, the terminal.

Templates see plain values built by `context()` and filters from `escape` (`inline`, `code`, `block`
for Markdown; `plain` for the terminal); everything that came from the pull request goes through one
of them. All templates render in Jinja's sandbox, bounded in time and size (`sandbox.py`); a user's comment
template is that one file alone, with no tag that loads another, and must keep the hidden marker the sticky
comment is found by.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..errors import InputError, redact
from ..files import prresults
from ..files.fileio import read_input
from ..gate import draws, repeats
from ..github.overall import MARKER
from . import escape, sandbox, suggestion as suggestion_text

Results = prresults.PRResults | Mapping[str, Any]  # a results model, or its data as read from JSON

COMMENT_LIMIT = 65_536  # characters (GitHub: "Body is too long (maximum is 65536 characters)")
SUMMARY_LIMIT = 1_000_000  # characters; github.workflow cuts the summary at 1 MiB of UTF-8 as well
TEMPLATES = Path(__file__).parent / "templates"
MAX_TEMPLATE_BYTES = 256 * 1024
COMMENT, SUMMARY, TERMINAL = "comment.md.j2", "summary.md.j2", "terminal.txt.j2"


def environment(loader: jinja2.BaseLoader, *, untrusted: bool = False) -> jinja2.Environment:
    env = sandbox.BoundedEnvironment(
        untrusted=untrusted,
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        inline=escape.inline, code=escape.code, block=escape.block, plain=escape.flat, text=escape.printable
    )
    return env


def render(
    data: Results,
    *,
    name: str = COMMENT,
    template: Path | None = None,
    limit: int = COMMENT_LIMIT,
    publication: Mapping[str, Any] | None = None,
) -> str:
    """One report from results data, within `limit` characters (details go before the verdict does).

    `template` replaces the built-in comment template; `publication` says what publishing did (the
    subset commits, a read-only run) so the report can tell.
    """
    page, where = _page(template, name), template or TEMPLATES / name
    data = prresults.parse(data)
    text = redact(sandbox.render(page, context(data, details=True, publication=publication), where=where))
    if len(text) > limit:
        text = redact(sandbox.render(page, context(data, details=False, publication=publication), where=where))
    if template is not None and MARKER not in text:
        raise InputError(
            "the report template lost the hidden marker",
            path=template,
            fix=f"keep {MARKER} in the template: the sticky comment is found by it",
        )
    if len(text) > limit:
        tail = "\n\n… (cut to fit GitHub's limit; the full report is in the job summary)\n"
        text = _cut(text, limit, tail + (MARKER + "\n" if name != TERMINAL else ""))
    return text


def _cut(text: str, limit: int, tail: str) -> str:
    """`text` up to its last blank line outside a code fence that leaves room for `tail`, then `tail`.

    Cutting anywhere else could leave a code span or fence open, and whatever followed in the pull
    request's text would render as Markdown and HTML again (found by fuzzing the renderer).
    """
    room, fence, safe, at = limit - len(tail), None, 0, 0
    for line in text.splitlines(keepends=True):
        if at + len(line) > room:
            break
        bare = line.rstrip("\n")
        if fence is not None:
            fence = None if bare == fence else fence
        elif bare.startswith("```"):
            fence = bare[: len(bare) - len(bare.lstrip("`"))]
        elif not bare:
            safe = at
        at += len(line)
    return text[:safe] + tail


def check_template(template: Path) -> None:
    """Fail early, with the file named, on a comment template that cannot be read or parsed."""
    _page(template, COMMENT)


def _page(template: Path | None, name: str) -> jinja2.Template:
    """The user's template when there is one (that file alone, bounded), else the built-in `name`; errors name
    the file."""
    try:
        if template is None:
            return environment(jinja2.FileSystemLoader(str(TEMPLATES))).get_template(name)
        source = read_input(template, what="template", field="--template", limit=MAX_TEMPLATE_BYTES)
        return environment(
            jinja2.DictLoader({template.name: source.decode("utf-8", errors="replace")}), untrusted=True
        ).get_template(template.name)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(
            f"template syntax error: {exc.message}",
            path=template or TEMPLATES / name,
            line=exc.lineno,
            fix="fix the template",
        ) from None


def short(body: str, run_url: str) -> str:
    """The first lines of a comment GitHub refused, with a pointer to the full report (and the marker)."""
    head = "\n\n".join(body.split("\n\n", 2)[:2])
    where = f"the [job summary]({run_url})" if run_url else "the job summary"
    text = f"{head}\n\nThe full report did not fit in a comment; it is in {where}.\n"
    return text if MARKER in head else f"{MARKER}\n{text}"


def context(data: Results, *, details: bool, publication: Mapping[str, Any] | None = None) -> dict[str, Any]:
    publication = dict(publication or {})
    data = prresults.parse(data)
    usage = data.usage
    return {
        "marker": MARKER,
        "verdict": data.verdict,
        "details": details,
        "version": __version__,
        "prompts": [_prompt(p, details, publication) for p in data.prompts],
        "calls": usage.calls,
        "cache_hits": usage.cache_hits,
        "cost_usd": usage.cost_usd,
        "tokens": usage.prompt_tokens + usage.completion_tokens,
        "wall_s": usage.wall_s,
        "budget": usage.budget,
        "forecast": data.forecast,
        "dollars": _dollars(usage.cost_usd, data.forecast),
        "read_only": publication.get("read_only", ""),
        "untrusted": publication.get("untrusted", ""),
        "run_url": publication.get("run_url", ""),
    }


def _dollars(spent: float, forecast: prresults.Forecast | None) -> str:
    """What the run cost in dollars, set against the forecast; in words where no price is known."""
    if forecast is None:
        return f"${spent:.4f}"
    if forecast.usd is None or forecast.max_usd is None:
        return f"dollars not known ({forecast.price or 'no price known'})"
    if forecast.max_usd == 0:
        return f"${spent:.4f} ({forecast.price or 'no cost'})"
    return f"${spent:.4f} (forecast: about ${forecast.usd:.4f}, at most ${forecast.max_usd:.4f})"


def _answer(output: str | None, score: float) -> str | None:
    """An answer as the flipped items show it: with its score where that is graded (not 0 or 1)."""
    return output if score in (0.0, 1.0) or output is None else f"{output} (score {score:.2f})"


def _prompt(p: prresults.PromptResults, details: bool, publication: Mapping[str, Any]) -> dict[str, Any]:
    base, head, texts = p.base, p.head, p.texts
    flipped = []
    for i in p.items:  # an item flips where it passes on one side only (a graded score passes from PASS_SCORE)
        b, h = base.get(i), head.get(i)
        if b and h and b.score is not None and h.score is not None and draws.passes(b.score) != draws.passes(h.score):
            flipped.append(
                {
                    "id": i,
                    "text": texts.get(i, ""),
                    "expected": h.expected if h.expected is not None else b.expected,
                    "base": _answer(b.output, b.score)
                    if b.output is not None
                    else f"score {b.score:g} (warm run: no answer kept)",
                    "head": _answer(h.output, h.score),
                    "better": h.score > b.score,
                }
            )
    o = p.optimizer
    suggestion = None
    if o and o.improved:
        suggestion = {
            "diff": o.diff,
            "head": o.subset_score.head,
            "best": o.subset_score.best,
            "subset_items": o.subset_score_items if o.subset_score_items is not None else p.subset_items,
            "holdout": o.holdout_score,
            "holdout_items": o.holdout_items,
            "holdout_note": o.holdout_note or "not scored",
            "pool_demos": o.pool_demos,
            "steps": o.steps_done,
            "text": o.best_text,
            "chart": _chart(o.score_after_step),
            "shown_better": o.verdict is not None and o.verdict.status == "better",
            "headline": suggestion_text.headline(o),
            "notes": suggestion_text.notes(o),
        }
    subset = p.subset
    commit = publication.get("commits", {}).get(subset.path)
    c = p.comparison if p.comparison is not None and p.comparison.n else None
    return {
        "path": p.path,
        "status": p.change.status,
        "reason": p.change.reason,
        "verdict": p.verdict,
        "error": p.error,
        "model": p.model,
        "seed": p.seed,
        "hashes": p.hashes,
        # Δ is the pool's, as the gate estimates it (with a warm base: base known, head estimated): so are the columns
        "base": c.base_mean if c else p.scores.base,
        "head": c.head_mean if c else p.scores.head,
        "comparison": p.comparison,
        "n": len(p.items),
        "subset_items": p.subset_items,
        "extra_items": len(p.items) - p.subset_items,
        "flipped": flipped if details else [],
        "flipped_count": len(flipped),
        "stability": draws.compare(base, head),
        "repeats": p.repeats,  # targeted repeats (gate/repeats.py): r, and on how many items
        "repeated": repeats.repeated(p.items, p.base, p.head) if p.repeats else 0,
        "slices": p.slices,
        "suggestion": suggestion,
        "adopted": suggestion_text.adopted(p.adopted) if p.adopted else "",
        "subset_note": p.subset_note,
        "base_note": p.base_note,
        "subset_path": subset.path,
        "subset_commit": commit,
        "replacements": [
            {
                "removed": r.removed,
                "added": r.added,
                "why": r.why,
                "removed_text": texts.get(r.removed, ""),
                "added_text": texts.get(r.added, ""),
            }
            for r in subset.replacements
        ],
        "subset_patch": subset.patch if details and not commit else "",
        "optimizer_stopped": o.stopped if o else None,
        "items": [
            {
                "id": i,
                "text": texts.get(i, ""),
                "expected": scored.expected if (scored := head.get(i) or base.get(i)) else None,
                "base": base.get(i),
                "head": head.get(i),
            }
            for i in p.items
        ]
        if details
        else [],
    }


def _chart(scores: list[float]) -> str:
    """A Mermaid xy chart of the best subset score after each optimizer step (numbers only: nothing to escape)."""
    if len(scores) < 2:
        return ""
    steps = ", ".join(str(n) for n in range(len(scores)))
    values = ", ".join(f"{s:.3f}" for s in scores)
    return (
        f'xychart-beta\n    title "Best prompt on the subset, per optimizer step"\n    x-axis "step" [{steps}]\n'
        f'    y-axis "score" 0 --> 1\n    line [{values}]'
    )
