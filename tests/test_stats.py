"""Confidence intervals against values computed by hand / by statsmodels' formulas."""

from __future__ import annotations

import math

import pytest

from promptci.stats import mean_interval


def test_wilson_interval_for_binary_scores() -> None:
    interval = mean_interval([1.0] * 55 + [0.0] * 45)
    assert interval.method == "wilson" and interval.mean == 0.55
    # Wilson 95% for 55/100: [0.4524, 0.6438]
    assert interval.low == pytest.approx(0.4524, abs=1e-4) and interval.high == pytest.approx(0.6438, abs=1e-4)
    edge = mean_interval([0.0] * 20)
    assert edge.low == 0.0 and 0.0 < edge.high < 0.2


def test_t_interval_for_graded_scores() -> None:
    interval = mean_interval([0.2, 0.4, 0.6, 0.8])
    assert interval.method == "t" and interval.mean == pytest.approx(0.5)
    sd = math.sqrt(sum((x - 0.5) ** 2 for x in [0.2, 0.4, 0.6, 0.8]) / 3)
    half = 3.182446305 * sd / 2  # t(0.975, 3)
    assert interval.low == pytest.approx(0.5 - half) and interval.high == pytest.approx(min(1.0, 0.5 + half))


def test_empty_scores() -> None:
    assert mean_interval([]).n == 0 and math.isnan(mean_interval([]).mean)
