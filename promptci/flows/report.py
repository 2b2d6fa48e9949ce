"""`promptci report` (the report again from results files, merged across shards; published in Actions) and
`promptci plan` (the changed prompts cut into shards)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import gitdiff, progress, promptfile
from ..errors import EXIT_OK, PromptCIError
from ..files import prresults
from ..files.prresults import PRResults
from ..files.settings import GateSettings
from ..github import actions as github_actions, workflow
from ..pullrequest import shards
from ..pullrequest.changes import changed_prompts
from ..pullrequest.forecast import forecast
from ..pullrequest.sharding import matrix, plan
from ..rendering import render
from .pull_request import PROutcome, PublishSettings, actions_run, base_ref, gate_code, publish_results, stopped


@dataclass(frozen=True)
class ReportRequest:
    results: Sequence[Path]  # results.json files, or the --out folders holding them
    plan: Path | None = None  # the plan job's matrix (shards)
    format: Literal["comment", "summary", "terminal"] = "comment"
    template: Path | None = None


@dataclass(frozen=True)
class Rendered:
    text: str
    exit_code: int


def render_report(request: ReportRequest) -> Rendered:
    data = shards.merge_files(request.results, request.plan)
    if request.format == "terminal":
        text = render.render(data, name=render.TERMINAL)
    elif request.format == "summary":
        text = render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT)
    else:
        text = render.render(data, template=request.template)
    return Rendered(text, gate_code(data))


def publish_report(
    request: ReportRequest, repo: Path, settings: PublishSettings, show: Callable[[str], object]
) -> PROutcome:
    """In Actions: the merged results published; a missing or broken shard is said in the summary and outputs."""
    actions = actions_run(True)
    try:
        data = shards.merge_files(request.results, request.plan)
    except PromptCIError as exc:
        return stopped(actions, exc)
    out = request.results[0] if request.results[0].is_dir() else request.results[0].parent
    if actions.event_name == github_actions.RUN_EVENT:  # an uploaded artifact: the base's gates judge it
        data = prresults.regate(data, base_gates(repo, data))
    with workflow.commands_off(sys.stdout):  # text from the pull requests is logged
        show(render.render(data, name=render.TERMINAL))
    return publish_results(data, actions, str(repo), out, settings, gate_code(data))


def base_gates(repo: Path, data: PRResults) -> dict[str, GateSettings]:
    """The gate settings of each reported prompt as the checkout (the base branch) has it; a prompt it lacks,
    or cannot load, keeps what the results record (and the comment says the run was untrusted)."""
    gates = {}
    for p in data.prompts:
        try:
            gates[p.path] = promptfile.load(repo / p.path).settings.gate
        except PromptCIError:
            continue
    return gates


@dataclass(frozen=True)
class Planned:
    matrix: str  # the GitHub Actions matrix, as JSON on one line
    exit_code: int = EXIT_OK


def plan_shards(repo: Path, base: str | None, head: str, max_shards: int, github: bool) -> Planned:
    actions = actions_run(github)
    changes = changed_prompts(str(repo), base_ref(base, repo, head, actions), head)
    with gitdiff.checkout(str(repo), head) as tree:
        shards = plan(changes, tree, max_shards)
        progress.note(
            forecast(
                changes, tree, optimize=True, refresh=True, steps=None, model=None, subset_size=None, max_calls=None
            ).describe()
        )  # with the prompts' own settings, before any job runs
    text = json.dumps(matrix(shards), separators=(",", ":"))
    if actions is not None:
        workflow.set_outputs(actions.output_path, {"matrix": text, "shards": str(len(shards))})
    return Planned(text)
