"""Statistics on scores: confidence intervals now; the paired comparison and the gate build on them."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    method: str  # wilson (0/1 scores) | t (graded scores) | none (n = 0)


def mean_interval(scores: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """95% interval of a mean score in [0, 1]: Wilson for 0/1 scores, Student's t otherwise (clipped)."""
    n = len(scores)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "none")
    mean = sum(scores) / n
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    if all(s in (0.0, 1.0) for s in scores):
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n))
        return Interval(mean, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")
    if n == 1:
        return Interval(mean, 0.0, 1.0, 1, "t")
    from scipy.stats import t  # imported here: scipy.stats takes half a second to import

    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    half = t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, max(0.0, mean - half), min(1.0, mean + half), n, "t")
