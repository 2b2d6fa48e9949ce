"""Which prompt files a pull request changes, and their old and new text: the only door to git.

Base and head are compared from their merge base, as GitHub's "Files changed" tab does. A prompt
counts as changed when its own file changed (added, modified, deleted, renamed) or when a file it
reads did: its pool, its subset file. Texts are read from the commits' blobs, byte for byte, never
from the work tree, so what is scored is what was committed.

On the `refs/pull/N/merge` checkout that `actions/checkout` makes with `fetch-depth: 2`, the merge
commit's first parent is the base branch tip; its diff against that parent is exactly the pull
request's change, so no merge base is needed there. Any other shallow checkout without a merge base
gets an error naming the `fetch-depth` that fixes it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import git
import pydantic.dataclasses

from .errors import InfraError, InputError
from .files.records import RECORD, ChangeStatus

PROMPT_SUFFIXES = (".prompt.yml", ".prompt.yaml")


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class Change:
    """One prompt to re-run (a record). `status` inputs: its pool or subset file changed, not the prompt file."""

    status: ChangeStatus
    old_path: str | None
    new_path: str | None
    old_text: str | None
    new_text: str | None
    reason: str

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def is_prompt(path: str) -> bool:
    return path.endswith(PROMPT_SUFFIXES)


def lookalike(path: str) -> bool:
    """A file named like a prompt that promptci does not read as one (`p.prompt.YML`, `p.Prompt.yaml.bak`)."""
    return ".prompt" in os.path.basename(path).lower() and not is_prompt(path)


def diff_start(repo_dir: str, base: str, head: str = "HEAD") -> str:
    """The commit a pull request's change is measured from (the merge base, or the base tip of a
    `refs/pull/N/merge` commit): the revision whose files judge the change."""
    repo = _open(repo_dir)
    return _start(repo, _commit(repo, base), _commit(repo, head)).hexsha


InputsOf = Callable[[str, str], Sequence[str]]
"""A prompt file's repository path and text -> the repository paths it reads (its pool, its subset file)."""


def changed_prompts(repo_dir: str, base: str, head: str, *, inputs_of: InputsOf) -> list[Change]:
    """Every prompt file the change from `base` to `head` touches, directly or through its inputs (what a prompt
    reads is the caller's to say: this door hands it each unchanged prompt's text and knows no prompt format)."""
    repo = _open(repo_dir)
    head_commit = _commit(repo, head)
    start = _start(repo, _commit(repo, base), head_commit)
    changes: dict[str, Change] = {}
    touched: dict[str, str] = {}  # every changed path -> how
    for kind, old, new in _name_status(repo, start, head_commit):
        for p in filter(None, (old, new)):
            touched[p] = kind
        if is_prompt(old or "") or is_prompt(new or ""):
            change = Change(
                status=cast(ChangeStatus, kind),  # git's letters read as these words (_name_status)
                old_path=old if old and is_prompt(old) else None,
                new_path=new if new and is_prompt(new) else None,
                old_text=_blob_text(start, old) if old and is_prompt(old) else None,
                new_text=_blob_text(head_commit, new) if new and is_prompt(new) else None,
                reason=f"prompt file {kind}" + (f" to {new}" if new and not is_prompt(new) else ""),
            )
            changes[change.path] = change
    for path in _prompt_paths(head_commit):
        if path in changes:
            continue
        text = _blob_text(head_commit, path)
        inputs = [p for p in (inputs_of(path, text) if text is not None else ()) if p in touched]
        if inputs:
            changes[path] = Change(
                status="inputs",
                old_path=path,
                new_path=path,
                old_text=_blob_text(start, path),
                new_text=text,
                reason=", ".join(f"{p} {touched[p]}" for p in inputs),
            )
    return sorted(changes.values(), key=lambda c: c.path)


_KINDS = {"A": "added", "D": "deleted", "R": "renamed", "M": "modified", "T": "modified"}


def _name_status(repo: git.Repo, start: git.Commit, head: git.Commit) -> list[tuple[str, str | None, str | None]]:
    """Each changed path as (kind, old path, new path), from `git diff-tree -z` read as bytes and split on NUL.

    Not GitPython's `diff`: its parser silently drops every record after a file name holding a newline and
    a colon, and fails on a name that is not UTF-8, so a pull request could hide its prompt change behind
    such a name. Names are decoded as GitPython decodes tree entries (UTF-8, surrogateescape), and any
    record this does not understand is an error, never a smaller list."""
    raw = repo.git.diff_tree(
        "-r",
        "-z",
        "--name-status",
        "--find-renames",
        "--no-color",
        start.hexsha,
        head.hexsha,
        stdout_as_string=False,
        strip_newline_in_stdout=False,
    )
    fields = raw.split(b"\0")
    if fields[-1] == b"":
        fields.pop()  # the terminating NUL
    records: list[tuple[str, str | None, str | None]] = []
    i = 0
    while i < len(fields):
        letter = fields[i][:1].decode("ascii", "replace")
        kind, width = _KINDS.get(letter), 2 if letter == "R" else 1
        names = [f.decode("utf-8", "surrogateescape") for f in fields[i + 1 : i + 1 + width]]
        if kind is None or len(names) != width or not all(names):
            raise InfraError(
                f"git diff-tree {start.hexsha[:12]} {head.hexsha[:12]}: unreadable record "
                f"{fields[i][:20]!r} (git's output format is not what promptci expects)"
            )
        old, new = (names[0], names[-1])
        records.append((kind, None if kind == "added" else old, None if kind == "deleted" else new))
        i += 1 + width
    return records


