"""Publishing a pull-request result on GitHub (docs/design.md, "The pull-request flow", step 8), in an order that never
loses the report.

1. the refreshed subsets, committed to the pull request's branch when asked (`commit_subsets`, off by
   default) and the branch is still at the tested head (gitdata.py); otherwise they go into the report as a
   patch (and into --out/subsets, which the workflow uploads as an artifact);
2. the job summary and the step outputs, before any other call to GitHub can fail;
3. the sticky comment (a shorter one when GitHub refuses the long one), a commit status per prompt,
   review suggestions for a better prompt, annotations on the prompt files.
A GitHub fault in one of these is recorded and the rest still run; the caller turns faults into exit 3.
A pull request from a fork gets a read-only token: nothing is written to it, the summary says so.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from .. import gitdiff
from ..errors import EXIT_OK, InfraError, InputError, PromptCIError
from ..files import prresults
from ..gate import decision
from ..rendering import escape, render
from . import accept, gitdata, overall, suggestions, workflow
from .actions import RUN_EVENT, Actions, PullRequest
from .client import APIError, Client
from .overall import ERROR, STATE
from .pulls import Comment, PullRequestAPI, review_comment

OWN_COMMIT = "promptci: refresh the evaluation subset"
NO_RUN_ON_OWN_COMMIT = (
    "a push made with the job's GITHUB_TOKEN starts no workflow, so the repository's other "
    "required checks will not run on that commit (promptci sets its own status there): push any "
    "commit on top, or give the action an app's token (`token`), whose pushes start workflows"
)
SUGGESTED = "promptci found a prompt that scores higher on the evaluation subset; each suggestion applies one change."


@dataclass
class PublishSettings:
    commit_subsets: bool = False
    suggest: bool = True
    login: str = overall.BOT_LOGIN
    template: Path | None = None
    status_prefix: str = "promptci"


@dataclass
class Published:
    read_only: str = ""  # why nothing was written to the pull request ("" when it could be)
    comment_url: str = ""
    commits: dict[str, str] = field(default_factory=dict)  # subset path -> commit SHA
    pushed: str = ""  # the commit promptci pushed to the branch ("" when none): its new head, owed the same status
    suggestions: int = 0
    statuses: list[str] = field(default_factory=list)  # the commits given the `promptci` status
    faults: list[str] = field(default_factory=list)


Results = prresults.PRResults
UNTRUSTED = (
    "The scores in this report come from an untrusted run: the pull request's own workflow run uploaded "
    "them, so its code could have written any numbers. The verdict was recomputed from those scores: a "
    "failure stands, but a pass cannot pass the `promptci` check, which stays pending until a trusted run "
    "gates this commit (a maintainer pushes the branch to this repository and opens a pull request from "
    "it; see 'Pull requests from forks' in promptci's README)."
)


def read_only_reason(actions: Actions) -> str:
    """Why this run may not write to the pull request, or ''."""
    if actions.pr is None:
        return f"the {actions.event_name or 'unknown'} event has no pull request to report on"
    if actions.event_name == RUN_EVENT and not actions.pr.from_fork:
        return (
            "the fork-safe post job reports only on pull requests from forks; this one's branch is in the "
            "repository, and its own promptci run reports on it"
        )
    if _from_fork(actions):
        return (
            "this pull request comes from a fork, so its token is read-only and no secrets are passed; "
            f"the report is in this job's summary. {overall.FORK_UNBLOCK}"
        )
    if not actions.token:
        return "no token was given (the action's `token` input)"
    return ""


def refuse_unsafe_event(actions: Actions) -> None:
    """`pull_request_target` runs with the base repository's secrets and a write token; promptci reads and
    runs what the pull request contains (prompts, pools, templates), so it refuses that event outright."""
    if actions.event_name == "pull_request_target":
        raise InputError(
            "promptci does not run on pull_request_target: that event gives the pull request's files "
            "the base repository's secrets and a write token",
            field="GITHUB_EVENT_NAME",
            fix="run on pull_request, and post results for forks from a workflow_run job (see "
            "'Pull requests from forks' in promptci's README)",
        )


def commit_refusal(actions: Actions) -> str:
    """Why no subset may be committed in this run, or '': only a pull_request run on a branch of the
    repository itself commits (never a workflow_run job, whose results came from the pull request, nor a fork)."""
    pr = actions.pr
    if actions.event_name != "pull_request":
        return f"subsets are committed only on pull_request events, not on {actions.event_name or 'this event'}"
    if pr is None or pr.head_repo != pr.repo:
        return "the pull request's branch is not in this repository"
    return ""


def confirm_pull_request(actions: Actions, data: Results, client: Client) -> Actions:
    """In a `workflow_run` job: the pull request to post on, checked with GitHub, with its base as GitHub has it.

    The number comes from GitHub's payload when it has one, else from the results the pull_request run
    uploaded — data from the pull request, so it is trusted only when GitHub says that pull request's
    head is the commit the finished run tested. Its base (which the payload lacks) is what the results must
    cover (coverage.require): the branch it merges into, not the default branch.
    """
    if actions.event_name != RUN_EVENT or actions.pr is None or not actions.pr.from_fork:
        return actions  # (not from a fork: nothing is posted, read_only_reason says why)
    tested = data.pull_request.head_sha if data.pull_request else "none"
    if tested != actions.pr.head_sha:  # results another run wrote (or none named): they judge another commit
        raise InputError(
            f"the results are for commit {tested[:12]}, not {actions.pr.head_sha[:12]}, the commit the "
            "finished run tested",
            field="pull_request.head_sha",
            fix="upload the results.json that 'promptci pr --github' wrote in that run",
        )
    number = actions.pr.number
    if not number:
        number = data.pull_request.number if data.pull_request else 0
    if number <= 0:
        raise InputError(
            "the results do not say which pull request they are for",
            field="pull_request",
            fix="upload the results.json that 'promptci pr --github' wrote in the pull_request run",
        )
    found = PullRequestAPI(client, actions.pr.repo, number).get()
    head = str(found["head"]["sha"])
    if head != actions.pr.head_sha:
        raise InputError(
            f"pull request #{number} is at {head[:12]}, not at the tested {actions.pr.head_sha[:12]}",
            field="pull_request",
            fix="nothing to post: a newer run will report on the new head",
        )
    base = found["base"]
    return replace(actions, pr=replace(actions.pr, number=number, base_ref=str(base["ref"]), base_sha=str(base["sha"])))


def _from_fork(actions: Actions) -> bool:
    return actions.pr is not None and actions.pr.from_fork and actions.event_name == "pull_request"


def publish(
    data: Results,
    actions: Actions,
    client: Client | None,
    *,
    repo_dir: str,
    out_dir: Path,
    settings: PublishSettings,
    stdout: TextIO | None = None,
) -> Published:
    stdout = stdout or sys.stdout  # looked up now, not at import: a caller may have redirected it
    published = Published(read_only=read_only_reason(actions))
    pr = actions.pr
    api = PullRequestAPI(client, pr.repo, pr.number) if pr is not None and client is not None else None

    if (
        pr is not None
        and api is not None
        and not published.read_only
        and settings.commit_subsets
        and not commit_refusal(actions)
    ):
        files = {p.subset.path: p.subset.text for p in data.prompts if p.subset.text}
        _commit_subsets(
            files, api.client, pr, repo_dir, published, stdout, job_token=settings.login == overall.BOT_LOGIN
        )
    publication = {
        "read_only": published.read_only,
        "commits": published.commits,
        "run_url": actions.run_url,
        "untrusted": UNTRUSTED if actions.event_name == RUN_EVENT else "",
    }
    workflow.write_summary(
        actions.summary_path,
        render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT, publication=publication),
    )
    workflow.set_outputs(actions.output_path, outputs(data, out_dir))
    workflow.annotate(stdout, error_annotations(data))
    if published.read_only:
        print(
            workflow.annotation(
                "warning",
                f"promptci did not post to the pull request: {published.read_only}",
                title="promptci: report in the job summary only",
            ),
            file=stdout,
        )
    if pr is None or api is None or published.read_only:  # nothing is posted on the pull request
        if actions.group is not None and client is not None and actions.token:  # a merge queue: the status only
            _overall(PullRequestAPI(client, actions.repository, 0), [actions.group.head_sha], data, actions, published)
            for fault in published.faults:
                print(workflow.annotation("error", fault, title="promptci: GitHub refused a request"), file=stdout)
        return published

    comment = render.render(data, template=settings.template, publication=publication)
    accepted = _acceptance(data, actions, api, published)
    try:
        found = _comment(api, comment, settings, actions, create=bool(data.prompts))
        published.comment_url = found.url if found else ""
    except InfraError as exc:
        published.faults.append(str(exc))
    for sha in filter(None, (pr.head_sha, published.pushed)):  # our own commit changed only subsets: same verdict
        for p in data.prompts:
            try:
                _status(api, sha, p, settings, actions, accepted)
            except InfraError as exc:
                published.faults.append(str(exc))
    if settings.suggest:
        try:
            published.suggestions = _suggest(api, pr.head_sha, data, repo_dir)
        except InfraError as exc:
            published.faults.append(str(exc))
    # the required `promptci` status, last so that it can say whether anything failed: on the tested head, and on
    # the commit promptci pushed on top of it (a GITHUB_TOKEN push starts no run; only a subset file changed)
    _overall(api, [sha for sha in (pr.head_sha, published.pushed) if sha], data, actions, published, accepted)
    for fault in published.faults:
        print(workflow.annotation("error", fault, title="promptci: GitHub refused a request"), file=stdout)
    return published


def fault(actions: Actions, exc: PromptCIError, stdout: TextIO | None = None) -> int:
    """The run stopped before a verdict: say so in the summary and outputs; the exit code it ends with.

    A fork's pull request has no secrets, so a model that needs a key cannot be reached: that is a
    neutral result (exit 0) with a warning that nothing was gated, never a silent pass.
    """
    neutral = isinstance(exc, InfraError) and _from_fork(actions)
    verdict = decision.NEUTRAL if neutral else ERROR
    title = (
        "not gated: a pull request from a fork gets no secrets, so the model could not be reached"
        if neutral
        else "promptci could not finish"
    )
    body = f"## ⚠️ promptci: {title}\n\n{escape.block(str(exc))}\n"
    if neutral:
        body += (
            "\nA maintainer can run the gate on this branch by pushing it to this repository; see 'Pull "
            "requests from forks' in promptci's README.\n"
        )
    workflow.write_summary(actions.summary_path, body)
    workflow.set_outputs(actions.output_path, {"verdict": verdict, "prompts": "0", "failed": "0", "scores": "{}"})
    print(workflow.annotation("warning" if neutral else "error", str(exc), title=f"promptci: {title}"), file=stdout)
    return EXIT_OK if neutral else exc.exit_code  # the command line reports the error itself


def outputs(data: Results, out_dir: Path) -> dict[str, str]:
    """The step outputs: the verdict, per-prompt scores as JSON, where the reports are."""
    prompts = data.prompts
    scores = {p.path: {**p.scores.model_dump(), "verdict": p.verdict.status if p.verdict else None} for p in prompts}
    return {
        "verdict": data.verdict.status,
        "prompts": str(len(prompts)),
        "failed": str(sum(1 for p in prompts if p.verdict and p.verdict.status == decision.FAIL)),
        "scores": json.dumps(scores, sort_keys=True),
        "report": str(out_dir / "report.md"),
        "results": str(out_dir / "results.json"),
    }


def error_annotations(data: Results) -> list[tuple[str, str, dict]]:
    """An error on each prompt file that failed the gate, at its first changed line."""
    found = []
    for p in data.prompts:
        change, verdict = p.change, p.verdict
        if verdict is None or verdict.status != decision.FAIL or change.new_path is None:
            continue
        line = _first_changed_line(change.old_text, change.new_text)
        found.append(
            ("error", verdict.reason, {"file": change.new_path, "line": line, "title": "promptci: the gate failed"})
        )
    return found


def _first_changed_line(old: str | None, new: str | None) -> int:
    a, b = (old or "").splitlines(), (new or "").splitlines()
    for tag, _, _, j1, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            return min(j1 + 1, max(len(b), 1))
    return 1


def _commit_subsets(
    files: dict[str, str],
    client: Client,
    pr: PullRequest,
    repo_dir: str,
    published: Published,
    stdout: TextIO,
    *,
    job_token: bool,
) -> None:
    """The refreshed subsets (path -> text) in one commit on the tested head, or none: a moved branch gets
    the patch, with a warning. Pushed with the job's own token (`job_token`), the commit starts no workflow:
    a warning says so, since the repository's other required checks will then not run on it."""
    if not files or OWN_COMMIT in gitdiff.message(repo_dir, pr.head_sha):
        return  # nothing refreshed; or the head commit is our own: committing again could loop
    message = f"{OWN_COMMIT}\n\n" + "".join(f"- {path}\n" for path in files)
    try:
        sha = gitdata.commit_files(client, pr.repo, pr.head_ref, pr.head_sha, files, message)
    except gitdata.BranchMoved as exc:
        _not_committed(str(exc), stdout)
        return
    except APIError as exc:
        if exc.status not in (403, 404, 409):
            published.faults.append(str(exc))  # not "may not push here": a real fault
        else:
            _not_committed(f"{exc.status} {exc.api_message} (the token needs contents: write)", stdout)
        return  # either way the report carries the change as a patch
    except (InfraError, InputError) as exc:  # unreachable, or a path no subset may have (nothing was sent): the
        published.faults.append(str(exc))  # summary must still be written, so record and go on
        return
    published.commits = dict.fromkeys(files, sha)
    published.pushed = sha
    if job_token:
        print(
            workflow.annotation(
                "warning",
                f"promptci pushed {sha[:12]} to the branch; {NO_RUN_ON_OWN_COMMIT}",
                title="promptci: other checks do not run on its commit",
            ),
            file=stdout,
        )


