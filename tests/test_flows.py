"""The whole pull-request flow in the fast tier: real git, real files, the real gate and report, on the mock
model (`mockllm/model` answers the label a prompt names last), so each run takes seconds. The same flows on the
embedded model are in test_pr.py (integration tier)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from promptci.files import subsetfile
from promptci.models import mockllm
from promptci.rendering.render import MARKER

from .helpers import run_cli

LABELS = ("alpha", "beta", "gamma")
GOOD = 'content: "{{input}}"'
BAD = 'content: "{{input}} (alpha, beta or gamma?)"'  # names gamma last: right on a third of the items
PROMPT = f"""name: Sorter
model: {mockllm.MODEL}
messages:
  - role: system
    content: Put each message in one folder.
  - role: user
    {GOOD}
promptci:
  pool: ../eval_sets/sort.jsonl
  labels: [alpha, beta, gamma]
  embedding_model: {mockllm.EMBED_MODEL}
  selection: {{size: 12}}
  gate:
    min_score: 0.5
"""
TOPICS = ("invoice", "meeting", "holiday", "server", "contract", "lunch", "report", "travel", "payroll", "laptop")


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: the good prompt, a 90-item pool whose inputs name their folder, and the subset `select` chose."""
    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    rows = [
        {
            "id": f"m{n:03d}",
            "input": f"About the {TOPICS[n % 10]} ({n}): file it under {LABELS[n % 3]}.",
            "expected": LABELS[n % 3],
        }
        for n in range(90)
    ]
    (repo / "eval_sets" / "sort.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (repo / "prompts" / "sort.prompt.yml").write_text(PROMPT)
    chosen = run_cli("select", "prompts/sort.prompt.yml", cwd=repo)
    assert chosen.returncode == 0, chosen.stderr
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the sorter")
    return repo


def edit(repo: Path, branch: str, start: str, old: str, new: str) -> None:
    git(repo, "checkout", "-qb", branch, start)
    path = repo / "prompts" / "sort.prompt.yml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    git(repo, "commit", "-qam", branch)


def pr(repo: Path, out: Path, base: str, head: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    proc = run_cli("pr", "--base", base, "--head", head, "--repo", str(repo), "--out", str(out), *extra)
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return proc, results


def test_a_regression_fails_with_its_flipped_items_and_an_improvement_passes(repo: Path, tmp_path: Path) -> None:
    edit(repo, "worse", "main", GOOD, BAD)
    before = (repo / "prompts" / "sort.prompt.yml").read_text()
    proc, results = pr(repo, tmp_path / "worse", "main", "worse", "--no-optimize")
    assert proc.returncode == 1, proc.stderr
    [prompt] = results["prompts"]
    assert prompt["verdict"]["status"] == "fail" and prompt["comparison"]["regressed"] > 0
    assert prompt["comparison"]["improved"] == 0  # the good prompt is right on every item
    assert (
        prompt["subset_items"] == 12
        and prompt["items"][:12] == subsetfile.read(repo / "eval_sets" / "sort.subset.yml").ids
    )  # the committed subset judged first
    regressed = [i for i in prompt["items"] if prompt["base"][i]["score"] > prompt["head"][i]["score"]]
    assert all(prompt["head"][i]["output"] == "gamma" for i in regressed)  # what the mock's rule predicts
    report = (tmp_path / "worse" / "report.md").read_text()
    assert report.startswith(MARKER) and "❌" in report and "Items that flipped" in report
    assert "promptci: FAIL" in proc.stdout and (repo / "prompts" / "sort.prompt.yml").read_text() == before
    rebuilt = run_cli("report", str(tmp_path / "worse" / "results.json"), "--format", "summary")
    assert rebuilt.returncode == 1 and rebuilt.stdout == report  # the report comes from the results file alone

    edit(repo, "better", "worse", BAD, GOOD)
    proc, results = pr(repo, tmp_path / "better", "worse", "better", "--no-optimize")
    assert proc.returncode == 0, proc.stderr
    assert results["prompts"][0]["verdict"]["status"] == "pass" and results["prompts"][0]["comparison"]["delta"] > 0.3

    quiet = run_cli("pr", "--base", "main", "--head", "main", "--repo", str(repo), "--out", str(tmp_path / "q"))
    assert quiet.returncode == 0 and "nothing to gate" in quiet.stdout


def test_the_optimizer_and_the_refresh_run_within_the_calls_allowed(repo: Path, tmp_path: Path) -> None:
    edit(repo, "worse", "main", GOOD, BAD)
    proc, results = pr(repo, tmp_path / "out", "main", "worse", "--steps", "2", "--max-calls", "400")
    assert proc.returncode == 1, proc.stderr
    [prompt] = results["prompts"]
    assert results["usage"]["calls"] <= 400
    assert prompt["optimizer"] is not None and prompt["optimizer"]["attempts"]  # it searched from head
    assert prompt["subset"]["path"] == "eval_sets/sort.subset.yml"


def test_the_pull_request_cannot_loosen_its_own_gate(repo: Path, tmp_path: Path) -> None:
    edit(repo, "attack", "main", GOOD, BAD)
    path = repo / "prompts" / "sort.prompt.yml"
    path.write_text(path.read_text().replace("min_score: 0.5", "min_score: 0.0\n    margin: 1.0"))
    git(repo, "commit", "-qam", "loosen the gate")
    proc, results = pr(repo, tmp_path / "out", "main", "attack", "--no-optimize", "--no-refresh")
    assert proc.returncode == 1 and results["prompts"][0]["verdict"]["status"] == "fail", proc.stderr


def test_the_gates_order_comes_from_the_secret_and_the_head_not_from_public_values(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The items drawn after the subset follow the seed of PROMPTCI_GATE_SECRET and the head version (recorded as
    `draw_seed`), so an author who knows the selection seed and the pool cannot compute them; a re-run of the same
    head with the same secret draws the same items, another secret other items."""
    from promptci.gate import decision

    edit(repo, "close", "main", GOOD, 'content: "{{input}} (alpha?)"')  # wrong on the items that are not alpha
    monkeypatch.setenv("PROMPTCI_GATE_SECRET", "first-secret-value")
    _, first = pr(repo, tmp_path / "a", "main", "close", "--no-optimize", "--no-refresh")
    _, again = pr(repo, tmp_path / "b", "main", "close", "--no-optimize", "--no-refresh")
    monkeypatch.setenv("PROMPTCI_GATE_SECRET", "second-secret-value")
    _, other = pr(repo, tmp_path / "c", "main", "close", "--no-optimize", "--no-refresh")
    monkeypatch.setenv("PROMPTCI_GATE_SECRET", "first-secret-value")
    p = first["prompts"][0]
    assert p["draw_seed"] == decision.draw_seed(p["hashes"]["head"], p["hashes"]["pool"])
    assert p["draw_seed"] != other["prompts"][0]["draw_seed"]
    drawn, subset = p["items"][p["subset_items"] :], p["items"][: p["subset_items"]]
    assert drawn, "a change this large is not decided on the subset alone"
    pool_ids = [json.loads(line)["id"] for line in (repo / "eval_sets" / "sort.jsonl").read_text().splitlines()]
    assert drawn == decision.order(pool_ids, subset, p["draw_seed"], p["hashes"]["pool"])[: len(drawn)]
    assert again["prompts"][0]["items"] == p["items"]
    public = decision.order(pool_ids, subset, p["seed"], p["hashes"]["pool"])  # the order before: selection seed
    assert drawn != public[: len(drawn)]
