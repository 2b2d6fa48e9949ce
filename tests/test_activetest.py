"""The gate against base's known full-pool scores (gate.decide_known, gate/activetest.py): its error rates hold by the
draws alone, a wrong predictor included; results files replay exactly what was drawn; no author can predict the
draws, so a regression hidden from a predictable order is caught."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
import pydantic
import pytest

from promptci.files.settings import GateSettings
from promptci.gate import activetest, decision

POOL = 200


def _run(
    base: Sequence[float],
    head: Sequence[float],
    ledger: Sequence[Mapping[str, float]],
    seed: int,
    settings: GateSettings | None = None,
) -> tuple[decision.Verdict, decision.Design]:
    """The pull-request flow's loop (pipeline._decide_known) on a pool: a batch of draws at a time, until decided."""
    settings = settings or GateSettings()
    ids = [f"i{n}" for n in range(len(base))]
    known, scores = dict(zip(ids, base)), dict(zip(ids, head))
    rng, draws = random.Random(seed), list[activetest.Draw]()
    while True:
        design = decision.Design(seed, sum(base) / len(base), len(base), "the test", tuple(draws))
        verdict, _ = decision.decide_known(design, scores, settings)
        if verdict.status != decision.UNDECIDED:
            return verdict, design
        seen = {d.item: scores[d.item] for d in draws}
        draws += decision.draws_for(known, ledger, seen, [d.item for d in draws], decision.BATCH, rng)


def _pool(rng: np.random.Generator, losses: int, gains: int, volatile: float = 0.3) -> tuple[list, list, np.ndarray]:
    """Base's 0/1 scores, a head that loses `losses` and gains `gains` items (among the volatile ones), and which
    items are volatile (those a ledger sees flip)."""
    base = (rng.random(POOL) < 0.6).astype(float)
    moving = rng.random(POOL) < volatile
    head = base.copy()
    head[rng.choice(np.flatnonzero((base == 1) & moving), losses, replace=False)] = 0.0
    head[rng.choice(np.flatnonzero((base == 0) & moving), gains, replace=False)] = 1.0
    return list(base), list(head), moving


def _ledger(base: Sequence[float], moving: np.ndarray, rng: np.random.Generator, honest: bool = True) -> list[dict]:
    """Earlier versions' full-pool scores: the volatile items flip in some of them (an honest ledger), or the
    stable ones do (a ledger that points the predictor at the wrong items)."""
    flips = moving if honest else ~moving
    return [
        {f"i{n}": (1.0 - b if flips[n] and rng.random() < 0.4 else b) for n, b in enumerate(base)} for _ in range(5)
    ]


def _flattering(base: Sequence[float], head: Sequence[float], moving: np.ndarray, rng: np.random.Generator) -> list:
    """A ledger with a version equal to head except on head's losses, where it keeps base's score: the predictor
    learns to follow it, and it calls every broken item safe."""
    version = {f"i{n}": max(b, h) for n, (b, h) in enumerate(zip(base, head))}
    return [version, *_ledger(base, moving, rng)]


@pytest.mark.parametrize("ledger_kind", ["none", "honest", "misleading", "flattering"])
def test_a_head_exactly_delta_worse_rarely_passes_whatever_the_predictor(ledger_kind: str) -> None:
    """D = −δ exactly (10 losses, 4 gains on 200 items): a pass is a wrong claim. Over 30 pools and draws it stays
    under α = 0.05 with slack for the simulation's noise (a test passing 15% of them would fail this), with no
    ledger, an honest one, one that tells the predictor the broken items are safe, and one whose version the
    predictor follows because it matches head everywhere but on the broken items."""
    rng = np.random.default_rng(11)
    passes = 0
    for rep in range(30):
        base, head, moving = _pool(rng, 10, 4)
        ledger = [] if ledger_kind == "none" else _ledger(base, moving, rng, honest=ledger_kind != "misleading")
        if ledger_kind == "flattering":
            ledger = _flattering(base, head, moving, rng)
        passes += _run(base, head, ledger, seed=rep)[0].status == decision.PASS
    assert passes <= 3, passes


def test_the_predictor_follows_base_before_head_is_scored_then_whichever_version_predicts_head() -> None:
    rng = np.random.default_rng(16)
    base, head, moving = _pool(rng, 12, 12)
    ids = [f"i{n}" for n in range(POOL)]
    known, ledger = dict(zip(ids, base)), _ledger(base, moving, rng)
    f, uncertainty = activetest.predictor(known, ledger, {})
    assert list(f) == base and not uncertainty.any()  # before head's first score: base, drawn uniformly
    twin = dict(zip(ids, head))
    seen = {i: twin[i] for i in ids[:40]}
    f, _ = activetest.predictor(known, [*ledger, twin], seen)
    assert np.abs(f - np.array(head)).max() < 0.05  # a version that predicted head's 40 scores leads the rest
    f, _ = activetest.predictor(known, ledger, {i: known[i] for i in ids[:40]})
    assert np.abs(f - np.array(base)).max() < 0.1  # an edit that changed none of 40 items follows base


