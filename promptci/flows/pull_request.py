"""`promptci pr` and `promptci demo`: the pull-request flow from two revisions to the reports, the gate's exit
code and, in GitHub Actions, what is posted on the pull request."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Literal, overload

from .. import demo, gitdiff, progress
from ..errors import EXIT_GATE_FAILED, EXIT_OK, InfraError, InputError, PromptCIError
from ..files import prresults
from ..files.fileio import atomic_write_text
from ..files.prresults import PRResults
from ..files.suggested import Origin
from ..gate import decision
from ..gitdiff import Change
from ..github import actions as github_actions, coverage, publish, workflow
from ..github.actions import Actions
from ..github.client import Client
from ..github.publish import Published, PublishSettings
from ..models.llm import ModelClient
from ..pullrequest.changes import changed_prompts
from ..pullrequest.pipeline import Options, run_pr
from ..pullrequest.sharding import plan
from ..rendering import render


@dataclass(frozen=True)
class FlowRequest:
    """What `pr` and `demo` run, and within which limits."""

    out: Path  # where report.md, results.json and refreshed subsets go
    options: Options
    template: Path | None = None  # a Jinja2 template for the comment
    prompts: Sequence[str] = ()  # globs: gate only the prompt files matching them (none: every prompt file)
    shard: str | None = None  # one shard of `promptci plan`
    max_shards: int = 10


@dataclass(frozen=True)
class Written:
    """The reports written into --out."""

    report: Path
    results: Path
    subsets: Path | None  # the folder of refreshed subset files, when there are any


@dataclass
class PROutcome:
    data: PRResults | None = None  # None when the run stopped before a verdict
    published: Published | None = None
    fault: PromptCIError | None = None  # to report; the run ends with its exit code
    gate_code: int = EXIT_OK

    @property
    def exit_code(self) -> int:
        return self.fault.exit_code if self.fault is not None else self.gate_code


Show = Callable[[str, Written], None]  # prints the terminal report (inside the logged part of a job)


def gate_code(data: PRResults) -> int:
    """The exit code a pull-request verdict gives: 1 when the gate failed."""
    return EXIT_GATE_FAILED if data.verdict.status == decision.FAIL else EXIT_OK


@overload
def actions_run(github: Literal[True]) -> Actions: ...
@overload
def actions_run(github: bool) -> Actions | None: ...
def actions_run(github: bool) -> Actions | None:
    """The Actions run when --github is given (its token masked in the log from here on), else None."""
    if not github:
        return None
    run = github_actions.from_environ()
    workflow.mask(sys.stdout, run.token)
    publish.refuse_unsafe_event(run)
    return run


def base_ref(base: str | None, repo: Path, head: str, actions: Actions | None) -> str:
    """--base, else in Actions the merge commit's first parent or the payload's base, else origin/$GITHUB_BASE_REF."""
    if base:
        return base
    if actions is not None and actions.group is not None:  # a merge queue: its candidate against the base it is on
        return actions.group.base_sha
    if actions is not None and actions.pr is not None:
        parents = gitdiff.parents(str(repo), head)
        if len(parents) != 2:
            return actions.pr.base_sha
        if actions.event_name == "pull_request" and parents[1] != actions.pr.head_sha:
            # actions/checkout can fetch a merge commit GitHub made for an earlier head (a force-push meanwhile)
            raise InputError(
                f"the checked-out merge commit is of head {parents[1][:12]}, but this run is for "
                f"{actions.pr.head_sha[:12]}: its files are not the pull request's",
                field="--head",
                fix=STALE_MERGE_FIX,
            )
        return f"{head}^1"
    if os.environ.get("GITHUB_BASE_REF"):
        return f"origin/{os.environ['GITHUB_BASE_REF']}"
    raise InputError("no base to compare with", field="--base", fix="pass --base REF, e.g. --base origin/main")


STALE_MERGE_FIX = (
    "push a commit, or close and reopen the pull request, so that GitHub starts a run on a new merge "
    "commit (a re-run of this job checks out the same one); nothing was posted"
)


def for_event(request: FlowRequest, actions: Actions | None) -> FlowRequest:
    """The request as this event allows: a merge queue's candidate gets no optimizer and no subset refresh, since
    nothing can be suggested or committed there (it has no pull request), so they would cost calls for nothing."""
    if actions is None or actions.group is None or not (request.options.optimize or request.options.refresh):
        return request
    print("promptci: a merge queue's candidate is gated only: no optimizer, no subset refresh")
    return replace(request, options=replace(request.options, optimize=False, refresh=False))


def pull_request(
    request: FlowRequest,
    repo: str,
    base: str,
    head: str,
    actions: Actions | None,
    settings: PublishSettings | None,
    *,
    on_changes: Callable[[int], None],
    show: Show,
) -> PROutcome:
    """Run the flow from base to head, write the reports, and publish them when in Actions (`settings`)."""
    request = for_event(request, actions)
    if actions is not None:  # named by a later run that finds this run's suggestion adopted
        request = replace(request, options=replace(request.options, origin=origin(actions)))
    if actions is None:
        data = run(request, repo, base, head, on_changes)
        return PROutcome(data=data, gate_code=write(request.out, data, show))
    with workflow.commands_off(sys.stdout):  # text from the pull request is logged from here on
        try:
            data = run(request, repo, base, head, on_changes)
            if actions.pr is not None:  # for a trusted workflow_run job that posts these results later
                data.pull_request = prresults.PullRequestRef(number=actions.pr.number, head_sha=actions.pr.head_sha)
            code = write(request.out, data, show)
        except PromptCIError as exc:
            failure: PromptCIError | None = exc
        else:
            failure = None
    if failure is not None:
        return stopped(actions, failure)
    if request.shard:
        return PROutcome(data=data, gate_code=code)  # a shard's results are published by the merge job
    return publish_results(data, actions, repo, request.out, settings or PublishSettings(), code)


def origin(actions: Actions) -> Origin:
    """This Actions run and the pull request's head commit (the checkout is GitHub's merge commit, which no one
    sees on the pull request); a merge queue's candidate has no pull request, and gets no suggestion."""
    return Origin.of(actions.run_id, actions.pr.head_sha if actions.pr else "")


