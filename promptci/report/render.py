"""Rendering a pull-request result with Jinja2 templates: the PR comment, the job summary, the terminal.

Templates see plain values built by `context()` and three filters from `escape` (`inline`, `code`,
`block`); everything that came from the pull request goes through one of them. A user template is
rendered in Jinja's sandbox and must keep the hidden marker the sticky comment is found by.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .. import __version__
from ..errors import InputError
from ..pipeline import PRResult, PromptResult, mean_score
from . import escape

MARKER = "<!-- promptci:report -->"
COMMENT_LIMIT = 65_536
SUMMARY_LIMIT = 1_000_000
TEMPLATES = Path(__file__).parent / "templates"


def environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    env = SandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(inline=escape.inline, code=escape.code, block=escape.block)
    return env


def render(result: PRResult, *, template: Path | None = None, name: str = "comment.md.j2",
           limit: int = COMMENT_LIMIT) -> str:
    """The report as Markdown, within `limit` characters (details are dropped before the summary is)."""
    if template is not None:
        env = environment(jinja2.FileSystemLoader(str(template.parent)))
        name = template.name
    else:
        env = environment(jinja2.FileSystemLoader(str(TEMPLATES)))
    try:
        text = env.get_template(name).render(**context(result, details=True))
        if len(text) > limit:
            text = env.get_template(name).render(**context(result, details=False))
    except jinja2.TemplateError as exc:
        raise InputError(f"the report template failed: {exc}", path=template, fix="fix the template") from None
    if MARKER not in text:
        raise InputError("the report template lost the hidden marker", path=template,
                         fix=f"keep {MARKER} in the template: the sticky comment is found by it")
    if len(text) > limit:
        cut = "\n\n… (cut to fit GitHub's limit; the full report is in the job summary)\n"
        text = text[: limit - len(cut) - len(MARKER) - 1] + cut + MARKER + "\n"
    return text


def context(result: PRResult, *, details: bool) -> dict[str, Any]:
    return {"marker": MARKER, "verdict": result.verdict, "prompts": [_prompt(p, details) for p in result.prompts],
            "calls": result.calls, "cache_hits": result.cache_hits, "cost_usd": result.cost_usd,
            "tokens": result.prompt_tokens + result.completion_tokens, "wall_s": result.wall_s,
            "budget": result.budget, "version": __version__, "details": details}


def _prompt(p: PromptResult, details: bool) -> dict[str, Any]:
    c = p.comparison
    flipped = []
    if details and c is not None:
        for i in p.items:
            b, h = p.base.get(i), p.head.get(i)
            if b and h and b.score is not None and h.score is not None and b.score != h.score:
                flipped.append({"id": i, "expected": b.expected, "base": b.output, "head": h.output,
                                "better": h.score > b.score})
    job = p.job
    suggestion = None
    if job is not None and job.outcome.improved:
        o = job.outcome
        suggestion = {"diff": o.diff("head", "suggested"), "head": o.initial_on_final, "best": o.best_score, "steps": o.steps_done,
                      "trajectory": [a for a in o.attempts if a.accepted], "stopped": o.stopped}
    head_mean = mean_score(p.head, p.items)
    base_mean = mean_score(p.base, p.items) if p.base else None
    return {"path": p.path, "status": p.change.status, "reason": p.change.reason, "verdict": p.verdict,
            "error": p.error, "model": p.model, "base": base_mean, "head": head_mean, "comparison": c,
            "n": len(p.items), "subset_items": p.subset_items, "extra_items": len(p.items) - p.subset_items,
            "flipped": flipped, "suggestion": suggestion, "subset_note": p.subset_note,
            "replacements": p.replacements, "optimizer_stopped": job.outcome.stopped if job else None}
