"""The command line. Thin: parse arguments, call the modules, print, and map errors to exit codes.

Exit codes (DESIGN.md §7): 0 passed · 1 gate failed · 2 bad input or usage · 3 a model or GitHub
unreachable after retries. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Sequence

from rich.console import Console
from rich.text import Text

from . import __version__
from .errors import EXIT_GATE_FAILED, EXIT_INFRA, EXIT_INPUT, EXIT_OK, InputError, PromptCIError

if TYPE_CHECKING:
    from .results import Run
    from .runner import Task

# Names, labels, paths and model text print literally: no markup ('[x]'), no emoji codes (':x:'). A line
# with styled parts is a rich Text (`Text.assemble`), whose parts are literal text too.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def main(argv: Sequence[str] | None = None) -> int:
    from .noise import tame

    tame()
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        _check_at_the_door(args)
        return args.handler(args)
    except PromptCIError as exc:
        print(f"promptci: {'error: ' if exc.exit_code else ''}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("promptci: interrupted", file=sys.stderr)
        return 130


def _check_at_the_door(args: argparse.Namespace) -> None:
    """The environment and every output path, checked before any work: a path that cannot be written
    fails now in one line, not in a traceback after minutes of scoring."""
    from . import env
    from .fileio import check_input, check_output_file, check_output_folder

    env.check()
    if getattr(args, "json_out", None) is not None:
        check_output_file(args.json_out, option="--json")
    if getattr(args, "keep", None) is not None:
        check_output_folder(args.keep, option="--keep")
    if getattr(args, "out", None) is not None:
        if getattr(args, "kind", None):  # import writes one JSONL file
            check_output_file(args.out, option="--out", example="pool.jsonl")
        else:  # pr and demo write a folder of reports
            check_output_folder(args.out, option="--out")
            for name in ("results.json", "report.md"):
                check_output_file(args.out / name, option="--out")
    if getattr(args, "template", None) is not None:
        check_input(args.template, what="template", field="--template")


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line errors every other bad input gets (its usage block is a --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"promptci: error: {message} (fix: see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="promptci", description="Prompt CI: score, select, optimize and gate "
                                     "GitHub Models .prompt.yml files.")
    parser.add_argument("--version", action="version", version=f"promptci {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    ev = commands.add_parser("eval", help="score prompts on their eval items")
    ev.add_argument("prompts", nargs="+", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    which = ev.add_mutually_exclusive_group()
    which.add_argument("--full", dest="selection", action="store_const", const="full",
                       help="every item of the pool (the default)")
    which.add_argument("--subset", dest="selection", action="store_const", const="subset",
                       help="the items of the committed subset file")
    ev.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N items (a quick look)")
    ev.add_argument("--model", metavar="M", help="a litellm model instead of the prompt's own")
    ev.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write the results JSON here")
    ev.add_argument("--no-cache", action="store_true", help="ask the model again instead of using the disk cache")
    ev.add_argument("--concurrency", type=_positive_int, metavar="N",
                    help="model calls in flight (default: promptci.concurrency, 4)")
    ev.set_defaults(handler=_cmd_eval, selection="full")

    sel = commands.add_parser("select", help="choose the evaluation subset of each prompt (IPOMP stage 1)")
    sel.add_argument("prompts", nargs="+", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    sel.add_argument("--size", type=_positive_int, metavar="N", help="items in the subset (promptci.selection.size)")
    sel.add_argument("--alpha", type=_share, metavar="A", help="share of representative items, in [0, 1]")
    sel.add_argument("--clusters", type=_positive_int, metavar="K", help="K-means clusters")
    sel.add_argument("--seed", type=_seed, metavar="S", help="random seed")
    sel.add_argument("--method", choices=["ipomp", "random", "boundary", "clustering"],
                     help="selection method (default: promptci.selection.method)")
    sel.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 when a subset is missing or stale, and say why")
    sel.set_defaults(handler=_cmd_select)

    ref = commands.add_parser("refine", help="refine a subset from the scores of several prompts (IPOMP stage 2)")
    ref.add_argument("prompt", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    ref.add_argument("--results", nargs="+", required=True, type=Path, metavar="R.json",
                     help="results files of at least two prompts scored on the subset")
    ref.set_defaults(handler=_cmd_refine)

    opt = commands.add_parser("optimize", help="suggest a better prompt (dual-phase, judged on the IPOMP subset)")
    opt.add_argument("prompt", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    opt.add_argument("--steps", type=_non_negative_int, metavar="T", help="the most refinement steps (default 5)")
    opt.add_argument("--optimizer-model", metavar="M", help="the model that writes rewrites (default: the prompt's)")
    opt.add_argument("--model", metavar="M", help="the task model, instead of the prompt's own")
    opt.add_argument("--budget-calls", type=_positive_int, metavar="N", help="the most uncached model calls")
    opt.add_argument("--budget-usd", type=_dollars, metavar="X", help="the most dollars to spend")
    opt.add_argument("--holdout", type=_non_negative_int, metavar="N",
                     help="pool items held out to judge the result (default: promptci.optimizer.holdout, 100)")
    opt.add_argument("--seed", type=_seed, metavar="S", help="random seed (default: promptci.selection.seed)")
    opt.add_argument("--write", action="store_true", help="rewrite the prompt file with the best prompt found")
    opt.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write the trajectory JSON here")
    opt.set_defaults(handler=_cmd_optimize)

    pr = commands.add_parser("pr", help="the pull-request flow: score base and head, suggest, refresh, gate")
    _change_arguments(pr)
    _flow_arguments(pr)
    pr.add_argument("--github", action="store_true",
                    help="in GitHub Actions: post the sticky comment, statuses, suggestions, summary and outputs")
    _publish_arguments(pr)
    pr.add_argument("--shard", metavar="ID", help="run one shard of 'promptci plan' (same --max-shards); "
                                                   "its results are merged by 'promptci report --github'")
    pr.add_argument("--max-shards", type=_positive_int, default=MAX_SHARDS, metavar="N",
                    help=f"with --shard: the plan's number of shards (default {MAX_SHARDS})")
    pr.set_defaults(handler=_cmd_pr)

    plan = commands.add_parser("plan", help="split the changed prompts into shards: a GitHub Actions matrix (JSON)")
    _change_arguments(plan)
    plan.add_argument("--max-shards", type=_positive_int, default=MAX_SHARDS, metavar="N",
                      help=f"the most shards (default {MAX_SHARDS}); more prompts are grouped by pool size")
    plan.add_argument("--github", action="store_true", help="also write the matrix to the step output `matrix`")
    plan.set_defaults(handler=_cmd_plan)

    rep = commands.add_parser("report", help="render the report again from results files of 'promptci pr'")
    rep.add_argument("results", nargs="+", type=Path, metavar="RESULTS",
                     help="results.json files of 'promptci pr', or the --out folders holding them (shards)")
    rep.add_argument("--format", choices=["comment", "summary", "terminal"], default="comment",
                     help="which report (default: the PR comment, Markdown)")
    rep.add_argument("--template", type=Path, metavar="FILE", help="a Jinja2 template for the comment")
    rep.add_argument("--plan", type=Path, metavar="PLAN.json",
                     help="the matrix 'promptci plan' wrote: shard results are merged only with it, and every "
                          "planned shard must be there")
    rep.add_argument("--github", action="store_true",
                     help="in GitHub Actions: publish the merged results (comment, statuses, summary, outputs)")
    rep.add_argument("--repo", default=".", type=Path, metavar="DIR", help="with --github: the checkout (default: .)")
    _publish_arguments(rep)
    rep.set_defaults(handler=_cmd_report)

    demo = commands.add_parser("demo", help="the whole pull-request flow on a throwaway copy of the bundled example")
    demo.add_argument("--keep", type=Path, metavar="DIR", help="build the demo repository here and keep it")
    _flow_arguments(demo)
    demo.set_defaults(handler=_cmd_demo)

    imp = commands.add_parser("import", help="turn other eval formats into a JSONL pool")
    kinds = imp.add_subparsers(title="formats", metavar="FORMAT")
    bb = kinds.add_parser("bigbench", help="a BIG-bench task.json (target_scores give the labels)")
    bb.add_argument("source", type=Path, metavar="TASK.json")
    bb.add_argument("--out", type=Path, required=True, metavar="OUT.jsonl")
    bb.set_defaults(handler=_cmd_import, kind="bigbench")
    cs = kinds.add_parser("csv", help="a CSV file with a header row and an 'expected' column")
    cs.add_argument("source", type=Path, metavar="FILE.csv")
    cs.add_argument("--out", type=Path, required=True, metavar="OUT.jsonl")
    cs.add_argument("--labels", metavar="A,B,...", help="the label set, comma-separated")
    cs.set_defaults(handler=_cmd_import, kind="csv")
    return parser


MAX_SHARDS = 10


def _change_arguments(command: argparse.ArgumentParser) -> None:
    """The change `pr` and `plan` look at."""
    command.add_argument("--base", metavar="REF",
                         help="the branch the change targets (default: the pull request's base in Actions, "
                              "else origin/$GITHUB_BASE_REF)")
    command.add_argument("--head", default="HEAD", metavar="REF", help="the change (default: HEAD)")
    command.add_argument("--repo", default=".", type=Path, metavar="DIR", help="the git repository (default: .)")


def _publish_arguments(command: argparse.ArgumentParser) -> None:
    """How `pr --github` and `report --github` publish."""
    command.add_argument("--commit-subsets", action=argparse.BooleanOptionalAction, default=False,
                         help="with --github: commit refreshed subsets to the pull request's branch when it is still "
                              "at the tested head (default: no, the comment carries them as a patch)")
    command.add_argument("--no-suggestions", action="store_true", help="with --github: no review suggestion comments")
    command.add_argument("--bot-login", default="github-actions[bot]", metavar="LOGIN",
                         help="with --github: the login whose comment is the sticky one (default: github-actions[bot])")


def _flow_arguments(command: argparse.ArgumentParser) -> None:
    """The options `pr` and `demo` share: what to run and within which limits."""
    command.add_argument("--out", default=Path("promptci-report"), type=Path, metavar="DIR",
                         help="where report.md, results.json and refreshed subset files go (default: promptci-report)")
    command.add_argument("--no-optimize", action="store_true", help="do not look for a better prompt")
    command.add_argument("--no-refresh", action="store_true", help="keep the subsets as committed (no IPOMP stage 2)")
    command.add_argument("--steps", type=_non_negative_int, metavar="T", help="the most optimizer steps")
    command.add_argument("--max-calls", type=_positive_int, metavar="N", help="the most uncached model calls")
    command.add_argument("--max-usd", type=_dollars, metavar="X", help="the most dollars to spend")
    command.add_argument("--model", metavar="M", help="the task model, instead of each prompt's own")
    command.add_argument("--optimizer-model", metavar="M", help="the optimizer's model (default: the prompt's)")
    command.add_argument("--subset-size", type=_positive_int, metavar="N",
                         help="items in a subset this run chooses (when none is committed)")
    command.add_argument("--min-score", type=_share, metavar="X", help="fail below this mean score (promptci.gate)")
    command.add_argument("--margin", type=_share, metavar="X",
                         help="the smallest drop worth blocking (promptci.gate.margin)")
    command.add_argument("--tolerance", type=_replaced_by_margin, help=argparse.SUPPRESS)
    command.add_argument("--template", type=Path, metavar="FILE", help="a Jinja2 template for the PR comment")
    command.add_argument("--prompts", nargs="+", metavar="GLOB",
                         help="gate only the prompt files matching these globs (default: every .prompt.yml)")


def _replaced_by_margin(text: str) -> float:
    raise argparse.ArgumentTypeError("--tolerance was replaced by --margin, the smallest drop worth blocking")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def _seed(text: str) -> int:
    from .settings import SEED_MAX

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be from 0 to {SEED_MAX}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _dollars(text: str) -> float:
    """A positive, finite amount: float() also reads 'nan' and 'inf', which would disable the limit."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive amount")
    return value


