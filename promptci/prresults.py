"""The results file of `promptci pr` (format `promptci.pr/1`): the whole run as data, for the merge job,
`promptci report`, and people who want more than the comment shows."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .pipeline import PRResult, PromptResult

FORMAT = "promptci.pr/1"


def dump(result: PRResult) -> str:
    return json.dumps({
        "format": FORMAT, "verdict": asdict(result.verdict),
        "usage": {"calls": result.calls, "cache_hits": result.cache_hits, "prompt_tokens": result.prompt_tokens,
                  "completion_tokens": result.completion_tokens, "cost_usd": result.cost_usd, "wall_s": result.wall_s,
                  "budget": result.budget},
        "prompts": [_prompt(p) for p in result.prompts]}, indent=2) + "\n"


def _prompt(p: PromptResult) -> dict[str, Any]:
    job = p.job
    return {
        "path": p.path, "change": {k: v for k, v in asdict(p.change).items() if not k.endswith("_text")},
        "model": p.model, "error": p.error, "verdict": asdict(p.verdict) if p.verdict else None,
        "comparison": asdict(p.comparison) if p.comparison else None,
        "items": p.items, "subset_items": p.subset_items, "subset_note": p.subset_note,
        "subset_changed": p.subset_changed, "replacements": p.replacements,
        "base": {i: asdict(r) for i, r in p.base.items()}, "head": {i: asdict(r) for i, r in p.head.items()},
        "optimizer": None if job is None else {
            "improved": job.outcome.improved, "stopped": job.outcome.stopped, "steps_done": job.outcome.steps_done,
            "subset_score": {"head": job.outcome.initial_on_final, "best": job.outcome.best_score},
            "best_text": job.outcome.best_text, "attempts": [asdict(a) for a in job.outcome.attempts]},
    }
