"""`promptci eval` and `promptci import` as a user runs them: real processes, the real embedded model."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest

from promptci.files import evalresults
from promptci.models import local, mockllm

from .helpers import BIGBENCH, run_cli


def set_gate(repo: Path, minimum: float | None) -> Path:
    prompt = repo / "prompts" / "intent.prompt.yml"
    text = prompt.read_text()
    text = re.sub(
        r"  gate:\n    min_score: [0-9.]+.*\n", "" if minimum is None else f"  gate:\n    min_score: {minimum}\n", text
    )
    prompt.write_text(text)
    return prompt


def assert_clean_failure(proc, code: int, *words: str) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("promptci: error:")]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


MODELS = [mockllm.MODEL, pytest.param(local.DEFAULT_MODEL, marks=pytest.mark.integration)]


@pytest.mark.parametrize("model", MODELS)
def test_eval_writes_results_and_a_rerun_hits_the_cache(example_repo: Path, model: str) -> None:
    prompt = set_gate(example_repo, None)
    prompt.write_text(prompt.read_text().replace(f"model: {local.DEFAULT_MODEL}", f"model: {model}"))
    out = example_repo / "out.json"
    first = run_cli("eval", str(prompt), "--limit", "8", "--json", str(out), cwd=example_repo)
    assert first.returncode == 0, first.stderr
    assert re.search(r"score\s+[01]\.\d{3}\s+95% CI \[[01]\.\d{3}, [01]\.\d{3}\] \(wilson\)\s+n=8", first.stdout)
    [run] = evalresults.read(out)
    assert run.model == model and run.selection == "full-first-8" and run.pool["size"] == 693
    assert run.summary.calls == 8 and run.summary.cache_hits == 0 and run.summary.errors == 0
    assert run.summary.ci95 is not None and run.summary.mean is not None
    low, high = run.summary.ci95
    assert low <= run.summary.mean <= high
    labels = 7
    for item in run.items:
        assert item.error is None and item.label_probs is not None and item.output in item.label_probs
        assert len(item.label_probs) == labels and abs(sum(item.label_probs.values()) - 1) < 1e-9
        assert item.score == float(item.output == item.expected)
        assert item.prompt_tokens > 0 and item.latency_s > 0 and not item.cached and item.label_method == "exact"
    assert run.summary.mean == sum(i.score or 0.0 for i in run.items) / 8  # (every item scored, above)

    second = run_cli("eval", str(prompt), "--limit", "8", "--json", str(out), cwd=example_repo)
    assert second.returncode == 0, second.stderr
    [again] = evalresults.read(out)
    assert again.summary.calls == 0 and again.summary.cache_hits == 8
    assert all(i.cached for i in again.items)
    assert [i.label_probs for i in again.items] == [i.label_probs for i in run.items]
    assert again.summary.wall_s < run.summary.wall_s

    fresh = run_cli("eval", str(prompt), "--limit", "2", "--no-cache", "--json", str(out), cwd=example_repo)
    assert fresh.returncode == 0 and evalresults.read(out)[0].summary.calls == 2


def test_gate_min_score_fails_with_exit_1(example_repo: Path) -> None:
    prompt = set_gate(example_repo, 1.0)
    proc = run_cli("eval", str(prompt), "--limit", "3", "--model", mockllm.MODEL, cwd=example_repo)
    assert proc.returncode == 1, proc.stderr
    assert "gate failed" in proc.stderr and "below promptci.gate.min_score 1.0" in proc.stderr


BAD_PROMPTS = {
    "malformed": ("messages:\n  - role: user\n    content: [oops\n", ":5", "malformed YAML"),
    # compatible with gh: it ignores unknown GitHub Models keys, so only promptci's own block refuses them
    "unknown field": (
        "messages: [{role: user, content: hi}]\npromptci:\n  poool: x.jsonl\n",
        ":5",
        "promptci.poool: unknown field",
    ),
    "missing pool": ("promptci:\n  pool: nowhere.jsonl\n", "nowhere.jsonl", "pool file not found"),
    # compatible with gh: a placeholder no item fills is text; one naming the answer is refused
    "answer": (
        "promptci:\n  pool: ../eval_sets/intent_recognition.jsonl\n",
        "messages[0].content",
        "answer field 'expected'",
    ),
    "evaluator": ("evaluators:\n  - {name: x, uses: acme/magic}\n", "evaluators[0].uses", "unknown evaluator"),
}


@pytest.mark.parametrize("case", sorted(BAD_PROMPTS))
def test_bad_prompt_files_exit_2_and_write_nothing(example_repo: Path, case: str) -> None:
    body, where, words = BAD_PROMPTS[case]
    prompt = example_repo / "prompts" / "bad.prompt.yml"
    if case in ("malformed", "unknown field"):
        prompt.write_text("name: bad\nmodel: local/gemma-3-270m\n" + body)
    else:
        template = "{{expected}}" if case == "answer" else "{{input}}"
        prompt.write_text(
            f"name: bad\nmodel: local/gemma-3-270m\nmessages:\n  - role: user\n    content: '{template}'\n"
            + body
            + ("testData:\n  - {input: a, expected: b}\n" if case == "evaluator" else "")
        )
    out = example_repo / "out.json"
    out.write_text("previous results")
    proc = run_cli("eval", str(prompt), "--json", str(out), cwd=example_repo)
    line = assert_clean_failure(proc, 2, "bad.prompt.yml" if case != "missing pool" else "", where, words, "fix:")
    assert out.read_text() == "previous results", line


@pytest.mark.parametrize(
    "content, words",
    [
        (
            b'{"id": "a", "input": "x", "expected": "y"}\n{"id": "a", "input": "z", "expected": "y"}\n',
            "duplicate id 'a'",
        ),
        (b"", "pool is empty"),
        ('{"input": "caf\xe9", "expected": "y"}\n'.encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_pools_exit_2(example_repo: Path, content: bytes, words: str) -> None:
    (example_repo / "eval_sets" / "intent_recognition.jsonl").write_bytes(content)
    proc = run_cli("eval", "prompts/intent.prompt.yml", cwd=example_repo)
    assert_clean_failure(proc, 2, "intent_recognition.jsonl", words)


def test_model_that_does_not_exist_exits_2(example_repo: Path) -> None:
    proc = run_cli(
        "eval", "prompts/intent.prompt.yml", "--model", "nosuchprovider/nothing", "--limit", "2", cwd=example_repo
    )
    assert_clean_failure(proc, 2, "intent.prompt.yml", "model", "names no provider")


def test_closed_port_exits_3_with_every_item_marked(example_repo: Path) -> None:
    unreachable(example_repo)
    prompt = example_repo / "prompts" / "intent.prompt.yml"
    secret = "sk-test-SECRET-value-0123456789"
    out = example_repo / "out.json"
    proc = run_cli(
        "eval",
        str(prompt),
        "--limit",
        "10",
        "--json",
        str(out),
        cwd=example_repo,
        env={"OPENAI_API_KEY": secret},
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "model was unreachable" in proc.stderr
    [run] = evalresults.read(out)
    assert len(run.items) == 10 and all(i.error and i.error_kind == "infra" and i.score is None for i in run.items)
    assert any("not attempted" in (i.error or "") for i in run.items)  # the breaker spared the rest
    assert any("Connection error" in (i.error or "") for i in run.items)
    assert secret not in proc.stdout + proc.stderr + out.read_text()


def test_import_bigbench_command(tmp_path: Path) -> None:
    out = tmp_path / "eval_sets" / "ruin.jsonl"
    proc = run_cli("import", "bigbench", str(BIGBENCH / "ruin_names.json"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "wrote 448 items" in proc.stdout and "labels: choices" in proc.stdout
    assert len(out.read_text().splitlines()) == 448


def test_usage_errors_exit_2() -> None:
    assert run_cli("eval").returncode == 2
    assert run_cli("eval", "x.prompt.yml", "--limit", "0").returncode == 2
    assert run_cli().returncode == 2


@pytest.mark.integration
def test_no_network_at_any_point(example_repo: Path) -> None:
    """The embedded model and the embedding model run with every network connection refused."""
    guard = """
