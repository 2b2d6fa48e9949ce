"""A pull request that removes a gated prompt (gate/removals.py): what replaces it on the same pool is compared with it,
a rename to a name promptci does not read is flagged, a new prompt beside the removal needs a minimum score, and a
plain deletion is neutral and says so. Each test builds its own git repository; the model is a small real
OpenAI-compatible server on loopback (tests/openai_server.py), since a remote provider cannot run here. It
answers a prompt that says "Answer:" right and any other prompt wrong."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from promptci.files import prresults

from .helpers import run_cli
from .openai_server import OpenAIServer

MODEL = "openai/fake-removals"
PROMPT = f"""name: t
model: {MODEL}
messages:
  - role: user
    content: "Answer: {{{{input}}}}"
promptci:
  model: {MODEL}
  embedding_model: openai/text-embedding-3-small
  pool: ../eval_sets/t.jsonl
"""
DEGRADED = PROMPT.replace("Answer:", "Reply:")
COMMENTS = "".join(f"# a new prompt for the same task, line {k}\n" for k in range(40))  # git then sees no rename


def _reply(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return "a" + content.split("q", 1)[1] if content.startswith("Answer: q") else "nope"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A base branch with one gated prompt on a pool of 30 items."""
    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    (repo / "prompts" / "p.prompt.yml").write_text(PROMPT)
    rows = [{"id": f"i{k}", "input": f"q{k}", "expected": f"a{k}"} for k in range(30)]
    (repo / "eval_sets" / "t.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "change")
    return repo


def pr(repo: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict, OpenAIServer]:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the pull request")
    out = tmp_path / "out"
    with OpenAIServer(_reply) as server:
        proc = run_cli(
            "pr",
            "--base",
            "main",
            "--head",
            "change",
            "--repo",
            str(repo),
            "--out",
            str(out),
            "--no-optimize",
            "--no-refresh",
            "--subset-size",
            "4",
            env=server.env(),
        )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, json.loads((out / "results.json").read_text()), server


@pytest.mark.parametrize("pool", ["the same file", "a copy of it"])
def test_a_gated_prompt_deleted_beside_a_new_prompt_on_its_pool_is_compared_with_it(
    repo: Path, tmp_path: Path, pool: str
) -> None:
    (repo / "prompts" / "p.prompt.yml").unlink()
    new = COMMENTS + DEGRADED
    if pool == "a copy of it":
        (repo / "eval_sets" / "copy.jsonl").write_text((repo / "eval_sets" / "t.jsonl").read_text())
        new = new.replace("t.jsonl", "copy.jsonl")
    (repo / "prompts" / "q.prompt.yml").write_text(new)
    assert "R" not in git(repo, "add", "-A") + git(repo, "diff", "--cached", "--name-status", "-M")  # no rename to git
    proc, results, _ = pr(repo, tmp_path)
    [prompt] = results["prompts"]
    assert prompt["path"] == "prompts/q.prompt.yml" and prompt["change"]["old_path"] == "prompts/p.prompt.yml"
    assert "compared as a rename" in prompt["change"]["reason"] and prompt["hashes"].get("base")
    assert prompt["verdict"]["status"] == "fail" and "head is worse than base" in prompt["verdict"]["reason"]
    assert proc.returncode == 1 and prompt["scores"] == {"base": 1.0, "head": 0.0}


@pytest.mark.parametrize(
    "name, seen_by_git", [("p.prompt.YML", True), ("p.Prompt.yaml", False), ("p.prompt.yml.txt", False)]
)
def test_a_prompt_renamed_to_a_name_promptci_does_not_read_is_flagged(
    repo: Path, tmp_path: Path, name: str, seen_by_git: bool
) -> None:
    (repo / "prompts" / "p.prompt.yml").unlink()
    (repo / "prompts" / name).write_text(DEGRADED if seen_by_git else COMMENTS + DEGRADED)
    git(repo, "add", "-A")
    assert ("R" in git(repo, "diff", "--cached", "--name-status", "-M")) == seen_by_git
    proc, results, server = pr(repo, tmp_path)
    [prompt] = results["prompts"]
    assert prompt["verdict"]["status"] == "fail" and results["verdict"]["status"] == "fail", prompt["verdict"]
    assert f"prompts/{name}" in prompt["verdict"]["reason"] and "never be gated again" in prompt["verdict"]["reason"]
    assert proc.returncode == 1 and "nothing to score" not in proc.stdout
    assert not [p for p in server.paths if p.endswith("/chat/completions")]  # flagged before any model call
    # a results file that calls it a pass is judged again: the flag stands
    forged = prresults.parse(
        {
            **results,
            "verdict": {"status": "pass", "reason": "x"},
            "prompts": [{**prompt, "verdict": {"status": "pass", "reason": "deleted"}}],
        }
    )
    assert prresults.recompute(forged).verdict.status == "fail"


def test_a_new_prompt_beside_a_removed_gated_prompt_needs_a_min_score(repo: Path, tmp_path: Path) -> None:
    (repo / "prompts" / "p.prompt.yml").unlink()
    (repo / "eval_sets" / "u.jsonl").write_text(
        "".join(json.dumps({"input": f"q{k}", "expected": f"a{k}"}) + "\n" for k in range(100, 110))
    )  # another pool: no comparison
    (repo / "prompts" / "q.prompt.yml").write_text(COMMENTS + PROMPT.replace("t.jsonl", "u.jsonl"))
    proc, results, server = pr(repo, tmp_path)
    by_path = {p["path"]: p for p in results["prompts"]}
    deleted, new = by_path["prompts/p.prompt.yml"], by_path["prompts/q.prompt.yml"]
    assert deleted["verdict"]["status"] == "neutral" and "no longer gated" in deleted["verdict"]["reason"]
    assert new["verdict"]["status"] == "fail" and "promptci.gate.min_score" in new["verdict"]["reason"]
    assert "removes the gated prompts/p.prompt.yml" in new["verdict"]["reason"] and proc.returncode == 1
    assert not server.requests  # refused before any model call
    assert prresults.recompute(prresults.parse(results)).verdict.status == "fail"  # and again from the file

    def new_prompt(min_score: float) -> None:
        gate = f"promptci:\n  gate: {{min_score: {min_score}}}\n"
        (repo / "prompts" / "q.prompt.yml").write_text(
            COMMENTS + PROMPT.replace("t.jsonl", "u.jsonl").replace("promptci:\n", gate)
        )

    new_prompt(0)  # a bar the new prompt sets itself at 0 judges nothing: still refused
    proc, results, _ = pr(repo, tmp_path)
    new = next(p for p in results["prompts"] if p["path"] == "prompts/q.prompt.yml")
    assert new["verdict"]["status"] == "fail" and "min_score above 0" in new["verdict"]["reason"]
    assert proc.returncode == 1 and prresults.recompute(prresults.parse(results)).verdict.status == "fail"

    new_prompt(0.5)
    proc, results, _ = pr(repo, tmp_path)
    new = next(p for p in results["prompts"] if p["path"] == "prompts/q.prompt.yml")
    assert new["verdict"]["status"] == "pass" and "at least the minimum 0.5" in new["verdict"]["reason"]
    assert proc.returncode == 0 and results["verdict"]["status"] == "pass"
    assert "1 not gated (no items, or deleted)" in results["verdict"]["reason"]


def test_a_plain_deletion_is_neutral_and_says_so(repo: Path, tmp_path: Path) -> None:
    (repo / "prompts" / "p.prompt.yml").unlink()
    proc, results, _ = pr(repo, tmp_path)
    assert results["verdict"]["status"] == "neutral" and proc.returncode == 0
    assert re.search(r"no longer gated, and nothing was compared", results["prompts"][0]["verdict"]["reason"])
    assert "NOT GATED" in proc.stdout and "nothing to score" not in proc.stdout
