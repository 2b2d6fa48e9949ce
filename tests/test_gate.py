"""The sequential gate (promptci/gate/decision.py, gate/sequential.py): its error rates hold at every look, a pass needs
evidence, fail and pass share the line −δ, the whole pool decides exactly, and only a spent item budget is
inconclusive, settled by promptci.gate.on_inconclusive."""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
import pytest

from promptci.files.evalresults import ItemResult
from promptci.files.settings import GateSettings
from promptci.gate import decision, sequential

POOL = 200


def _results(scores: list[float]) -> dict[str, ItemResult]:
    return {f"i{n}": ItemResult(id=f"i{n}", score=s) for n, s in enumerate(scores)}


def _run(base: list[float], head: list[float], settings: GateSettings, seed: int = 0) -> decision.Verdict:
    """The pull-request flow's loop on a pool: the first 20 items are the subset, the rest come in the gate's
    random order, a batch at a time, until decided, the pool or max_items; the verdict as replay derives it."""
    ids = [f"i{n}" for n in range(len(base))]
    ordered = decision.order(ids, ids[:20], seed, "pool")
    items = ids[:20]
    b, h = _results(base), _results(head)
    while True:
        verdict, _ = decision.decide(decision.evidence(items, 20, b, h, len(ids)), settings)
        extra = decision.next_items(ordered, items, settings)
        if verdict.status != decision.UNDECIDED or not extra:
            break
        items = items + extra
    replayed, _ = decision.replay(items, 20, b, h, len(ids), settings)  # what a results file is judged by again
    assert verdict.status == decision.UNDECIDED or replayed.status == verdict.status
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


def test_a_head_exactly_delta_worse_is_rarely_failed_at_any_look() -> None:
    """15 wins and 21 losses: the pool's difference is exactly −δ, the fail line, so a fail before the pool is
    exhausted is wrong. Over 100 random orders, looking after every batch, it stays under α = 0.05 (with room
    for simulation noise); at exhaustion D = −δ fails by the strict rule, so the test stops short of it."""
    rng = random.Random(1)
    settings = GateSettings(max_items=POOL - 20)
    ids = [f"i{n}" for n in range(POOL)]
    fails = 0
    for seed in range(100):
        base, head = _pair(rng, 15, 21)
        items = ids[:20] + decision.order(ids, ids[:20], seed, "pool")[:160]  # replay stops at the first deciding look
        fails += decision.replay(items, 20, _results(base), _results(head), POOL, settings)[0].status == decision.FAIL
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
    assert verdict.status == decision.FAIL
    assert "head is worse than base by more than 3 points (95% confidence" in verdict.reason
    assert "90% interval for the whole pool" in verdict.reason  # two one-sided 95% bounds


def test_a_clear_non_regression_passes_with_evidence_not_for_want_of_it() -> None:
    base, head = _pair(random.Random(3), 40, 2)  # head 19 points better
    verdict = _run(base, head, GateSettings())
    assert verdict.status == decision.PASS
    assert "head is not worse than base by more than 3 points (95% confidence" in verdict.reason
    # on the committed subset alone (20 items chosen, not drawn at random) nothing is shown yet about the pool
    first, _ = decision.decide(
        decision.evidence(list(_results(base))[:20], 20, _results(base), _results(head), POOL), GateSettings()
    )
    assert first.status == decision.UNDECIDED


@pytest.mark.parametrize(
    "setting, status", [("neutral", decision.INCONCLUSIVE), ("fail", decision.FAIL), ("pass", decision.PASS)]
)
def test_a_spent_item_budget_is_inconclusive_and_settled_by_on_inconclusive(
    setting: Literal["fail", "neutral", "pass"], status: str
) -> None:
    base, head = _pair(random.Random(4), 10, 12)  # 1 point worse: neither outcome shows on 60 items
    verdict = _run(base, head, GateSettings(max_items=60, on_inconclusive=setting))
    assert verdict.status == status and verdict.reason.startswith("inconclusive: ")
    assert "60 items compared (promptci.gate.max_items: 60)" in verdict.reason


def test_without_a_cap_the_gate_scores_on_until_decided_never_inconclusive() -> None:
    """A near-tie (1 point worse, well inside the margin): without max_items the gate scores on, up to the whole
    pool where D is exact, and is never inconclusive."""
    for seed in range(5):
        base, head = _pair(random.Random(40 + seed), 10, 12)
        assert _run(base, head, GateSettings(), seed=seed).status in (decision.PASS, decision.FAIL)


def test_min_score_is_judged_on_a_bound_not_the_estimate() -> None:
    rng = random.Random(5)
    scores = [float(rng.random() < 0.5) for _ in range(POOL)]
    low = _run(scores, scores, GateSettings(min_score=0.9))
    assert low.status == decision.FAIL and "below the minimum 0.9 (97.5% confidence)" in low.reason  # with base: α/2
    close = _run(scores, scores, GateSettings(min_score=0.5, max_items=60))  # at the minimum: not shown either way
    assert close.status == decision.INCONCLUSIVE and "not yet shown to reach the minimum 0.5" in close.reason
    new = _run_new(scores, GateSettings(min_score=0.3))
    assert new.status == decision.PASS and "at least the minimum 0.3" in new.reason


