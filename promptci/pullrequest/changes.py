"""The prompts a change touches: git's diff (`gitdiff`, the door) with what each prompt reads (its pool and its
subset file, from its `promptci:` block), so a pull request that edits only a pool still re-runs its prompts; and
a gated prompt the pull request deletes, paired with what replaces it (gate/removals.py says what each case gets)."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import replace
from pathlib import Path

from .. import gitdiff, promptfile
from ..errors import InputError
from ..files.subsetfile import relative_path
from ..gate import removals
from ..gitdiff import Change


def changed_prompts(repo_dir: str, base: str, head: str = "HEAD") -> list[Change]:
    """Every prompt file the change from `base` to `head` touches, directly or through its inputs."""
    found = gitdiff.changed_prompts(repo_dir, base, head, inputs_of=prompt_inputs)
    if not any(c.status == "deleted" for c in found):
        return found
    return _pair_deletions(repo_dir, gitdiff.diff_start(repo_dir, base, head), head, found)


def prompt_inputs(path: str, text: str) -> list[str]:
    """The repository paths a prompt reads: its pool and its subset file (from the `promptci:` block)."""
    try:
        prompt = promptfile.parse(text, Path(path))
    except InputError:
        return []  # a broken prompt is reported when it is loaded; here it only has no known inputs
    reads = [prompt.settings.pool, relative_path(prompt)]
    return [_beside(path, r) for r in reads if r]


def _beside(path: str, relative: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(path), relative))


def _pair_deletions(repo_dir: str, start: str, head: str, changes: list[Change]) -> list[Change]:
    """Each deleted gated prompt as a rename to the added prompt that reads the same pool (git saw no rename), or
    to no prompt at all when the pull request adds a file named like a prompt that promptci does not read."""
    added = {c.new_path: c for c in changes if c.status == "added" and c.new_path}
    pools = {path: _pool_keys(repo_dir, head, path, c.new_text) for path, c in added.items()}
    unread = sorted(
        new
        for kind, _, new in gitdiff.changed_paths(repo_dir, start, head)
        if kind in ("added", "renamed") and new and gitdiff.lookalike(new)
    )
    paired: dict[str, Change] = {}  # a deleted prompt's path -> what it became
    for gone in changes:
        if gone.status != "deleted" or not removals.gated(gone.old_path, gone.old_text):
            continue
        own = _pool_keys(repo_dir, start, gone.old_path or "", gone.old_text)
        match = next((path for path in sorted(pools) if own & pools[path]), None)
        if match is not None:
            new = added[match]
            del pools[match]
            paired[gone.path] = replace(
                gone,
                status="renamed",
                new_path=new.new_path,
                new_text=new.new_text,
                reason=f"{gone.old_path} deleted and {match} added on the same pool: compared as a rename",
            )
        elif unread:
            paired[gone.path] = replace(gone, status="renamed", reason=f"prompt file deleted, and {unread[0]} added")
    taken = {c.new_path for c in paired.values()}
    kept = [paired.get(c.path, c) for c in changes if not (c.status == "added" and c.new_path in taken)]
    return sorted(kept, key=lambda c: c.path)


def _pool_keys(repo_dir: str, rev: str, path: str, text: str | None) -> set[str]:
    """What identifies the pool a prompt version reads: its file's path and content, or its `testData` rows."""
    try:
        prompt = promptfile.parse(text or "", Path(path))
    except InputError:
        return set()
    if prompt.settings.pool:
        where = _beside(path, prompt.settings.pool)
        blob = gitdiff.blob_id(repo_dir, rev, where)
        return {f"file {where}"} | ({f"blob {blob}"} if blob else set())
    if prompt.spec.testData:
        rows = json.dumps(prompt.spec.testData, sort_keys=True, default=str)
        return {f"rows {hashlib.sha256(rows.encode()).hexdigest()}"}
    return set()
