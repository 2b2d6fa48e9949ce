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


@pytest.mark.parametrize("ledger_kind", ["none", "honest", "misleading"])
def test_a_head_exactly_delta_worse_rarely_passes_whatever_the_predictor(ledger_kind: str) -> None:
    """D = −δ exactly (10 losses, 4 gains on 200 items): a pass is a wrong claim. Over 30 pools and draws it stays
    under α = 0.05 with slack for the simulation's noise (a test passing 15% of them would fail this), with no
    ledger, an honest one, and one that tells the predictor the broken items are safe."""
    rng = np.random.default_rng(11)
    passes = 0
    for rep in range(30):
        base, head, moving = _pool(rng, 10, 4)
        ledger = [] if ledger_kind == "none" else _ledger(base, moving, rng, honest=ledger_kind == "honest")
        passes += _run(base, head, ledger, seed=rep)[0].status == decision.PASS
    assert passes <= 3, passes


def test_a_head_that_changes_nothing_passes_and_one_clearly_worse_fails() -> None:
    rng = np.random.default_rng(12)
    base, head, moving = _pool(rng, 0, 0)
    same, design = _run(base, head, _ledger(base, moving, rng), seed=1)
    assert same.status == decision.PASS and len(design.draws) < POOL
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
