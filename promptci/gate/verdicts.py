"""The gate's vocabulary: a verdict's status. Standard library only: the Action's precheck (github/overall.py)
reads it before anything is installed."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # the item budget is spent and neither outcome is shown (on_inconclusive: neutral)
    UNDECIDED = "undecided"  # more items are needed (only while items are still being added)
    NEUTRAL = "neutral"  # not gated: the prompt has no items to score (it never fails a run, never claims a pass)
