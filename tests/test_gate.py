"""The sequential gate (promptci/gate.py, sequential.py): its error rates hold at every look, a pass needs
evidence, and a spent item budget is inconclusive, settled by promptci.gate.on_inconclusive."""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
import pytest

from promptci import gate, sequential
from promptci.results import ItemResult
from promptci.settings import GateSettings

POOL = 200


def _results(scores: list[float]) -> dict[str, ItemResult]:
    return {f"i{n}": ItemResult(id=f"i{n}", score=s) for n, s in enumerate(scores)}


def _run(base: list[float], head: list[float], settings: GateSettings, seed: int = 0) -> gate.Verdict:
    """The pull-request flow's loop on a pool: the first 20 items are the subset, the rest come in the gate's
    random order, a batch at a time, until decided or max_items; the verdict as replay derives it."""
    ids = [f"i{n}" for n in range(len(base))]
    ordered = gate.order(ids, ids[:20], seed, "pool")
    items = ids[:20]
    b, h = _results(base), _results(head)
    while True:
        verdict, _ = gate.decide(gate.evidence(items, 20, b, h, len(ids)), settings)
        extra = gate.next_items(ordered, items, settings)
        if verdict.status != gate.UNDECIDED or not extra:
            break
        items = items + extra
    replayed, _ = gate.replay(items, 20, b, h, len(ids), settings)  # what a results file is judged by again
    assert verdict.status == gate.UNDECIDED or replayed.status == verdict.status
    return replayed


def _pair(rng: random.Random, wins: int, losses: int, n: int = POOL) -> tuple[list[float], list[float]]:
    """Base and head on n items: head gains `wins` items and loses `losses`, the rest agree."""
    base = [float(rng.random() < 0.5) for _ in range(n)]
    head = list(base)
    spots = rng.sample(range(n), wins + losses)
    for k, i in enumerate(spots):
        base[i], head[i] = (0.0, 1.0) if k < wins else (1.0, 0.0)
    rng.shuffle(order := list(range(n)))
    return [base[i] for i in order], [head[i] for i in order]


def test_a_head_exactly_as_good_is_rarely_failed_at_any_look() -> None:
    """A-vs-A: 15 wins and 15 losses (the pool's difference is exactly 0). Over 100 random orders, looking after
    every batch, the false-fail rate stays under α = 0.05 (with room for simulation noise)."""
    rng = random.Random(1)
    settings = GateSettings(max_items=POOL)
    ids = [f"i{n}" for n in range(POOL)]
    fails = 0
    for seed in range(100):
        base, head = _pair(rng, 15, 15)
        items = ids[:20] + gate.order(ids, ids[:20], seed, "pool")  # replay stops at the first look that decides
        fails += gate.replay(items, 20, _results(base), _results(head), POOL, settings)[0].status == gate.FAIL
    assert fails / 100 <= 0.05 + 0.03, fails


def test_the_tests_hold_at_every_item_not_only_at_the_looks() -> None:
    """The betting test's chance of ever rejecting a true null, over every prefix of a random order."""
    rng = np.random.default_rng(0)
    d = np.array([1.0] * 20 + [-1.0] * 20 + [0.0] * 160)  # pool mean exactly 0
    orders = np.array([rng.permutation(200)[:150] for _ in range(2000)])
    first = sequential.first_rejection(0.0, 0, d[orders], 200, np.array([0.0]), 0.05, "below")[:, 0]
    assert np.isfinite(first).mean() <= 0.05


def test_a_clear_regression_fails_with_its_confidence() -> None:
    base, head = _pair(random.Random(2), 2, 60)  # head 29 points worse
    verdict = _run(base, head, GateSettings())
    assert verdict.status == gate.FAIL
    assert "head is worse than base (95% confidence" in verdict.reason and "items" in verdict.reason


def test_a_clear_non_regression_passes_with_evidence_not_for_want_of_it() -> None:
    base, head = _pair(random.Random(3), 40, 2)  # head 19 points better
    verdict = _run(base, head, GateSettings())
    assert verdict.status == gate.PASS
    assert "head is not worse than base by more than 3 points (95% confidence" in verdict.reason
    # on the committed subset alone (20 items chosen, not drawn at random) nothing is shown yet about the pool
    first, _ = gate.decide(
        gate.evidence(list(_results(base))[:20], 20, _results(base), _results(head), POOL), GateSettings()
    )
    assert first.status == gate.UNDECIDED


