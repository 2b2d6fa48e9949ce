"""`promptci pr` end to end on a real git repository made from the bundled example, with the embedded model:
a pull request that improves the prompt passes, one that breaks it fails, and the report says why."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from promptci.files import subsetfile
from promptci.rendering import escape
from promptci.rendering.render import MARKER

from .helpers import ROOT, run_cli


def git(repo: Path, *args: str) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return example_repo(tmp_path / "repo")


def example_repo(repo: Path) -> Path:
    """A git repository whose main branch is the bundled example, committed."""
    shutil.copytree(ROOT / "prompts", repo / "prompts")
    shutil.copytree(ROOT / "eval_sets", repo / "eval_sets")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the bundled example")
    return repo


def branch(repo: Path, name: str, start: str, old: str, new: str) -> None:
    git(repo, "checkout", "-qb", name, start)
    path = repo / "prompts" / "intent.prompt.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    git(repo, "commit", "-qam", name)


LIST = (
    "The possible intents are: add_to_playlist,\n      book_restaurant, get_weather, play_music, rate_book, "
    "search_creative_work and\n      search_screening_event."
)
PLAIN = "Answer with the intent's name only."


@pytest.mark.integration
def test_pr_passes_an_improvement_and_fails_a_regression_with_the_flipped_items(repo: Path, tmp_path: Path) -> None:
    # the embedded base model does far better without the list of intents in its instruction (0.35 -> ~0.85)
    branch(repo, "better", "main", LIST, PLAIN)
    out = tmp_path / "better"
    proc = run_cli(
        "pr", "--base", "main", "--head", "better", "--repo", str(repo), "--out", str(out), "--no-optimize", timeout=900
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "results.json").read_text())
    assert [p["path"] for p in result["prompts"]] == ["prompts/intent.prompt.yml"]
    prompt = result["prompts"][0]
    assert prompt["verdict"]["status"] == "pass" and prompt["comparison"]["delta"] > 0.2
    assert prompt["comparison"]["p_value"] is None  # no fixed-sample p-value beside a sequential verdict
    assert prompt["comparison"]["low"] > -0.03  # what the pass says: shown not worse by more than the margin

    # a later pull request puts the list back: a regression on the same items, so the gate fails
    branch(repo, "worse", "better", PLAIN, LIST)
    before = (repo / "prompts" / "intent.prompt.yml").read_text()
    out = tmp_path / "worse"
    proc = run_cli(
        "pr",
        "--base",
        "better",
        "--head",
        "worse",
        "--repo",
        str(repo),
        "--out",
        str(out),
        "--no-optimize",
        timeout=900,
    )
    assert proc.returncode == 1, proc.stderr
    report = (out / "report.md").read_text()
    assert report.startswith(MARKER) and "❌" in report and "Items that flipped" in report
    assert "⬇️" in report and "head is worse than base" in report  # the reason (its parentheses are escaped)
    prompt = json.loads((out / "results.json").read_text())["prompts"][0]
    assert (
        prompt["verdict"]["status"] == "fail" and prompt["comparison"]["regressed"] > prompt["comparison"]["improved"]
    )
    assert len(prompt["items"]) >= 20 and prompt["subset_items"] == 20
    assert (repo / "prompts" / "intent.prompt.yml").read_text() == before  # the work tree is untouched
    assert "promptci: FAIL" in proc.stdout and "flipped (" in proc.stdout and "wrote" in proc.stdout
    pool = {
        json.loads(line)["id"]: json.loads(line)
        for line in (repo / "eval_sets" / "intent_recognition.jsonl").read_text().splitlines()
        if line.strip()
    }
    for item_id in prompt["items"]:  # each compared item's input text travels in the results, for the report
        assert prompt["texts"][item_id] == " ".join(pool[item_id]["input"].split())[:300]
    flipped = next(i for i in prompt["items"] if prompt["base"][i]["score"] != prompt["head"][i]["score"])
    assert escape.flat(prompt["texts"][flipped], 80) in proc.stdout
    assert escape.inline(prompt["texts"][flipped], 120) in report

    # the reports can be rebuilt from the results file alone
    summary = run_cli("report", str(out / "results.json"), "--format", "summary")
    assert summary.returncode == 1 and summary.stdout == report
    comment = run_cli("report", str(out / "results.json"))
    assert comment.stdout.startswith(MARKER) and "Items that flipped" in comment.stdout
    assert len(comment.stdout) <= 65_536 and "Every item compared" not in comment.stdout

    git(repo, "checkout", "-q", "main")
    quiet = run_cli("pr", "--base", "main", "--head", "main", "--repo", str(repo), "--out", str(out))
    assert quiet.returncode == 0 and "nothing to gate" in quiet.stdout


def test_a_head_prompt_that_no_longer_loads_fails_the_gate_with_its_error(repo: Path, tmp_path: Path) -> None:
    branch(repo, "broken", "main", "messages:", "messages: [")
    out = tmp_path / "out"
    proc = run_cli("pr", "--base", "main", "--head", "broken", "--repo", str(repo), "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    prompt = json.loads((out / "results.json").read_text())["prompts"][0]
    assert prompt["verdict"]["status"] == "fail" and "intent.prompt.yml" in prompt["error"]
    assert "**Error:**" in (out / "report.md").read_text() and "cannot be scored" in proc.stdout


def test_a_missing_base_is_a_one_line_error(repo: Path) -> None:
    proc = run_cli("pr", "--base", "origin/nope", "--repo", str(repo))
    assert proc.returncode == 2 and "git revision 'origin/nope' not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_a_pool_change_reruns_the_prompt_on_a_new_subset(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-qb", "more-data")
    pool = repo / "eval_sets" / "intent_recognition.jsonl"
    pool.write_text(
        pool.read_text()
        + json.dumps({"id": "new-1", "input": "Utterance: Play some jazz.", "expected": "play_music"})
        + "\n"
    )
    git(repo, "commit", "-qam", "one more item")
    out = tmp_path / "out"
    proc = run_cli(
        "pr",
        "--base",
        "main",
        "--head",
        "more-data",
        "--repo",
        str(repo),
        "--out",
        str(out),
        "--no-optimize",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    prompt = json.loads((out / "results.json").read_text())["prompts"][0]
    assert prompt["change"]["status"] == "inputs" and "intent_recognition.jsonl" in prompt["change"]["reason"]
    assert "stale" in prompt["subset_note"] and prompt["subset"]["changed"]  # a new subset, to be committed
    assert prompt["comparison"]["delta"] == 0 and prompt["verdict"]["status"] == "pass"  # the same prompt
    assert (out / "subsets" / "eval_sets" / "intent_recognition.subset.yml").exists()


@pytest.mark.integration
def test_the_pull_request_cannot_choose_what_judges_it(repo: Path, tmp_path: Path) -> None:
    # an attacker's pull request puts the harmful list back, hand-picks the subset items, and loosens the gate
    branch(repo, "better", "main", LIST, PLAIN)
    git(repo, "checkout", "-qb", "attack", "better")
    prompt = repo / "prompts" / "intent.prompt.yml"
    loose = "  gate:\n    min_score: 0.0\n    margin: 1.0\n    significance: 0.5\n    on_inconclusive: pass\n"
    prompt.write_text(prompt.read_text().replace(PLAIN, LIST).split("  gate:")[0] + loose)
    subset = repo / "eval_sets" / "intent_recognition.subset.yml"
    committed = list(subsetfile.read(subset).ids)
    pool = [
        json.loads(line)["id"] for line in (repo / "eval_sets" / "intent_recognition.jsonl").read_text().splitlines()
    ]
    chosen = [i for i in pool if i not in committed][: len(committed)]
    text = subset.read_text()
    for old, new in zip(committed, chosen):
        text = text.replace(f"id: {old}", f"id: {new}")
    subset.write_text(text)
    git(repo, "commit", "-qam", "attack")
    out = tmp_path / "out"
    proc = run_cli(
        "pr",
        "--base",
        "better",
        "--head",
        "attack",
        "--repo",
        str(repo),
        "--out",
        str(out),
        "--no-optimize",
        "--no-refresh",
        timeout=900,
    )
    result = json.loads((out / "results.json").read_text())["prompts"][0]
    assert not result["error"], result["error"]
    assert result["items"][:20] == committed  # the base branch's subset judged, not the pull request's
    assert "edits the subset file: it was not used to judge" in result["subset_note"]
    assert result["verdict"]["status"] == "fail" and proc.returncode == 1, result["verdict"]  # the base's gate


def test_a_new_prompt_may_not_send_the_keys_elsewhere(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-qb", "exfiltrate")
    prompt = (repo / "prompts" / "intent.prompt.yml").read_text()
    (repo / "prompts" / "steal.prompt.yml").write_text(
        prompt.replace("model: local/gemma-3-270m", "model: openai/gpt-4o") + "  api_base: http://127.0.0.1:9/v1\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a new prompt")
    out = tmp_path / "out"
    proc = run_cli(
        "pr",
        "--base",
        "main",
        "--head",
        "exfiltrate",
        "--repo",
        str(repo),
        "--out",
        str(out),
        "--no-optimize",
        env={"OPENAI_API_KEY": "sk-test-not-a-key"},
    )
    assert proc.returncode == 1, proc.stderr
    result = json.loads((out / "results.json").read_text())["prompts"][0]
    assert result["verdict"]["status"] == "fail" and "promptci.api_base" in result["error"]
    assert result["base"] == {} and result["head"] == {}  # refused before any call