def changed_paths(repo_dir: str, start: str, head: str) -> list[tuple[str, str | None, str | None]]:
    """Every path the change from `start` (see `diff_start`) to `head` touches, as (kind, old path, new path)."""
    repo = _open(repo_dir)
    return _name_status(repo, _commit(repo, start), _commit(repo, head))


def blob_id(repo_dir: str, rev: str, path: str) -> str | None:
    """The git object id of a file's content at a commit (None when it does not exist there): equal ids, equal
    bytes, wherever the file lies."""
    try:
        return str((_commit(_open(repo_dir), rev).tree / path).hexsha)
    except KeyError:
        return None


def read_text(repo_dir: str, rev: str, path: str) -> str | None:
    """A file's text at a commit (None when it does not exist there)."""
    repo = _open(repo_dir)
    return _blob_text(_commit(repo, rev), path)


def message(repo_dir: str, rev: str) -> str:
    """A commit's message ('' when the commit is not in this clone)."""
    try:
        return str(_commit(_open(repo_dir), rev).message)
    except InputError:
        return ""


def commit_id(repo_dir: str, rev: str) -> str:
    """A revision's commit SHA."""
    return str(_commit(_open(repo_dir), rev).hexsha)


def parents(repo_dir: str, rev: str) -> list[str]:
    """A commit's parents; two for the `refs/pull/N/merge` checkout of a pull request (base tip, then head)."""
    return [p.hexsha for p in _commit(_open(repo_dir), rev).parents]


def commit_all(repo_dir: str, message: str, *, branch: str | None = None) -> str:
    """Commit every file in `repo_dir` (a new repository when there is none), on `branch` if given; the SHA.

    For throwaway repositories (`promptci demo`, tests): the author is promptci, whatever git's config says, and the
    date fixed, so the same files make the same commits (a demo run again draws the gate's items again alike when
    PROMPTCI_GATE_SECRET is set, as a re-run of a pull request does).
    """
    repo = git.Repo(repo_dir) if Path(repo_dir, ".git").exists() else git.Repo.init(repo_dir, initial_branch="main")
    if branch is not None:
        repo.git.checkout("-B", branch)
    repo.git.add("--all")
    author = git.Actor("promptci", "promptci@users.noreply.github.com")
    date = "1767225600 +0000"  # 2026-01-01, in git's own form
    return repo.index.commit(message, author=author, committer=author, author_date=date, commit_date=date).hexsha


def _open(repo_dir: str) -> git.Repo:
    try:
        return git.Repo(repo_dir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputError(
            "not a git repository", path=repo_dir, fix="run promptci pr inside a clone (--repo DIR)"
        ) from None


def _commit(repo: git.Repo, rev: str) -> git.Commit:
    try:
        return repo.commit(rev)
    except (git.BadName, ValueError):
        shallow = (
            " (this clone is shallow: fetch the base branch, or use actions/checkout with fetch-depth: 0)"
            if _shallow(repo)
            else ""
        )
        raise InputError(
            f"git revision '{rev}' not found{shallow}",
            field="--base/--head",
            fix="pass a branch, tag or commit that exists in this clone",
        ) from None


def _start(repo: git.Repo, base: git.Commit, head: git.Commit) -> git.Commit:
    """The commit to diff from: the merge base, or the first parent of a merge commit of base into head."""
    if head.parents and head.parents[0] == base and len(head.parents) == 2:
        return base  # the refs/pull/N/merge commit: its diff against the base tip is the PR's change
    try:
        bases = repo.merge_base(base, head)
    except git.GitCommandError:
        bases = []
    if bases:
        return bases[0]
    if _shallow(repo):
        raise InputError(
            f"no merge base of {base.hexsha[:12]} and {head.hexsha[:12]} in this shallow clone",
            field="--base",
            fix="check out with fetch-depth: 0 (or fetch-depth: 2 on the PR merge "
            "commit, refs/pull/N/merge, which actions/checkout uses by default)",
        )
    raise InputError(
        f"{base.hexsha[:12]} and {head.hexsha[:12]} share no history",
        field="--base",
        fix="compare a pull request's head with the branch it targets",
    )


def _shallow(repo: git.Repo) -> bool:
    return os.path.exists(os.path.join(repo.git_dir, "shallow"))


def _blob_text(commit: git.Commit | None, path: str) -> str | None:
    if commit is None:
        return None
    try:
        blob = commit.tree / path
    except KeyError:
        return None
    return blob.data_stream.read().decode("utf-8", errors="replace")


def _prompt_paths(commit: git.Commit) -> list[str]:
    blobs = (os.fspath(b.path) for b in commit.tree.traverse() if isinstance(b, git.Blob))  # (paths are str)
    return sorted(p for p in blobs if is_prompt(p))


@contextmanager
def checkout(repo_dir: str, rev: str) -> Iterator[Path]:
    """The files of `rev`: the work tree itself when it is checked out at `rev` (the Action's case), else a
    temporary `git worktree` that is removed afterwards."""
    repo = _open(repo_dir)
    commit = _commit(repo, rev)
    root = Path(repo.working_tree_dir or repo_dir)
    if not repo.bare and repo.head.is_valid() and repo.head.commit == commit:
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="promptci-head-") as tmp:
        target = Path(tmp) / "tree"
        repo.git.worktree("add", "--detach", str(target), commit.hexsha)
        try:
            yield target
        finally:
            repo.git.worktree("remove", "--force", str(target))
