"""The prompts a change touches: git's diff (`gitdiff`, the door) with what each prompt reads (its pool and its
subset file, from its `promptci:` block), so a pull request that edits only a pool still re-runs its prompts."""

from __future__ import annotations

import posixpath
from pathlib import Path

from . import gitdiff, promptfile
from .errors import InputError
from .gitdiff import Change
from .subsetfile import relative_path


def changed_prompts(repo_dir: str, base: str, head: str = "HEAD") -> list[Change]:
    """Every prompt file the change from `base` to `head` touches, directly or through its inputs."""
    return gitdiff.changed_prompts(repo_dir, base, head, inputs_of=prompt_inputs)


def prompt_inputs(path: str, text: str) -> list[str]:
    """The repository paths a prompt reads: its pool and its subset file (from the `promptci:` block)."""
    try:
        prompt = promptfile.parse(text, Path(path))
    except InputError:
        return []  # a broken prompt is reported when it is loaded; here it only has no known inputs
    here = posixpath.dirname(path)
    reads = [prompt.settings.pool, relative_path(prompt)]
    return [posixpath.normpath(posixpath.join(here, r)) for r in reads if r]