def _not_committed(why: str, stdout: TextIO) -> None:
    print(
        workflow.annotation(
            "warning",
            f"the refreshed subsets were not committed: {why}; apply the patch in the "
            "report, or the promptci-subsets artifact",
            title="promptci: subset not committed",
        ),
        file=stdout,
    )


def _comment(
    api: PullRequestAPI, body: str, settings: PublishSettings, actions: Actions, *, create: bool
) -> Comment | None:
    try:
        return api.upsert_comment(body, marker=render.MARKER, login=settings.login, create=create)
    except APIError as exc:
        if exc.status != 422:
            raise
        # GitHub refused the body (too long by its own count): post the verdict and point to the summary
        return api.upsert_comment(
            render.short(body, actions.run_url), marker=render.MARKER, login=settings.login, create=create
        )


def _status(
    api: PullRequestAPI,
    sha: str,
    p: prresults.PromptResults,
    settings: PublishSettings,
    actions: Actions,
    accepted: accept.Acceptance = accept.NONE,
) -> None:
    status, reason = (p.verdict.status, p.verdict.reason) if p.verdict else (ERROR, p.error or "not scored")
    base, head = p.scores.base, p.scores.head
    scores = f"{base:.3f} → {head:.3f}: " if base is not None and head is not None else ""
    state, description = overall.state(status, f"{scores}{reason}", trusted=actions.event_name != RUN_EVENT)
    if state == STATE[status] and status != decision.INCONCLUSIVE:
        description = f"{scores}{reason}"  # a prompt's own status: the scores say the verdict
    if status == decision.INCONCLUSIVE and accepted.by:
        state, description = "success", f"accepted by @{accepted.by}: {scores}{reason}"
    api.set_status(
        sha,
        context=f"{settings.status_prefix}/{p.path}",
        state=state,
        description=description,
        target_url=actions.run_url,
    )


