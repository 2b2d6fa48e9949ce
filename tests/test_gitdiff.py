"""Changed-prompt detection on real git repositories, including the checkouts `actions/checkout` makes:
a full clone, and a `fetch-depth: 2` clone of the pull request's merge commit (refs/pull/N/merge)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from promptci.errors import InputError
from promptci.gitdiff import read_text
from promptci.pullrequest.changes import changed_prompts

PROMPT = """name: {name}
model: local/gemma-3-270m
messages:
  - role: user
    content: "{{{{input}}}} -> {body}"
promptci:
  pool: ../eval_sets/{pool}.jsonl
"""


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout.strip()


def write(repo: Path, path: str, text: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """main with three prompts; a branch `pr` that modifies one, renames one, adds one, deletes none, and
    changes the pool of a fourth; main moves on after the branch point."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name, pool in (("a", "a"), ("b", "b"), ("c", "c"), ("d", "d")):
        write(repo, f"prompts/{name}.prompt.yml", PROMPT.format(name=name, body="v1", pool=pool))
        write(repo, f"eval_sets/{pool}.jsonl", '{"id": "1", "input": "x", "expected": "y"}\n')
    write(repo, "README.md", "hello\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "pr")
    write(repo, "prompts/a.prompt.yml", PROMPT.format(name="a", body="v2", pool="a") + "\n")  # trailing newline kept
    git(repo, "mv", "prompts/b.prompt.yml", "prompts/b2.prompt.yml")
    write(repo, "prompts/new.prompt.yml", PROMPT.format(name="new", body="v1", pool="a"))
    write(repo, "eval_sets/d.jsonl", '{"id": "2", "input": "z", "expected": "y"}\n')
    write(repo, "notes.txt", "not a prompt\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pr change")
    git(repo, "checkout", "-q", "main")
    write(repo, "README.md", "main moved on\n")
    git(repo, "rm", "-q", "prompts/c.prompt.yml")  # deleted on main after the branch point: not the PR's change
    git(repo, "commit", "-qam", "main moves")
    return repo


def test_full_clone_finds_every_kind_of_change(origin: Path) -> None:
    changes = {c.path: c for c in changed_prompts(str(origin), "main", "pr")}
    assert set(changes) == {
        "prompts/a.prompt.yml",
        "prompts/b2.prompt.yml",
        "prompts/new.prompt.yml",
        "prompts/d.prompt.yml",
    }
    a = changes["prompts/a.prompt.yml"]
    assert a.old_text and a.new_text
    assert a.status == "modified" and "v1" in a.old_text and "v2" in a.new_text and a.new_text.endswith("\n\n")
    b = changes["prompts/b2.prompt.yml"]
    assert b.status == "renamed" and b.old_path == "prompts/b.prompt.yml" and b.old_text == b.new_text
    assert changes["prompts/new.prompt.yml"].status == "added" and changes["prompts/new.prompt.yml"].old_text is None
    d = changes["prompts/d.prompt.yml"]
    assert d.status == "inputs" and "eval_sets/d.jsonl" in d.reason


def test_deleted_prompt_is_reported(origin: Path) -> None:
    git(origin, "checkout", "-qb", "drop", "pr")
    git(origin, "rm", "-q", "prompts/a.prompt.yml")
    git(origin, "commit", "-qm", "drop a")
    changes = {c.path: c for c in changed_prompts(str(origin), "pr", "drop")}
    assert changes["prompts/a.prompt.yml"].status == "deleted" and changes["prompts/a.prompt.yml"].new_text is None


def test_subset_file_change_reruns_its_prompt(origin: Path) -> None:
    git(origin, "checkout", "-qb", "subset", "main")
    write(origin, "eval_sets/a.subset.yml", "format: promptci.subset/1\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "subset")
    changes = changed_prompts(str(origin), "main", "subset")
    assert [(c.path, c.status) for c in changes] == [("prompts/a.prompt.yml", "inputs")]


def test_fetch_depth_2_checkout_of_the_pr_merge_commit(origin: Path, tmp_path: Path) -> None:
    # what GitHub prepares as refs/pull/1/merge, and what actions/checkout fetches with fetch-depth: 2
    git(origin, "checkout", "-q", "main")
    git(origin, "merge", "-q", "--no-ff", "-m", "Merge pr into main", "pr")
    merge = git(origin, "rev-parse", "HEAD")
    git(origin, "update-ref", "refs/pull/1/merge", merge)
    git(origin, "reset", "-q", "--hard", "HEAD^1")
    clone = tmp_path / "checkout"
    clone.mkdir()
    git(clone, "init", "-q")
    git(clone, "fetch", "-q", "--depth=2", f"file://{origin}", "+refs/pull/1/merge:refs/remotes/pull/1/merge")
    git(clone, "checkout", "-q", "--detach", "refs/remotes/pull/1/merge")
    assert (clone / ".git" / "shallow").exists()
    changes = {c.path: c for c in changed_prompts(str(clone), "HEAD^1", "HEAD")}
    assert set(changes) == {
        "prompts/a.prompt.yml",
        "prompts/b2.prompt.yml",
        "prompts/new.prompt.yml",
        "prompts/d.prompt.yml",
    }  # not c, which main deleted
    assert (read_text(str(clone), "HEAD^1", "prompts/a.prompt.yml") or "").count("v1") == 1


def test_shallow_clone_without_a_merge_base_names_the_fix(origin: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", "--no-single-branch", f"file://{origin}", str(clone)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(InputError, match="fetch-depth"):
        changed_prompts(str(clone), "origin/main", "origin/pr")


def test_unknown_revision_and_non_repository_are_input_errors(origin: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        changed_prompts(str(origin), "no-such-branch", "pr")
    with pytest.raises(InputError, match="not a git repository"):
        changed_prompts(str(tmp_path / "nowhere"), "main", "pr")


HOSTILE_NAMES = ("a\nb:zzz", os.fsdecode(b"weird\xff.md"))  # a newline then a colon; bytes that are not UTF-8


def add_hostile_names(repo: Path) -> None:
    """Commit, next to whatever is staged, the two file names GitPython's diff parser mishandled: it dropped
    every record after the first and failed on the second, so a prompt change beside them went unseen."""
    for name in HOSTILE_NAMES:
        (repo / name).write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hostile names")


def test_file_names_with_a_newline_or_not_utf8_hide_no_prompt_change(origin: Path) -> None:
    git(origin, "checkout", "-qb", "hostile", "pr")
    add_hostile_names(origin)
    changes = {c.path: c for c in changed_prompts(str(origin), "main", "hostile")}
    assert set(changes) == {
        "prompts/a.prompt.yml",
        "prompts/b2.prompt.yml",
        "prompts/new.prompt.yml",
        "prompts/d.prompt.yml",
    }
    assert changes["prompts/b2.prompt.yml"].status == "renamed"  # renames are still found
    git(origin, "checkout", "-qb", "only-hostile", "main")
    write(origin, "prompts/a.prompt.yml", PROMPT.format(name="a", body="v9", pool="a"))
    add_hostile_names(origin)
    assert [c.path for c in changed_prompts(str(origin), "main", "only-hostile")] == ["prompts/a.prompt.yml"]
