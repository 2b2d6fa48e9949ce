"""Stage 2 between runs acts on evidence (docs/algorithms.md): the subset file's ledger, the minimum of prompts, the cap
per run,
replacements from the item's own cluster, and a pull request that cannot choose its own judge."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from promptci import promptfile
from promptci.errors import InputError
from promptci.files import subsetfile
from promptci.files.evalresults import ItemResult
from promptci.files.evalset import load_pool
from promptci.files.settings import SelectionSettings
from promptci.files.subsetfile import EVIDENCE_PROMPTS, Evidence
from promptci.selection import Refiner, evidence_similarity, kmeans_labels, subsets

from .helpers import EXAMPLE, ROOT, run_cli

SUBSET = ROOT / "eval_sets" / "intent_recognition.subset.yml"


def test_pairs_are_judged_only_on_enough_shared_prompts() -> None:
    pattern = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1]
    rows = np.array([pattern, pattern, [1 - p for p in pattern], [1] * 12], dtype=float)
    sim = evidence_similarity(rows, min_prompts=10)
    assert sim[0, 1] == pytest.approx(1.0) and sim[0, 2] == pytest.approx(-1.0)
    assert (sim[3] == 0).all()  # right for every prompt: ranks nothing, similar to nothing
    few = rows.copy()
    few[1, 3:] = np.nan  # item 1 was scored by only 3 of these prompts
    assert evidence_similarity(few, min_prompts=10)[0, 1] == 0.0
    assert evidence_similarity(few, min_prompts=3)[0, 1] == pytest.approx(1.0)


def test_one_run_of_three_prompts_replaces_nothing_the_ledger_of_twelve_does() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    rows = rng.integers(0, 2, size=(10, 12)).astype(float)
    rows[0:6] = rows[0]  # six items every prompt gets right or wrong together
    refiner = Refiner(min_prompts=10, max_replacements=2, random_state=0)
    _, swaps = refiner.refine(np.arange(10), rows[:, :3], emb, np.arange(10, 60))
    assert swaps == []  # three prompts are no evidence, however alike the rows look
    labels = np.arange(60) % 3
    new, swaps = refiner.refine(np.arange(10), rows, emb, np.arange(10, 60), labels=labels)
    assert len(swaps) == 2  # β would replace 3 of the 6: the cap holds it to 2
    for swap in swaps:
        assert swap.removed in range(6) and swap.prompts == 12 and labels[swap.added] == labels[swap.removed]
        assert f"cluster {labels[swap.removed]}" in swap.why() and "over 12 prompts" in swap.why()
    assert sorted(np.bincount(labels[new], minlength=3)) == sorted(np.bincount(labels[np.arange(10)], minlength=3))


def test_the_ledger_is_bounded_and_fills_what_a_prompt_had_not_scored() -> None:
    ids = ["a", "b"]
    ledger = Evidence().merged({"0" * 12: {"a": "1"}}, ids)
    assert ledger.prompts == ("0" * 12,) and ledger.scores == {"a": "1", "b": "."}
    ledger = ledger.merged({"0" * 12: {"a": "0", "b": "0"}}, ids)
    assert ledger.scores == {"a": "1", "b": "0"}  # a known cell is never rewritten
    for n in range(1, EVIDENCE_PROMPTS + 5):
        ledger = ledger.merged({f"{n:012x}": {"a": "1", "b": "0"}}, ids)
    assert len(ledger.prompts) == EVIDENCE_PROMPTS and ledger.prompts[-1] == f"{EVIDENCE_PROMPTS + 4:012x}"
    assert all(len(row) == EVIDENCE_PROMPTS for row in ledger.scores.values())


def example_subset_with_ledger(tmp_path: Path) -> tuple[Path, subsetfile.Subset]:
    subset = subsetfile.read(SUBSET)
    columns = {f"{n:012x}": {i: "1" if (n + k) % 3 else "0" for k, i in enumerate(subset.ids)} for n in range(2)}
    ledger = replace(subset, evidence=subset.evidence.merged(columns, subset.ids))
    path = tmp_path / "eval_sets" / "intent_recognition.subset.yml"
    path.parent.mkdir()
    subsetfile.write(path, ledger)
    return path, ledger


def test_the_ledger_round_trips_byte_for_byte(tmp_path: Path) -> None:
    path, ledger = example_subset_with_ledger(tmp_path)
    text = path.read_text()
    assert "evidence:" in text and len(text) - len(SUBSET.read_text()) < 1000  # compact: 20 items × 2 prompts
    again = subsetfile.read(path)
    assert again.evidence == ledger.evidence
    subsetfile.write(path, again)
    assert path.read_text() == text


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("prompts: 000000000000 000000000001", "prompts: 000000000000 000000000000", "evidence.prompts"),
        ("prompts: 000000000000 000000000001", "prompts: 00000000000Z 000000000001", "evidence.prompts"),
        ("prompts: 000000000000 000000000001", "prompts: a00000000000", "evidence.scores"),
        ("scores:\n", "scores:\n    not-an-item: '...'\n", "evidence.scores"),
        ("evidence:\n", "evidence: [1, 2]\nx:\n", "evidence"),
    ],
)
def test_a_broken_ledger_is_an_error_naming_its_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    path, _ = example_subset_with_ledger(tmp_path)
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(InputError) as caught:
        subsetfile.read(path)
    assert caught.value.field == field and "evidence" in str(caught.value)


def scores(ids: list[str], patterns: dict[str, list[int]], n_prompts: int, seed: int) -> dict[str, dict]:
    """n_prompts prompts (by sha256) scoring every item: the given items by their pattern, the rest at random."""
    rng = np.random.default_rng(seed)
    return {
        f"{seed:02x}{p:010x}".ljust(64, "0"): {
            i: ItemResult(id=i, score=float(patterns[i][p]) if i in patterns else float(rng.integers(0, 2)))
            for i in ids
        }
        for p in range(n_prompts)
    }


def test_a_pull_request_cannot_choose_its_judge_and_the_ledger_decides_later() -> None:
    """The bundled example with real MiniLM embeddings: the run's prompts go into the ledger; only the ledger as
    committed before the run judges, and from it at most two items change, each from its own cluster."""
    prompt = promptfile.load(EXAMPLE)
    pool = load_pool(prompt)
    subset = subsetfile.read(SUBSET)
    ids = subset.ids
    settings = SelectionSettings()
    alike = {i: [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1] for i in ids[:8]}  # eight items every prompt ranks alike
    first, records = subsets.refine_scores(
        prompt, pool, subset, scores(ids, alike, 12, seed=1), source="t", settings=settings
    )
    assert records == [] and first.ids == ids  # the run's own scores did not judge it: the ledger was empty
    assert len(first.evidence.prompts) == 12 and first.evidence.row(ids[0]) == "101100101011"

    committed, _ = subsets.refine_scores(
        prompt, pool, subset, scores(ids, {}, 12, seed=2), source="t", settings=settings
    )
    hostile = scores(ids, alike, 12, seed=3)
    judged, swapped = subsets.refine_scores(prompt, pool, committed, hostile, source="t", settings=settings)
    unmoved, same = subsets.refine_scores(prompt, pool, committed, {}, source="t", settings=settings)
    assert judged.ids == unmoved.ids and swapped == same  # what the pull request scored changed nothing it is judged on
    assert len(judged.evidence.prompts) == 24  # but it is recorded, for review with the rest of the pull request

    second, records = subsets.refine_scores(prompt, pool, first, {}, source="t", settings=settings)
    assert len(records) == 2  # the committed ledger holds 12 prompts that rank 8 items alike: within the cap
    labels = kmeans_labels(subsets.pool_embeddings(prompt, pool), 5, 0)
    index = {item.id: n for n, item in enumerate(pool.items)}
    for record in records:
        assert record["removed"] in ids[:8] and record["added"] not in ids
        assert labels[index[record["removed"]]] == labels[index[record["added"]]]
        assert "over 12 prompts" in record["why"] and "of its cluster" in record["why"]
    assert set(second.evidence.scores) == set(second.ids)  # removed items' rows go, new items start empty
    assert all(second.evidence.row(r["added"]) == "." * 12 for r in records)
    capped, none = subsets.refine_scores(
        prompt, pool, first, {}, source="t", settings=settings.model_copy(update={"max_replacements": 0})
    )
    assert none == [] and capped.ids == ids


@pytest.mark.integration
def test_a_pull_request_records_base_and_head_in_the_offered_ledger(tmp_path: Path) -> None:
    """The real flow (embedded model, real git): the committed subset judges, nothing is replaced on an empty ledger,
    and the subset file offered for commit carries base's and head's scores, one column each."""
    from .test_pr import LIST, PLAIN, branch, example_repo

    repo = example_repo(tmp_path / "repo")
    branch(repo, "better", "main", LIST, PLAIN)
    out = tmp_path / "out"
    proc = run_cli(
        "pr", "--base", "main", "--head", "better", "--repo", str(repo), "--out", str(out), "--no-optimize", timeout=900
    )
    assert proc.returncode == 0, proc.stderr
    prompt = json.loads((out / "results.json").read_text())["prompts"][0]
    committed = subsetfile.read(SUBSET)
    assert prompt["items"][:20] == committed.ids and prompt["subset"]["replacements"] == []
    assert prompt["subset"]["changed"] and "evidence:" in prompt["subset"]["patch"]
    offered = subsetfile.read(out / "subsets" / "eval_sets" / "intent_recognition.subset.yml")
    shas = [prompt["hashes"]["base"][:12], prompt["hashes"]["head"][:12]]
    assert list(offered.evidence.prompts) == shas and offered.ids == committed.ids
    for i in committed.ids:
        assert offered.evidence.row(i) == "".join(
            "1" if prompt[side][i]["score"] >= 0.5 else "0" for side in ("base", "head")
        )