def set_overall_status(
    api: PullRequestAPI, sha: str, status: str, reason: str, target_url: str = "", *, trusted: bool = True
) -> None:
    """The `promptci` status, the one a branch rule requires, with the overall verdict (`status`: pass, fail,
    undecided, neutral or error) on commit `sha`. Any commit promptci pushes gets it too. From untrusted
    scores (a fork's upload) it is never `success` (overall.state)."""
    state, description = overall.state(status, reason, trusted=trusted)
    api.set_status(sha, context=overall.CONTEXT, state=state, description=description, target_url=target_url)


def _acceptance(data: Results, actions: Actions, api: PullRequestAPI, published: Published) -> accept.Acceptance:
    """A maintainer's acceptance of an inconclusive verdict on the tested head (accept.py); asked of GitHub only
    for an inconclusive verdict from a trusted run."""
    if data.verdict.status != decision.INCONCLUSIVE or not _trusted(actions, data):
        return accept.NONE
    try:
        return accept.acceptance(actions, api.client)
    except InfraError as exc:
        published.faults.append(str(exc))
        return accept.NONE


def _overall(
    api: PullRequestAPI,
    shas: list[str],
    data: Results,
    actions: Actions,
    published: Published,
    accepted: accept.Acceptance = accept.NONE,
) -> None:
    """The overall verdict on each commit; `error` when a request of this run failed (never a green check that
    hides a fault: a re-run posts the rest). An inconclusive verdict is a failure unless accepted (accept.py)."""
    status: str = data.verdict.status
    reason = data.verdict.reason
    if accepted.note:
        reason = f"{accepted.note}; {reason}"
    if published.faults:
        n = len(published.faults)
        status, reason = (
            "error",
            f"{n} GitHub request{'s' if n != 1 else ''} failed, re-run the job ({status}: {reason})",
        )
    for sha in shas:
        try:
            if status == decision.INCONCLUSIVE and accepted.by:
                api.set_status(
                    sha,
                    context=overall.CONTEXT,
                    state="success",
                    description=f"accepted by @{accepted.by} ({overall.ACCEPT_LABEL}): {reason}",
                    target_url=actions.run_url,
                )
            else:
                set_overall_status(api, sha, status, reason, actions.run_url, trusted=_trusted(actions, data))
        except InfraError as exc:
            published.faults.append(str(exc))
            return
        published.statuses.append(sha)
    workflow.set_outputs(actions.output_path, {"status-set": "true"})  # the action's crash step then stays quiet


