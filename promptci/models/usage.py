"""Usage counters: the one list of what a model costs (calls, cache hits, tokens, dollars), with arithmetic."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Counters:
    """Totals over a client's life: uncached calls, cache hits, tokens and dollars. The one list of usage
    counters: a run's usage is one snapshot less another, shards' usage their sum."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Counters)))

    def __iadd__(self, other: Counters) -> Counters:
        """In place: a client's counters take in usage counted elsewhere (remote embeddings)."""
        for f in fields(Counters):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def __sub__(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(Counters)))

    def as_dict(self) -> dict[str, Any]:  # ints and a float, by field
        return asdict(self)

    @classmethod
    def of(cls, data: Any) -> Counters:
        """The counters among an object's attributes (a results file's usage, say)."""
        return cls(*(getattr(data, f.name) for f in fields(cls)))
