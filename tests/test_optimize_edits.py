"""The optimizer's edits: demonstrations recognised in the template's own shape, demonstrations chosen from labelled
data,
edits that add and remove, and candidates judged on enough evidence.

The search test scores prompts with a rule instead of a task model (an item is right when the prompt shows a
demonstration with the item's answer), so that what the optimizer must find is known; the optimizer model is a
small real OpenAI-compatible server on loopback (tests/openai_server.py), since no remote model can run here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from promptci import promptfile
from promptci.files.evalresults import ItemResult
from promptci.files.evalset import Item, Pool
from promptci.files.settings import OptimizerSettings
from promptci.models.budget import Budget
from promptci.models.llm import ModelClient
from promptci.optimize import DualPhase, Split, acceptance, demos, framing
from promptci.optimize.units import UnitKind, layout

from .openai_server import OpenAIServer


def _prompt(content: str, tmp: Path = Path("x.prompt.yml"), labels: list[str] | None = None) -> promptfile.PromptFile:
    extra = f"promptci:\n  labels: {json.dumps(labels)}\n" if labels else ""
    return promptfile.parse(
        f"name: x\nmodel: local/gemma-3-270m\nmessages:\n  - role: user\n    content: {json.dumps(content)}\n{extra}",
        tmp,
    )


ONE_LINE = (
    "Recommend films.\nFind a movie similar to Star Wars, Alien: Blade Runner\n"
    "Find a movie similar to Heat, Ronin: Collateral\nFind a movie similar to {{input}}:"
)


def test_one_line_demonstrations_in_the_query_paragraph_are_demonstrations_not_prose() -> None:
    lay = layout(_prompt(ONE_LINE))
    assert [(u.kind.value, u.body) for u in lay.units] == [
        ("sentence", "Recommend films."),
        ("demo", "Find a movie similar to Star Wars, Alien: Blade Runner"),
        ("demo", "Find a movie similar to Heat, Ronin: Collateral"),
        ("query", "Find a movie similar to {{input}}:"),
    ]
    assert lay.answer_of(lay.units[1].body) == "Blade Runner"
    made = lay.demonstration({"input": "Up, Cars"}, "Toy Story")
    assert made == "Find a movie similar to Up, Cars: Toy Story"
    added = lay.with_demo(made)
    assert added.contents()[0] == ONE_LINE.replace(
        "\nFind a movie similar to {{input}}:", f"\n{made}\nFind a movie similar to {{{{input}}}}:"
    )
    assert [u.kind.value for u in layout(_prompt(added.contents()[0])).units] == ["sentence"] + ["demo"] * 3 + ["query"]
    removed = lay.without(1)
    assert removed.contents()[0] == ONE_LINE.replace("Find a movie similar to Star Wars, Alien: Blade Runner\n", "")


def test_a_bare_template_gets_its_first_demonstration_as_a_paragraph_of_its_own() -> None:
    for content, made in [
        ("Q: {{input}}\nA:", "Q: 2+2\nA: 4\n\nQ: {{input}}\nA:"),
        ("Classify this:\nText: {{input}}\nLabel:", "Classify this:\n\nText: 2+2\nLabel: 4\n\nText: {{input}}\nLabel:"),
    ]:
        lay = layout(_prompt(content))
        assert not lay.indices(UnitKind.DEMO)
        added = lay.with_demo(lay.demonstration({"input": "2+2"}, "4")).contents()[0]
        assert added == made
        again = layout(_prompt(added))
        shown = again.indices(UnitKind.DEMO)
        assert len(shown) == 1 and again.answer_of(again.units[shown[0]].body) == "4"
    assert layout(_prompt("{{input}}")).shape is None  # no literal text: nothing to recognise a demonstration by


def _pool(labels: list[str], per_label: int) -> tuple[Pool, np.ndarray]:
    items, vectors = [], []
    for n, label in enumerate(labels):
        for k in range(per_label):
            items.append(Item(id=f"{label}-{k}", data={"input": f"{label} case {k}", "expected": label}))
            v = np.zeros(len(labels) + per_label)
            v[n], v[len(labels) + k] = 1.0, 0.3
            vectors.append(v / np.linalg.norm(v))
    return Pool(source="t", path=None, items=tuple(items), sha256="t"), np.array(vectors)


def test_demonstrations_are_chosen_near_the_failures_showing_every_answer_and_only_from_the_rows_given() -> None:
    pool, emb = _pool(["a", "b", "c"], per_label=4)
    index = {item.id: i for i, item in enumerate(pool.items)}
    allowed = [i for i in range(len(pool)) if pool.items[i].id not in {"b-1", "a-0"}]
    near = [index["b-1"], index["b-2"]]  # two failures whose answer is b
    chosen = demos.choose(pool, allowed, emb, near=near, k=3)
    answers = [str(pool.items[r].expected) for r in chosen]
    assert answers[0] == "b" and sorted(answers) == ["a", "b", "c"]  # the failures' answer first, then every answer
    assert set(chosen) <= set(allowed)
    one = demos.choose(pool, [r for r in allowed if r != index["c-3"]], emb, near=[index["c-3"]], k=1)
    assert [pool.items[r].expected for r in one] == ["c"]  # one slot: the failure's own answer
    inputs = ["Hi", " hi ", "Bye"]  # a copy of the first, and another input the embedding cannot tell apart
    same = Pool(
        source="t",
        path=None,
        sha256="t",
        items=tuple(Item(id=f"x{n}", data={"input": text, "expected": "a"}) for n, text in enumerate(inputs)),
    )
    assert demos.choose(same, [0, 1, 2], np.array([[1.0, 0.0]] * 3), near=[0, 1, 2], k=3) == [0, 2]


def _results(scores: dict[str, float]) -> dict[str, ItemResult]:
    return {i: ItemResult(id=i, score=s) for i, s in scores.items()}


def test_a_one_item_gain_on_twenty_is_noise_and_a_clear_gain_is_accepted() -> None:
    settings = OptimizerSettings()
    ids = [f"i{n}" for n in range(20)]
    current = _results({i: float(n < 10) for n, i in enumerate(ids)})
    one_more = _results({i: float(n < 11) for n, i in enumerate(ids)})
    ok, why = acceptance.accepts(acceptance.paired(current, one_more, ids), settings)
    assert not ok and "chance" in why and "p = 0.500" in why
    six_more = _results({i: float(n < 16) for n, i in enumerate(ids)})
    ok, why = acceptance.accepts(acceptance.paired(current, six_more, ids), settings)
    assert ok and "6 better, 0 worse" in why
    swapped = _results({i: float(5 <= n < 16) for n, i in enumerate(ids)})  # 6 won, 5 lost: +1 item
    assert not acceptance.accepts(acceptance.paired(current, swapped, ids), settings)[0]
    fixed, stopped = acceptance.quick_filter(six_more, acceptance.failures(current, ids), len(ids), settings)
    assert fixed == pytest.approx(0.6) and stopped is None
    three_more = _results({i: float(n < 13) for n, i in enumerate(ids)})  # 3 won: p = 0.125 even with no loss
    assert (
        acceptance.quick_filter(three_more, acceptance.failures(current, ids), len(ids), settings)[1]
        == "quick filter: fixes 3 of the 10 failures; acceptance needs at least 4 items won"
    )
    strict = OptimizerSettings(quick_filter=0.7)
    assert (acceptance.quick_filter(six_more, acceptance.failures(current, ids), len(ids), strict)[1] or "").startswith(
        "quick filter: 0.60 on the 10 failures < h_f 0.7"
    )


def test_induced_instructions_are_cleaned_into_one_imperative_sentence() -> None:
    assert (
        framing.parse_induction(" classify each reply by its tone.\nmore", "completion")
        == "Classify each reply by its tone."
    )
    assert framing.parse_induction("The instruction was: Name the intent", "instruct") == "Name the intent."
    with pytest.raises(framing.Refused):
        framing.parse_induction("   ", "completion")
    request = framing.induction_request("completion", [framing.Example("2+2", "4")])
    assert request.endswith("The instruction was to") and "Input: 2+2\nOutput: 4" in request


def _search_by_rule(monkeypatch: pytest.MonkeyPatch, max_calls: int | None = None):
    """The search from the bare template `Q: {{input}}\nA:`, four answers, scored by a rule: an item is right when
    the prompt shows a demonstration with its answer. Each item scored counts as a call, as the runner's would."""
    labels = ["a", "b", "c", "d"]
    pool, emb = _pool(labels, per_label=12)
    prompt = _prompt("Q: {{input}}\nA:", labels=labels)
    order = [int(i) for i in np.random.default_rng(0).permutation(len(pool))]
    split = Split(
        subset=tuple(sorted(order[:8])),
        holdout=tuple(sorted(order[8:16])),
        training=tuple(sorted(order[16:])),
        judged=tuple(sorted(order[16:26])),
    )
    with OpenAIServer(lambda body: "Answer with the letter of the case.") as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        client = ModelClient(use_cache=False, retries=0)

        async def score(candidate: promptfile.PromptFile, items: Sequence[Item]) -> list[ItemResult]:
            client.counters.calls += len(items)
            shown = {layout(candidate).answer_of(u.body) for u in layout(candidate).units if u.kind == "demo"}
            return [
                ItemResult(id=i.id, expected=i.expected, output="x", score=float(i.expected in shown)) for i in items
            ]

        search = DualPhase(
            prompt,
            pool,
            split,
            emb,
            score=score,
            refresh=None,
            client=client,
            budget=Budget(client, max_calls=max_calls),
            settings=OptimizerSettings(demos=3, attempts=4),
            optimizer_model="openai/fake",
            style="instruct",
            steps=2,
        )
        try:
            return pool, split, prompt, asyncio.run(search.run())
        finally:
            client.close()


