"""The results of `promptci pr` as data (format `promptci.pr/1`): what the report, GitHub and people read.

Everything after the pipeline works from this one form — the comment, the job summary, `promptci
report`, publishing — so a report can be rebuilt from a results file alone, on another machine.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import gate
from .errors import InputError
from .fileio import read_input
from .pipeline import PRResult, PromptResult, mean_score

FORMAT = "promptci.pr/1"


def to_dict(result: PRResult) -> dict[str, Any]:
    return {
        "format": FORMAT, "verdict": asdict(result.verdict),
        "usage": {"calls": result.calls, "cache_hits": result.cache_hits, "prompt_tokens": result.prompt_tokens,
                  "completion_tokens": result.completion_tokens, "cost_usd": result.cost_usd, "wall_s": result.wall_s,
                  "budget": result.budget},
        "prompts": [_prompt(p) for p in result.prompts]}


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> dict[str, Any]:
    """A results file written by `promptci pr`; anything else is an InputError naming the file."""
    fix = "pass a results.json written by 'promptci pr'"
    try:
        data = json.loads(read_input(path, what="results file", fix=fix).decode("utf-8"))
    except ValueError as exc:
        raise InputError(f"the results file is not JSON ({exc})", path=path, fix=fix) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} results file", path=path, field="format", fix=fix)
    for key in ("verdict", "usage", "prompts"):
        if key not in data:
            raise InputError("the results file is incomplete", path=path, field=key, fix=fix)
    return data


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several (shards of one pull request): prompts side by side, usage added up."""
    if len(parts) == 1:
        return parts[0]
    prompts = [p for part in parts for p in part["prompts"]]
    usage = {k: sum(part["usage"][k] for part in parts)
             for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost_usd")}
    usage["wall_s"] = max(part["usage"]["wall_s"] for part in parts)  # shards run side by side
    usage["budget"] = "; ".join(dict.fromkeys(part["usage"]["budget"] for part in parts))
    verdict = gate.overall([(p["verdict"] or {}).get("status") for p in prompts])
    merged = {"format": FORMAT, "verdict": {"status": verdict.status, "reason": verdict.reason}, "usage": usage,
              "prompts": prompts}
    pulls = {json.dumps(part.get("pull_request"), sort_keys=True) for part in parts if part.get("pull_request")}
    if len(pulls) == 1:  # the shards of one pull request's run
        merged["pull_request"] = json.loads(pulls.pop())
    return merged


def _prompt(p: PromptResult) -> dict[str, Any]:
    job = p.job
    subset_text = p.subset_text
    return {
        "path": p.path, "change": asdict(p.change), "model": p.model, "seed": p.seed, "hashes": p.hashes,
        "error": p.error, "timings": p.timings, "verdict": asdict(p.verdict) if p.verdict else None,
        "comparison": asdict(p.comparison) if p.comparison else None,
        "scores": {"base": mean_score(p.base, p.items) if p.base else None, "head": mean_score(p.head, p.items)},
        "items": p.items, "subset_items": p.subset_items, "subset_note": p.subset_note,
        "subset": {"path": p.subset_path, "changed": p.subset_changed, "text": subset_text,
                   "patch": _patch(p.subset_path, p.subset_old_text, subset_text), "replacements": p.replacements},
        "base": {i: asdict(r) for i, r in p.base.items()}, "head": {i: asdict(r) for i, r in p.head.items()},
        "optimizer": None if job is None else {
            "improved": job.outcome.improved, "stopped": job.outcome.stopped, "steps_done": job.outcome.steps_done,
            "subset_score": {"head": job.outcome.initial_on_final, "best": job.outcome.best_score},
            "score_after_step": job.outcome.score_after_step, "best_text": job.outcome.best_text,
            "diff": job.outcome.diff("head", "suggested") if job.outcome.improved else "",
            "attempts": [asdict(a) for a in job.outcome.attempts]},
    }


def _patch(path: str, old: str | None, new: str | None) -> str:
    """The subset change as a patch `git apply` takes (empty when the subset did not change)."""
    if new is None:
        return ""
    return "".join(difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{path}" if old is not None else "/dev/null", tofile=f"b/{path}"))