def _share(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{value} is outside [0, 1]")
    return value


def _cmd_select(args: argparse.Namespace) -> int:
    import time

    from . import promptfile, subsetfile, subsets
    from .evalset import load_pool

    loaded = []  # every prompt, pool, subset path and choice is checked before any subset is written
    for path in args.prompts:
        prompt = promptfile.load(path)
        pool = load_pool(prompt)
        s = prompt.settings.selection
        choice = subsets.Choice(method=args.method or s.method, size=args.size or s.size,
                                alpha=s.alpha if args.alpha is None else args.alpha,
                                clusters=args.clusters or s.clusters, seed=s.seed if args.seed is None else args.seed)
        if not args.check:
            subsets.check(prompt, pool, choice)
        loaded.append((path, prompt, pool, subsetfile.path_for(prompt), choice))
    stale = 0
    for path, prompt, pool, target, choice in loaded:
        if args.check:
            if not target.exists():
                found = ["no subset file"]
            else:
                found = subsets.audit(prompt, pool, subsetfile.read(target), target)
            if found:
                stale += 1
                out.print(f"stale: {target}: {'; '.join(found)} (fix: promptci select {path})")
            else:
                out.print(f"ok: {target}")
            continue
        started = time.perf_counter()
        subset = subsets.select(prompt, pool, choice)
        subsetfile.write(target, subset)
        kinds = ", ".join(f"{sum(e.why.startswith(k) for e in subset.items)} {k}"
                          for k in ("boundary", "representative", "random", "fallback")
                          if any(e.why.startswith(k) for e in subset.items))
        out.print(f"wrote {target}: {len(subset.items)} of {len(pool)} items ({kinds}), method {choice.method}, "
                  f"seed {choice.seed}, {time.perf_counter() - started:.1f} s")
    return EXIT_GATE_FAILED if stale else EXIT_OK


def _cmd_refine(args: argparse.Namespace) -> int:
    from . import promptfile, results, subsetfile, subsets
    from .evalset import load_pool

    prompt = promptfile.load(args.prompt)
    pool = load_pool(prompt)
    subset, _ = subsets.load(prompt, pool)
    runs = [run for path in args.results for run in results.read(path)]
    s = prompt.settings.selection
    refined, records = subsets.refine(prompt, pool, subset, runs, source=subsets.results_source(args.results),
                                      settings=s)
    target = subsetfile.path_for(prompt)
    subsetfile.write(target, refined)
    if not records:
        out.print(f"{target}: no redundant items among {len(subset.items)} (threshold {s.threshold}, judged on at "
                  f"least {s.min_prompts} prompts; the ledger holds {len(refined.evidence.prompts)}); scores recorded")
        return EXIT_OK
    out.print(f"rewrote {target}: replaced {len(records)} of {len(subset.items)} items")
    for record in records:
        out.print(f"  - {record['why']}")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from . import progress, promptfile, results
    from .evalset import NoItems, load_pool
    from .forecast import rough, seconds_per_call
    from .llm import ModelClient
    from .runner import Task, run

    prompts = [promptfile.load(p) for p in args.prompts]
    tasks = []
    for prompt in prompts:
        try:
            pool = load_pool(prompt)
        except NoItems as exc:
            print(f"promptci: {exc}", file=sys.stderr)
            continue
        if args.selection == "subset":
            from . import subsets

            items = subsets.load(prompt, pool)[1]
        else:
            items = list(pool.items)
        items = items[: args.limit] if args.limit else items
        selection = f"{args.selection}-first-{len(items)}" if args.limit else args.selection
        tasks.append(Task(prompt=prompt, pool=pool, items=items, selection=selection, model=args.model,
                          label=f"{prompt.name} ({args.model or prompt.model})"))

    if not tasks:
        return EXIT_OK
    concurrency = args.concurrency or max(t.prompt.settings.concurrency for t in tasks)
    client = ModelClient(concurrency=concurrency, use_cache=not args.no_cache)

    async def run_all() -> list:
        runs = []
        for task in tasks:
            seconds = len(task.items) * seconds_per_call(task.model or task.prompt.model, concurrency)
            progress.note(f"{task.label}: scoring {len(task.items)} items of {task.pool.source}, "
                          f"{rough(seconds)} (answers already in the cache are free)")
            runs.append(await run(task, client))
        return runs

    try:
        runs = asyncio.run(run_all())
    finally:
        client.close()
    if args.json_out:
        results.write(args.json_out, runs)
    for result in runs:
        _print_run(result)
    return _eval_exit_code(tasks, runs)


def _print_run(run: Run) -> None:
    s = run.summary
    pool = f"{run.pool['source']} ({run.pool['size']} items)"
    out.print(Text.assemble((run.prompt["name"], "bold"), f" · {run.model} · {run.selection} · {pool}"))
    if s.mean is None:
        out.print("  score   none (no item was scored)")
    else:
        low, high = s.ci95 or (s.mean, s.mean)
        out.print(f"  score   {s.mean:.3f}  95% CI [{low:.3f}, {high:.3f}] ({s.ci_method})  n={s.scored}"
                  f"  errors={s.errors}")
    cost = f"${s.cost_usd:.4f}" + ("" if s.cost_known else " (some prices unknown)")
    out.print(f"  usage   {s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion tokens · {cost} · "
              f"{s.calls} calls · {s.cache_hits} cache hits · {s.wall_s:.1f} s")
    failed = [r for r in run.items if r.error]
    if failed:
        out.print(Text.assemble("  ", (f"{len(failed)} items failed", "red"),
                                f"; first: {failed[0].id}: {failed[0].error}"))


def _eval_exit_code(tasks: list[Task], runs: list[Run]) -> int:
    if any(run.fault for run in runs):
        print("promptci: error: some items could not be scored because the model was unreachable "
              "(they are marked in the results)", file=sys.stderr)
        return EXIT_INFRA
    code = EXIT_OK
    for task, run in zip(tasks, runs):
        minimum = task.prompt.settings.gate.min_score
        mean = run.summary.mean
        if minimum is not None and (mean is None or mean < minimum):
            scored = "no score" if mean is None else f"{mean:.3f}"
            print(f"promptci: gate failed: {run.prompt['name']} scored {scored}, below "
                  f"promptci.gate.min_score {minimum}", file=sys.stderr)
            code = EXIT_GATE_FAILED
    return code


def _cmd_optimize(args: argparse.Namespace) -> int:
    import json

    from . import promptfile
    from .budget import Budget
    from .evalset import load_pool
    from .fileio import atomic_write_text
    from .llm import ModelClient
    from .optimize.job import optimize

    prompt = promptfile.load(args.prompt)
    pool = load_pool(prompt)
    budget_settings = prompt.settings.budget
    client = ModelClient(concurrency=prompt.settings.concurrency)
    budget = Budget(client, max_calls=args.budget_calls or budget_settings.max_calls,
                    max_usd=args.budget_usd or budget_settings.max_usd)

    def show(attempt) -> None:
        verdict = ("accepted", "green") if attempt.accepted else ("rejected", "dim")
        where = "phase 1" if attempt.unit is None else f"{attempt.kind} #{attempt.unit}"
        after = _one_line(attempt.after) if attempt.after else "—"
        scores = " ".join(f"{name} {value:.3f}" for name, value in
                          (("failures", attempt.failure_score), ("subset", attempt.subset_score)) if value is not None)
        out.print(Text.assemble(f"step {attempt.step} · {where} · ", verdict,
                                f" · {scores or 'not scored'} · {attempt.why}"))
        out.print(f"    {after}")

    out.print(f"optimizing {args.prompt} ({len(pool)} pool items)")
    try:  # each step's best score is a progress line on stderr
        job = asyncio.run(optimize(prompt, pool, client, budget, steps=args.steps,
                                   optimizer_model=args.optimizer_model, task_model=args.model,
                                   holdout=args.holdout, seed=args.seed, on_attempt=show))
    finally:
        client.close()
    o = job.outcome
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(_optimize_record(prompt, job, client), indent=2) + "\n")
    out.print(f"subset: {job.subset_source}; {len(job.split.subset)} items judged, {len(job.split.training)} to learn "
              f"from, {len(job.split.holdout)} held out · task model {job.task_model} · optimizer {job.optimizer_model} "
              f"({job.style})")
    out.print(f"stopped: {o.stopped} (after step {o.steps_done}; {budget.describe()})")
    if o.replacements:
        out.print(f"subset refreshed by IPOMP stage 2: {len(o.replacements)} items replaced")
    if o.improved:
        out.print(o.diff(f"{args.prompt} (input)", f"{args.prompt} (best)").rstrip(), markup=False, highlight=False)
    else:
        out.print("no candidate beat the input prompt; nothing to suggest")
    for demo in job.pool_demos:  # left out of the scores below (optimize.honest)
        out.print(f"warning: a demonstration of the best prompt is pool item {demo.item} ({demo.where}), left out of "
                  "its scores")
    honest = job.subset_initial is not None and job.subset_best is not None
    out.print(f"subset score: input {job.subset_initial if honest else o.initial_on_final:.3f} → best "
              f"{job.subset_best if honest else o.best_score:.3f}")
    if job.holdout_initial is not None:
        out.print(f"held-out score ({len(job.holdout_items)} items the optimizer never saw): input "
                  f"{job.holdout_initial:.3f} → best {job.holdout_best:.3f}")
    if o.fault:
        print(f"promptci: error: {o.fault}" + (f" (the best prompt so far is in {args.json_out})" if args.json_out
                                               else ""), file=sys.stderr)
        return EXIT_INFRA
    if args.write and o.improved:
        atomic_write_text(args.prompt, o.best_text)
        out.print(f"wrote the best prompt to {args.prompt}")
    return EXIT_OK


