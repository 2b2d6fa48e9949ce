"""The command line: parse arguments (`arguments.py`), run the command's flow (`flows/`), print what it found.

Exit codes (docs/design.md, "Exit codes and errors"): 0 passed · 1 gate failed · 2 bad input or usage · 3 a model or
GitHub
unreachable after retries. Errors are one line on stderr, never a traceback, printed by `_error` alone.

Each command imports its flow when it runs, on purpose: the pull-request flow brings scikit-learn and the
embedding model's libraries (seconds), which `promptci eval` answered from the cache must not pay
(benchmarks/README.md, eval_overhead).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from . import arguments
from .errors import EXIT_INPUT, EXIT_OK, InfraError, PromptCIError
from .files.subsetfile import STAGE1_KINDS
from .gate.noise import tame
from .rendering.escape import flat

if TYPE_CHECKING:
    from .files.evalresults import Run
    from .flows.pull_request import FlowRequest, PROutcome, PublishSettings, Written
    from .optimize.outcome import Attempt

# Names, labels, paths and model text print literally: no markup ('[x]'), no emoji codes (':x:'). A line
# with styled parts is a rich Text (`Text.assemble`), whose parts are literal text too.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def main(argv: Sequence[str] | None = None) -> int:
    tame()
    parser = arguments.parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        arguments.check_at_the_door(args)
        return COMMANDS[args.command](args)
    except PromptCIError as exc:
        return _error(exc)
    except KeyboardInterrupt:
        print("promptci: interrupted", file=sys.stderr)
        return 130


def _error(exc: PromptCIError) -> int:
    """The one printer of errors (and of warnings: an error whose exit code is 0); the code to exit with."""
    print(f"promptci: {'error: ' if exc.exit_code else ''}{exc}", file=sys.stderr)
    return exc.exit_code


def _cmd_eval(args: argparse.Namespace) -> int:
    from .flows import evaluate

    request = evaluate.EvalRequest(
        prompts=args.prompts,
        selection=args.selection,
        limit=args.limit,
        model=args.model,
        json_out=args.json_out,
        use_cache=not args.no_cache,
        concurrency=args.concurrency,
        repeats=args.repeats,
    )
    plan = evaluate.prepare(request)
    for skipped in plan.skipped:
        _error(skipped)
    if not plan.tasks:
        return EXIT_OK
    outcome = evaluate.run_plan(request, plan)
    for run in outcome.runs:
        _print_run(run)
    if outcome.fault:
        raise outcome.fault
    for b in outcome.below:
        scored = "no score" if b.mean is None else f"{b.mean:.3f}"
        print(
            f"promptci: gate failed: {b.name} scored {scored}, below promptci.gate.min_score {b.minimum}",
            file=sys.stderr,
        )
    return outcome.exit_code


def _print_run(run: Run) -> None:
    s = run.summary
    pool = f"{run.pool['source']} ({run.pool['size']} items)"
    out.print(Text.assemble((run.prompt["name"], "bold"), f" · {run.model} · {run.selection} · {pool}"))
    if s.mean is None:
        out.print("  score   none (no item was scored)")
    else:
        low, high = s.ci95 or (s.mean, s.mean)
        out.print(
            f"  score   {s.mean:.3f}  95% CI [{low:.3f}, {high:.3f}] ({s.ci_method})  n={s.scored}  errors={s.errors}"
        )
    from .gate.draws import lines  # pass^k, flaky items, the judges' self-agreement: only when the run has them

    cost = f"${s.cost_usd:.4f}" + ("" if s.cost_known else " (some prices unknown)")
    out.print(
        Text(
            "".join(f"{line}\n" for line in lines(s))
            + f"  usage   {s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion tokens · {cost} · "
            f"{s.calls} calls · {s.cache_hits} cache hits · {s.wall_s:.1f} s"
        )
    )
    if failed := [r for r in run.items if r.error]:
        out.print(
            Text.assemble("  ", (f"{len(failed)} items failed", "red"), f"; first: {failed[0].id}: {failed[0].error}")
        )


def _cmd_select(args: argparse.Namespace) -> int:
    from .flows import subset

    def show(done: subset.Checked | subset.Written) -> None:
        if isinstance(done, subset.Checked):
            if done.problems:
                out.print(f"stale: {done.target}: {'; '.join(done.problems)} (fix: promptci select {done.prompt})")
            else:
                out.print(f"ok: {done.target}")
            for claim in done.unverified:
                out.print(f"  not verified: {claim}")
            return
        kinds = ", ".join(f"{n} {kind}" for kind, n in done.subset.kinds().items() if kind in STAGE1_KINDS)
        out.print(
            f"wrote {done.target}: {len(done.subset.items)} of {done.pool_size} items ({kinds}), method "
            f"{done.params.method}, seed {done.params.seed}, {done.seconds:.1f} s"
        )

    return subset.select(
        subset.SelectRequest(
            prompts=args.prompts,
            method=args.method,
            size=args.size,
            alpha=args.alpha,
            clusters=args.clusters,
            seed=args.seed,
            check=args.check,
        ),
        show,
    ).exit_code


def _cmd_refine(args: argparse.Namespace) -> int:
    from .flows import subset

    refined = subset.refine(args.prompt, args.results)
    if not refined.records:
        out.print(
            f"{refined.target}: no redundant items among {refined.size} (threshold {refined.settings.threshold}, "
            f"judged on at least {refined.settings.min_prompts} prompts; the ledger holds "
            f"{len(refined.refined.evidence.prompts)}); scores recorded"
        )
        return refined.exit_code
    out.print(f"rewrote {refined.target}: replaced {len(refined.records)} of {refined.size} items")
    for record in refined.records:
        out.print(f"  - {record['why']}")
    return refined.exit_code


def _cmd_optimize(args: argparse.Namespace) -> int:
    from .flows import optimize

    request = optimize.OptimizeRequest(
        prompt=args.prompt,
        steps=args.steps,
        optimizer_model=args.optimizer_model,
        model=args.model,
        budget_calls=args.budget_calls,
        budget_usd=args.budget_usd,
        holdout=args.holdout,
        seed=args.seed,
        write=args.write,
        json_out=args.json_out,
    )
    loaded = optimize.load(request)
    out.print(f"optimizing {args.prompt} ({len(loaded.pool)} pool items)")
    result = optimize.run(request, loaded, _show_attempt)
    job, o = result.job, result.job.outcome
    split = job.split
    out.print(
        f"subset: {job.subset_source}; {len(split.subset)} items and {len(split.judged)} training items judged, "
        f"{len(split.training) - len(split.judged)} to learn from, {len(split.holdout)} held out · task model "
        f"{job.task_model} · optimizer {job.optimizer_model} ({job.style})"
    )
    out.print(f"stopped: {o.stopped} (after step {o.steps_done}; {result.budget})")
    if o.replacements:
        out.print(f"subset refreshed by IPOMP stage 2: {len(o.replacements)} items replaced")
    if o.improved:
        out.print(o.diff(f"{args.prompt} (input)", f"{args.prompt} (best)").rstrip(), markup=False, highlight=False)
    else:
        out.print(f"nothing to suggest: {o.why_unchanged()}")
    chosen = [d.item for d in job.pool_demos if d.where == "training"]
    if chosen:  # left out of the scores below (optimize.honest)
        out.print(f"demonstrations from the training split: pool items {', '.join(chosen)}")
    for demo in job.pool_demos:
        if demo.where != "training":
            out.print(
                f"warning: a demonstration of the best prompt is pool item {demo.item} ({demo.where}), left "
                "out of its scores"
            )
    honest = job.subset_initial is not None and job.subset_best is not None
    out.print(
        f"subset score: input {job.subset_initial if honest else o.initial_on_final:.3f} → best "
        f"{job.subset_best if honest else o.best_score:.3f}"
    )
    if job.holdout_initial is not None:
        out.print(
            f"held-out score ({len(job.holdout_items)} items the optimizer never saw): input "
            f"{job.holdout_initial:.3f} → best {job.holdout_best:.3f}"
        )
        if o.improved and job.holdout_best is not None and job.holdout_best <= job.holdout_initial:
            out.print(
                "warning: the suggestion does not beat the input on the held-out items: its gain on the items "
                "it was tuned on does not carry over; do not adopt it as it is"
            )
    elif o.improved and job.holdout_note:
        out.print(f"no held-out score: {job.holdout_note}")
    if o.fault:
        raise InfraError(f"{o.fault} (the best prompt so far is in {args.json_out})") if args.json_out else o.fault
    if result.written:
        out.print(f"wrote the best prompt to {args.prompt}")
    return result.exit_code


def _show_attempt(attempt: Attempt) -> None:
    verdict = ("accepted", "green") if attempt.accepted else ("rejected", "dim")
    where = attempt.kind + (f" #{attempt.unit}" if attempt.unit is not None else "")
    after = flat(attempt.after, 160) if attempt.after else "—"
    scores = " ".join(
        f"{name} {value:.3f}"
        for name, value in (("failures", attempt.failure_score), ("subset", attempt.subset_score))
        if value is not None
    )
    out.print(
        Text.assemble(f"step {attempt.step} · {where} · ", verdict, f" · {scores or 'not scored'} · {attempt.why}")
    )
    out.print(f"    {after}")


def _flow_request(args: argparse.Namespace, flow: ModuleType) -> FlowRequest:
    gate = {k: v for k, v in (("min_score", args.min_score), ("margin", args.margin)) if v is not None}
    options = flow.Options(
        optimize=not args.no_optimize,
        refresh=not args.no_refresh,
        max_calls=args.max_calls,
        max_usd=args.max_usd,
        steps=args.steps,
        model=args.model,
        optimizer_model=args.optimizer_model,
        subset_size=args.subset_size,
        gate=gate,
    )
    return flow.FlowRequest(
        out=args.out,
        options=options,
        template=args.template,
        prompts=args.prompts or (),
        shard=getattr(args, "shard", None),
        max_shards=getattr(args, "max_shards", 10),
    )


def _publish_settings(args: argparse.Namespace, flow: ModuleType) -> PublishSettings:
    return flow.PublishSettings(
        commit_subsets=args.commit_subsets,
        suggest=not args.no_suggestions,
        login=args.bot_login,
        template=args.template,
    )


def _cmd_pr(args: argparse.Namespace) -> int:
    from .flows import pull_request as flow

    actions = flow.actions_run(args.github)
    base = flow.base_ref(args.base, args.repo, args.head, actions)
    outcome = flow.pull_request(
        _flow_request(args, flow),
        str(args.repo),
        base,
        args.head,
        actions,
        _publish_settings(args, flow),
        on_changes=_changes(base, args.head, args.shard),
        show=_show_pr,
    )
    return _finish(outcome)


def _changes(base: str, head: str, shard: str | None) -> Callable[[int], None]:
    def say(n: int) -> None:
        out.print(
            f"{n} changed prompt{'s' if n != 1 else ''} between {base} and {head}"
            + (f" in shard {shard}" if shard else "")
        )

    return say


def _show_pr(terminal: str, written: Written) -> None:
    out.print(terminal, markup=False, highlight=False)
    out.print(
        f"wrote {written.report} and {written.results}"
        + (f"; refreshed subsets under {written.subsets}" if written.subsets else "")
    )


def _finish(outcome: PROutcome) -> int:
    """What was posted, then the flow's fault (if any) through the one printer; the exit code."""
    if outcome.published is not None:
        if outcome.published.comment_url:
            out.print(f"report posted: {outcome.published.comment_url}")
        for path, sha in outcome.published.commits.items():
            out.print(f"refreshed subset {path} committed as {sha[:12]}")
    if outcome.fault is not None:
        raise outcome.fault
    return outcome.exit_code