import socket, sys
def refuse(*args, **kwargs):
    raise RuntimeError("network access attempted")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
socket.create_connection = refuse
from promptci.cli import main
from promptci.models.embeddings import embed
assert embed(["offline"]).shape == (1, 384)
sys.exit(main(["eval", "prompts/intent.prompt.yml", "--limit", "3", "--no-cache"]))
"""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", guard], cwd=example_repo, capture_output=True, text=True, timeout=300)
    assert "network access attempted" not in proc.stderr + proc.stdout
    assert proc.returncode in (0, 1), proc.stderr  # 1: the bundled gate may fail on 3 items
    assert "n=3" in proc.stdout


def unreachable(repo: Path) -> dict[str, str]:
    """Point the example prompt at a closed port: a model call would end in exit 3, so an exit 2 proves the
    error came before any call. Returns the environment the run needs (an API key, so no key check fires)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prompt = set_gate(repo, None)
    text = prompt.read_text().replace("model: local/gemma-3-270m", "model: openai/gemma")
    prompt.write_text(text.replace("promptci:\n", f"promptci:\n  api_base: http://127.0.0.1:{port}/v1\n"))
    return {"OPENAI_API_KEY": "sk-test-0123456789"}


def assert_at_the_door(proc, *words: str) -> str:
    """Exit 2, one line naming what is wrong and the fix; nothing reached a model (see unreachable)."""
    line = assert_clean_failure(proc, 2, *words, "fix:")
    assert "unreachable" not in proc.stderr
    return line