def test_from_a_bare_template_the_search_adds_demonstrations_from_training_items_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From the bare template every item is wrong; phase 1's k demonstrations from data fix most, and they must be
    training items, never the subset's, the judged items' or the held-out ones."""
    pool, split, prompt, outcome = _search_by_rule(monkeypatch)
    assert outcome.improved and outcome.fault is None
    first = outcome.attempts[0]
    assert first.kind == "demos" and first.accepted and "p = " in first.why
    best = layout(promptfile.parse(outcome.best_text, prompt.path))
    assert len(best.indices(UnitKind.DEMO)) >= 3
    never = {pool.items[i].id for i in (*split.subset, *split.holdout, *split.judged)}
    assert outcome.demonstrations and not set(outcome.demonstrations) & never
    kinds = {a.kind.value for a in outcome.attempts}
    assert kinds & {"add", "swap", "remove", "insert", "rewrite"}  # phase 2 chose among every edit the prompt allows


def test_a_hostile_paragraph_is_matched_in_linear_time_and_long_text_is_never_a_demonstration() -> None:
    """Prompt files come from pull requests: a query with many variables and a long paragraph of its literals
    would take a backtracking matcher exponential time; the shape is matched with plain string searches."""
    query = " and ".join(f"{{{{v{n}}}}}" for n in range(40)) + "\nA:"
    hostile = "and " * 1900 + "\nA: yes"  # 7,600 characters of the query's own literal
    lay = layout(_prompt(f"{hostile}\n\n{query}"))
    assert [u.kind.value for u in lay.units] == ["demo", "query"]  # each variable filled with some "and"s
    assert lay.shape is not None and lay.shape.answer(hostile) == "yes"
    assert lay.shape.answer("and " * 30 + "\nA: yes") is None  # too few to fill forty variables
    assert lay.shape.answer("x " + "and " * 5000 + "A: yes") is None  # over MAX_DEMO_CHARS: never searched


def test_a_budget_spent_in_phase_1_keeps_the_proposal_already_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """36 calls: the input on the 8 subset and 10 judged items (all wrong), the demonstrations on those 18
    failures; the first induced instruction then finds no call left. The accepted demonstrations are the result."""
    _, _, _, outcome = _search_by_rule(monkeypatch, max_calls=36)
    assert outcome.stopped.startswith("budget spent") and outcome.fault is None
    assert [(a.kind.value, a.accepted) for a in outcome.attempts] == [("demos", True)]
    assert outcome.improved and len(outcome.demonstrations) == 3


def test_phase_2_spends_no_attempt_on_a_prompt_tried_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit that gives back a prompt already judged (the optimizer model here always rewrites to the same
    sentence) is an exhausted arm: dropped for the step, with no attempt spent or recorded for it."""
    _, _, _, outcome = _search_by_rule(monkeypatch)
    phase2 = [a for a in outcome.attempts if a.step > 0]
    assert phase2 and not any("tried before" in a.why for a in phase2)
    for step in {a.step for a in phase2}:
        assert sum(1 for a in phase2 if a.step == step) <= 4  # OptimizerSettings(attempts=4)


def test_the_items_a_change_broke_come_first_among_the_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = ["a", "b"]
    pool, emb = _pool(labels, per_label=6)
    prompt = _prompt("Q: {{input}}\nA:", labels=labels)
    client = ModelClient(use_cache=False, retries=0)

    async def score(candidate: promptfile.PromptFile, items: Sequence[Item]) -> list[ItemResult]:
        return [ItemResult(id=i.id, expected=i.expected, output="x", score=0.0) for i in items]

    split = Split(subset=tuple(range(6)), holdout=(), training=tuple(range(6, 12)))
    for focus in (["a-4"], ["a-1", "a-5"]):
        search = DualPhase(
            prompt,
            pool,
            split,
            emb,
            score=score,
            refresh=None,
            client=client,
            budget=Budget(client),
            settings=OptimizerSettings(),
            optimizer_model="openai/fake",
            style="instruct",
            focus=focus,
        )
        best = search.state.best
        best.results = {
            pool.items[i].id: ItemResult(id=pool.items[i].id, expected="a", output="x", score=0.0) for i in range(6)
        }
        failures = search._failures(best)
        assert sorted(failures[: len(focus)]) == sorted(focus) and len(failures) == 6
    client.close()