def _one_line(text: str, width: int = 160) -> str:
    from .report.escape import flat

    return flat(text, width)


def _optimize_record(prompt, job, client) -> dict:
    from dataclasses import asdict

    o = job.outcome
    c = client.counters
    return {"format": "promptci.optimize/1", "prompt": {"path": str(prompt.path), "sha256": prompt.sha256},
            "task_model": job.task_model, "optimizer_model": job.optimizer_model, "style": job.style,
            "subset_source": job.subset_source,
            "split": {"subset": len(job.split.subset), "training": len(job.split.training),
                      "holdout": len(job.split.holdout)},
            "subset_score": {"input_first_subset": o.initial_score, "input": o.initial_on_final, "best": o.best_score},
            "holdout_score": {"input": job.holdout_initial, "best": job.holdout_best},
            "pool_demos": [asdict(d) for d in job.pool_demos],
            "improved": o.improved, "steps_done": o.steps_done, "stopped": o.stopped, "fault": o.fault,
            "attempts": [asdict(a) for a in o.attempts], "subset_replacements": o.replacements,
            "final_subset": o.subset_ids, "best_text": o.best_text, "best_after_step": o.best_after_step,
            "usage": {"calls": c.calls, "cache_hits": c.cache_hits, "prompt_tokens": c.prompt_tokens,
                      "completion_tokens": c.completion_tokens, "cost_usd": c.cost_usd}}


