"""Judges you can check: what the pull request changed in its evaluators, and whether the judge agreed with itself
well enough for its grades to block a merge.

Both sides of a change are graded by the base's evaluators (pipeline.py); a pull request that edits them is told
that its edit was not used. Each run grades a few answers twice (runner.py); a judge whose two grades of the same
answer agree less often than `promptci.judge_min_agreement` cannot tell a worse prompt from its own noise, so a
failing verdict it produced is made advisory (neutral: shown, not blocking) with the reason, unless the prompt
sets `promptci.judge_blocks`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..promptfile import PromptFile
from ..scoring import fingerprints
from . import decision, draws


def changed(base: PromptFile, head: PromptFile) -> list[str]:
    """The evaluators (by name) that head defines differently from base, added or removed ones included."""
    before, after = fingerprints(base), fingerprints(head)
    return sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))


def note(base: PromptFile, head: PromptFile) -> str:
    """What the report says about a pull request that edits its evaluators ('' when it edits none)."""
    names = changed(base, head)
    if not names:
        return ""
    return (
        f"this pull request changes the evaluator{'s' if len(names) > 1 else ''} {', '.join(names[:5])}: "
        "base and head were both graded by the base's (the change applies once merged)"
    )


def verdict(
    current: decision.Verdict | None, items: Sequence[draws.Result], prompt: PromptFile
) -> decision.Verdict | None:
    """`current`, or an advisory verdict in its place when an LLM judge that agreed too little with itself
    produced a blocking fail."""
    agreement = draws.agreement(items)
    minimum = prompt.settings.judge_min_agreement
    if current is None or current.status != decision.FAIL or agreement is None or prompt.settings.judge_blocks:
        return current
    rate = agreement.agreed / agreement.graded
    if rate >= minimum:
        return current
    return decision.Verdict(  # inconclusive, not neutral: the head under test moves the judge's agreement
        decision.INCONCLUSIVE,
        f"advisory, not a fail (a maintainer's promptci-accept label accepts it): {current.reason}; but the judge "
        f"gave the same grade to only "
        f"{agreement.agreed} of {agreement.graded} answers it graded twice ({rate:.0%}, below "
        f"promptci.judge_min_agreement {minimum:.0%}), so its grades are too noisy to block a merge "
        "(set promptci.judge_blocks: true to block anyway)",
    )