def _cmd_demo(args: argparse.Namespace) -> int:
    from .flows import pull_request as flow, warm

    with flow.demo_repo(
        args.keep, warm.demo_main(args.model, out.print) if args.warm else None, args.temperature
    ) as demo:
        out.print(
            f"demo repository {demo.path}: main {demo.base[:12]} ← '{demo.title}' {demo.head[:12]} "
            f"(changes {demo.prompt})"
        )
        outcome = flow.pull_request(
            _flow_request(args, flow),
            str(demo.path),
            "main",
            "trim-examples",
            None,
            None,
            on_changes=_changes("main", "trim-examples", None),
            show=_show_pr,
        )
    out.print(
        f"the gate's exit code for this pull request would be {outcome.exit_code}; "
        f"run 'promptci pr --base origin/main' in your own repository"
    )
    return EXIT_OK


def _cmd_plan(args: argparse.Namespace) -> int:
    from .flows import report

    planned = report.plan_shards(args.repo, args.base, args.head, args.max_shards, args.github)
    sys.stdout.write(planned.matrix + "\n")
    return planned.exit_code


def _cmd_report(args: argparse.Namespace) -> int:
    from .flows import report

    request = report.ReportRequest(results=args.results, plan=args.plan, format=args.format, template=args.template)
    if args.github:
        return _finish(report.publish_report(request, args.repo, _publish_settings(args, report), sys.stdout.write))
    rendered = report.render_report(request)
    sys.stdout.write(rendered.text)
    return rendered.exit_code


