"""Honest suggestions: a demonstration that is a pool item is found, flagged in the report and left out of every
score of the suggestion; the report gives the held-out score beside the subset score, each named."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import pytest

from promptci import promptfile
from promptci.files import prresults
from promptci.files.evalresults import ItemResult
from promptci.files.evalset import load_pool
from promptci.models.budget import Budget
from promptci.models.llm import ModelClient
from promptci.optimize import Outcome, Split
from promptci.optimize.honest import pool_demos, score_without
from promptci.optimize.job import Job, judge_suggestion
from promptci.rendering import render

from .helpers import ROOT
from .test_prresults import results

PROMPT = ROOT / "prompts" / "intent.prompt.yml"
KEPT_DEMO = "Utterance: Play the newest album by Norah Jones on Spotify.\n      Intent: play_music"
# two pool items of eval_sets/intent_recognition.jsonl, as a developer would paste them in as examples
SUBSET_ITEM, SUBSET_TEXT = "083dd7b6d5f2", "Utterance: Add Sabrina Salerno to the grime instrumentals playlist."
HELD_ITEM, HELD_TEXT = (
    "98ff73aac15a",
    "Utterance: I want to bring four people to a place that’s close to downtown that serves churrascaria cuisine.",
)


def _with_pool_demos(*, spacing: str = " ") -> promptfile.PromptFile:
    """The example prompt with two of its demonstrations swapped for pool items (one with odd case and spacing)."""
    text = PROMPT.read_text(encoding="utf-8")
    odd = HELD_TEXT.replace(" ", spacing).upper()
    text = text.replace(
        KEPT_DEMO, f"{SUBSET_TEXT}\n      Intent: add_to_playlist\n\n      {odd}\n      Intent: book_restaurant", 1
    )
    return promptfile.parse(text, PROMPT)


def test_a_demonstration_that_is_a_pool_item_is_found_whatever_its_case_and_spacing() -> None:
    head = promptfile.load(PROMPT)
    pool = load_pool(head)
    assert pool_demos(head, pool) == []  # the example's own demonstrations are not pool items
    found = pool_demos(_with_pool_demos(spacing="   "), pool, subset=[SUBSET_ITEM], holdout=[HELD_ITEM])
    assert [(d.item, d.where) for d in found] == [(SUBSET_ITEM, "subset"), (HELD_ITEM, "held-out")]
    assert found[0].text == SUBSET_TEXT
    assert [d.where for d in pool_demos(_with_pool_demos(), pool)] == ["training", "training"]


def test_scores_without_the_flagged_items() -> None:
    results_ = {i: ItemResult(id=i, score=s) for i, s in (("a", 1.0), ("b", 0.0), ("c", 1.0))}
    assert score_without(results_, ["a", "b", "c"], {"b"}) == (1.0, ["a", "c"])
    assert score_without(results_, ["a", "b", "c"], set())[0] == pytest.approx(2 / 3)


@pytest.mark.integration
def test_the_flagged_items_are_left_out_of_the_subset_and_the_held_out_scores() -> None:
    """With the embedded model: the held-out slice is scored without the demonstrated item, for both prompts."""
    head = promptfile.load(PROMPT)
    pool = load_pool(head)
    best = _with_pool_demos()
    index = {item.id: n for n, item in enumerate(pool.items)}
    subset = [SUBSET_ITEM] + [item.id for item in pool.items[10:13]]
    held = [HELD_ITEM] + [item.id for item in pool.items[20:23]]
    # the suggestion is right on the item it demonstrates and wrong elsewhere on the subset: 0.25 with it, 0 without
    best_results = {i: ItemResult(id=i, score=1.0 if i == SUBSET_ITEM else 0.0) for i in subset}
    initial = {i: ItemResult(id=i, score=0.0 if i == SUBSET_ITEM else 1.0) for i in subset}
    outcome = Outcome(
        initial_text=head.text,
        best_text=best.text,
        initial_score=0.75,
        best_score=0.25,
        initial_on_final=0.75,
        steps_done=1,
        stopped="1 steps done",
        subset_ids=subset,
        initial_results=initial,
        best_results=best_results,
    )
    split = Split(subset=tuple(index[i] for i in subset), training=(), holdout=tuple(sorted(index[i] for i in held)))
    assert head.model is not None
    job = Job(
        outcome=outcome,
        split=split,
        subset_source="given",
        task_model=head.model,
        optimizer_model=head.model,
        style="completion",
    )
    client = ModelClient(use_cache=False)
    try:
        budget = Budget(client)
        asyncio.run(judge_suggestion(job, head, pool, client, budget))
        calls = client.counters.calls
    finally:
        client.close()
    assert {d.item for d in job.pool_demos} == {SUBSET_ITEM, HELD_ITEM}
    assert job.subset_items == subset[1:] and job.subset_best == 0.0 and job.subset_initial == 1.0
    assert sorted(job.holdout_items) == sorted(held[1:]) and calls == 2 * 3  # both prompts, 3 items each
    assert job.holdout_initial is not None and job.holdout_best is not None
    optimizer = prresults.Optimizer.of(job)
    assert optimizer.subset_score == prresults.SubsetScore(head=1.0, best=0.0) and optimizer.subset_score_items == 3
    assert optimizer.holdout_items == 3 and len(optimizer.pool_demos) == 2


def _with_suggestion(**fields: object) -> dict:
    data = results()
    data["prompts"][0]["optimizer"] = {
        "improved": True,
        "stopped": "5 steps done",
        "steps_done": 5,
        "subset_score": {"head": 0.2, "best": 0.85},
        "score_after_step": [0.2, 0.85],
        "best_text": "a: 3\n",
        "diff": "-a: 2\n+a: 3\n",
        "attempts": [],
        **fields,
    }
    return data


def test_the_report_gives_the_held_out_score_beside_the_subset_score_and_flags_pool_demos() -> None:
    data = _with_suggestion(
        subset_score_items=19,
        holdout_score={"head": 0.31, "best": 0.42},
        holdout_items=99,
        pool_demos=[{"item": "item-7", "text": "play <b>jazz</b>", "where": "held-out"}],
    )
    comment = render.render(data)
    assert "0.310 → 0.420 on 99 held-out items the optimizer never saw" in comment
    assert "0.200 → 0.850 on the 19 subset items it was tuned on" in comment
    assert "1 demonstration is a pool item, left out of these scores" in comment
    assert "pool item `item-7` (a held-out item)" in comment and "<b>" not in comment
    terminal = render.render(data, name=render.TERMINAL)
    assert "held-out: 0.310 -> 0.420 on 99 items the optimizer never saw" in terminal
    assert "subset:   0.200 -> 0.850 on the 19 items it was tuned on" in terminal
    assert "pool item item-7 (held-out)" in terminal


def test_a_suggestion_without_a_held_out_score_says_why() -> None:
    comment = render.render(_with_suggestion(holdout_note="the budget is spent (60 of 60 calls)"))
    assert "0.200 → 0.850 on the 4 subset items it was tuned on, no held-out score (the budget is spent" in comment
    assert "held-out: not scored (the budget is spent" in render.render(
        _with_suggestion(holdout_note="the budget is spent (60 of 60 calls)"), name=render.TERMINAL
    )


def test_results_files_written_before_held_out_scores_still_load(tmp_path: Path) -> None:
    data = _with_suggestion()  # no holdout_score, subset_score_items nor pool_demos: an older promptci.pr/1 file
    path = tmp_path / "results.json"
    path.write_text(prresults.dump(prresults.parse(copy.deepcopy(data))))
    loaded = prresults.load(path)
    optimizer = loaded.prompts[0].optimizer
    assert optimizer is not None and optimizer.holdout_score is None and optimizer.pool_demos == []
    bad = _with_suggestion(pool_demos=[{"item": "x", "text": "t", "where": "elsewhere"}])
    path.write_text(json.dumps(bad))
    with pytest.raises(Exception, match="where"):
        prresults.load(path)


def test_a_chat_style_example_that_is_a_pool_item_is_found() -> None:
    head = promptfile.load(PROMPT)
    text = PROMPT.read_text(encoding="utf-8").replace(
        "  - role: user\n",
        f"  - role: user\n    content: '{SUBSET_TEXT}'\n  - role: assistant\n    content: "
        "add_to_playlist\n  - role: user\n",
        1,
    )
    chat = promptfile.parse(text, PROMPT)
    assert len(chat.spec.messages) == len(head.spec.messages) + 2
    assert [d.item for d in pool_demos(chat, load_pool(head))] == [SUBSET_ITEM]