def _cmd_pr(args: argparse.Namespace) -> int:
    actions = _actions(args.github)
    return _flow(args, str(args.repo), _base_ref(args, actions), args.head, actions)


def _cmd_plan(args: argparse.Namespace) -> int:
    import json

    from . import gitdiff, progress
    from .forecast import forecast
    from .plan import matrix, plan

    actions = _actions(args.github)
    changes = gitdiff.changed_prompts(str(args.repo), _base_ref(args, actions), args.head)
    with gitdiff.checkout(str(args.repo), args.head) as tree:
        shards = plan(changes, tree, args.max_shards)
        progress.note(forecast(changes, tree, optimize=True, refresh=True, steps=None, model=None, subset_size=None,
                               max_calls=None).describe())  # with the prompts' own settings, before any job runs
    text = json.dumps(matrix(shards), separators=(",", ":"))
    sys.stdout.write(text + "\n")
    if actions is not None:
        from .github import workflow
        workflow.set_outputs(actions.output_path, {"matrix": text, "shards": str(len(shards))})
    return EXIT_OK


def _actions(github: bool):
    """The Actions run when --github is given (its token masked in the log from here on), else None."""
    if not github:
        return None
    from .github import actions, workflow

    run = actions.from_environ()
    workflow.mask(sys.stdout, run.token)
    from .github import publish
    publish.refuse_unsafe_event(run)
    return run