def _run_new(head: list[float], settings: GateSettings) -> decision.Verdict:
    ids = [f"i{n}" for n in range(len(head))]
    ordered = decision.order(ids, ids[:20], 0, "pool")
    cap = settings.max_items or len(ids)
    return decision.replay(ids[:20] + ordered[: cap - 20], 20, None, _results(head), len(ids), settings)[0]


def test_the_whole_pool_decides_exactly_and_strictly() -> None:
    """Every item scored: D is known; a pass needs D > −δ strictly, so D = −δ exactly fails."""
    pool = [f"i{n}" for n in range(POOL)]
    for wins, losses, status in ((10, 14, decision.FAIL), (10, 16, decision.FAIL), (10, 15, decision.PASS)):
        base, head = _pair(random.Random(6), wins, losses)  # D = −2, −3 and −2.5 points
        evidence = decision.evidence(pool, 0, _results(base), _results(head), POOL)
        verdict, _ = decision.decide(evidence, GateSettings(margin=0.03 if losses != 14 else 0.01))
        assert verdict.status == status and "every pool item scored" in verdict.reason, (wins, losses)


def test_printed_bounds_never_step_past_a_value_the_test_kept() -> None:
    """The bounds are read as the edge of the values rejected without a gap, so they only tighten look by look."""
    base, head = _pair(random.Random(8), 12, 20)
    ids = [f"i{n}" for n in range(POOL)]
    items = ids[:20] + decision.order(ids, ids[:20], 3, "pool")
    lows, highs = [], []
    for n in range(40, POOL, 20):
        _, c = decision.decide(decision.evidence(items[:n], 20, _results(base), _results(head), POOL), GateSettings())
        lows.append(c.low)
        highs.append(c.high)
    assert lows == sorted(lows) and highs == sorted(highs, reverse=True)
    assert lows[-1] > lows[0] and highs[-1] < highs[0]


def test_with_min_score_each_claim_is_tested_at_half_alpha() -> None:
    """min_score and the comparison with base are two claims: each at α/2, so a wrong fail keeps chance ≤ α."""
    base, head = _pair(random.Random(2), 2, 60)
    verdict = _run(base, head, GateSettings(min_score=0.1))
    assert verdict.status == decision.FAIL and "97.5% confidence" in verdict.reason


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
    assert decision.overall([decision.PASS, decision.INCONCLUSIVE]).status == decision.INCONCLUSIVE
    assert decision.overall([decision.FAIL, decision.INCONCLUSIVE]).status == decision.FAIL
    assert decision.overall([decision.PASS, decision.NEUTRAL]).status == decision.PASS
    from promptci.github.overall import STATE

    assert (
        STATE[decision.INCONCLUSIVE] == "failure"
    )  # never a green required check (accepted only by a label: accept.py)


def test_eval_asks_the_gates_minimum_on_the_scores_it_has() -> None:
    """`promptci eval`'s exit code is the gate's minimum-score rule on what eval scored, taken as the whole
    population: below the minimum fails, at it passes, no score at all fails."""
    from promptci.files.settings import GateSettings

    settings = GateSettings(min_score=0.6)
    assert decision.below_minimum([1.0, 1.0, 0.0, 0.0, 0.0], settings)  # 0.4
    assert not decision.below_minimum([1.0, 1.0, 1.0, 0.0, 0.0], settings)  # exactly 0.6
    assert decision.below_minimum([0.59], settings) and not decision.below_minimum([0.61], settings)
    assert decision.below_minimum([], settings) and not decision.below_minimum([], GateSettings())


def test_the_stated_detectable_drop_is_caught_as_often_as_stated() -> None:
    """A pass says "drops of X points or more would have been caught with 95% probability" for its n items: a head
    that loses X of the pool, judged on n items in fresh random orders, fails at least about 95% of the time."""
    settings = GateSettings()
    n = 100
    drop = decision.detectable(POOL, n, settings, settings.significance)
    assert drop is not None and settings.margin < drop < 0.3
    ids = [f"i{k}" for k in range(POOL)]
    base = [1.0] * POOL
    head = [0.0 if k < round(drop * POOL) else 1.0 for k in range(POOL)]
    caught = 0
    for seed in range(60):
        items = decision.order(ids, [], 1000 + seed, "power")[:n]
        verdict, _ = decision.replay(items, 0, _results(base), _results(head), POOL, settings)
        caught += verdict.status == decision.FAIL
    assert caught >= 54, caught  # 95% of 60 is 57; a claim of 95% that held 80% would fail this
    assert "would have been caught with 95% probability" in _run([1.0] * POOL, [1.0] * POOL, settings).reason
