"""`promptci select`, `select --check`, `refine` and `eval --subset` on the bundled example, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptci.files import evalresults, subsetfile
from promptci.models import mockllm

from .helpers import run_cli

SUBSET = Path("eval_sets/intent_recognition.subset.yml")
PROMPT = "prompts/intent.prompt.yml"


MOCK = ("--model", mockllm.MODEL)


def select(repo: Path, *args: str) -> str:
    proc = run_cli("select", PROMPT, *args, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return (repo / SUBSET).read_text()


def test_select_writes_a_reviewable_deterministic_subset(example_repo: Path) -> None:
    (example_repo / SUBSET).unlink(missing_ok=True)
    first = select(example_repo)
    subset = subsetfile.read(example_repo / SUBSET)
    assert len(subset.items) == 20 and len(set(subset.ids)) == 20
    assert sum(e.why.startswith("boundary") for e in subset.items) == 10
    assert sum(e.why.startswith("representative of cluster") for e in subset.items) == 10
    assert subset.pool_path == "intent_recognition.jsonl" and subset.method == "ipomp"
    assert subset.parameters == {"size": 20, "seed": 0, "clusters": 5, "alpha": 0.5}
    assert all(e.text.startswith("Utterance:") for e in subset.items)
    assert first.startswith("# Evaluation subset written by promptci")
    assert select(example_repo) == first  # same seed, same bytes
    assert select(example_repo, "--seed", "7") != first
    smaller = subsetfile.read(example_repo / SUBSET) if select(example_repo, "--size", "8", "--alpha", "0.25") else None
    assert (
        smaller is not None
        and len(smaller.items) == 8
        and sum(e.why.startswith("boundary") for e in smaller.items) == 6
    )


def test_committed_subset_is_what_select_writes(example_repo: Path, tmp_path: Path) -> None:
    committed = (example_repo / SUBSET).read_text()
    assert select(example_repo) == committed


def test_check_passes_then_flags_a_changed_pool_and_hand_edits(example_repo: Path) -> None:
    select(example_repo)
    ok = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert ok.returncode == 0 and "ok:" in ok.stdout
    saved = (example_repo / SUBSET).read_text()

    edited = saved.replace(subsetfile.read(example_repo / SUBSET).ids[0], "not-an-id", 1)
    (example_repo / SUBSET).write_text(edited)
    stale = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert stale.returncode == 1 and "1 subset ids are not in the pool (not-an-id)" in stale.stdout
    assert "fix: promptci select" in stale.stdout
    assert (example_repo / SUBSET).read_text() == edited  # --check never repairs

    # a hand edit to another pool item: the ids are valid, but neither stage 1 nor the history chose it
    pool = example_repo / "eval_sets" / "intent_recognition.jsonl"
    other = next(
        json.loads(line)["id"] for line in pool.read_text().splitlines() if json.loads(line)["id"] not in saved
    )
    (example_repo / SUBSET).write_text(saved.replace(subsetfile.read(example_repo / SUBSET).ids[3], other, 1))
    hand = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert hand.returncode == 1 and f"edited by hand: {other} is neither stage 1's choice" in hand.stdout

    pool.write_text(pool.read_text() + json.dumps({"input": "Utterance: new one", "expected": "get_weather"}) + "\n")
    (example_repo / SUBSET).write_text(saved)
    changed = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert changed.returncode == 1 and "the pool changed since the subset was written" in changed.stdout
    scored = run_cli("eval", PROMPT, "--subset", cwd=example_repo)
    assert scored.returncode == 2 and "the subset is stale" in scored.stderr and "promptci select" in scored.stderr

    (example_repo / SUBSET).unlink()
    missing = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert missing.returncode == 1 and "no subset file" in missing.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--size", "1000"], "the pool has 693 items, fewer than the subset size 1000"),
        (["--size", "3", "--clusters", "5"], "smaller than the 5 clusters"),
        (["--alpha", "1.5"], "outside [0, 1]"),
    ],
)
def test_select_bad_parameters_exit_2(example_repo: Path, args: list[str], words: str) -> None:
    before = (example_repo / SUBSET).read_text()
    proc = run_cli("select", PROMPT, *args, cwd=example_repo)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert (example_repo / SUBSET).read_text() == before


def test_refine_from_two_prompts_and_eval_subset(example_repo: Path) -> None:
    select(example_repo)
    original = subsetfile.read(example_repo / SUBSET)
    a = example_repo / "a.json"
    proc = run_cli("eval", PROMPT, "--subset", "--json", str(a), *MOCK, cwd=example_repo)
    assert proc.returncode in (0, 1), proc.stderr
    [run] = evalresults.read(a)
    assert run.selection == "subset" and [i.id for i in run.items] == original.ids

    variant = example_repo / "prompts" / "variant.prompt.yml"
    text = (example_repo / PROMPT).read_text().replace("Predict the intent", "Name the intent")
    variant.write_text(
        text.replace(
            "pool: ../eval_sets/intent_recognition.jsonl",
            "pool: ../eval_sets/intent_recognition.jsonl\n  subset: ../eval_sets/intent_recognition.subset.yml",
        )
    )
    b = example_repo / "b.json"
    assert run_cli("eval", str(variant), "--subset", "--json", str(b), *MOCK, cwd=example_repo).returncode in (0, 1)

    lonely = run_cli("refine", PROMPT, "--results", str(a), cwd=example_repo)
    assert lonely.returncode == 2 and "at least two different prompts" in lonely.stderr

    refined = run_cli("refine", PROMPT, "--results", str(a), str(b), cwd=example_repo)
    assert refined.returncode == 0, refined.stderr
    after = subsetfile.read(example_repo / SUBSET)
    assert len(after.items) == 20 and len(set(after.ids)) == 20
    if after.history:  # the prompts agreed on some items: those were swapped, with reasons
        swaps = after.history[-1].replaced
        assert swaps and all(s["removed"] in original.ids and s["added"] not in original.ids for s in swaps)
        assert all("redundant with" in s["why"] for s in swaps)
        assert {s["added"] for s in swaps} <= set(after.ids)
    else:
        assert "no redundant items" in refined.stdout
    assert run_cli("select", "--check", PROMPT, cwd=example_repo).returncode == 0


def test_refine_rejects_results_from_another_pool(example_repo: Path) -> None:
    select(example_repo)
    a = example_repo / "a.json"
    assert run_cli(
        "eval", PROMPT, "--subset", "--limit", "2", "--json", str(a), *MOCK, cwd=example_repo
    ).returncode in (0, 1)
    data = json.loads(a.read_text())
    other = json.loads(a.read_text())
    other["runs"][0]["prompt"]["sha256"] = "0" * 64
    other["runs"][0]["pool"]["sha256"] = "f" * 64
    b = example_repo / "b.json"
    b.write_text(json.dumps(other))
    assert data["runs"][0]["pool"]["sha256"] != "f" * 64
    proc = run_cli("refine", PROMPT, "--results", str(a), str(b), cwd=example_repo)
    assert proc.returncode == 2 and "come from another pool" in proc.stderr


def test_check_replays_the_history_and_refuses_an_empty_subset(example_repo: Path) -> None:
    """A hand-swapped item covered by a made-up history record ({removed: X, added: Y}) passed `select --check`,
    which took the history as proof (and X was banned from the subset for good); so did `items: []`. Stage 2's
    choice of what comes in is replayed; which items it found redundant rests on scores the file no longer holds,
    and the check says so."""
    from dataclasses import replace

    from promptci import promptfile
    from promptci.files.evalset import load_pool
    from promptci.files.settings import SelectionSettings
    from promptci.selection import audit, kmeans_labels, subsets

    from .test_refresh import scores

    prompt = promptfile.load(example_repo / PROMPT)
    pool, path, settings = load_pool(prompt), example_repo / SUBSET, SelectionSettings()
    ids = subsetfile.read(path).ids
    alike = {i: [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1] for i in ids[:8]}  # twelve prompts rank eight items alike
    ledger, _ = subsets.refine_scores(
        prompt, pool, subsetfile.read(path), scores(ids, alike, 12, seed=1), source="t", settings=settings
    )
    refined, records = subsets.refine_scores(prompt, pool, ledger, {}, source="t", settings=settings)
    assert len(records) == 2
    subsetfile.write(path, refined)
    honest = audit.audit(prompt, pool, subsetfile.read(path), path)
    assert honest.problems == [] and records[0]["removed"] in honest.unverified[0]
    proc = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert proc.returncode == 0 and "not verified: that stage 2 found" in proc.stdout, proc.stdout + proc.stderr

    labels = kmeans_labels(subsets.pool_embeddings(prompt, pool), 5, 0)
    row = {item.id: n for n, item in enumerate(pool.items)}
    victim = refined.ids[10]
    other = next(
        i
        for i in row
        if i not in refined.ids and i not in refined.removed_ids() and labels[row[i]] != labels[row[victim]]
    )  # not what stage 2 would bring in for it
    made_up = subsetfile.Refinement(
        source="promptci pr: stage 2 on the subset file's evidence ledger",
        replaced=({"removed": victim, "added": other, "why": "redundant"},),
    )
    forged = replace(
        refined,
        items=tuple(replace(e, id=other) if e.id == victim else e for e in refined.items),
        history=refined.history + (made_up,),
    )
    subsetfile.write(path, forged)
    proc = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert proc.returncode == 1 and f"history record {victim} -> {other} does not replay" in proc.stdout, proc.stdout
    assert f"edited by hand: {other}" in proc.stdout

    subsetfile.write(path, replace(refined, items=refined.items[:-1]))  # an item dropped: a smaller judge
    assert "it has 19 items, its recorded size is 20" in audit.audit(prompt, pool, subsetfile.read(path), path).problems
    path.write_text(path.read_text().split("items:")[0] + "items: []\n")
    proc = run_cli("select", "--check", PROMPT, cwd=example_repo)
    assert proc.returncode == 2 and "subset file has no items" in proc.stderr and "items" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
