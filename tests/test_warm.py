"""A warm base: `promptci warm` scores base on its whole pool on the default branch, and a pull request then scores
head alone; its store is bounded and read as hostile data. On the mock model, with real git and files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from promptci.errors import InputError
from promptci.files import warmbase
from promptci.pullrequest import warmpr

from .helpers import run_cli
from .test_flows import (
    BAD,
    GOOD,
    LABELS,
    PROMPT as PROMPT_TEXT,
    TOPICS,
    edit,
    git,
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
    with pytest.raises(InputError, match="byte limit"):
        warmbase.load(big)
    big.unlink()
    big.symlink_to("/dev/zero")  # endless: refused before it is read, as a pipe would be
    with pytest.raises(InputError, match="not a warm store"):
        warmbase.load(big)


def test_a_prompt_that_cannot_be_warmed_is_named_and_the_others_are_still_warmed(repo: Path, tmp_path: Path) -> None:
    (repo / "prompts" / "broken.prompt.yml").write_text("messages: not a list\n")
    proc = run_cli(
        "warm", "prompts/broken.prompt.yml", PROMPT, cwd=repo, env={"PROMPTCI_CACHE_DIR": str(tmp_path / "w")}
    )
    assert proc.returncode == 2 and "prompts/broken.prompt.yml: not warmed" in proc.stdout, proc.stdout + proc.stderr
    assert "broken.prompt.yml" in proc.stderr  # the error names the file
    assert warmbase.load(tmp_path / "w" / "warm" / "scores.json").prompts[PROMPT][0].complete


def test_the_demo_run_twice_against_a_warm_base_makes_no_base_call_the_second_time(tmp_path: Path) -> None:
    """`promptci demo --warm`: main's prompt is warmed on its whole pool first (the first time), the pull request
    scores head alone; the second demo finds the warm scores and its own re-check in the cache: no base call."""
    env = {"PROMPTCI_CACHE_DIR": str(tmp_path / "cache")}
    runs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        proc = run_cli("demo", "--warm", "--model", "mockllm/model", "--no-optimize", "--out", str(out), env=env)
        assert proc.returncode == 0, proc.stderr
        runs.append((proc.stdout + proc.stderr, json.loads((out / "results.json").read_text())["prompts"][0], out))
    (said1, first, _), (said2, second, out) = runs
    assert "complete, 693 of 693 pool items stored (693 scored now)" in said1
    assert "complete, 693 of 693 pool items stored (0 scored now)" in said2  # warm already: nothing to score
    assert "head against base's warm scores" in said2  # the forecast knows base is not scored in the run
    assert f"{warmpr.RECHECK} base calls" in first["base_note"]  # the first pull request re-checks base
    assert "0 base calls, from this pull request's cache" in second["base_note"]
    for run in (first, second):
        assert run["design"] is not None and all(r["output"] is None for r in run["base"].values())
    report = (out / "report.md").read_text()
    design = second["comparison"]
    assert f"| {design['base_mean']:.3f} | {design['head_mean']:.3f} | {design['delta']:+.3f} (" in report
    assert "score 1 (warm run: no answer kept)" in report or "score 0 (warm run: no answer kept)" in report
    assert "`None`" not in report  # the flipped items' expected answers come from the pool, not base's answers


def test_a_regression_hidden_from_a_predictable_order_fails_the_pull_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An author who assumes the gate reaches items in an order fixed by public values (the pool and a seed, as it
    once did) breaks only the 40 of 200 items that order would not reach in its first 160: head is 20 points
    worse there and the same everywhere else. The gate's draws come from the repository's secret, so under every
    secret the pull request fails, having drawn some of the broken items."""
    from promptci.gate import decision

    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    ids = [f"a{n:03d}" for n in range(200)]
    hidden = set(decision.order(ids, [], 0, "public")[160:])  # what the author expects the gate never to score
    rows = [
        {"id": i, "input": f"About the {TOPICS[n % 10]} ({n}): the usual folder.", "expected": "alpha"}
        if i in hidden
        else {
            "id": i,
            "input": f"About the {TOPICS[n % 10]} ({n}): file it under {LABELS[n % 3]}.",
            "expected": LABELS[n % 3],
        }
        for n, i in enumerate(ids)
    ]
    (repo / "eval_sets" / "sort.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    usual = 'content: "Usual folder: alpha. {{input}}"'  # right on every item; head names beta: wrong on the hidden
    (repo / "prompts" / "sort.prompt.yml").write_text(PROMPT_TEXT.replace(GOOD, usual))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the sorter")
    assert _warm(repo, tmp_path / "w")[0] == 0
    edit(repo, "hide", "main", usual, usual.replace("alpha", "beta"))
    for n, secret in enumerate(("one-repository-secret", "another-repository-secret")):
        monkeypatch.setenv("PROMPTCI_GATE_SECRET", secret)
        cache = tmp_path / f"c{n}"
        shutil.copytree(tmp_path / "w" / "warm", cache / "warm")
        monkeypatch.setenv("PROMPTCI_CACHE_DIR", str(cache))
        proc, results = pr(repo, tmp_path / f"o{n}", "main", "hide", "--no-optimize", "--no-refresh")
        [p] = results["prompts"]
        assert proc.returncode == 1 and p["verdict"]["status"] == "fail", p["verdict"]
        assert p["design"] is not None and hidden & set(p["items"])  # head alone, drawn where the author did not look
