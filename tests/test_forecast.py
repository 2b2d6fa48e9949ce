"""The cost forecast: expected and maximum model calls and dollars before scoring, held against what a real run
with the embedded model spent, and the report setting the spend against the forecast."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from promptci import promptfile
from promptci.files.settings import GateSettings
from promptci.gate import repeats
from promptci.gitdiff import Change
from promptci.pullrequest import forecast, shards
from promptci.rendering import render

from .helpers import EXAMPLE, ROOT, run_cli
from .test_prresults import results

LIST = (
    "The possible intents are: add_to_playlist,\n      book_restaurant, get_weather, play_music, rate_book, "
    "search_creative_work and\n      search_screening_event."
)
PLAIN = "Answer with the intent's name only."
LOCAL = forecast.Price("local/gemma-3-270m", 0.0, 0.0, local=True)


def _cost(
    *, max_calls: int | None = None, optimize: bool = True, base: bool = True, optimizer_cap: int | None = None
) -> forecast.Cost:
    head = promptfile.load(EXAMPLE)
    o = head.settings.optimizer.model_copy(update={"max_calls": optimizer_cap})
    return forecast.prompt_cost(
        head,
        head.settings.model_copy(update={"optimizer": o}),
        pool=100,
        n=20,
        base=base,
        optimize=optimize,
        refresh=True,
        steps=1,
        max_calls=max_calls,
        task=LOCAL,
        asker=LOCAL,
        item_chars=80,
    )


def test_the_maximum_bounds_every_extension_the_optimizer_and_its_held_out_check() -> None:
    cost = _cost(optimize=False)
    # base and head on 20 items; the refresh (both on at most max_replacements, 2, new items); extensions: both
    # prompts on the other 80 pool items
    assert promptfile.load(EXAMPLE).settings.selection.max_replacements == 2
    # expected: the gate's first two random batches of 20 items besides (the subset alone decides nothing)
    assert (cost.calls, cost.max_calls) == (40 + 4 + 2 * 40, 40 + 4 + 160)
    with_optimizer = _cost(optimizer_cap=None)
    held = min(100, (100 - 20) // 2)  # promptci.optimizer.holdout, at most half the items outside the subset
    attempts = promptfile.load(EXAMPLE).settings.optimizer.attempts
    asks = forecast.PHASE1_ASKS["completion"] + attempts
    judged = min(30, (100 - 20 - held) // 2)  # promptci.optimizer.filter_items, at most half the training items
    tries = forecast.PHASE1_PROPOSALS["completion"] + attempts  # each scored on the subset and the judged items
    assert with_optimizer.max_calls == cost.max_calls + asks + 2 * 20 + judged + tries * (20 + judged) + 2 * held
    assert cost.calls < with_optimizer.calls < with_optimizer.max_calls
    capped = _cost(optimizer_cap=100)  # promptci.optimizer.max_calls: the search and its verdict stop there
    assert capped.max_calls == cost.max_calls + 100 and capped.calls <= cost.calls + 100
    assert with_optimizer.usd == with_optimizer.max_usd == 0.0  # the embedded model costs nothing


def test_a_call_limit_caps_everything_but_the_comparison() -> None:
    assert (_cost(max_calls=10).calls, _cost(max_calls=10).max_calls) == (40, 40)
    capped = _cost(max_calls=100)
    assert capped.max_calls == 100 and capped.calls <= 100
    assert _cost(max_calls=10, base=False).max_calls == 20  # a new prompt: head alone


def test_the_gate_item_budget_is_read_in_one_place() -> None:
    assert forecast.gate_item_limit(GateSettings(), 250) == 250 and GateSettings().max_items is None  # the pool
    assert forecast.gate_item_limit(GateSettings(max_items=60), 250) == 60  # promptci.gate.max_items
    assert forecast.gate_item_limit(GateSettings(max_items=60), 40) == 40  # never more than the pool


def test_dollars_at_litellm_prices_and_in_words_where_none_is_known() -> None:
    priced = forecast.price("openai/gpt-4o-mini")
    assert priced.input is not None and priced.output is not None
    assert priced.known and priced.input > 0 and priced.output > priced.input
    assert not forecast.price("openai/no-such-model-promptci").known
    assert forecast.price("local/gemma-3-270m").local
    text = (ROOT / "prompts" / "intent.prompt.yml").read_text()
    change = Change(
        status="modified",
        old_path="prompts/intent.prompt.yml",
        new_path="prompts/intent.prompt.yml",
        old_text=text,
        new_text=text,
        reason="test",
    )
    runs = {
        m: forecast.forecast(
            [change], ROOT, optimize=True, refresh=True, steps=1, model=m, subset_size=None, max_calls=None
        )
        for m in ("openai/gpt-4o-mini", "openai/no-such-model-promptci", None)
    }
    paid = runs["openai/gpt-4o-mini"]
    assert paid.usd is not None and paid.max_usd is not None and 0 < paid.usd < paid.max_usd
    assert re.search(
        r"about \$0\.\d{4}, at most \$\d+\.\d{4} \(openai/gpt-4o-mini at \$0\.15/\$0\.60 per million", paid.describe()
    )
    assert runs["openai/no-such-model-promptci"].usd is None
    assert "openai/no-such-model-promptci: no price known" in runs["openai/no-such-model-promptci"].describe()
    assert "local/gemma-3-270m: local: no cost" in runs[None].describe()


def _with_forecast(**fields: object) -> dict:
    data = results()
    data["usage"].update(calls=31, cost_usd=0.0123)
    data["forecast"] = {
        "calls": 40,
        "max_calls": 220,
        "usd": 0.02,
        "max_usd": 0.09,
        "price": "openai/gpt-4o-mini at $0.15/$0.60 per million input/output tokens",
        **fields,
    }
    return data


def test_the_report_sets_what_was_spent_against_the_forecast(tmp_path: Path) -> None:
    comment = render.render(_with_forecast()).replace("\\", "")  # as it reads once rendered (escapes out)
    assert "spent 31 model calls (forecast: about 40, at most 220)" in comment
    assert "$0.0123 (forecast: about $0.0200, at most $0.0900)" in comment
    terminal = render.render(_with_forecast(), name=render.TERMINAL)
    assert "spent 31 model calls (forecast: about 40, at most 220)" in terminal
    unpriced = render.render(
        _with_forecast(usd=None, max_usd=None, price="github/openai/gpt-4o: no price known"), name=render.TERMINAL
    )
    assert "dollars not known (github/openai/gpt-4o: no price known)" in unpriced
    local = render.render(
        _with_forecast(usd=0.0, max_usd=0.0, price="local/gemma-3-270m: local: no cost"), name=render.TERMINAL
    )
    assert "(local/gemma-3-270m: local: no cost)" in local
    older = results()  # a results file from before the forecast: the spend alone, as before
    assert "spent 8 model calls ·" in render.render(older)
    # shards' forecasts add up when merged
    paths = []
    for n in range(2):
        paths.append(tmp_path / f"r{n}.json")
        paths[-1].write_text(json.dumps(_with_forecast()))
    merged = shards.merge_files(paths, None)
    assert merged.forecast is not None and (merged.forecast.calls, merged.forecast.max_calls) == (80, 440)


def _tiny_repo(repo: Path) -> None:
    """The example prompt on 16 pool items, a 4-item subset, one optimizer step of two attempts, 4 held out."""
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    lines = (ROOT / "eval_sets" / "intent_recognition.jsonl").read_text().splitlines()[:16]
    (repo / "eval_sets" / "tiny.jsonl").write_text("\n".join(lines) + "\n")
    text = EXAMPLE.read_text().replace("intent_recognition.jsonl", "tiny.jsonl")
    text = text.replace(
        "  gate:\n", "  selection: {size: 4, clusters: 2}\n  optimizer: {steps: 1, attempts: 2, holdout: 4}\n  gate:\n"
    )
    (repo / "prompts" / "intent.prompt.yml").write_text(text)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "tiny")
    git("checkout", "-qb", "plain")
    (repo / "prompts" / "intent.prompt.yml").write_text(text.replace(LIST, PLAIN))
    git("commit", "-qam", "plain")


def _pr(repo: Path, out: Path, *flags: str) -> tuple[dict, str]:
    cache = out.parent / f"{out.name}-cache"  # a cold cache: every call the run needs is made
    proc = run_cli(
        "pr",
        "--base",
        "main",
        "--head",
        "plain",
        "--repo",
        str(repo),
        "--out",
        str(out),
        *flags,
        env={"PROMPTCI_CACHE_DIR": str(cache)},
        timeout=900,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads((out / "results.json").read_text()), proc.stderr


@pytest.mark.integration
def test_the_forecast_holds_against_a_real_run(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _tiny_repo(repo)
    planned = run_cli(
        "plan",
        "--base",
        "main",
        "--head",
        "plain",
        "--repo",
        str(repo),
        env={"PROMPTCI_CACHE_DIR": str(tmp_path / "plan-cache")},
    )
    assert planned.returncode == 0 and "expected about" in planned.stderr and "local: no cost" in planned.stderr

    data, stderr = _pr(repo, tmp_path / "bare", "--no-optimize", "--no-refresh")
    spent, f, p = data["usage"]["calls"], data["forecast"], data["prompts"][0]
    # base and head on 4 subset items and the gate's first random batch, which here is the other 12: all 16
    assert f["calls"] == f["max_calls"] == 2 * 16
    assert spent == 2 * len(p["items"]) == f["calls"]  # exactly the items compared, twice: the forecast is exact
    assert stderr.index("expected about 32 model calls, at most 32") < stderr.index("scoring head")

    data, stderr = _pr(repo, tmp_path / "full")
    spent, f = data["usage"]["calls"], data["forecast"]
    assert 8 < spent <= f["max_calls"], (spent, f)
    assert f"expected about {f['calls']} model calls, at most {f['max_calls']}" in stderr
    report = (tmp_path / "full" / "report.md").read_text()
    assert f"spent {spent} model calls (forecast: about {f['calls']}, at most {f['max_calls']})" in report


def test_the_held_out_check_takes_at_most_half_the_calls_left() -> None:
    from promptci.models.budget import holdout_size

    assert holdout_size(100, None) == 100  # no call limit: as asked
    assert holdout_size(100, 60) == 15  # two prompts on 15 items: 30 of the 60 calls left
    assert holdout_size(10, 400) == 10 and holdout_size(100, 3) == 0


def test_prompts_share_one_call_limit() -> None:
    text = EXAMPLE.read_text()
    change = Change(
        status="modified",
        old_path="prompts/intent.prompt.yml",
        new_path="prompts/intent.prompt.yml",
        old_text=text,
        new_text=text,
        reason="test",
    )

    def run(limit: int | None) -> forecast.Forecast:
        return forecast.forecast(
            [change, change], ROOT, optimize=True, refresh=True, steps=1, model=None, subset_size=None, max_calls=limit
        )

    assert run(None).max_calls > 200
    assert (run(100).calls, run(100).max_calls) == (100, 100)  # not 100 each
    assert run(50).max_calls == 80  # the two comparisons (2 x 2 x 20) are never cut


def test_a_sampled_base_is_not_forecast_warm_even_when_head_is_exact(tmp_path: Path) -> None:
    def text(temperature: float) -> str:
        return (
            f"name: x\nmodel: mockllm/model\nmodelParameters:\n  temperature: {temperature}\nmessages:\n"
            "  - role: user\n    content: '{{input}}'\ntestData:\n  - {input: a, expected: b}\n"
        )

    def warm_bases(base_temperature: float) -> int:
        change = Change("modified", "x.prompt.yml", "x.prompt.yml", text(base_temperature), text(0), "test")
        return forecast.forecast(
            [change],
            tmp_path,
            optimize=False,
            refresh=False,
            steps=0,
            model=None,
            subset_size=None,
            max_calls=None,
            warm=lambda _: True,
        ).warm_bases

    (tmp_path / "x.prompt.yml").write_text(text(0), encoding="utf-8")
    assert warm_bases(0) == 1
    assert warm_bases(0.8) == 0  # the pull request draws base in the run (pipeline.py), so the forecast does


def test_drawn_labels_cost_one_call_an_item_and_generated_draws_their_repeats(tmp_path: Path) -> None:
    def prompt(extra: str) -> promptfile.PromptFile:
        path = tmp_path / "p.prompt.yml"
        path.write_text(
            "name: p\nmodel: mockllm/model\nmodelParameters:\n  temperature: 0.8\nmessages:\n"
            "  - {role: user, content: '{{input}}'}\ntestData:\n  - {input: a, expected: b}\n" + extra,
            encoding="utf-8",
        )
        return promptfile.load(path)

    assert repeats.draws_per_item(prompt("promptci:\n  labels: [b, c]\n"), 1, True) == (1.0, 1)
    assert repeats.draws_per_item(prompt(""), 1, True) == (1 + repeats.EXPECTED_SHARE * 2, 3)
