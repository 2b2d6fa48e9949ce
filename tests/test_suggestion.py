"""A suggestion's verdict: the gate's sequential test on held-out items, scored a batch at a time until it decides;
its error rate measured by simulation; what the report says and what is posted; the items a change broke."""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Sequence

import numpy as np
import pytest

from promptci.files import prresults
from promptci.files.evalresults import ItemResult
from promptci.files.settings import GateSettings
from promptci.optimize import verdict
from promptci.pullrequest import pipeline
from promptci.rendering import escape, render, suggestion

GATE = GateSettings()  # margin 0.03, significance 0.05


def _scorer(head: dict[str, float], best: dict[str, float], asked: list[int]):
    async def scores(ids: Sequence[str]) -> tuple[list[ItemResult], list[ItemResult]]:
        asked.append(len(ids))
        h = [ItemResult(id=i, expected="x", output="x", score=head[i]) for i in ids]
        return h, [ItemResult(id=i, expected="x", output="x", score=best[i]) for i in ids]

    return scores


def _decide(head: dict[str, float], best: dict[str, float], room: int | None = None) -> tuple[verdict.Verdict, list]:
    asked: list[int] = []
    found = asyncio.run(verdict.decide(list(head), _scorer(head, best, asked), GATE, seed=0, room=room))
    return found, asked


def test_a_clear_gain_is_shown_better_after_a_few_batches_and_a_tie_is_not() -> None:
    ids = [f"i{n}" for n in range(100)]
    head = {i: float(n % 5 == 0) for n, i in enumerate(ids)}  # 0.2
    best = {i: float(n % 5 != 4) for n, i in enumerate(ids)}  # 0.8, and every item head gets right
    found, asked = _decide(head, best)
    assert found.better and "shown better than head (95% confidence)" in found.reason
    assert found.items < 100 and sum(asked) == found.items and all(n <= verdict.BATCH for n in asked)
    assert found.low > 0 and found.low <= found.gain <= found.high
    tie, asked = _decide(head, head)  # no difference at all: not shown better, nor shown below the margin of 3
    assert not tie.better and tie.gain == 0 and "not shown better" in tie.reason and sum(asked) == 100
    worse, asked = _decide(head, {i: 0.0 for i in ids})  # a loss: shown below the margin, scoring stops early
    assert not worse.better and "less than the margin" in worse.reason and sum(asked) < 100


def test_the_verdict_stays_within_the_calls_it_is_given() -> None:
    ids = [f"i{n}" for n in range(100)]
    head = {i: 0.0 for i in ids}
    best = {i: float(n % 2) for n, i in enumerate(ids)}
    found, asked = _decide(head, best, room=30)  # two calls an item: at most 15 items
    assert sum(asked) == found.items == 15
    spent = asyncio.run(verdict.decide(ids, _scorer(head, best, []), GATE, 0, None, allows=lambda calls: False))
    assert spent.items == 0 and not spent.better and spent.reason == "no held-out item could be scored"


def test_a_suggestion_no_better_than_head_is_called_better_at_most_alpha_of_the_time() -> None:
    """The stated error rate, measured: 400 held-out slices of 100 items where the suggestion and head are equally
    good (each item: one right and the other wrong, either way with chance 0.2), looked at after every batch."""
    rng = random.Random(7)
    wrong = 0
    for _ in range(400):
        ids = [f"i{n}" for n in range(100)]
        draws = [rng.random() for _ in ids]
        head = {i: float(d < 0.2) for i, d in zip(ids, draws)}
        best = {i: float(0.2 <= d < 0.4) for i, d in zip(ids, draws)}
        wrong += _decide(head, best)[0].better
    assert wrong / 400 <= GATE.significance


def test_the_test_is_the_gates_betting_test_and_its_bounds_hold_at_every_look() -> None:
    diffs = list(np.random.default_rng(1).choice([-1.0, 0.0, 1.0], size=60, p=[0.1, 0.5, 0.4]))
    bounds, above, below = verdict.sequential_test(diffs, GATE)
    assert above and not below and bounds.low <= np.mean(diffs) <= bounds.high
    for n in range(0, 61, 20):  # a prefix never shows what the whole does not bound
        b, _, _ = verdict.sequential_test(diffs[:n], GATE)
        assert b.low <= b.high


def test_the_items_a_change_broke_are_those_base_got_right_and_head_did_not() -> None:
    def r(i: str, score: float | None) -> ItemResult:
        return ItemResult(id=i, expected="x", output="x", score=score)

    base = {"a": r("a", 1.0), "b": r("b", 1.0), "c": r("c", 0.0), "d": r("d", 1.0)}
    head = {"a": r("a", 0.0), "b": r("b", 1.0), "c": r("c", 1.0), "d": r("d", None)}
    assert pipeline.broken_items(["a", "b", "c", "d", "e"], base, head) == ["a", "d"]
    graded = {"p": r("p", 0.8), "q": r("q", 0.8), "s": r("s", 0.4)}  # means of draws, grades: the pass line, 0.5
    moved = {"p": r("p", 0.6), "q": r("q", 0.2), "s": r("s", 0.1)}
    assert pipeline.broken_items(["p", "q", "s"], graded, moved) == ["q"]


def _optimizer(demo_results: dict, status: str | None) -> dict:
    data = copy.deepcopy(demo_results)
    o = data["prompts"][0]["optimizer"]
    assert o and o["improved"]
    o["verdict"] = (
        None
        if status is None
        else {
            "status": status,
            "reason": "r",
            "gain": 0.3 if status == "better" else 0.02,
            "low": 0.12 if status == "better" else -0.05,
            "high": 0.5,
            "items": 40,
            "significance": 0.05,
            "margin": 0.03,
        }
    )
    o["cost"] = {"calls": 180, "seconds": 71.4, "verdict_calls": 80}
    o["broken"], o["won_back"] = ["item-3", "item-9"], ["item-9"]
    prresults.parse(data)  # a valid results file
    return data


@pytest.mark.parametrize("status", ["better", "not shown better"])
def test_the_comment_gives_the_verdict_the_gain_the_broken_items_and_the_cost(demo_results: dict, status: str) -> None:
    data = _optimizer(demo_results, status)
    o = prresults.parse(data).prompts[0].optimizer
    assert o is not None
    line, notes = suggestion.headline(o), suggestion.notes(o)
    if status == "better":
        assert line.startswith("💡 Suggested prompt, shown better than head by the gate’s test: +30.0 points on 40")
        assert "between +12.0 points and +50.0 points (each bound one-sided at 95% confidence)" in line
    else:
        assert line.startswith("No candidate was shown better than head: the best one gains +2.0 points on 40 held")
    assert "this change broke (base right, head wrong), the suggestion gets 1 right (won back: item-9)" in notes[0]
    assert "still broken: item-3" in notes[0]
    assert "the search cost 180 model calls and 71 s" in notes[1] and "the verdict 80 calls" in notes[1]
    comment = render.render(data)
    assert all(escape.inline(text, 1200) in comment for text in [line, *notes])
    assert ("Suggested prompt, shown better" in comment) == (status == "better")