def _trusted(actions: Actions, data: Results) -> bool:
    """Whether the verdict rests on no untrusted score: not a fork's upload (the fork-post job), or an upload with no
    prompt in it, which coverage.require has checked against GitHub's own list of the pull request's files."""
    return actions.event_name != RUN_EVENT or not data.prompts


def _suggest(api: PullRequestAPI, sha: str, data: Results, repo_dir: str) -> int:
    """One review with suggestions for each prompt found and shown better than head, on the lines of the pull
    request's head commit `sha`, leaving out those suggested before."""
    wanted = []
    for p in data.prompts:
        o, change = p.optimizer, p.change
        if not o or not o.improved or change.new_text is None or change.new_path is None:
            continue
        if o.verdict is None or o.verdict.status != "better":  # posted only when the gate's test shows it better
            continue
        try:
            head = gitdiff.read_text(repo_dir, sha, change.new_path)
        except InputError:
            head = None  # the head commit is not in this clone: its lines are unknown, the report has the diff
        if head is None:
            continue
        mark = suggestions.marker(p.path, o.best_text)
        wanted += [
            (mark, review_comment(change.new_path, s.start, s.end, s.body(mark)))
            for s in suggestions.on_head(change.old_text, change.new_text, head, o.best_text)
        ]
    posted = {(c.get("body") or "").split("\n", 1)[0] for c in api.review_comments()} if wanted else set()
    comments = [comment for mark, comment in wanted if mark not in posted]
    if not comments:
        return 0
    try:
        api.review(sha, comments, SUGGESTED)
        return len(comments)
    except APIError as exc:
        if exc.status != 422:
            raise
    count = 0  # GitHub refused a line as outside the diff: post the others, each on its own
    for comment in comments:
        try:
            api.review(sha, [comment], SUGGESTED)
            count += 1
        except APIError as exc:
            if exc.status != 422:
                raise
    return count