def _base_ref(args: argparse.Namespace, actions) -> str:
    """--base, else in Actions the merge commit's first parent or the payload's base, else origin/$GITHUB_BASE_REF."""
    import os

    from . import gitdiff

    if args.base:
        return args.base
    if actions is not None and actions.group is not None:  # a merge queue: its candidate against the base it is on
        return actions.group.base_sha
    if actions is not None and actions.pr is not None:
        parents = gitdiff.parents(str(args.repo), args.head)
        if len(parents) != 2:
            return actions.pr.base_sha
        if actions.event_name == "pull_request" and parents[1] != actions.pr.head_sha:
            # actions/checkout can fetch a merge commit GitHub made for an earlier head (a force-push meanwhile)
            raise InputError(f"the checked-out merge commit is of head {parents[1][:12]}, but this run is for "
                             f"{actions.pr.head_sha[:12]}: its files are not the pull request's", field="--head",
                             fix="re-run the job (GitHub has made a new merge commit by now); nothing was posted")
        return f"{args.head}^1"
    if os.environ.get("GITHUB_BASE_REF"):
        return f"origin/{os.environ['GITHUB_BASE_REF']}"
    raise InputError("no base to compare with", field="--base", fix="pass --base REF, e.g. --base origin/main")


def _cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from . import demo

    with tempfile.TemporaryDirectory(prefix="promptci-demo-") as tmp:
        repo = args.keep or Path(tmp) / "repo"
        if args.keep and args.keep.exists() and any(args.keep.iterdir()):
            raise InputError("the folder is not empty", path=args.keep, field="--keep", fix="name a new folder")
        base, head = demo.make_repo(repo)
        out.print(f"demo repository {repo}: main {base[:12]} ← '{demo.TITLE}' {head[:12]} (changes {demo.PROMPT})")
        code = _flow(args, str(repo), "main", "trim-examples", None)
    out.print(f"the gate's exit code for this pull request would be {code}; "
              f"run 'promptci pr --base origin/main' in your own repository")
    return EXIT_OK


