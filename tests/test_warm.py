"""A warm base: `promptci warm` scores base on its whole pool on the default branch, and a pull request then scores
head alone; its store is bounded and read as hostile data. On the mock model, with real git and files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from promptci.files import warmbase
from promptci.pullrequest import warmpr

from .helpers import run_cli
from .test_flows import (
    BAD,
    GOOD,
    edit,
    pr,
    repo as repo,  # the fixture
)

PROMPT = "prompts/sort.prompt.yml"


def _warm(repo: Path, cache: Path, *extra: str) -> tuple[int, str, warmbase.Store]:
    proc = run_cli("warm", PROMPT, *extra, cwd=repo, env={"PROMPTCI_CACHE_DIR": str(cache)})
    store = warmbase.load(cache / "warm" / "scores.json")
    return proc.returncode, proc.stdout + proc.stderr, store


def _pr(repo: Path, out: Path, cache: Path, *carried: Path) -> dict:
    """`promptci pr` main..worse with a fresh answer cache in `cache`, holding copies of the `carried` folders."""
    for folder in carried:
        shutil.copytree(folder, cache / folder.name)
    proc, results = pr(repo, out, "main", "worse", "--no-optimize", "--max-calls", "1000")
    assert proc.returncode == 1, proc.stderr  # the regression fails in every run
    return results


def test_the_pull_request_makes_no_base_call_against_a_warm_base(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, said, store = _warm(repo, tmp_path / "w")
    assert code == 0 and "complete, 90 of 90 pool items stored (90 scored now)" in said, said
    [vector] = store.prompts[PROMPT]
    assert vector.complete and len(vector.scores) == 90
    again = _warm(repo, tmp_path / "w")
    assert again[0] == 0 and "(0 scored now)" in again[1]  # a complete vector costs nothing
    edit(repo, "worse", "main", GOOD, BAD)
    monkeypatch.setenv("PROMPTCI_GATE_SECRET", "the-repository-secret")  # a re-run draws the same items

    monkeypatch.setenv("PROMPTCI_CACHE_DIR", str(tmp_path / "cold"))
    cold_run = _pr(repo, tmp_path / "o0", tmp_path / "cold")
    cold = cold_run["prompts"][0]
    monkeypatch.setenv("PROMPTCI_CACHE_DIR", str(tmp_path / "c1"))
    first = _pr(repo, tmp_path / "o1", tmp_path / "c1", tmp_path / "w" / "warm")
    monkeypatch.setenv("PROMPTCI_CACHE_DIR", str(tmp_path / "c2"))
    second = _pr(repo, tmp_path / "o2", tmp_path / "c2", tmp_path / "w" / "warm", tmp_path / "c1" / "recheck")

    assert "no warm base" in cold["base_note"] and cold["base"][cold["items"][0]]["output"] is not None
    assert cold["design"] is None  # base scored in the run: the paired test on the same items
    for run in (first, second):
        p = run["prompts"][0]
        assert p["verdict"]["status"] == cold["verdict"]["status"] == "fail"  # the same decision from known scores
        assert p["design"] is not None and len(p["design"]["draws"]) == len(p["items"])  # head alone, drawn
        assert "known from the warm run on the default branch" in p["base_note"]
        assert all(r["output"] is None for r in p["base"].values())  # no answer of base's: none was asked for
    assert first["prompts"][0]["items"] == second["prompts"][0]["items"]  # the same draws: the secret, the head
    head_items = len(second["prompts"][0]["head"])
    assert first["usage"]["calls"] == head_items + warmpr.RECHECK  # base: only the few re-checked items
    assert second["usage"]["calls"] == head_items  # a re-run: no base call at all
    assert "Base scores: known from the warm run on the default branch" in (tmp_path / "o2" / "report.md").read_text()


def test_a_warm_run_a_budget_stops_keeps_what_it_scored_and_resumes(repo: Path, tmp_path: Path) -> None:
    code, said, store = _warm(repo, tmp_path / "w", "--max-calls", "60")
    assert code == 0 and "stopped: the budget is spent" in said and "partial, 50 of 90" in said, said
    assert not store.prompts[PROMPT][0].complete
    code, said, store = _warm(repo, tmp_path / "w")
    assert code == 0 and "complete, 90 of 90 pool items stored (40 scored now)" in said, said


def test_a_warm_base_that_no_longer_reproduces_is_set_aside(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _warm(repo, tmp_path / "w")
    path = tmp_path / "w" / "warm" / "scores.json"
    store = warmbase.load(path)
    [v] = store.prompts[PROMPT]
    flipped = v.model_copy(update={"scores": {i: 1.0 - (s or 0.0) for i, s in v.scores.items()}})
    warmbase.save(warmbase.record(store, PROMPT, flipped), path)  # as if the provider had changed the model since
    edit(repo, "worse", "main", GOOD, BAD)
    monkeypatch.setenv("PROMPTCI_CACHE_DIR", str(tmp_path / "c"))
    p = _pr(repo, tmp_path / "o", tmp_path / "c", tmp_path / "w" / "warm")["prompts"][0]
    assert "the warm base did not reproduce (6 of 6 re-scored base items differ" in p["base_note"]
    assert all(p["base"][i]["output"] is not None for i in p["items"])  # base was scored in the run


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"format": "promptci.warm/9", "prompts": {}}', "format"),
        ('{"prompts": {"p": [{"key": "x"}]}}', "prompts.p.0.key"),
        ("[1, 2", "(the whole file)"),
    ],
)
def test_a_malformed_store_stops_the_pull_request_before_any_call(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    field: str,
) -> None:
    (tmp_path / "c" / "warm").mkdir(parents=True)
    (tmp_path / "c" / "warm" / "scores.json").write_text(text)
    edit(repo, "worse", "main", GOOD, BAD)
    monkeypatch.setenv("PROMPTCI_CACHE_DIR", str(tmp_path / "c"))
    proc, _ = pr(repo, tmp_path / "o", "main", "worse", "--no-optimize")
    assert proc.returncode == 2 and "scores.json" in proc.stderr and field in proc.stderr, proc.stderr
    assert "fix: delete the file" in proc.stderr


def test_the_store_keeps_a_few_versions_per_prompt_and_refuses_an_oversized_file(tmp_path: Path) -> None:
    store = warmbase.Store()
    for n in range(warmbase.LEDGER_DEPTH + 3):
        sha = f"{n:064x}"
        store = warmbase.record(
            store,
            "p.prompt.yml",
            warmbase.Vector(
                key=warmbase.key(sha, "0" * 64, "m"),
                prompt_sha256=sha,
                pool_sha256="0" * 64,
                model="m",
                pool_items=2,
                scores={"a": n % 2, "b": 1.0},
            ),
        )
    versions = store.prompts["p.prompt.yml"]
    assert [v.prompt_sha256 for v in versions] == [f"{n:064x}" for n in range(7, 2, -1)]  # newest first, five kept
    found = warmbase.known(store, "p.prompt.yml", versions[0].key, ["a", "b"])
    assert found is not None and found.scores == {"a": 1.0, "b": 1.0}
    assert [dict(m) for m in found.ledger] == [{"a": n % 2, "b": 1.0} for n in range(6, 2, -1)]
    assert warmbase.known(store, "p.prompt.yml", versions[0].key, ["a", "b", "c"]) is None  # not this pool
    big = tmp_path / "scores.json"
    big.write_bytes(b" " * (warmbase.MAX_BYTES + 1))
    with pytest.raises(Exception, match="more than"):
        warmbase.load(big)


def test_a_prompt_that_cannot_be_warmed_is_named_and_the_others_are_still_warmed(repo: Path, tmp_path: Path) -> None:
    (repo / "prompts" / "broken.prompt.yml").write_text("messages: not a list\n")
    proc = run_cli(
        "warm", "prompts/broken.prompt.yml", PROMPT, cwd=repo, env={"PROMPTCI_CACHE_DIR": str(tmp_path / "w")}
    )
    assert proc.returncode == 2 and "prompts/broken.prompt.yml: not warmed" in proc.stdout, proc.stdout + proc.stderr
    assert "broken.prompt.yml" in proc.stderr  # the error names the file
    assert warmbase.load(tmp_path / "w" / "warm" / "scores.json").prompts[PROMPT][0].complete
