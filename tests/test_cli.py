"""`promptci eval` and `promptci import` as a user runs them: real processes, the real embedded model."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest

from promptci import results

from .helpers import BIGBENCH, run_cli


def set_gate(repo: Path, minimum: float | None) -> Path:
    prompt = repo / "prompts" / "intent.prompt.yml"
    text = prompt.read_text()
    text = re.sub(r"  gate:\n    min_score: [0-9.]+.*\n", "" if minimum is None else
                  f"  gate:\n    min_score: {minimum}\n", text)
    prompt.write_text(text)
    return prompt


def assert_clean_failure(proc, code: int, *words: str) -> str:  # noqa: ANN001
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("promptci: error:")]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_eval_writes_results_and_a_rerun_hits_the_cache(example_repo: Path) -> None:
    prompt = set_gate(example_repo, None)
    out = example_repo / "out.json"
    first = run_cli("eval", str(prompt), "--limit", "8", "--json", str(out), cwd=example_repo)
    assert first.returncode == 0, first.stderr
    assert re.search(r"score\s+[01]\.\d{3}\s+95% CI \[[01]\.\d{3}, [01]\.\d{3}\] \(wilson\)\s+n=8", first.stdout)
    [run] = results.read(out)
    assert run.model == "local/gemma-3-270m" and run.selection == "full-first-8" and run.pool["size"] == 693
    assert run.summary.calls == 8 and run.summary.cache_hits == 0 and run.summary.errors == 0
    low, high = run.summary.ci95
    assert low <= run.summary.mean <= high
    labels = 7
    for item in run.items:
        assert item.error is None and item.output in item.label_probs
        assert len(item.label_probs) == labels and abs(sum(item.label_probs.values()) - 1) < 1e-9
        assert item.score == float(item.output == item.expected)
        assert item.prompt_tokens > 0 and item.latency_s > 0 and not item.cached and item.label_method == "exact"
    assert run.summary.mean == sum(i.score for i in run.items) / 8

    second = run_cli("eval", str(prompt), "--limit", "8", "--json", str(out), cwd=example_repo)
    assert second.returncode == 0, second.stderr
    [again] = results.read(out)
    assert again.summary.calls == 0 and again.summary.cache_hits == 8
    assert all(i.cached for i in again.items)
    assert [i.label_probs for i in again.items] == [i.label_probs for i in run.items]
    assert again.summary.wall_s < run.summary.wall_s

    fresh = run_cli("eval", str(prompt), "--limit", "2", "--no-cache", "--json", str(out), cwd=example_repo)
    assert fresh.returncode == 0 and results.read(out)[0].summary.calls == 2


def test_gate_min_score_fails_with_exit_1(example_repo: Path) -> None:
    prompt = set_gate(example_repo, 1.0)
    proc = run_cli("eval", str(prompt), "--limit", "3", cwd=example_repo)
    assert proc.returncode == 1, proc.stderr
    assert "gate failed" in proc.stderr and "below promptci.gate.min_score 1.0" in proc.stderr


BAD_PROMPTS = {
    "malformed": ("messages:\n  - role: user\n    content: [oops\n", ":5", "malformed YAML"),
    # issue 16: gh ignores unknown GitHub Models keys, so only promptci's own block refuses them
    "unknown field": ("messages: [{role: user, content: hi}]\npromptci:\n  poool: x.jsonl\n", ":5",
                      "promptci.poool: unknown field"),
    "missing pool": ("promptci:\n  pool: nowhere.jsonl\n", "nowhere.jsonl", "pool file not found"),
    # issue 16: a placeholder no item fills is text, as in gh; one naming the answer is refused
    "answer": ("promptci:\n  pool: ../eval_sets/intent_recognition.jsonl\n", "messages[0].content",
               "answer field 'expected'"),
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
        prompt.write_text(f"name: bad\nmodel: local/gemma-3-270m\nmessages:\n  - role: user\n    content: '{template}'\n"
                          + body + ("testData:\n  - {input: a, expected: b}\n" if case == "evaluator" else ""))
    out = example_repo / "out.json"
    out.write_text("previous results")
    proc = run_cli("eval", str(prompt), "--json", str(out), cwd=example_repo)
    line = assert_clean_failure(proc, 2, "bad.prompt.yml" if case != "missing pool" else "", where, words, "fix:")
    assert out.read_text() == "previous results", line


@pytest.mark.parametrize("content, words", [
    (b'{"id": "a", "input": "x", "expected": "y"}\n{"id": "a", "input": "z", "expected": "y"}\n', "duplicate id 'a'"),
    (b"", "pool is empty"),
    ('{"input": "caf\xe9", "expected": "y"}\n'.encode("latin-1"), "not UTF-8"),
])
def test_bad_pools_exit_2(example_repo: Path, content: bytes, words: str) -> None:
    (example_repo / "eval_sets" / "intent_recognition.jsonl").write_bytes(content)
    proc = run_cli("eval", "prompts/intent.prompt.yml", cwd=example_repo)
    assert_clean_failure(proc, 2, "intent_recognition.jsonl", words)


def test_model_that_does_not_exist_exits_2(example_repo: Path) -> None:
    proc = run_cli("eval", "prompts/intent.prompt.yml", "--model", "nosuchprovider/nothing", "--limit", "2",
                   cwd=example_repo)
    assert_clean_failure(proc, 2, "intent.prompt.yml", "model", "names no provider")


def test_closed_port_exits_3_with_every_item_marked(example_repo: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prompt = set_gate(example_repo, None)
    text = prompt.read_text().replace("model: local/gemma-3-270m", "model: openai/gemma")
    prompt.write_text(text.replace("promptci:\n", f"promptci:\n  api_base: http://127.0.0.1:{port}/v1\n"))
    secret = "sk-test-SECRET-value-0123456789"
    out = example_repo / "out.json"
    proc = run_cli("eval", str(prompt), "--limit", "10", "--json", str(out), cwd=example_repo,
                   env={"OPENAI_API_KEY": secret}, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "model was unreachable" in proc.stderr
    [run] = results.read(out)
    assert len(run.items) == 10 and all(i.error and i.error_kind == "infra" and i.score is None for i in run.items)
    assert any("not attempted" in i.error for i in run.items)  # the breaker spared the rest
    assert any("Connection error" in i.error for i in run.items)
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
from promptci.embeddings import embed
assert embed(["offline"]).shape == (1, 384)
sys.exit(main(["eval", "prompts/intent.prompt.yml", "--limit", "3", "--no-cache"]))
"""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", guard], cwd=example_repo, capture_output=True, text=True, timeout=300)
    assert "network access attempted" not in proc.stderr + proc.stdout
    assert proc.returncode in (0, 1), proc.stderr  # 1: the bundled gate may fail on 3 items
    assert "n=3" in proc.stdout