def _flow(args: argparse.Namespace, repo: str, base: str, head: str, actions) -> int:
    """Run the pull-request flow from base to head, write the reports, and publish them when in Actions."""
    if actions is None:
        return _write(args, _run(args, repo, base, head))
    from . import prresults
    from .github import publish, workflow

    with workflow.commands_off(sys.stdout):  # text from the pull request is logged from here on
        try:
            data = _run(args, repo, base, head)
            if actions.pr is not None:  # for a trusted workflow_run job that posts these results later
                data.pull_request = prresults.PullRequestRef(number=actions.pr.number, head_sha=actions.pr.head_sha)
            code = _write(args, data)
        except PromptCIError as exc:
            failure = exc
        else:
            failure = None
    if failure is not None:
        return publish.fault(actions, failure)  # the summary and outputs say what stopped the run
    if getattr(args, "shard", None):
        return code  # a shard's results are published by the merge job (promptci report --github)
    return _publish(args, data, actions, repo, code)


def _run(args: argparse.Namespace, repo: str, base: str, head: str):
    """The flow itself: changed prompts, their scores, suggestion and refresh, the verdict; as results data."""
    from . import gitdiff, prresults
    from .llm import ModelClient
    from .pipeline import Options, run_pr
    from .report import render

    if args.template is not None:  # a broken template fails now, before any model call
        render.check_template(args.template)
    changes = gitdiff.changed_prompts(repo, base, head)
    if args.prompts:
        from fnmatch import fnmatch
        changes = [c for c in changes if any(fnmatch(c.path, glob) for glob in args.prompts)]
    shard = getattr(args, "shard", None)
    gate = {k: v for k, v in (("min_score", args.min_score), ("margin", args.margin)) if v is not None}
    options = Options(optimize=not args.no_optimize, refresh=not args.no_refresh, max_calls=args.max_calls,
                      max_usd=args.max_usd, steps=args.steps, model=args.model, optimizer_model=args.optimizer_model,
                      subset_size=args.subset_size, gate=gate)
    client = ModelClient()
    try:
        start = gitdiff.diff_start(repo, base, head)  # the base revision's files judge the change
        with gitdiff.checkout(repo, head) as tree, gitdiff.checkout(repo, start) as judge:
            planned = None
            if shard:
                changes, planned = _shard(changes, tree, shard, args.max_shards)
            out.print(f"{len(changes)} changed prompt{'s' if len(changes) != 1 else ''} between {base} and {head}"
                      + (f" in shard {shard}" if shard else ""))
            result = asyncio.run(run_pr(changes, tree, judge, client, options))
    finally:
        client.close()
    return prresults.from_pipeline(result).model_copy(update={"shard": shard or None, "plan": planned})