def test_the_draws_favour_uncertain_items_only_where_that_pays() -> None:
    """Sure predictions make one draw's worst case the limit on the bets: uniform draws. Uncertain ones on a few
    items make the estimate's variance the limit: those items are drawn more, every item keeping 30% of its
    uniform chance."""
    sure = np.array([0.99, 0.01] * 50)
    q = activetest.weights(sure, np.sqrt(sure * (1 - sure)), 0.03)
    assert np.allclose(q, 1 / 100)
    mixed = np.where(np.arange(100) < 20, 0.5, 0.98)
    q = activetest.weights(mixed, np.sqrt(mixed * (1 - mixed)), 0.03)
    assert q[:20].min() > 1.5 / 100 and q.min() >= 0.3 / 100 - 1e-12
    assert q.sum() == pytest.approx(1.0)


def test_a_head_that_changes_nothing_passes_and_one_clearly_worse_fails() -> None:
    rng = np.random.default_rng(12)
    base, head, moving = _pool(rng, 0, 0)
    same, design = _run(base, head, _ledger(base, moving, rng), seed=1)
    assert same.status == decision.PASS and len(design.draws) <= 100  # the design floor: 78 items (docs/gate.md)
    assert "not worse than base by more than 3 points (95% confidence" in same.reason
    base, head, moving = _pool(rng, 24, 0)  # 12 points worse
    worse, design = _run(base, head, _ledger(base, moving, rng), seed=2)
    assert worse.status == decision.FAIL and len(design.draws) < POOL
    assert "base's scores from the test" in worse.reason and "90% interval for the whole pool" in worse.reason


def test_every_item_drawn_decides_exactly_and_strictly() -> None:
    """The whole pool drawn: D is exact, and D = −δ exactly fails (a pass needs D > −δ)."""
    rng = np.random.default_rng(13)
    base, head, _ = _pool(rng, 9, 3)  # D = −3 points exactly
    ids = [f"i{n}" for n in range(POOL)]
    draws = decision.draws_for(dict(zip(ids, base)), [], {}, [], POOL, random.Random(0))
    design = decision.Design(0, sum(base) / POOL, POOL, "the test", tuple(draws))
    verdict, comparison = decision.decide_known(design, dict(zip(ids, head)), GateSettings())
    assert verdict.status == decision.FAIL and "every pool item scored" in verdict.reason
    assert comparison.delta == pytest.approx(-0.03) and comparison.p_value is None


def test_a_results_file_replays_exactly_what_was_drawn() -> None:
    """The draws recorded in results.json (gate.Design) give the same verdict when judged again."""
    rng = np.random.default_rng(14)
    base, head, moving = _pool(rng, 3, 1)
    verdict, design = _run(base, head, _ledger(base, moving, rng), seed=3)
    adapter = pydantic.TypeAdapter(decision.Design)
    record = adapter.validate_json(adapter.dump_json(design), strict=True)  # as results.json holds it
    ids = [f"i{n}" for n in range(POOL)]
    again, _ = decision.decide_known(record, dict(zip(ids, head)), GateSettings())
    assert again == verdict


def test_the_draw_seed_is_secret_and_stable_for_a_head(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTCI_GATE_SECRET", "s3cret-value")
    first = decision.draw_seed("a" * 64, "b" * 64)
    assert first == decision.draw_seed("a" * 64, "b" * 64)  # a re-run of the same head draws the same items
    assert first != decision.draw_seed("c" * 64, "b" * 64)
    monkeypatch.setenv("PROMPTCI_GATE_SECRET", "another")
    assert first != decision.draw_seed("a" * 64, "b" * 64)  # without the secret, nobody computes it
    monkeypatch.delenv("PROMPTCI_GATE_SECRET")
    assert decision.draw_seed("a" * 64, "b" * 64) != decision.draw_seed("a" * 64, "b" * 64)  # fresh randomness


def test_a_regression_hidden_from_a_predictable_order_fails() -> None:
    """The attack: an author computes the public order (the selection seed and the pool's hash) and breaks only
    items it never reaches in its first 160: 13 points worse. Drawn with an unpredictable seed, it fails."""
    rng = np.random.default_rng(15)
    ids = [f"i{n}" for n in range(POOL)]
    base = list((rng.random(POOL) < 0.7).astype(float))
    reached = set(ids[:20] + decision.order(ids, ids[:20], 0, "pool-sha")[:140])
    hidden = [n for n, i in enumerate(ids) if i not in reached and base[n] == 1.0]
    head = list(base)
    for n in hidden[:26]:
        head[n] = 0.0
    assert len(hidden) >= 26
    outcomes = [_run(base, head, [], seed=decision.draw_seed("h" * 64, "p" * 64))[0].status for _ in range(3)]
    assert outcomes == [decision.FAIL] * 3