def stopped(actions: Actions, exc: PromptCIError) -> PROutcome:
    """The run stopped before a verdict: the summary and outputs say so. A fork's unreachable model is neutral."""
    code = publish.fault(actions, exc)
    return PROutcome(fault=exc if code else None)


def run(request: FlowRequest, repo: str, base: str, head: str, on_changes: Callable[[int], None]) -> PRResults:
    """The flow itself: changed prompts, their scores, suggestion and refresh, the verdict; as results data."""
    if request.template is not None:  # a broken template fails now, before any model call
        render.check_template(request.template)
    changes = changed_prompts(repo, base, head)
    named = request.options.origin or Origin.of("", gitdiff.commit_id(repo, head))  # outside Actions: head's commit
    if request.prompts:
        changes = [c for c in changes if any(fnmatch(c.path, glob) for glob in request.prompts)]
    client = ModelClient()
    try:
        start = gitdiff.diff_start(repo, base, head)  # the base revision's files judge the change
        with gitdiff.checkout(repo, head) as tree, gitdiff.checkout(repo, start) as judge:
            planned = None
            if request.shard:
                changes, planned = _shard(changes, tree, request.shard, request.max_shards)
            on_changes(len(changes))
            result = asyncio.run(run_pr(changes, tree, judge, client, replace(request.options, origin=named)))
    finally:
        client.close()
    return result.model_copy(update={"shard": request.shard or None, "plan": planned})


def _shard(changes: list[Change], tree: Path, shard: str, max_shards: int) -> tuple[list[Change], dict[str, list[str]]]:
    shards = {s.id: s for s in plan(changes, tree, max_shards)}
    if shard not in shards:
        raise InputError(
            f"no shard '{shard}' in a plan of {len(shards)}",
            field="--shard",
            fix="pass a shard id from 'promptci plan' with the same --max-shards",
        )
    progress.note(
        f"shard {shard} of {len(shards)}: {len(shards[shard].prompts)} of the {len(changes)} changed "
        f"prompts, {shards[shard].items} pool items"
    )
    return [c for c in changes if c.path in shards[shard].prompts], {s.id: s.prompts for s in shards.values()}


def write(out: Path, data: PRResults, show: Show) -> int:
    """results.json, report.md and refreshed subsets into `out`; the terminal report; the gate's exit code."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", prresults.dump(data))
    atomic_write_text(out / "report.md", render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT))
    refreshed = [(p.subset.path, p.subset.text) for p in data.prompts if p.subset.text]
    folder = (out / "subsets").resolve()
    for path, text in refreshed:
        target = (folder / path).resolve()
        if not target.is_relative_to(folder):  # the pipeline confines subset paths; never write outside --out
            raise InputError(
                "a subset path leads outside --out",
                path=path,
                field="promptci.subset",
                fix="use a subset path inside the repository",
            )
        atomic_write_text(target, text)
    show(
        render.render(data, name=render.TERMINAL),
        Written(out / "report.md", out / "results.json", out / "subsets" if refreshed else None),
    )
    return gate_code(data)


def publish_results(
    data: PRResults, actions: Actions, repo: str, out: Path, settings: PublishSettings, code: int
) -> PROutcome:
    """The comment, statuses, suggestions, summary and outputs; GitHub's faults become exit 3 (after the rest)."""
    with Client(actions.api_url, actions.token) as client:
        actions = publish.confirm_pull_request(actions, data, client)
        data = coverage.require(data, actions, repo)  # fork-post: every changed prompt must be in the results
        code = max(code, gate_code(data))
        published = publish.publish(data, actions, client, repo_dir=repo, out_dir=out, settings=settings)
    outcome = PROutcome(data=data, published=published, gate_code=code)
    if published.faults and code == EXIT_OK:
        outcome.fault = InfraError(
            f"{len(published.faults)} GitHub requests failed; the report is in the job summary "
            f"and {out / 'results.json'}"
        )
    return outcome


@dataclass(frozen=True)
class DemoRepo:
    path: Path
    base: str
    head: str
    title: str = demo.TITLE
    prompt: str = demo.PROMPT


@contextmanager
def demo_repo(
    keep: Path | None, on_main: Callable[[Path, str], object] | None = None, temperature: float | None = None
) -> Iterator[DemoRepo]:
    """The bundled example as a throwaway repository with one pull request on it (kept in `keep` when given);
    `on_main` runs on main's work tree before the change is committed; `temperature`: the example sampled."""
    if keep and keep.exists() and any(keep.iterdir()):
        raise InputError("the folder is not empty", path=keep, field="--keep", fix="name a new folder")
    with tempfile.TemporaryDirectory(prefix="promptci-demo-") as tmp:
        repo = keep or Path(tmp) / "repo"
        base, head = demo.make_repo(repo, on_main, temperature)
        yield DemoRepo(repo, base, head)