def _cmd_warm(args: argparse.Namespace) -> int:
    from .flows import warm

    return warm.command(warm.WarmRequest(args.prompts, args.model, args.max_calls, args.max_usd), out.print)


def _cmd_import(args: argparse.Namespace) -> int:
    from . import importers

    if args.kind in ("promptfoo", "openai-evals"):
        for written in importers.import_config(
            args.kind, args.source, args.out, judge_model=args.judge_model, run=args.run, items=args.items
        ):
            out.print(written.summary, markup=False)
            sys.stderr.writelines(f"promptci: warning: not carried over: {flat(w, 2000)}\n" for w in written.leftovers)
        return EXIT_OK
    report = (
        importers.import_bigbench(args.source, args.out)
        if args.kind == "bigbench"
        else importers.import_csv(
            args.source,
            args.out,
            labels=[label.strip() for label in args.labels.split(",")] if getattr(args, "labels", None) else None,
        )
    )
    out.print(f"wrote {report.count} items to {report.out}")
    if report.labels:
        out.print(f"label set ({len(report.labels)}, the same for every item): {', '.join(report.labels)}")
    elif report.per_item_labels:
        out.print("each item has its own options, in the field 'choices'")
    out.print("add to your prompt file (the pool path is relative to the prompt file):")
    out.print(report.settings_snippet(Path("prompts")), markup=False)  # exactly as YAML, brackets and all
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "eval": _cmd_eval,
    "select": _cmd_select,
    "refine": _cmd_refine,
    "optimize": _cmd_optimize,
    "pr": _cmd_pr,
    "plan": _cmd_plan,
    "report": _cmd_report,
    "demo": _cmd_demo,
    "warm": _cmd_warm,
    "import": _cmd_import,
}
