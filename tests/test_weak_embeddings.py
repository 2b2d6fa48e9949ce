"""Embeddings that cannot tell items apart: found, said in one line, and a documented fallback chosen.

The emoji pool is BIG-bench's emojis_emotion_prediction (vendored in tests/data/bigbench): the bundled MiniLM reads
every emoji as one unknown token, so stage 1 used to degenerate with only scikit-learn's ConvergenceWarning to show.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from promptci.files import subsetfile
from promptci.files.evalset import Item, Pool
from promptci.models.weakembed import distinct_vectors, weakness
from promptci.selection import StratifiedSelector
from promptci.selection.subsets import answer_strata

from .helpers import BIGBENCH, run_cli

PROMPT = """name: Emoji emotion
model: local/gemma-3-270m
messages:
  - role: user
    content: "Which emotion does this emoji show? {{input}}"
promptci:
  pool: ../eval_sets/emoji.jsonl
  labels: [anger, anticipation, disgust, fear, joy, sadness, surprise, trust]
"""


def repo_with(tmp_path: Path, rows: list[dict]) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "eval_sets").mkdir()
    (tmp_path / "prompts" / "emoji.prompt.yml").write_text(PROMPT)
    (tmp_path / "eval_sets" / "emoji.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def emoji_rows() -> list[dict]:
    task = json.loads((BIGBENCH / "emojis_emotion_prediction.json").read_text())
    return [
        {"id": f"emoji-{n:03d}", "input": e["input"], "expected": max(e["target_scores"], key=e["target_scores"].get)}
        for n, e in enumerate(task["examples"])
    ]


def assert_fallback(repo: Path, words: str) -> subsetfile.Subset:
    proc = run_cli("select", "prompts/emoji.prompt.yml", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("promptci: warning:")]
    assert len(warnings) == 1, proc.stderr
    assert "eval_sets/emoji.jsonl" in warnings[0] and words in warnings[0]
    assert "stratified by expected answer" in warnings[0] and "fix: set promptci.embedding_model" in warnings[0]
    assert "ConvergenceWarning" not in proc.stderr and "Traceback" not in proc.stderr
    subset = subsetfile.read(repo / "eval_sets" / "emoji.subset.yml")
    assert len(subset.ids) == 20 == len(set(subset.ids))
    assert all(e.why.startswith("fallback stratified by expected answer; weak embeddings: ") for e in subset.items)
    check = run_cli("select", "--check", "prompts/emoji.prompt.yml", cwd=repo)
    assert check.returncode == 0 and "ok:" in check.stdout, check.stdout + check.stderr  # the fallback replays
    return subset


def test_an_emoji_pool_falls_back_to_answer_strata_and_says_so(tmp_path: Path) -> None:
    rows = emoji_rows()
    subset = assert_fallback(repo_with(tmp_path, rows), "all-MiniLM-L6-v2 gives")
    answers = {r["id"]: r["expected"] for r in rows}
    chosen = [answers[i] for i in subset.ids]
    assert set(chosen) == set(answers.values())  # every answer is represented, as the strata promise
    # and the rest in proportion: joy, 47% of the pool, gets 1 + 47% of the other 12
    assert chosen.count("joy") == 7 == max(chosen.count(a) for a in set(chosen))


def test_identical_texts_fall_back_before_any_embedding_matters(tmp_path: Path) -> None:
    labels = ["joy", "sadness", "fear"]
    rows = [{"id": f"same-{n}", "input": "the same words", "expected": labels[n % 3]} for n in range(40)]
    assert_fallback(repo_with(tmp_path, rows), "only 1 distinct input texts among 40 items")


def test_weakness_counts_near_identical_vectors_as_one() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=64)
    near = base + rng.normal(scale=1e-3, size=(50, 64))
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    assert distinct_vectors(near, 20) == 1
    texts = [f"text {n}" for n in range(50)]
    assert "gives 1 distinct vector for 50 different input texts" in (weakness(texts, near, 20, "m") or "")
    spread = rng.normal(size=(50, 64))
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    assert distinct_vectors(spread, 20) == 20 and weakness(texts, spread, 20, "m") is None


def test_free_text_answers_fall_back_to_seeded_random() -> None:
    X = np.ones((30, 4), dtype=np.float32)
    first = StratifiedSelector(size=5, random_state=3, note="fallback at random (seeded); ").fit(X, None)
    again = StratifiedSelector(size=5, random_state=3).fit(X, None)
    assert len(set(first.selected_.tolist())) == 5 and first.selected_.tolist() == again.selected_.tolist()
    assert first.reasons_[0] == "fallback at random (seeded); drawn at random from the pool"
    answers = [f"answer {n}" for n in range(30)]  # every item its own answer: not labels, no strata
    items = tuple(Item(id=str(n), data={"expected": a}) for n, a in enumerate(answers))
    pool = Pool(source="t", path=None, items=items, sha256="x")
    assert answer_strata(pool, 5) is None
