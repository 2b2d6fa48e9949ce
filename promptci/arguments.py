"""The command line's arguments: every command and option, the types that check values as they are parsed, and
the paths checked at the door (before any work). `cli.py` runs the commands and prints."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from . import __version__, env
from .errors import EXIT_INPUT
from .files.fileio import check_input, check_output_file, check_output_folder
from .files.settings import MAX_REPEATS, SEED_MAX, GateSettings


def check_at_the_door(args: argparse.Namespace) -> None:
    """The environment and every output path, checked before any work: a path that cannot be written
    fails now in one line, not in a traceback after minutes of scoring."""
    env.check()
    if getattr(args, "json_out", None) is not None:
        check_output_file(args.json_out, option="--json")
    if getattr(args, "keep", None) is not None:
        check_output_folder(args.keep, option="--keep")
    if getattr(args, "out", None) is not None:
        if getattr(args, "kind", None) in ("bigbench", "csv"):  # import writes one JSONL file
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


def parser() -> argparse.ArgumentParser:
    """Every command and option; each subcommand sets `command` to its name."""
    parser = _Parser(
        prog="promptci", description="Prompt CI: score, select, optimize and gate GitHub Models .prompt.yml files."
    )
    parser.add_argument("--version", action="version", version=f"promptci {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    ev = commands.add_parser("eval", help="score prompts on their eval items")
    ev.add_argument("prompts", nargs="+", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    which = ev.add_mutually_exclusive_group()
    which.add_argument(
        "--full", dest="selection", action="store_const", const="full", help="every item of the pool (the default)"
    )
    which.add_argument(
        "--subset",
        dest="selection",
        action="store_const",
        const="subset",
        help="the items of the committed subset file",
    )
    ev.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N items (a quick look)")
    ev.add_argument("--model", metavar="M", help="a litellm model instead of the prompt's own")
    ev.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write the results JSON here")
    ev.add_argument("--no-cache", action="store_true", help="ask the model again instead of using the disk cache")
    ev.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="model calls in flight (default: promptci.concurrency, 4)",
    )
    ev.add_argument(
        "--repeats",
        type=_repeats,
        metavar="K",
        help="draws per item where a score is a sample (default: promptci.repeats, 1; at most 50)",
    )
    ev.set_defaults(command="eval", selection="full")

    sel = commands.add_parser("select", help="choose the evaluation subset of each prompt (IPOMP stage 1)")
    sel.add_argument("prompts", nargs="+", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    sel.add_argument("--size", type=_positive_int, metavar="N", help="items in the subset (promptci.selection.size)")
    sel.add_argument("--alpha", type=_share, metavar="A", help="share of representative items, in [0, 1]")
    sel.add_argument("--clusters", type=_positive_int, metavar="K", help="K-means clusters")
    sel.add_argument("--seed", type=_seed, metavar="S", help="random seed")
    sel.add_argument(
        "--method",
        choices=["ipomp", "random", "boundary", "clustering"],
        help="selection method (default: promptci.selection.method)",
    )
    sel.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a subset is missing or stale, and say why"
    )
    sel.set_defaults(command="select")

    ref = commands.add_parser("refine", help="refine a subset from the scores of several prompts (IPOMP stage 2)")
    ref.add_argument("prompt", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    ref.add_argument(
        "--results",
        nargs="+",
        required=True,
        type=Path,
        metavar="R.json",
        help="results files of at least two prompts scored on the subset",
    )
    ref.set_defaults(command="refine")

    opt = commands.add_parser("optimize", help="suggest a better prompt (dual-phase, judged on the IPOMP subset)")
    opt.add_argument("prompt", metavar="PROMPT", type=Path, help="a .prompt.yml file")
    opt.add_argument("--steps", type=_non_negative_int, metavar="T", help="the most refinement steps (default 5)")
    opt.add_argument("--optimizer-model", metavar="M", help="the model that writes rewrites (default: the prompt's)")
    opt.add_argument("--model", metavar="M", help="the task model, instead of the prompt's own")
    opt.add_argument("--budget-calls", type=_positive_int, metavar="N", help="the most uncached model calls")
    opt.add_argument("--budget-usd", type=_dollars, metavar="X", help="the most dollars to spend")
    opt.add_argument(
        "--holdout",
        type=_non_negative_int,
        metavar="N",
        help="pool items held out to judge the result (default: promptci.optimizer.holdout, 100)",
    )
    opt.add_argument("--seed", type=_seed, metavar="S", help="random seed (default: promptci.selection.seed)")
    opt.add_argument("--write", action="store_true", help="rewrite the prompt file with the best prompt found")
    opt.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write the trajectory JSON here")
    opt.set_defaults(command="optimize")

    pr = commands.add_parser("pr", help="the pull-request flow: score base and head, suggest, refresh, gate")
    _change_arguments(pr)
    _flow_arguments(pr)
    pr.add_argument(
        "--github",
        action="store_true",
        help="in GitHub Actions: post the sticky comment, statuses, suggestions, summary and outputs",
    )
    _publish_arguments(pr)
    pr.add_argument(
        "--shard",
        metavar="ID",
        help="run one shard of 'promptci plan' (same --max-shards); "
        "its results are merged by 'promptci report --github'",
    )
    pr.add_argument(
        "--max-shards",
        type=_positive_int,
        default=MAX_SHARDS,
        metavar="N",
        help=f"with --shard: the plan's number of shards (default {MAX_SHARDS})",
    )
    pr.set_defaults(command="pr")

    plan = commands.add_parser("plan", help="split the changed prompts into shards: a GitHub Actions matrix (JSON)")
    _change_arguments(plan)
    plan.add_argument(
        "--max-shards",
        type=_positive_int,
        default=MAX_SHARDS,
        metavar="N",
        help=f"the most shards (default {MAX_SHARDS}); more prompts are grouped by pool size",
    )
    plan.add_argument("--github", action="store_true", help="also write the matrix to the step output `matrix`")
    plan.set_defaults(command="plan")

    rep = commands.add_parser("report", help="render the report again from results files of 'promptci pr'")
    rep.add_argument(
        "results",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help="results.json files of 'promptci pr', or the --out folders holding them (shards)",
    )
    rep.add_argument(
        "--format",
        choices=["comment", "summary", "terminal"],
        default="comment",
        help="which report (default: the PR comment, Markdown)",
    )
    rep.add_argument("--template", type=Path, metavar="FILE", help="a Jinja2 template for the comment")
    rep.add_argument(
        "--plan",
        type=Path,
        metavar="PLAN.json",
        help="the matrix 'promptci plan' wrote: shard results are merged only with it, and every "
        "planned shard must be there",
    )
    rep.add_argument(
        "--github",
        action="store_true",
        help="in GitHub Actions: publish the merged results (comment, statuses, summary, outputs)",
    )
    rep.add_argument("--repo", default=".", type=Path, metavar="DIR", help="with --github: the checkout (default: .)")
    _publish_arguments(rep)
    rep.set_defaults(command="report")

    warm = commands.add_parser(
        "warm", help="on the default branch: score each prompt's base on its whole pool once, for pull requests"
    )
    warm.add_argument(
        "prompts", nargs="+", metavar="PROMPT", type=Path, help="a .prompt.yml file, from the repository root"
    )
    warm.add_argument(
        "--model", metavar="M", help="a litellm model instead of the prompt's own (as the gate's --model)"
    )
    warm.add_argument("--max-calls", type=_positive_int, metavar="N", help="the most uncached model calls in this run")
    warm.add_argument("--max-usd", type=_dollars, metavar="X", help="the most dollars to spend in this run")
    warm.set_defaults(command="warm")

    demo = commands.add_parser("demo", help="the whole pull-request flow on a throwaway copy of the bundled example")
    demo.add_argument("--keep", type=Path, metavar="DIR", help="build the demo repository here and keep it")
    demo.add_argument(
        "--warm",
        action="store_true",
        help="score main's prompt on its whole pool first, as the warm job does on a default branch (once per cache)",
    )
    demo.add_argument(
        "--temperature",
        type=_temperature,
        metavar="T",
        help="sample the example's answers at this temperature on both branches (default 0: exact)",
    )
    _flow_arguments(demo)
    demo.set_defaults(command="demo")

    imp = commands.add_parser("import", help="turn other eval formats into a JSONL pool")
    kinds = imp.add_subparsers(title="formats", metavar="FORMAT")
    bb = kinds.add_parser("bigbench", help="a BIG-bench task.json (target_scores give the labels)")
    bb.add_argument("source", type=Path, metavar="TASK.json")
    bb.add_argument("--out", type=Path, required=True, metavar="OUT.jsonl")
    bb.set_defaults(command="import", kind="bigbench")
    cs = kinds.add_parser("csv", help="a CSV file with a header row and an 'expected' column")
    cs.add_argument("source", type=Path, metavar="FILE.csv")
    cs.add_argument("--out", type=Path, required=True, metavar="OUT.jsonl")
    cs.add_argument("--labels", metavar="A,B,...", help="the label set, comma-separated")
    cs.set_defaults(command="import", kind="csv")
    for kind, source, what in (
        ("promptfoo", "CONFIG", "a promptfoo config: prompt files, a pool and evaluators"),
        (
            "openai-evals",
            "SPEC",
            ("an openai/evals registry eval (YAML) or a hosted eval (EVAL.json): prompt files, pools and evaluators"),
        ),
    ):
        migrate = kinds.add_parser(kind, help=what)
        migrate.add_argument("source", type=Path, metavar=source)
        migrate.add_argument(
            "--out", type=Path, required=True, metavar="DIR", help="where prompts/ and eval_sets/ are written"
        )
        migrate.add_argument(
            "--judge-model",
            metavar="M",
            help="promptci.judge_model of the written files (default: the config's grader)",
        )
        if kind == "openai-evals":
            migrate.add_argument(
                "--run",
                type=Path,
                metavar="RUN.json",
                help="a hosted eval (EVAL.json): its run, with the prompt template and the items",
            )
            migrate.add_argument(
                "--items",
                type=Path,
                metavar="ITEMS.jsonl",
                help='a hosted eval (EVAL.json): its items, one {"item": {...}} a line',
            )
        migrate.set_defaults(command="import", kind=kind, run=None, items=None)
    return parser


MAX_SHARDS = 10


def _change_arguments(command: argparse.ArgumentParser) -> None:
    """The change `pr` and `plan` look at."""
    command.add_argument(
        "--base",
        metavar="REF",
        help="the branch the change targets (default: the pull request's base in Actions, "
        "else origin/$GITHUB_BASE_REF)",
    )
    command.add_argument("--head", default="HEAD", metavar="REF", help="the change (default: HEAD)")
    command.add_argument("--repo", default=".", type=Path, metavar="DIR", help="the git repository (default: .)")


def _publish_arguments(command: argparse.ArgumentParser) -> None:
    """How `pr --github` and `report --github` publish."""
    command.add_argument(
        "--commit-subsets",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="with --github: commit refreshed subsets to the pull request's branch when it is still "
        "at the tested head (default: no, the comment carries them as a patch)",
    )
    command.add_argument("--no-suggestions", action="store_true", help="with --github: no review suggestion comments")
    command.add_argument(
        "--bot-login",
        default="github-actions[bot]",
        metavar="LOGIN",
        help="with --github: the login whose comment is the sticky one (default: github-actions[bot])",
    )


def _flow_arguments(command: argparse.ArgumentParser) -> None:
    """The options `pr` and `demo` share: what to run and within which limits."""
    command.add_argument(
        "--out",
        default=Path("promptci-report"),
        type=Path,
        metavar="DIR",
        help="where report.md, results.json and refreshed subset files go (default: promptci-report)",
    )
    command.add_argument("--no-optimize", action="store_true", help="do not look for a better prompt")
    command.add_argument("--no-refresh", action="store_true", help="keep the subsets as committed (no IPOMP stage 2)")
    command.add_argument("--steps", type=_non_negative_int, metavar="T", help="the most optimizer steps")
    command.add_argument("--max-calls", type=_positive_int, metavar="N", help="the most uncached model calls")
    command.add_argument("--max-usd", type=_dollars, metavar="X", help="the most dollars to spend")
    command.add_argument("--model", metavar="M", help="the task model, instead of each prompt's own")
    command.add_argument("--optimizer-model", metavar="M", help="the optimizer's model (default: the prompt's)")
    command.add_argument(
        "--subset-size",
        type=_positive_int,
        metavar="N",
        help="items in a subset this run chooses (when none is committed)",
    )
    command.add_argument(
        "--min-score", type=_gate("min_score"), metavar="X", help="fail below this mean score (promptci.gate)"
    )
    command.add_argument(
        "--margin", type=_gate("margin"), metavar="X", help="the smallest drop worth blocking (promptci.gate.margin)"
    )
    command.add_argument("--tolerance", type=_replaced_by_margin, help=argparse.SUPPRESS)
    command.add_argument("--template", type=Path, metavar="FILE", help="a Jinja2 template for the PR comment")
    command.add_argument(
        "--prompts",
        nargs="+",
        metavar="GLOB",
        help="gate only the prompt files matching these globs (default: every .prompt.yml)",
    )


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a temperature from 0 to 2 (e.g. 0.8)")
    return value


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


def _repeats(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_REPEATS:
        raise argparse.ArgumentTypeError(f"at most {MAX_REPEATS} draws per item")
    return value


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def _seed(text: str) -> int:
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


def _gate(name: str) -> Callable[[str], float]:
    """A `promptci.gate` setting given on the command line, checked by the settings model (its range is written
    there only); the prompts' gate settings with these over them are validated again as one (effective.py)."""

    def parse(text: str) -> float:
        value = _number(text)
        try:
            GateSettings.model_validate({name: value})
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(f"{text}: {exc.errors()[0]['msg']}") from None
        return value

    return parse


def _share(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{value} is outside [0, 1]")
    return value