@pytest.mark.parametrize("setting, status", [("neutral", gate.INCONCLUSIVE), ("fail", gate.FAIL), ("pass", gate.PASS)])
def test_a_spent_item_budget_is_inconclusive_and_settled_by_on_inconclusive(
    setting: Literal["fail", "neutral", "pass"], status: str
) -> None:
    base, head = _pair(random.Random(4), 10, 12)  # 1 point worse: neither outcome shows on 60 items
    verdict = _run(base, head, GateSettings(max_items=60, on_inconclusive=setting))
    assert verdict.status == status and verdict.reason.startswith("inconclusive: ")
    assert "60 items compared (promptci.gate.max_items: 60)" in verdict.reason


def test_min_score_is_judged_on_a_bound_not_the_estimate() -> None:
    rng = random.Random(5)
    scores = [float(rng.random() < 0.5) for _ in range(POOL)]
    low = _run(scores, scores, GateSettings(min_score=0.9))
    assert low.status == gate.FAIL and "below the minimum 0.9 (95% confidence)" in low.reason
    close = _run(scores, scores, GateSettings(min_score=0.5, max_items=60))  # at the minimum: not shown either way
    assert close.status == gate.INCONCLUSIVE and "not yet shown to reach the minimum 0.5" in close.reason
    new = _run_new(scores, GateSettings(min_score=0.3))
    assert new.status == gate.PASS and "at least the minimum 0.3" in new.reason


def _run_new(head: list[float], settings: GateSettings) -> gate.Verdict:
    ids = [f"i{n}" for n in range(len(head))]
    ordered = gate.order(ids, ids[:20], 0, "pool")
    return gate.replay(ids[:20] + ordered[: settings.max_items - 20], 20, None, _results(head), len(ids), settings)[0]


def test_the_whole_pool_decides_exactly() -> None:
    base, head = _pair(random.Random(6), 10, 14)  # exactly 2 points worse on the pool
    verdict = _run(base, head, GateSettings(max_items=POOL, margin=0.01))
    assert verdict.status == gate.FAIL  # known exactly once every item is scored: worse, beyond the margin


@pytest.mark.parametrize(
    "gate_yaml, field",
    [
        ("margin: -0.1", "promptci.gate.margin"),
        ("margin: 2", "promptci.gate.margin"),
        ("max_items: 0", "promptci.gate.max_items"),
        ("on_inconclusive: maybe", "promptci.gate.on_inconclusive"),
        ("tolerance: 0.05", "promptci.gate"),
    ],
)
def test_bad_gate_settings_are_one_line_errors(tmp_path, gate_yaml: str, field: str) -> None:
    from promptci import promptfile
    from promptci.errors import InputError

    path = tmp_path / "x.prompt.yml"
    path.write_text(
        "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: '{{input}}'\n"
        f"testData:\n  - input: a\n    expected: b\npromptci:\n  gate:\n    {gate_yaml}\n"
    )
    with pytest.raises(InputError) as caught:
        promptfile.load(path)
    text = str(caught.value)
    assert field in text and len(text.splitlines()) == 1
    if "tolerance" in gate_yaml:
        assert "replaced by promptci.gate.margin" in text


def test_an_inconclusive_prompt_makes_the_pull_request_inconclusive_unless_another_fails() -> None:
    assert gate.overall([gate.PASS, gate.INCONCLUSIVE]).status == gate.INCONCLUSIVE
    assert gate.overall([gate.FAIL, gate.INCONCLUSIVE]).status == gate.FAIL
    assert gate.overall([gate.PASS, gate.NEUTRAL]).status == gate.PASS
    from promptci.github.overall import STATE

    assert STATE[gate.INCONCLUSIVE] == "failure"  # never a green required check (accepted only by a label: accept.py)


def test_eval_asks_the_gates_minimum_on_the_scores_it_has() -> None:
    """`promptci eval`'s exit code is the gate's minimum-score rule on what eval scored, taken as the whole
    population: below the minimum fails, at it passes, no score at all fails."""
    from promptci.settings import GateSettings

    settings = GateSettings(min_score=0.6)
    assert gate.below_minimum([1.0, 1.0, 0.0, 0.0, 0.0], settings)  # 0.4
    assert not gate.below_minimum([1.0, 1.0, 1.0, 0.0, 0.0], settings)  # exactly 0.6
    assert gate.below_minimum([0.59], settings) and not gate.below_minimum([0.61], settings)
    assert gate.below_minimum([], settings) and not gate.below_minimum([], GateSettings())
