"""The command line. Thin: parse arguments, call the modules, print, and map errors to exit codes.

Exit codes (DESIGN.md §7): 0 passed · 1 gate failed · 2 bad input or usage · 3 a model or GitHub
unreachable after retries. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Sequence

from rich.console import Console

from . import __version__
from .errors import EXIT_GATE_FAILED, EXIT_INFRA, EXIT_INPUT, EXIT_OK, InputError, PromptCIError

out = Console(highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        return args.handler(args)
    except PromptCIError as exc:
        print(f"promptci: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("promptci: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptci", description="Prompt CI: score, select, optimize and gate "
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _cmd_eval(args: argparse.Namespace) -> int:
    from . import promptfile, results
    from .evalset import load_pool
    from .llm import ModelClient
    from .progress import ItemProgress
    from .runner import Task, run

    prompts = [promptfile.load(p) for p in args.prompts]
    tasks = []
    for prompt in prompts:
        pool = load_pool(prompt)
        if args.selection == "subset":
            raise InputError("no subset file for this prompt yet", path=prompt.path, field="promptci.subset",
                             fix="evaluate with --full (subset selection arrives with 'promptci select')")
        items = pool.items[: args.limit] if args.limit else pool.items
        selection = f"first-{len(items)}" if args.limit and len(items) < len(pool) else args.selection
        tasks.append(Task(prompt=prompt, pool=pool, items=items, selection=selection, model=args.model))

    concurrency = args.concurrency or max(t.prompt.settings.concurrency for t in tasks)
    client = ModelClient(concurrency=concurrency, use_cache=not args.no_cache)

    async def run_all() -> list:
        runs = []
        for task in tasks:
            with ItemProgress(f"{task.prompt.name} ({task.model or task.prompt.model})", len(task.items)) as progress:
                runs.append(await run(task, client, on_item=progress.advance))
        return runs

    try:
        runs = asyncio.run(run_all())
    finally:
        client.close()
    if args.json_out:
        results.write(args.json_out, runs)
    for task, result in zip(tasks, runs):
        _print_run(task, result)
    return _eval_exit_code(tasks, runs)


def _print_run(task: object, run: object) -> None:
    from .results import Run

    assert isinstance(run, Run)
    s = run.summary
    pool = f"{run.pool['source']} ({run.pool['size']} items)"
    out.print(f"[bold]{run.prompt['name']}[/bold] · {run.model} · {run.selection} · {pool}", markup=True)
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
        out.print(f"  [red]{len(failed)} items failed[/red]; first: {failed[0].id}: {failed[0].error}", markup=True)


def _eval_exit_code(tasks: list, runs: list) -> int:
    if any(r.error_kind == "infra" for run in runs for r in run.items):
        print("promptci: error: some items could not be scored because the model was unreachable "
              "(they are marked in the results)", file=sys.stderr)
        return EXIT_INFRA
    code = EXIT_OK
    for task, run in zip(tasks, runs):
        minimum = task.prompt.settings.gate.min_score
        if minimum is not None and (run.summary.mean is None or run.summary.mean < minimum):
            print(f"promptci: gate failed: {run.prompt['name']} scored {run.summary.mean:.3f}, below "
                  f"promptci.gate.min_score {minimum}", file=sys.stderr)
            code = EXIT_GATE_FAILED
    return code


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
    out.print(report.settings_snippet(Path("prompts")))
    return EXIT_OK
