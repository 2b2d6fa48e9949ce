"""Progress on stderr: counts with rate and ETA, a line while a step is silent, and library warnings in
promptci's own words or not at all. The whole demo is checked through `demo_run` (conftest)."""

from __future__ import annotations

import io
import itertools
import re
import time
from pathlib import Path

import pytest

from promptci.gate import noise
from promptci.progress import Reporter

from .conftest import DemoRun
from .helpers import run_cli

LINE = re.compile(r"^\[\d+:\d\d\] ")  # every progress line starts with the time since the first one


def test_counts_print_rate_and_eta_at_most_once_per_interval() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, interval=0.2, quiet=60, live=False)
    reporter.note("scoring 3 tasks")
    with reporter.count("head", 40) as counter:
        for _ in range(40):
            time.sleep(0.03)
            counter.advance()
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("scoring 3 tasks") and all(LINE.match(line) for line in lines)
    counts = [line for line in lines if "head:" in line]
    assert 3 <= len(counts) <= 8, lines  # 1.2 s of work: about one line per 0.2 s, not one per item
    assert re.search(r"head: \d+/40 items · [\d.]+ items/s · about \d+ s left$", counts[0]), counts[0]
    assert re.search(r"head: 40/40 items in \d+ s$", counts[-1]), counts[-1]


def test_a_silent_step_is_said_again_while_it_lasts() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, interval=60, quiet=0.3, live=False)
    with reporter.step("loading the local model"):
        time.sleep(1.2)  # one long call holding the main thread: the watchdog speaks
    with reporter.count("base", 2) as counter:
        time.sleep(0.8)  # one slow item
        counter.advance()
    time.sleep(0.8)  # nothing going on: nothing said
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("loading the local model")
    still = [line for line in lines if "still loading the local model (" in line]
    assert 2 <= len(still) <= 5, lines
    assert any(re.search(r"base: 0/2 items · \d+ s so far$", line) for line in lines), lines
    assert lines[-1].endswith(("items/s", "s each", "left", "so far")), lines


def test_brackets_and_control_characters_in_names_print_literally_on_a_terminal() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, interval=0, quiet=60, live=True)  # rich's live display, as on a terminal
    reporter.note("app/[slug]/x.prompt.yml: scoring x [/y] :smile:\x1b[31m")
    with reporter.count("x [/y] [bold]", 2) as counter:
        counter.advance()
        counter.advance()
    text = stream.getvalue()
    assert "app/[slug]/x.prompt.yml: scoring x [/y] :smile: [31m" in text
    assert "\x1b" not in text


def test_library_warnings_are_explained_or_dropped(tmp_path: Path) -> None:
    # a pool of six items with only two distinct texts, for five K-means clusters: scikit-learn warns
    pool = tmp_path / "eval_sets" / "few.jsonl"
    pool.parent.mkdir()
    pool.write_text(
        "".join(
            f'{{"id": "i{n}", "input": "{"play some jazz" if n % 2 else "rain tomorrow?"}", '
            f'"expected": "{"a" if n % 2 else "b"}"}}\n'
            for n in range(6)
        )
    )
    prompt = tmp_path / "prompts" / "few.prompt.yml"
    prompt.parent.mkdir()
    prompt.write_text(
        "name: few\nmodel: local/gemma-3-270m\nmessages:\n  - role: user\n    content: '{{input}}'\n"
        "promptci:\n  pool: ../eval_sets/few.jsonl\n  selection:\n    size: 6\n"
    )
    proc = run_cli("select", str(prompt), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "warnings.warn" not in proc.stderr and "sklearn" not in proc.stderr
    # too few distinct texts for the clusters is a weak pool: said once, in promptci's words, naming the pool and
    # the fix (before K-means can warn; the fallback is recorded in every item's why)
    warning = [line for line in proc.stderr.splitlines() if line.startswith("promptci: warning:")]
    assert len(warning) == 1 and "few.jsonl" in warning[0] and "promptci.embedding_model" in warning[0], proc.stderr


def test_explain_says_nothing_of_warnings_it_does_not_know() -> None:
    assert (
        noise.explain(
            "Number of distinct clusters (3) found smaller than n_clusters (5). Possibly due to duplicate points in X."
        )
        or ""
    ).startswith("the items have only 3 distinct texts for 5 clusters")
    assert noise.explain("`resume_download` is deprecated and will be removed in version 1.0.0.") is None


RAW_LIBRARY_OUTPUT = (
    "Warning",
    "warnings.warn",
    "Traceback",
    "llama_",
    "ggml_",
    "huggingface/tokenizers",
    "sklearn",
    "it/s]",
)


@pytest.mark.integration
def test_the_demo_says_what_it_does_and_is_never_silent_for_30_s(demo_run: DemoRun) -> None:
    times = [0.0] + [t for t, _ in demo_run.stderr] + [demo_run.wall_s]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    lines = [line for _, line in demo_run.stderr]
    text = "\n".join(lines)
    assert max(gaps) <= 30, f"{max(gaps):.0f} s without a line before line {gaps.index(max(gaps))}:\n{text}"
    assert all(LINE.match(line) for line in lines), text  # progress lines only: no raw library output
    assert not [word for word in RAW_LIBRARY_OUTPUT if word in text], text
    assert re.search(
        r"forecast: 1 changed prompt to score, base against head, and improve; expected about \d+ model "
        r"calls, at most \d+",
        text,
    )
    assert "prompt 1 of 1: prompts/intent.prompt.yml (prompt file modified)" in text
    assert "scoring head on 20 items" in text and "scoring base on 20 items" in text
    assert re.search(
        r"optimizer phase 1 (done:|stopped early: [^;\n]*;) best prompt so far [01]\.\d{3} on the "
        r"subset · \d+ of \d+ calls(, the run: \d+ of \d+ calls)? · ",
        text,
    ), text
