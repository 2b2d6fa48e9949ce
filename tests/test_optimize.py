"""The dual-phase optimizer: prompt units, the optimizer-model framing, and `promptci optimize` end to end.

End-to-end runs use the real embedded model as the task model (and as the optimizer model where the
test is about the optimizer working with it). Where a test needs the optimizer model to misbehave
(empty, garbled, over-long or variable-inventing replies; an unreachable server), the optimizer model
is a small real OpenAI-compatible server on loopback (tests/openai_server.py), since no remote model
can run here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from promptci import promptfile
from promptci.models import mockllm
from promptci.optimize import framing, split
from promptci.optimize.units import layout, same_variables

from .helpers import EXAMPLE, run_cli
from .openai_server import OpenAIServer

SKELETON_PROMPT = """name: skeleton
model: local/gemma-3-270m
messages:
  - role: system
    content: |-
      ###Task type###
      Task type: This is a classification task. It has two labels.
      ###Tips###
      - Read the whole text, e.g. twice.
      - Answer with one word.
  - role: user
    content: |-
      Q: Is the sky green?
      A: no

      Q: {{question}}
      A:
"""


def test_layout_of_the_bundled_example_finds_sentences_demos_and_the_query() -> None:
    prompt = promptfile.load(EXAMPLE)
    lay = layout(prompt)
    assert lay.contents() == [m.content for m in prompt.spec.messages]
    assert [u.kind for u in lay.units] == ["sentence"] * 2 + ["demo"] * 7 + ["query"]
    assert lay.units[2].body.endswith("Intent: play_music") and lay.answer_of(lay.units[2].body) == "play_music"


def test_layout_freezes_headers_keeps_list_items_whole_and_round_trips(tmp_path: Path) -> None:
    prompt = promptfile.parse(SKELETON_PROMPT, tmp_path / "s.prompt.yml")
    lay = layout(prompt)
    assert lay.contents() == [m.content for m in prompt.spec.messages]
    kinds = {u.body: u.kind for u in lay.units}
    assert kinds["###Task type###"] == kinds["###Tips###"] == "header"
    assert kinds["- Read the whole text, e.g. twice."] == "sentence"  # one unit despite "e.g."
    assert kinds["Task type: This is a classification task."] == "sentence"
    assert kinds["Q: Is the sky green?\nA: no"] == "demo"
    assert lay.answer_of("Q: Is the sky green?\nA: no") == "no"
    assert all(lay.units[i].kind != "header" for i in lay.editable)
    edited = lay.with_body(lay.editable[0], "Task type: This is a yes/no question.")
    assert edited.contents()[0].startswith("###Task type###\nTask type: This is a yes/no question. It has two labels.")
    assert edited.contents()[1] == lay.contents()[1]
    assert lay.demonstration({"question": "Is water wet?"}, "yes") == "Q: Is water wet?\nA: yes"
    assert same_variables(prompt, edited.contents())
    assert not same_variables(prompt, [edited.contents()[0] + " {{secret}}", edited.contents()[1]])
    assert not same_variables(prompt, [edited.contents()[0], "Q: what?\nA:"])


def test_split_is_seeded_disjoint_and_holds_out_at_most_half() -> None:
    from promptci.files.evalset import Item, Pool

    pool = Pool(source="t", path=None, items=tuple(Item(id=f"i{n}", data={}) for n in range(50)), sha256="x")
    a = split(pool, ["i0", "i1", "i2"], holdout=100, seed=1)
    assert a == split(pool, ["i0", "i1", "i2"], holdout=100, seed=1)
    assert len(a.holdout) == 23 and len(a.training) == 24
    assert not (set(a.subset) & set(a.training) or set(a.subset) & set(a.holdout) or set(a.training) & set(a.holdout))
    assert split(pool, ["i0"], holdout=100, seed=2).holdout != split(pool, ["i0"], holdout=100, seed=3).holdout


@pytest.mark.parametrize(
    "reply, why",
    [
        ("", "empty"),
        ("\x00\x01\x02 ###Task type### ###Tips###", "garbled"),
        ("###Task type###\n" + "word " * 1200, "over-long"),
        ("Sure! Here is a great instruction for you.", "off-format"),
        (
            "###Task type###\nTask type: This is a <...> task.\n###Task detailed description###\n"
            "Task detailed description: <Task detailed description>",
            "unfilled",
        ),
    ],
)
def test_phase1_replies_that_cannot_be_used_are_refused(reply: str, why: str) -> None:
    with pytest.raises(framing.Refused, match=why):
        framing.parse_instruction(reply)


def test_phase1_reply_in_a_code_fence_is_accepted() -> None:
    text = "```\n###Task type###\nTask type: This is a classification task.\n###Tips###\n- Be brief.\n```"
    assert framing.parse_instruction(text).startswith("###Task type###")


@pytest.mark.parametrize(
    "reply, result",
    [
        ("Revised sentence: Decide which intent fits best.", "Decide which intent fits best."),
        ("`Decide which intent fits best.`\n\nExplanation: it is clearer.", "Decide which intent fits best."),
        ('"Decide which\nintent fits best."', "Decide which intent fits best."),
    ],
)
def test_sentence_rewrites_are_cleaned(reply: str, result: str) -> None:
    assert framing.parse_sentence(reply, "Predict the intent.") == result


@pytest.mark.parametrize(
    "reply, why",
    [("", "empty"), ("Predict the intent.", "unchanged"), ("x" * 700, "over-long"), ("\x1b[31m\x07", "garbled")],
)
def test_sentence_rewrites_that_cannot_be_used_are_refused(reply: str, why: str) -> None:
    with pytest.raises(framing.Refused, match=why):
        framing.parse_sentence(reply, "Predict the intent.")


def test_rationales_are_kept_only_when_they_reach_the_gold_answer() -> None:
    reply = "The user wants music played. That is playing music.\nAnswer: play_music"
    assert framing.parse_rationale(reply, "play_music") == "The user wants music played. That is playing music."
    assert framing.parse_rationale(reply, "get_weather") is None
    assert framing.parse_rationale("no answer line here", "play_music") is None


def _small_budget_settings(repo: Path, **optimizer: object) -> Path:
    """The example prompt with fewer optimizer attempts, so an end-to-end run takes about a minute."""
    path = repo / "prompts" / "intent.prompt.yml"
    extra = "".join(f"\n    {k}: {v}" for k, v in {"attempts": 2, "filter_items": 10, **optimizer}.items())
    path.write_text(path.read_text().replace("  gate:\n", f"  optimizer:{extra}\n  gate:\n"))
    return path


@pytest.mark.integration
def test_optimize_with_the_embedded_model_end_to_end(example_repo: Path, tmp_path: Path) -> None:
    path = _small_budget_settings(example_repo)
    before = path.read_text()
    out = tmp_path / "opt.json"
    proc = run_cli("optimize", str(path), "--steps", "1", "--holdout", "20", "--json", str(out), "--write", timeout=900)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["format"] == "promptci.optimize/1" and record["style"] == "completion"
    steps = [a["step"] for a in record["attempts"]]
    assert steps[0] == 0 and set(steps) <= {0, 1} and steps.count(1) <= 2
    # phase 1: k demonstrations like the failures, k one per answer, two instructions induced (APE), the skeleton
    phase1 = [a for a in record["attempts"] if a["step"] == 0]
    assert [a["kind"] for a in phase1] == ["demos", "demos", "instruction", "instruction", "instruction"]
    if phase1[-1]["after"]:  # the base model filled the skeleton line by line, where it could
        assert sum(h in phase1[-1]["after"] for h in ("###Task type###", "###Tips###", "###Task detailed")) >= 2
    best = promptfile.parse(record["best_text"], path)
    assert best.variables == {"input"}
    assert record["split"] == {"subset": 20, "training": 653, "judged": 10, "holdout": 20}
    subset, held_out = set(record["final_subset"]), set(record["holdout_items"])
    assert not set(record["demonstrations"]) & (subset | held_out)  # shown items come from the training split
    assert record["holdout_score"]["input"] is not None
    assert "subset score: input" in proc.stdout and "held-out score (20 items" in proc.stdout
    if record["improved"]:
        assert (
            record["subset_score"]["best"] > record["subset_score"]["input_first_subset"]
            or record["subset_score"]["best"] > record["subset_score"]["input"]
        )
        assert path.read_text() == record["best_text"]
        assert path.read_text().startswith("# Intent classifier")  # comments kept
        assert "--- " in proc.stdout  # the diff
    else:
        assert path.read_text() == before
        assert "nothing to suggest: no candidate beat the input" in proc.stdout


def _one_step(path: Path, out: Path) -> tuple[str, ...]:
    """One optimizer step on the mock task model, the optimizer model `openai/fake`, written back to the file."""
    return (
        "optimize",
        str(path),
        "--steps",
        "1",
        "--holdout",
        "0",
        "--optimizer-model",
        "openai/fake",
        "--model",
        mockllm.MODEL,
        "--json",
        str(out),
        "--write",
    )


def _fake_optimizer_run(repo: Path, tmp_path: Path, reply, *extra: str, timeout: float = 600):
    path = repo / "prompts" / "intent.prompt.yml"
    if "optimizer:" not in path.read_text():
        _small_budget_settings(repo, attempts=3)
    out = tmp_path / "opt.json"
    with OpenAIServer(reply) as server:
        proc = run_cli(
            *_one_step(path, out),
            *extra,
            env=server.env(),
            timeout=timeout,
        )
        requests = list(server.requests)
    return path, proc, json.loads(out.read_text()) if out.exists() else None, requests


def test_bad_optimizer_replies_are_refused_and_never_written(example_repo: Path, tmp_path: Path) -> None:
    # "{% for %}" is no longer a bad reply: prompt text is not a template language (gh's literal {{key}} substitution),
    # so it is text;
    # a rewrite that reaches for the answer ({{expected}}) is one
    replies = iter(["", "\x00\x00\x00", "x" * 9000, "Use {{secret}} to decide.", "Answer {{expected}} always."] * 40)
    path = example_repo / "prompts" / "intent.prompt.yml"
    text = path.read_text()  # no demonstrations: every phase-2 attempt is a sentence rewrite
    path.write_text(text[: text.index("      Utterance: Play")] + text[text.index("      {{input}}") :])
    before = _small_budget_settings(example_repo, attempts=3, demos=0).read_text()  # only what the model writes
    path, proc, record, requests = _fake_optimizer_run(example_repo, tmp_path, lambda body: next(replies))
    assert proc.returncode == 0, proc.stderr
    assert requests and all(r["model"] == "fake" for r in requests)
    written = [a for a in record["attempts"] if a["kind"] in ("instruction", "rewrite", "insert")]
    assert [a["kind"] for a in written[:2]] == ["instruction", "instruction"]  # phase 1: induced, the skeleton
    refusal = r"^refused: .*(empty|garbled|over-long|off-format|template variable|valid prompt)"
    assert written and all(re.search(refusal, a["why"]) for a in written)
    assert all(bad not in record["best_text"] for bad in ("\x00", "x" * 100, "{{secret}}", "{{expected}}"))
    if not record["improved"]:  # a sentence removed is the only edit that could win here
        assert path.read_text() == before
    assert "sk-test-not-a-secret" not in proc.stdout + proc.stderr + json.dumps(record)


def test_unreachable_optimizer_model_exits_3_with_the_best_prompt_so_far(example_repo: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = _small_budget_settings(example_repo)
    before = path.read_text()
    out = tmp_path / "opt.json"
    url = f"http://127.0.0.1:{port}/v1"
    proc = run_cli(
        *_one_step(path, out),
        env={"OPENAI_API_BASE": url, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test"},
        timeout=600,
    )
    assert proc.returncode == 3, proc.stderr
    assert "model unreachable" in proc.stderr and str(out) in proc.stderr
    record = json.loads(out.read_text())
    assert record["fault"].startswith("model unreachable") and record["best_text"] == before
    assert path.read_text() == before


def test_budget_stops_cleanly_with_the_best_prompt_so_far(example_repo: Path, tmp_path: Path) -> None:
    path, proc, record, _ = _fake_optimizer_run(
        example_repo,
        tmp_path,
        lambda body: "Decide which of the intents the utterance asks for.",
        "--budget-calls",
        "10",
    )
    assert proc.returncode == 0, proc.stderr
    assert record["stopped"].startswith("budget spent") and "budget spent" in proc.stdout
    # the input's own 20 subset items are always scored; nothing else may cross the 10-call limit
    assert record["usage"]["calls"] <= 20 + 10
    assert all(a["subset_score"] is None for a in record["attempts"])
    promptfile.parse(record["best_text"], path)


def test_no_failures_to_learn_from_stops_early_and_says_so(example_repo: Path, tmp_path: Path) -> None:
    path = example_repo / "prompts" / "intent.prompt.yml"
    path.write_text(
        path.read_text().replace("  gate:\n", '  evaluators:\n    - name: anything\n      regex: "."\n  gate:\n')
    )  # every answer passes: nothing is ever wrong
    _, proc, record, _ = _fake_optimizer_run(example_repo, tmp_path, lambda body: "Decide the intent.")
    assert proc.returncode == 0, proc.stderr
    assert record["stopped"].startswith("no failures to learn from: the input gets every judged item right")
    assert record["attempts"] == [] and not record["improved"]
    assert "no failures to learn from" in proc.stdout


def test_without_a_subset_file_the_optimizer_judges_on_stage_1_in_memory(tmp_path: Path) -> None:
    from promptci.files.evalset import load_pool
    from promptci.selection.subsets import for_optimizer

    rows = "\n".join(f"  - question: Is {n} even?\n    expected: {'yes' if n % 2 == 0 else 'no'}" for n in range(9))
    path = tmp_path / "even.prompt.yml"
    path.write_text(SKELETON_PROMPT.replace("name: skeleton", "name: even") + f"testData:\n{rows}\n")
    prompt = promptfile.load(path)
    ids, source = for_optimizer(prompt, load_pool(prompt))
    assert len(ids) == 3 and len(set(ids)) == 3 and "stage 1 in memory" in source
    assert not list(tmp_path.glob("*.subset.yml"))  # nothing written


def test_dual_phase_searches_with_any_scorer_and_no_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """DualPhase is built whole from the prompt, its split and the scoring it is handed: here a rule (an item is
    right when its index is even, whatever the prompt), no task model and no runner; only the optimizer model is
    asked, a real HTTP server on loopback. Every candidate is scored by the rule, and none beats the input."""
    import asyncio

    import numpy as np

    from promptci.files.evalresults import ItemResult
    from promptci.files.evalset import Item, load_pool
    from promptci.models.budget import Budget
    from promptci.models.llm import ModelClient
    from promptci.optimize import DualPhase, Split

    prompt = promptfile.load(EXAMPLE)
    pool = load_pool(prompt)
    position = {item.id: n for n, item in enumerate(pool.items)}
    scored: list[tuple[str, list[str]]] = []

    async def score(candidate: promptfile.PromptFile, items: Sequence[Item]) -> list[ItemResult]:
        scored.append((candidate.sha256, [i.id for i in items]))
        return [
            ItemResult(id=i.id, expected=i.expected, output="x", score=float(position[i.id] % 2 == 0)) for i in items
        ]

    with OpenAIServer(lambda body: "Answer with the intent's name only.") as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        client = ModelClient(use_cache=False, retries=0)
        search = DualPhase(
            prompt,
            pool,
            Split(subset=tuple(range(10)), training=tuple(range(10, len(pool))), holdout=()),
            np.eye(len(pool)),
            score=score,
            refresh=None,
            client=client,
            budget=Budget(client),
            settings=prompt.settings.optimizer,
            optimizer_model="openai/fake-optimizer",
            style="instruct",
            steps=1,
        )
        try:
            outcome = asyncio.run(search.run())
        finally:
            client.close()
    assert outcome.fault is None and outcome.steps_done == 1 and not outcome.improved
    assert outcome.initial_score == outcome.initial_on_final == 0.5  # items 0, 2, 4, 6, 8 of the ten are right
    assert scored[0] == (prompt.sha256, [pool.items[i].id for i in range(10)])  # the input first, on the subset
    assert len({sha for sha, _ in scored}) > 1  # and candidates after it, each through the rule
    assert server.requests and all(r["model"] == "fake-optimizer" for r in server.requests)  # no task-model call