def _shard(changes: list, tree: Path, shard: str, max_shards: int) -> tuple[list, dict[str, list[str]]]:
    from .plan import plan

    shards = {s.id: s for s in plan(changes, tree, max_shards)}
    if shard not in shards:
        raise InputError(f"no shard '{shard}' in a plan of {len(shards)}", field="--shard",
                         fix="pass a shard id from 'promptci plan' with the same --max-shards")
    from . import progress
    progress.note(f"shard {shard} of {len(shards)}: {len(shards[shard].prompts)} of the {len(changes)} changed "
                  f"prompts, {shards[shard].items} pool items")
    return [c for c in changes if c.path in shards[shard].prompts], {s.id: s.prompts for s in shards.values()}


def _write(args: argparse.Namespace, data) -> int:
    """results.json, report.md and refreshed subsets into --out; the terminal report; the gate's exit code."""
    from . import prresults
    from .fileio import atomic_write_text
    from .report import render

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "results.json", prresults.dump(data))
    atomic_write_text(args.out / "report.md", render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT))
    refreshed = [p.subset for p in data.prompts if p.subset.text]
    folder = (args.out / "subsets").resolve()
    for subset in refreshed:
        target = (folder / subset.path).resolve()
        if not target.is_relative_to(folder):  # the pipeline confines subset paths; never write outside --out
            raise InputError("a subset path leads outside --out", path=subset.path, field="promptci.subset",
                             fix="use a subset path inside the repository")
        atomic_write_text(target, subset.text)
    out.print(render.render(data, name=render.TERMINAL), markup=False, highlight=False)
    out.print(f"wrote {args.out / 'report.md'} and {args.out / 'results.json'}"
              + (f"; refreshed subsets under {args.out / 'subsets'}" if refreshed else ""))
    return _gate_code(data)


