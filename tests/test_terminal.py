"""Names, labels and paths from users print literally on the terminal: `[`, `]` and `:x:` are text, not
rich markup or emoji codes (a prompt named `x [/y]` once raised rich's MarkupError, `app/[slug]/` printed
as `app//`)."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import run_cli
from .test_gitdiff import git, write
from .test_progress import LINE

PROMPT = """name: "x [/y] :smile:"
model: mockllm/model
messages:
  - role: user
    content: "Weather or music? {{{{input}}}}{tail}"
promptci:
  pool: pool.jsonl
  labels: ["[weather]", "music"]
"""
POOL = "".join(
    json.dumps({"id": i, "input": text, "expected": label}) + "\n"
    for i, text, label in (
        ("w1", "Will it rain tomorrow?", "[weather]"),
        ("m1", "Play some jazz.", "music"),
        ("w2", "Is it cold in Oslo?", "[weather]"),
    )
)
WHERE = "app/[slug]"


def test_select_check_prints_a_bracketed_path_as_it_is(tmp_path: Path) -> None:
    write(tmp_path, f"{WHERE}/p.prompt.yml", PROMPT.format(tail=""))
    write(tmp_path, f"{WHERE}/pool.jsonl", POOL)
    proc = run_cli("select", "--check", f"{WHERE}/p.prompt.yml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert f"{WHERE}/pool.subset.yml: no subset file (fix: promptci select {WHERE}/p.prompt.yml)" in proc.stdout, (
        proc.stdout
    )


def test_eval_prints_a_bracketed_name_as_it_is(tmp_path: Path) -> None:
    write(tmp_path, f"{WHERE}/p.prompt.yml", PROMPT.format(tail=""))
    write(tmp_path, f"{WHERE}/pool.jsonl", POOL)
    proc = run_cli("eval", f"{WHERE}/p.prompt.yml", "--limit", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr
    assert proc.stdout.startswith("x [/y] :smile: · mockllm/model · full-first-2 · pool.jsonl"), proc.stdout
    assert "x [/y] :smile: (mockllm/model): scoring 2 items of pool.jsonl" in proc.stderr, proc.stderr
    assert all(LINE.match(line) for line in proc.stderr.splitlines()), proc.stderr  # progress only, nothing raw


def test_the_pull_request_flow_prints_bracketed_paths_names_and_labels_as_they_are(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, f"{WHERE}/p.prompt.yml", PROMPT.format(tail=""))
    write(repo, f"{WHERE}/pool.jsonl", POOL)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "pr")
    write(repo, f"{WHERE}/p.prompt.yml", PROMPT.format(tail=" Answer:"))
    git(repo, "commit", "-qam", "head")
    out = tmp_path / "out [slug]"
    proc = run_cli(
        "pr", "--base", "main", "--head", "pr", "--repo", str(repo), "--out", str(out), "--no-optimize", "--no-refresh"
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"== {WHERE}/p.prompt.yml (" in proc.stdout, proc.stdout
    assert f"wrote {out / 'report.md'}" in proc.stdout, proc.stdout
    assert f"prompt 1 of 1: {WHERE}/p.prompt.yml" in proc.stderr, proc.stderr
    assert json.loads((out / "results.json").read_text())["prompts"][0]["path"] == f"{WHERE}/p.prompt.yml"
