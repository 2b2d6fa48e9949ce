"""Base's scores known before a pull request runs: the default branch's warm run scored the base prompt on its
whole pool once, so a pull request scores head alone (docs/gate.md).

`KnownBase` is what the gate receives; where the scores are stored and how they are found is this module's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownBase:
    """The base prompt's full-pool scores, and the ledger of earlier versions' full-pool scores (the test's
    covariates). `source` says where they came from, for the report."""

    scores: Mapping[str, float]  # item id -> base's score, for every item of the pool
    ledger: Sequence[Mapping[str, float]]  # earlier prompt versions' full-pool scores, newest first (may be empty)
    source: str