def _publish(args: argparse.Namespace, data, actions, repo: str, code: int) -> int:
    from .github import coverage, publish
    from .github.client import Client

    settings = publish.Settings(commit_subsets=args.commit_subsets, suggest=not args.no_suggestions,
                                login=args.bot_login, template=args.template)
    with Client(actions.api_url, actions.token) as client:
        actions = publish.confirm_pull_request(actions, data, client)
        data = coverage.require(data, actions, repo)  # fork-post: every changed prompt must be in the results
        code = max(code, _gate_code(data))
        published = publish.publish(data, actions, client, repo_dir=repo, out_dir=args.out, settings=settings)
    if published.comment_url:
        out.print(f"report posted: {published.comment_url}")
    for path, sha in published.commits.items():
        out.print(f"refreshed subset {path} committed as {sha[:12]}")
    if published.faults and code == EXIT_OK:
        print(f"promptci: error: {len(published.faults)} GitHub requests failed; the report is in the job summary "
              f"and {args.out / 'results.json'}", file=sys.stderr)
        return EXIT_INFRA
    return code


def _cmd_report(args: argparse.Namespace) -> int:
    from . import prresults
    from .report import render

    if args.github:
        actions = _actions(True)
        try:
            data = prresults.merge_files(args.results, args.plan)
        except PromptCIError as exc:  # a missing or broken shard: the summary and outputs say so
            from .github import publish
            return publish.fault(actions, exc)
        args.out = args.results[0] if args.results[0].is_dir() else args.results[0].parent
        from .github import actions as github_actions
        from .github import workflow
        if actions.event_name == github_actions.RUN_EVENT:  # an uploaded artifact: the base's gates judge it
            data = prresults.regate(data, _base_gates(args.repo, data))
        with workflow.commands_off(sys.stdout):  # text from the pull requests is logged
            sys.stdout.write(render.render(data, name=render.TERMINAL))
        return _publish(args, data, actions, str(args.repo), _gate_code(data))
    data = prresults.merge_files(args.results, args.plan)
    if args.format == "terminal":
        text = render.render(data, name=render.TERMINAL)
    elif args.format == "summary":
        text = render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT)
    else:
        text = render.render(data, template=args.template)
    sys.stdout.write(text)
    return _gate_code(data)


def _base_gates(repo: Path, data) -> dict:
    """The gate settings of each reported prompt as the checkout (the base branch) has it; a prompt it lacks,
    or cannot load, keeps what the results record (and the comment says the run was untrusted)."""
    from . import promptfile

    gates = {}
    for p in data.prompts:
        try:
            gates[p.path] = promptfile.load(repo / p.path).settings.gate
        except PromptCIError:
            continue
    return gates


def _gate_code(data) -> int:
    """The exit code a pull-request verdict gives: 1 when the gate failed."""
    return EXIT_GATE_FAILED if data.verdict.status == "fail" else EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from .importers import import_bigbench, import_csv

    if args.kind == "bigbench":
        report = import_bigbench(args.source, args.out)
    else:
        labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
        report = import_csv(args.source, args.out, labels=labels)
    out.print(f"wrote {report.count} items to {report.out}")
    if report.labels:
        out.print(f"label set ({len(report.labels)}, the same for every item): {', '.join(report.labels)}")
    elif report.per_item_labels:
        out.print("each item has its own options, in the field 'choices'")
    out.print("add to your prompt file (the pool path is relative to the prompt file):")
    out.print(report.settings_snippet(Path("prompts")), markup=False)  # exactly as YAML, brackets and all
    return EXIT_OK
