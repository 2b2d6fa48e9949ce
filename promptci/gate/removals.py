"""A pull request that removes a prompt: the one policy for what it gets (docs/security.md, "Removing a prompt").

A deleted prompt was gated when its base version has items (`promptci.pool` or `testData`). Removing it is never
a pass without a comparison:
- a prompt the pull request adds on the same pool (the same pool file, a file with the same bytes, or the same
  `testData` rows) is compared with it as a rename: the deleted version is the base, the added one the head,
  judged by the deleted version's settings, evaluators and pool (`pullrequest/changes.py` pairs them: git sees no rename
  once enough lines differ, comments say);
- a prompt renamed to a name promptci does not read as a prompt (`p.prompt.YML`, `p.prompt.yml.txt`), or deleted
  while such a file is added, fails: whatever it became would never be gated again;
- otherwise the deletion is neutral, and says so: nothing is compared, the prompt is no longer gated, and a
  reviewer confirms the removal (the overall status reads "not gated");
- every prompt such a pull request adds needs `promptci.gate.min_score`, else it fails: nothing else judges a new
  prompt, and it could be the removed one on a copy of its pool.
The pull-request flow (pipeline.py) and the recomputation of a results file (prresults.py) both decide here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from ..errors import InputError
from ..files.settings import GateSettings
from ..promptfile import parse
from .decision import FAIL, NEUTRAL, Verdict

READ_AS_PROMPTS = "promptci reads prompt files named *.prompt.yml or *.prompt.yaml, in lower case"


class ChangeLike(Protocol):
    """What both a `gitdiff.Change` and a results file's change hold (read only)."""

    @property
    def status(self) -> str: ...
    @property
    def old_path(self) -> str | None: ...
    @property
    def new_path(self) -> str | None: ...
    @property
    def old_text(self) -> str | None: ...
    @property
    def new_text(self) -> str | None: ...
    @property
    def reason(self) -> str: ...


def unread_rename(change: ChangeLike) -> bool:
    """A prompt renamed to a name promptci does not read (git's rename, or `changes.py`'s pairing with a lookalike):
    recorded as a rename with no new path."""
    return change.status == "renamed" and change.new_text is None


def gated(path: str | None, text: str | None) -> bool:
    """Whether a prompt's version had items to be gated on (a version that does not load had none)."""
    return _gate_of(path, text)[0]


def _gate_of(path: str | None, text: str | None) -> tuple[bool, float | None]:
    """Whether a version was gated (it loads and has items), and its `min_score` (None: it has none)."""
    if path is None or text is None:
        return False, None
    try:
        prompt = parse(text, Path(path))
    except InputError:
        return False, None
    return bool(prompt.settings.pool or prompt.spec.testData), prompt.settings.gate.min_score


def verdict(change: ChangeLike) -> Verdict:
    """The verdict on a prompt the pull request removes (no head version to score)."""
    if unread_rename(change):
        return Verdict(
            FAIL,
            f"{change.reason}: {READ_AS_PROMPTS}, so this prompt would never be gated again (fix: give it such a name)",
        )
    if gated(change.old_path, change.old_text):
        return Verdict(
            NEUTRAL,
            "the prompt file was deleted: it is no longer gated, and nothing was compared with "
            "it (a reviewer confirms the removal)",
        )
    return Verdict(NEUTRAL, "the prompt file was deleted; it had no items")


def removed_gated(changes: Sequence[ChangeLike]) -> dict[str, float | None]:
    """The gated prompts a pull request removes, by their base path, each with its `min_score` (None: none)."""
    removed: dict[str, float | None] = {}
    for c in changes:
        if c.new_text is None and c.old_path:
            was_gated, floor = _gate_of(c.old_path, c.old_text)
            if was_gated:
                removed[c.old_path] = floor
    return removed


def unguarded(change: ChangeLike, gate: GateSettings, removed: Mapping[str, float | None]) -> Verdict | None:
    """A failure for a prompt the pull request adds, while it removes a gated prompt, whose own `min_score` is
    missing, 0, or below a removed prompt's (None: it may be judged as any new prompt is). The new prompt brings its
    own gate, so a bar it sets for itself at 0 would let the removal through with no comparison at all."""
    if not removed or change.old_text is not None:
        return None
    floor = max((m for m in removed.values() if m is not None), default=0.0)
    if gate.min_score is not None and gate.min_score > 0 and gate.min_score >= floor:
        return None
    needed = f"at least {floor:g}" if floor > 0 else "above 0"
    return Verdict(
        FAIL,
        f"new prompt in a pull request that removes the gated {', '.join(removed)}: with no comparison only its "
        f"minimum score judges it, and it is {gate.min_score if gate.min_score is not None else 'not set'} "
        f"(fix: set promptci.gate.min_score {needed}, or give it the removed prompt's pool so that the two are "
        "compared)",
    )
