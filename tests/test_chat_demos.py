"""Demonstrations for a chat prompt whose user turn is only `{{input}}`: proposed as user/assistant turns from
training items, recognised as the prompt's demonstrations once there, and flagged when they show a pool item.

The prompt file is shaped like GitHub Models' own chat prompts (tests/data/ghmodels/chat-triage.prompt.yml); the
search scores prompts with a rule instead of a task model (an item is right when an assistant turn shows its
answer), and the optimizer model is a small real OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from promptci import promptfile
from promptci.files.evalresults import ItemResult
from promptci.files.evalset import Item, load_pool
from promptci.files.settings import OptimizerSettings
from promptci.models.budget import Budget
from promptci.models.llm import ModelClient
from promptci.optimize import DualPhase, Split, arms, turns
from promptci.optimize.honest import pool_demos
from promptci.optimize.units import UnitKind, layout, with_instruction

from .helpers import ROOT
from .openai_server import OpenAIServer

CHAT = ROOT / "tests" / "data" / "ghmodels" / "chat-triage.prompt.yml"


def test_a_user_turn_of_only_the_input_has_no_shape_but_takes_demonstration_turns() -> None:
    prompt = promptfile.load(CHAT)
    pool = load_pool(prompt)
    found = turns.find(prompt)
    assert found is not None and found.pairs == () and found.start == found.query == 1
    pairs = [turns.pair(prompt, found, item) for item in pool.items[:2]]
    shown = promptfile.parse(turns.with_pairs(prompt, found, pairs), prompt.path)
    assert [m.role for m in shown.spec.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert shown.spec.messages[-1].content == "{{input}}" and shown.variables == prompt.variables
    again = turns.find(shown)  # the turns are recognised as the prompt's demonstrations
    assert again is not None and list(again.pairs) == pairs and (again.start, again.query) == (1, 5)
    one = promptfile.parse(turns.with_pairs(shown, again, pairs[:1]), prompt.path)  # a proposal replaces them
    assert [m.role for m in one.spec.messages] == ["system", "user", "assistant", "user"]
    assert "You triage customer support tickets" in shown.text and "# A support-ticket classifier" in shown.text


def test_a_query_with_literal_text_is_not_a_turn_query() -> None:
    prompt = promptfile.load(CHAT)
    text = prompt.text.replace("content: '{{input}}'", "content: 'Ticket: {{input}}'")
    assert turns.find(promptfile.parse(text, prompt.path)) is None  # its demonstrations are written in its shape


def test_phase_1_proposes_demonstration_turns_from_training_items_only(monkeypatch: pytest.MonkeyPatch) -> None:
    prompt = promptfile.load(CHAT)
    pool = load_pool(prompt)
    order = [int(i) for i in np.random.default_rng(0).permutation(len(pool))]
    split = Split(
        subset=tuple(sorted(order[:8])),
        holdout=tuple(sorted(order[8:14])),
        training=tuple(sorted(order[14:])),
        judged=tuple(sorted(order[14:20])),
    )

    async def score(candidate: promptfile.PromptFile, items: Sequence[Item]) -> list[ItemResult]:
        answers = {m.content for m in candidate.spec.messages if m.role == "assistant"}
        return [ItemResult(id=i.id, expected=i.expected, output="x", score=float(i.expected in answers)) for i in items]

    with OpenAIServer(lambda body: "Reply with the queue's name.") as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        client = ModelClient(use_cache=False, retries=0)
        search = DualPhase(
            prompt,
            pool,
            split,
            np.eye(len(pool)),
            score=score,
            refresh=None,
            client=client,
            budget=Budget(client),
            settings=OptimizerSettings(demos=4),
            optimizer_model="openai/fake",
            style="instruct",
            steps=0,
        )
        try:
            outcome = asyncio.run(search.run())
        finally:
            client.close()
    assert outcome.improved and outcome.attempts[0].kind == "demos" and outcome.attempts[0].accepted
    best = promptfile.parse(outcome.best_text, prompt.path)
    found = turns.find(best)
    assert found is not None and len(found.pairs) == 4
    assert {answer for _, answer in found.pairs} == {"billing", "login", "shipping", "feature"}  # every answer shown
    by_text = {str(item.data["input"]): item for item in pool.items}
    shown = [by_text[user] for user, _ in found.pairs]
    assert all(str(item.expected) == answer for item, (_, answer) in zip(shown, found.pairs))
    never = {pool.items[i].id for i in (*split.subset, *split.holdout, *split.judged)}
    assert sorted(outcome.demonstrations) == sorted(i.id for i in shown) and not set(outcome.demonstrations) & never
    lay = layout(best)  # the turns are frozen units: no edit rewrites or removes them, a new instruction keeps them
    assert [u.kind.value for u in lay.units if u.message in range(1, 9)] == ["turn"] * 8
    assert not any(
        lay.units[e.unit].kind == UnitKind.TURN for e in arms.edits(lay, data=True, demo_cap=8) if e.unit is not None
    )
    instructed = with_instruction(lay, "Sort the ticket.").contents()
    assert instructed[0] == "Sort the ticket." and instructed[1:] == [m.content for m in best.spec.messages][1:]
    flagged = pool_demos(best, pool, subset=[pool.items[i].id for i in split.subset])
    assert {d.item for d in flagged} == set(outcome.demonstrations) and {d.where for d in flagged} == {"training"}
