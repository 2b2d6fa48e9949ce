"""Statistics on scores: confidence intervals now; the paired comparison and the gate build on them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pydantic.dataclasses

from ..files.records import RECORD, Count, Signed, Unit

if TYPE_CHECKING:  # (numpy is imported where it is used)
    import numpy as np

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


@pydantic.dataclasses.dataclass(frozen=True, config=RECORD)
class Comparison:
    """Head against base on the same items: the mean difference, its interval, and how sure we are (a record)."""

    n: Count
    base_mean: Signed
    head_mean: Signed
    delta: Signed  # head − base
    low: Signed
    high: Signed
    p_value: Unit | None  # two-sided, for "head and base score the same" (None: not a fixed-sample test)
    # mcnemar: 0/1 scores; bootstrap: graded; design: gate.decide_known; none: no items
    method: Literal["mcnemar", "bootstrap", "design", "none"]
    improved: Count  # items head gets right and base does not (0/1), or scores higher (graded)
    regressed: Count


def compare(
    base: Sequence[float], head: Sequence[float], *, confidence: float = CONFIDENCE, seed: int = 0
) -> Comparison:
    """Paired comparison on the same items: the exact McNemar test on the discordant pairs for 0/1 scores
    (with a Wilson interval of the difference derived from them), a paired bootstrap of the mean difference
    for graded scores (with a sign-flip p-value)."""
    if len(base) != len(head):
        raise ValueError("base and head must be scored on the same items")
    n = len(base)
    improved = sum(h > b for b, h in zip(base, head))
    regressed = sum(h < b for b, h in zip(base, head))
    if n == 0:
        return Comparison(0, math.nan, math.nan, math.nan, math.nan, math.nan, 1.0, "none", 0, 0)
    base_mean, head_mean = sum(base) / n, sum(head) / n
    delta = head_mean - base_mean
    diffs = [h - b for b, h in zip(base, head)]
    from scipy import stats as st  # lazily: half a second to import

    if all(s in (0.0, 1.0) for s in (*base, *head)):
        discordant = improved + regressed
        p = st.binomtest(min(improved, regressed), discordant, 0.5).pvalue if discordant else 1.0
        low, high = _paired_wald(improved, regressed, n, confidence)
        return Comparison(n, base_mean, head_mean, delta, low, high, float(min(1.0, p)), "mcnemar", improved, regressed)
    if all(d == diffs[0] for d in diffs):
        return Comparison(
            n, base_mean, head_mean, delta, delta, delta, 1.0 if delta == 0 else 0.0, "bootstrap", improved, regressed
        )
    result = st.bootstrap(
        (diffs,),
        _mean,
        confidence_level=confidence,
        n_resamples=4999,
        method="percentile",
        random_state=seed,
        vectorized=True,
    )
    p = st.permutation_test(
        (diffs,), _mean, permutation_type="samples", n_resamples=4999, vectorized=True, random_state=seed
    ).pvalue
    return Comparison(
        n,
        base_mean,
        head_mean,
        delta,
        float(result.confidence_interval.low),
        float(result.confidence_interval.high),
        float(p),
        "bootstrap",
        improved,
        regressed,
    )


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    import numpy as np

    return np.mean(x, axis=axis)


def _paired_wald(improved: int, regressed: int, n: int, confidence: float) -> tuple[float, float]:
    """An interval for a paired difference of proportions from the discordant counts (Wald with continuity
    correction, clipped to [-1, 1]); simple, and wide when n is small, which is the honest direction."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    d = (improved - regressed) / n
    se = math.sqrt(max(improved + regressed - (improved - regressed) ** 2 / n, 0.0)) / n
    half = z * se + 1 / n
    return max(-1.0, d - half), min(1.0, d + half)
