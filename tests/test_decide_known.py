"""The pull-request flow's gate with base's full-pool scores known (pipeline._decide with a KnownBase), on the mock
model: head alone is scored, base's known scores stand in for base calls, and the draws are recorded so that
`promptci report` reaches the same verdict from results.json."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pydantic
import pytest

from promptci import promptfile
from promptci.files import prresults
from promptci.files.evalset import load_pool
from promptci.files.settings import GateSettings
from promptci.files.warmbase import KnownBase
from promptci.gate import decision
from promptci.gitdiff import Change
from promptci.models import mockllm
from promptci.models.budget import Budget
from promptci.models.llm import ModelClient
from promptci.pullrequest import pipeline

LABELS = ("alpha", "beta", "gamma")
PROMPT = f"""name: Sorter
model: {mockllm.MODEL}
messages:
  - role: user
    content: "{{CONTENT}}"
promptci:
  pool: pool.jsonl
  labels: [alpha, beta, gamma]
  embedding_model: {mockllm.EMBED_MODEL}
"""


def _prompt(tmp_path: Path, name: str, content: str) -> promptfile.PromptFile:
    path = tmp_path / f"{name}.prompt.yml"
    path.write_text(PROMPT.replace("{CONTENT}", content))
    return promptfile.load(path)


def _decide(
    tmp_path: Path, head_content: str, known: KnownBase, budget_calls: int | None = None
) -> tuple[prresults.PromptResults, ModelClient]:
    tmp_path.mkdir(exist_ok=True)
    rows = [
        {"id": f"m{n:03d}", "input": f"Item {n}: file it under {LABELS[n % 3]}.", "expected": LABELS[n % 3]}
        for n in range(120)
    ]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = _prompt(tmp_path, "base", "{{input}}")
    head = _prompt(tmp_path, "head", head_content)
    pool = load_pool(base)
    result = prresults.PromptResults.start(
        Change("modified", "head.prompt.yml", "head.prompt.yml", "x", "y", "modified"),
        hashes={"head": head.sha256, "base": base.sha256, "pool": pool.sha256},
    )
    client = ModelClient(cache_path=tmp_path / "cache")
    budget = Budget(client, max_calls=budget_calls)
    options = pipeline.Options(optimize=False, refresh=False)
    asyncio.run(pipeline._decide(result, head, base, pool, client, budget, options, mockllm.MODEL, known))
    return result, client


def _known(score: float = 1.0) -> KnownBase:
    return KnownBase(scores={f"m{n:03d}": score for n in range(120)}, ledger=[], source="the default branch's warm run")


def test_a_warm_base_scores_head_alone_and_the_results_file_replays_the_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTCI_GATE_SECRET", "a-secret-for-the-test")
    result, client = _decide(tmp_path, "{{input}} (alpha, beta or gamma?)", _known())  # right on a third only
    assert result.verdict is not None and result.verdict.status == decision.FAIL
    assert "base's scores from the default branch's warm run" in result.verdict.reason
    assert result.design is not None and len(result.design.draws) == len(result.items) < 120
    assert client.counters.calls == len(result.items)  # head's calls only: no base call
    assert all(result.base[i].score == 1.0 for i in result.items)  # base's known scores, for the report
    adapter = pydantic.TypeAdapter(decision.Design)  # what results.json holds replays to the same verdict
    design = adapter.validate_json(adapter.dump_json(result.design), strict=True)
    again, _ = decision.decide_known(design, {i: r.score for i, r in result.head.items()}, GateSettings())
    assert again.status == result.verdict.status


def test_a_warm_base_passes_an_unchanged_head_and_a_budget_is_the_only_inconclusive(tmp_path: Path) -> None:
    same, _ = _decide(tmp_path, "{{input}}", _known())
    assert same.verdict is not None and same.verdict.status == decision.PASS
    stopped, _ = _decide(tmp_path / "capped", "{{input}}", _known(), budget_calls=20)
    assert stopped.verdict is not None and stopped.verdict.status == decision.INCONCLUSIVE
    assert "the budget is spent" in stopped.verdict.reason


def test_known_scores_that_miss_pool_items_are_not_used(tmp_path: Path) -> None:
    """A warm base that does not cover the pool (it changed since) is set aside: base is scored in the run."""
    partial = KnownBase(scores={f"m{n:03d}": 1.0 for n in range(100)}, ledger=[], source="an older pool")
    result, _ = _decide(tmp_path, "{{input}}", partial)
    assert result.design is None and "do not cover the pool" in result.subset_note
    assert result.verdict is not None and result.verdict.status == decision.PASS