PROMPT = "prompts/intent.prompt.yml"


@pytest.mark.parametrize("command", [["eval", "--limit", "1"], ["optimize", "--steps", "1"]])
def test_a_prompt_without_a_model_is_refused_in_one_line(
    example_repo: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A prompt file may leave out `model:` (gh's format allows it); with no --model either, eval and optimize
    say there is no model to call, exit 2 (they crashed on the missing name). In process: nothing is scored."""
    from promptci import cli

    prompt = example_repo / PROMPT
    prompt.write_text(prompt.read_text().replace("model: local/gemma-3-270m\n", ""))
    assert cli.main([command[0], str(prompt), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert "no model to call" in err and "fix: add model:" in err and "Traceback" not in err


# (command line with {dir} a folder, {file} a plain file, {new} a path that does not exist yet; the option named)
BAD_OUTPUTS = {
    "eval --json at a folder": (["eval", PROMPT, "--json", "{dir}"], "--json", "is a folder"),
    "eval --json under a file": (["eval", PROMPT, "--json", "{file}/sub/out.json"], "--json", "is a file"),
    "optimize --json at a folder": (["optimize", PROMPT, "--json", "{dir}"], "--json", "is a folder"),
    "pr --out at a file": (["pr", "--base", "HEAD", "--out", "{file}"], "--out", "is a file"),
    "pr --out whose results.json is a folder": (["pr", "--base", "HEAD", "--out", "{dir}"], "--out", "is a folder"),
    "demo --out under a file": (["demo", "--out", "{file}/report"], "--out", "is a file"),
    "demo --keep at a file": (["demo", "--keep", "{file}"], "--keep", "is a file"),
    "import csv --out at a folder": (["import", "csv", "{file}", "--out", "{dir}"], "--out", "is a folder"),
    "import bigbench --out under a file": (
        ["import", "bigbench", "{file}", "--out", "{file}/x.jsonl"],
        "--out",
        "is a file",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_OUTPUTS))
def test_output_paths_that_cannot_be_written_fail_before_any_work(example_repo: Path, case: str) -> None:
    """Once a traceback after all the scoring, with the results lost."""
    argv, option, words = BAD_OUTPUTS[case]
    env = unreachable(example_repo)
    folder = example_repo / "reports"
    (folder / "results.json").mkdir(parents=True)  # for pr --out: the folder's results.json is a folder
    plain = example_repo / "notes.txt"
    plain.write_text("a plain file\n")
    argv = [a.format(dir=folder, file=plain) for a in argv]
    started = time.monotonic()
    proc = run_cli(*argv, cwd=example_repo, env=env, timeout=120)
    line = assert_at_the_door(proc, option, words)
    assert time.monotonic() - started < 30, line
    assert plain.read_text() == "a plain file\n" and sorted(p.name for p in folder.iterdir()) == ["results.json"]


def test_an_output_into_a_missing_folder_makes_the_folder(tmp_path: Path) -> None:
    source = tmp_path / "items.csv"
    source.write_text("input,expected\nhello,greeting\n")
    out = tmp_path / "new" / "deeper" / "pool.jsonl"
    proc = run_cli("import", "csv", str(source), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["input"] == "hello"


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_prompt_or_pool_path_that_is_a_folder_or_a_fifo_fails_at_once(example_repo: Path, kind: str) -> None:
    """A folder was a traceback; a FIFO hung forever waiting for a writer (it is never opened now)."""
    env = unreachable(example_repo)
    odd = example_repo / "prompts" / "odd.prompt.yml"
    pool = example_repo / "eval_sets" / "intent_recognition.jsonl"
    pool.unlink()
    for path in (odd, pool):
        path.mkdir() if kind == "folder" else os.mkfifo(path)
    what = "a folder" if kind == "folder" else "a pipe"
    assert_at_the_door(run_cli("eval", str(odd), cwd=example_repo, env=env, timeout=60), "odd.prompt.yml", what)
    assert_at_the_door(
        run_cli("eval", PROMPT, cwd=example_repo, env=env, timeout=60),
        "intent_recognition.jsonl",
        "promptci.pool",
        what,
    )
    assert_at_the_door(
        run_cli("select", PROMPT, cwd=example_repo, env=env, timeout=60), "intent_recognition.jsonl", what
    )
    assert_at_the_door(
        run_cli("refine", PROMPT, "--results", str(odd), str(odd), cwd=example_repo, env=env, timeout=60),
        "intent_recognition.jsonl",
        what,
    )  # the pool is read first
    assert_at_the_door(
        run_cli("pr", "--base", "HEAD", "--template", str(odd), cwd=example_repo, env=env, timeout=60),
        "--template",
        what,
    )
    if kind == "fifo":
        assert_at_the_door(run_cli("report", str(odd), cwd=example_repo, timeout=60), "odd.prompt.yml", what)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("PROMPTCI_LOCAL_N_CTX", "abc", "'abc' is not a whole number"),
        ("PROMPTCI_LOCAL_N_CTX", "0", "from 128"),
        ("PROMPTCI_LOCAL_THREADS", "-2", "'-2' is not a whole number"),
        ("PROMPTCI_CACHE_DIR", "{file}", "is a file"),
        ("PROMPTCI_CACHE_DIR", "{file}/cache", "is a file"),
    ],
)
def test_bad_environment_settings_exit_2_naming_the_variable(
    example_repo: Path, name: str, value: str, words: str
) -> None:
    """PROMPTCI_LOCAL_N_CTX=abc was reported as 'the model was unreachable', exit 3."""
    plain = example_repo / "notes.txt"
    plain.write_text("x\n")
    proc = run_cli("eval", PROMPT, "--limit", "2", cwd=example_repo, env={name: value.format(file=plain)}, timeout=120)
    line = assert_at_the_door(proc, name, words)
    assert "fix: set " in line or "fix: choose" in line or "PROMPTCI_CACHE_DIR" in line


def test_a_negative_seed_is_refused_before_any_work(example_repo: Path) -> None:
    """Once a scikit-learn traceback after the embeddings were computed."""
    prompt = example_repo / PROMPT
    prompt.write_text(prompt.read_text().replace("promptci:\n", "promptci:\n  selection:\n    seed: -1\n", 1))
    assert_at_the_door(run_cli("select", PROMPT, cwd=example_repo), "promptci.selection.seed", "greater than or equal")
    proc = run_cli("select", "--seed", "-1", PROMPT, cwd=example_repo)
    assert proc.returncode == 2 and "--seed" in proc.stderr and "Traceback" not in proc.stderr


def test_select_checks_every_prompt_before_writing_any_subset(example_repo: Path) -> None:
    """It wrote the first prompt's subset, then failed on the second."""
    subset = example_repo / "eval_sets" / "intent_recognition.subset.yml"
    subset.unlink()
    second = example_repo / "prompts" / "second.prompt.yml"
    second.write_text((example_repo / PROMPT).read_text().replace("promptci:\n", "promptci:\n  subset: taken\n", 1))
    (example_repo / "prompts" / "taken").mkdir()  # its subset path is a folder
    started = time.monotonic()
    proc = run_cli("select", PROMPT, str(second), cwd=example_repo)
    assert_at_the_door(proc, "taken", "promptci.subset", "is a folder")
    assert time.monotonic() - started < 20  # no embeddings were computed
    assert not subset.exists() and "wrote" not in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["pr", "--base", "HEAD", "--max-usd", "nan"],
        ["pr", "--base", "HEAD", "--max-usd", "inf"],
        ["demo", "--max-usd", "-1"],
        ["optimize", PROMPT, "--budget-usd", "NaN"],
        ["select", PROMPT, "--alpha", "nan"],
        ["pr", "--base", "HEAD", "--margin", "inf"],
        ["pr", "--base", "HEAD", "--tolerance", "0.1"],  # replaced by --margin: said so, on one line
    ],
)
def test_nan_and_infinite_numbers_are_refused(example_repo: Path, argv: list[str]) -> None:
    """float('nan') passed every limit check, so a budget of NaN dollars was no budget at all."""
    proc = run_cli(*argv, cwd=example_repo, timeout=60)
    assert proc.returncode == 2 and argv[-2] in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "--help" in proc.stderr  # one line, like every bad input


def test_the_import_snippet_loads_as_printed(tmp_path: Path) -> None:
    """Labels such as 'true', '[x]' or '#1' and a pool path with ' #' once came out as other YAML, or not at all."""
    from promptci import promptfile
    from promptci.files import evalset

    (tmp_path / "prompts").mkdir()
    source = tmp_path / "items.csv"
    labels = ["true", "null", "#1", "[x]", "a: b", "yes"]
    source.write_text("input,expected\n" + "".join(f"item {i},{json.dumps(label)}\n" for i, label in enumerate(labels)))
    out = tmp_path / "eval_sets" / "my pool #1.jsonl"
    proc = run_cli("import", "csv", str(source), "--out", str(out), "--labels", ",".join(labels), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    snippet = proc.stdout[proc.stdout.index("promptci:") :]
    prompt = tmp_path / "prompts" / "p.prompt.yml"
    prompt.write_text(
        "name: p\nmodel: local/gemma-3-270m\nmessages:\n  - role: user\n    content: '{{input}}'\n" + snippet
    )
    loaded = promptfile.load(prompt)
    assert loaded.settings.labels == labels
    assert [item.expected for item in evalset.load_pool(loaded).items] == labels
