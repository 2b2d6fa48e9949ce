"""Confidence intervals against values computed by hand / by statsmodels' formulas."""

from __future__ import annotations

import math

import pytest

from promptci.gate.stats import mean_interval


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


def test_mcnemar_on_discordant_pairs_matches_the_exact_binomial() -> None:
    from promptci.gate.stats import compare

    # 10 items: head fixes 6 that base got wrong, breaks 1, both right on 3
    base = [0.0] * 6 + [1.0] + [1.0] * 3
    head = [1.0] * 6 + [0.0] + [1.0] * 3
    c = compare(base, head)
    assert c.method == "mcnemar" and (c.improved, c.regressed) == (6, 1)
    assert abs(c.delta - 0.5) < 1e-12
    assert c.p_value is not None and abs(c.p_value - 0.125) < 1e-9  # 2 * P(X <= 1), X ~ Binomial(7, 0.5) = 2 * 8/128
    assert c.low < c.delta < c.high
    same = compare([1.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    assert same.p_value == 1.0 and same.delta == 0.0


def test_graded_scores_use_a_paired_bootstrap() -> None:
    from promptci.gate.stats import compare

    base = [0.2, 0.4, 0.5, 0.3, 0.6, 0.4, 0.5, 0.3, 0.2, 0.4] * 3
    head = [b + 0.3 for b in base[:-1]] + [base[-1] - 0.1]
    c = compare(base, head)
    assert c.method == "bootstrap" and c.improved == 29 and c.regressed == 1
    assert 0.0 < c.low < c.delta < c.high and c.p_value is not None and c.p_value < 0.01
    flat = compare([0.5, 0.6], [0.5, 0.6])
    assert flat.p_value == 1.0 and flat.low == flat.high == 0.0
