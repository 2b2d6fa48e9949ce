"""Pools: JSONL and testData, ids, and every kind of bad pool; importers on real BIG-bench files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptci import importers, promptfile
from promptci.errors import InputError
from promptci.files import evalset

from .helpers import BIGBENCH, EXAMPLE

PROMPT = """\
name: t
model: local/gemma-3-270m
messages:
  - role: user
    content: "Q: {{question}}\\nA:"
promptci:
  pool: pool.jsonl
"""


def prompt_with_pool(tmp_path: Path, lines: list[str] | bytes, prompt: str = PROMPT) -> promptfile.PromptFile:
    pool = tmp_path / "pool.jsonl"
    if isinstance(lines, bytes):
        pool.write_bytes(lines)
    else:
        pool.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    path = tmp_path / "t.prompt.yml"
    path.write_text(prompt, encoding="utf-8")
    return promptfile.load(path)


def pool_error(tmp_path: Path, lines: list[str] | bytes, prompt: str = PROMPT) -> str:
    with pytest.raises(InputError) as info:
        evalset.load_pool(prompt_with_pool(tmp_path, lines, prompt))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_jsonl_pool_with_and_without_ids(tmp_path: Path) -> None:
    pool = evalset.load_pool(
        prompt_with_pool(
            tmp_path,
            [
                '{"id": "a", "question": "2+2", "expected": "4"}',
                "",
                '{"question": "3+3", "expected": "6"}',
            ],
        )
    )
    assert pool.items[0].id == "a"
    hashed = pool.items[1].id
    assert len(hashed) == evalset.ID_LENGTH and hashed == evalset.content_id({"question": "3+3", "expected": "6"})
    assert pool.items[1].expected == "6" and pool.source == "pool.jsonl" and len(pool.sha256) == 64


def test_content_ids_are_stable_and_content_sensitive() -> None:
    a = evalset.content_id({"question": "x", "expected": "y"})
    assert a == evalset.content_id({"expected": "y", "question": "x"})
    assert a != evalset.content_id({"question": "x", "expected": "z"})


def test_test_data_is_the_fallback_pool(tmp_path: Path) -> None:
    path = tmp_path / "t.prompt.yml"
    path.write_text(PROMPT.replace("promptci:\n  pool: pool.jsonl\n", "testData:\n  - question: a\n    expected: b\n"))
    pool = evalset.load_pool(promptfile.load(path))
    assert pool.source == "testData" and pool.path is None and len(pool) == 1


@pytest.mark.parametrize(
    "lines, words",
    [
        (['{"id": "a", "question": "q"}', '{"id": "a", "question": "r"}'], "duplicate id 'a' (line 2 repeats line 1)"),
        (['{"question": "q"}', '{"question": "q"}'], "duplicate id"),
        (['{"question": "q"}', "not json"], ":2: invalid JSON"),
        (['["a list"]'], "line 1 is not a JSON object"),
        (['{"id": "", "question": "q"}'], "'id' must be a non-empty string"),
        ([], "pool is empty"),
    ],
)
def test_bad_pools(tmp_path: Path, lines: list[str], words: str) -> None:
    assert words in pool_error(tmp_path, lines)


def test_missing_and_non_utf8_pools(tmp_path: Path) -> None:
    message = pool_error(tmp_path, '{"question": "caf\xe9"}\n'.encode("latin-1"))
    assert "pool.jsonl:1: pool is not UTF-8" in message
    (tmp_path / "t.prompt.yml").write_text(PROMPT.replace("pool.jsonl", "missing.jsonl"))
    with pytest.raises(InputError, match=r"missing.jsonl: promptci.pool: pool file not found"):
        evalset.load_pool(promptfile.load(tmp_path / "t.prompt.yml"))


def test_no_items_at_all(tmp_path: Path) -> None:
    """gh reports 0/0 and exits 0 for a file without testData; promptci says "not gated" (docs/github-models.md)."""
    path = tmp_path / "t.prompt.yml"
    for tail in ("", "testData: []\n", "testData:\n"):
        path.write_text(PROMPT.replace("promptci:\n  pool: pool.jsonl\n", tail))
        with pytest.raises(evalset.NoItems, match="not gated: no items") as info:
            evalset.load_pool(promptfile.load(path))
        assert info.value.exit_code == 0 and "add testData" in str(info.value)


def test_placeholder_some_items_lack_is_a_warning_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gh sends a placeholder a row cannot fill as text; promptci does the same and says which rows
    (docs/github-models.md)."""
    pool = evalset.load_pool(prompt_with_pool(tmp_path, ['{"id": "a", "other": "q"}', '{"id": "b", "question": "r"}']))
    assert "placeholder {{question}} is not filled for item 'a' of pool pool.jsonl" in capsys.readouterr().err
    assert pool.items[0].id == "a" and pool.items[0].data == {"other": "q"}
    evalset.load_pool(prompt_with_pool(tmp_path, ['{"id": "a", "other": "q"}']))  # no item fills it: plain text
    assert capsys.readouterr().err == ""


def test_test_data_rows_are_read_as_gh_reads_them(tmp_path: Path) -> None:
    """A row's own `id` is a variable like any other key, and a repeated row is a second item, as in gh
    (docs/github-models.md)."""
    path = tmp_path / "t.prompt.yml"
    rows = "testData:\n  - {id: 7, question: a}\n  - {id: 7, question: a}\n  - {question: b}\n  - {question: b}\n"
    path.write_text(PROMPT.replace("promptci:\n  pool: pool.jsonl\n", rows))
    prompt = promptfile.load(path)
    pool = evalset.load_pool(prompt)
    hashed = evalset.content_id({"question": "b"})
    assert [i.id for i in pool.items] == ["7", "7~2", hashed, f"{hashed}~2"]
    assert pool.items[0].data == {"id": 7, "question": "a"}
    path.write_text(
        PROMPT.replace(
            "promptci:\n  pool: pool.jsonl\n",
            "testData:\n  - {id: '', question: a, when: 2024-01-02}\n  - {id: [x], question: b}\n",
        )
    )
    pool = evalset.load_pool(promptfile.load(path))  # ids gh would not mind, and a YAML date, all load
    assert [item.data["id"] for item in pool.items] == ["", ["x"]] and len({item.id for item in pool.items}) == 2


def test_per_item_labels_must_exist(tmp_path: Path) -> None:
    prompt = PROMPT + "  labels: choices\n"
    ok = evalset.load_pool(
        prompt_with_pool(tmp_path, ['{"question": "q", "choices": ["a", "b"], "expected": "a"}'], prompt)
    )
    assert evalset.item_labels("choices", ok.items[0]) == ["a", "b"]
    assert "no list of at least two string options in field 'choices'" in pool_error(
        tmp_path, ['{"question": "q", "expected": "a"}'], prompt
    )


def test_bundled_pool_is_the_whole_bigbench_task() -> None:
    pool = evalset.load_pool(promptfile.load(EXAMPLE))
    task = json.loads((BIGBENCH / "intent_recognition.json").read_text())
    assert len(pool) == len(task["examples"]) == 693
    labels = promptfile.load(EXAMPLE).settings.labels
    assert isinstance(labels, list)
    assert {i.expected for i in pool.items} == set(labels)


def test_import_bigbench_fixed_label_set(tmp_path: Path) -> None:
    out = tmp_path / "intent.jsonl"
    report = importers.import_bigbench(BIGBENCH / "intent_recognition.json", out)
    assert report.count == 693 and report.labels and len(report.labels) == 7 and not report.per_item_labels
    first = json.loads(out.read_text().splitlines()[0])
    assert first["expected"] == "add_to_playlist" and "choices" not in first
    assert "labels: [" in report.settings_snippet()
    # the committed example pool is exactly what the importer writes
    assert out.read_bytes() == (EXAMPLE.parent.parent / "eval_sets" / "intent_recognition.jsonl").read_bytes()


def test_import_bigbench_per_item_options(tmp_path: Path) -> None:
    out = tmp_path / "ruin.jsonl"
    report = importers.import_bigbench(BIGBENCH / "ruin_names.json", out)
    assert report.labels is None and report.per_item_labels
    row = json.loads(out.read_text().splitlines()[0])
    assert row["expected"] in row["choices"] and len(row["choices"]) >= 2
    assert "labels: choices" in report.settings_snippet()


def test_import_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"examples": [{"input": "x"}]}')
    with pytest.raises(InputError, match="neither 'target_scores' nor 'target'"):
        importers.import_bigbench(bad, tmp_path / "o.jsonl")
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad.json:1: invalid JSON"):
        importers.import_bigbench(bad, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_import_csv(tmp_path: Path) -> None:
    src = tmp_path / "items.csv"
    src.write_text('question,expected\n"2+2, please",4\n3+3,6\n', encoding="utf-8")
    report = importers.import_csv(src, tmp_path / "o.jsonl", labels=["4", "6"])
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert report.count == 2 and rows[0]["question"] == "2+2, please" and rows[0]["id"]
    src.write_text("question,answer\nq,a\n")
    with pytest.raises(InputError, match="no 'expected' column"):
        importers.import_csv(src, tmp_path / "p.jsonl")


LABELLED = PROMPT + "  labels: [yes, no]\n"


def test_expected_values_outside_the_label_set_are_named(tmp_path: Path) -> None:
    """An item expecting 'maybe' under labels [yes, no] could never be scored right, and nobody was told."""
    lines = [
        '{"id": "a", "question": "q", "expected": "yes"}',
        '{"id": "b", "question": "q", "expected": "maybe"}',
        '{"id": "c", "question": "q", "expected": " No"}',
        '{"id": "d", "question": "q", "expected": "nope"}',
    ]
    message = pool_error(tmp_path, lines, LABELLED)
    assert "pool.jsonl: expected: expected label not in promptci.labels for 2 of 4 items" in message
    assert "'b' ('maybe')" in message and "'d' ('nope')" in message and "'c'" not in message
    per_item = PROMPT + "  labels: choices\n"
    message = pool_error(tmp_path, ['{"id": "x", "question": "q", "choices": ["a", "b"], "expected": "c"}'], per_item)
    assert "expected label not in its field 'choices' for 1 of 1 items: 'x' ('c')" in message
    pool = evalset.load_pool(prompt_with_pool(tmp_path, lines[:1] + lines[2:3], LABELLED))
    assert len(pool) == 2  # a label match ignores case and surrounding space, so ' No' is the label 'no'


def test_per_item_options_that_differ_only_by_case_are_refused(tmp_path: Path) -> None:
    message = pool_error(
        tmp_path,
        ['{"id": "x", "question": "q", "choices": ["Yes", "yes "], "expected": "Yes"}'],
        PROMPT + "  labels: choices\n",
    )
    assert "item 'x' field 'choices'" in message and "differ only by case or surrounding space" in message


def test_a_jsonl_line_with_unicode_line_separators_inside_strings_is_one_item(tmp_path: Path) -> None:
    """str.splitlines() also splits on U+2028, U+2029 and U+0085, which JSON allows raw inside strings."""
    texts = ["a\u2028b", "c\u2029d", "e\x85f"]
    lines = [json.dumps({"question": text, "expected": "x"}, ensure_ascii=False) for text in texts]
    pool = evalset.load_pool(prompt_with_pool(tmp_path, lines))
    assert [item.data["question"] for item in pool.items] == texts
    assert "pool.jsonl:3: invalid JSON" in pool_error(tmp_path, lines[:2] + ["{oops"])


def test_import_csv_keeps_line_breaks_inside_quoted_cells(tmp_path: Path) -> None:
    src = tmp_path / "items.csv"
    src.write_bytes(b'question,expected\r\n"first line\r\nsecond line",a\r\n"one\ntwo\n\nthree",b\r\nplain,a\r\n')
    report = importers.import_csv(src, tmp_path / "o.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().split("\n") if line]
    assert report.count == 3
    assert [r["question"] for r in rows] == ["first line\r\nsecond line", "one\ntwo\n\nthree", "plain"]
    src.write_bytes(b'question,expected\n"multi\nline",a\nq,a,extra\n')
    with pytest.raises(InputError, match=r"items.csv:4: row has more cells than the header"):
        importers.import_csv(src, tmp_path / "p.jsonl")


def test_import_csv_checks_the_label_set(tmp_path: Path) -> None:
    src = tmp_path / "items.csv"
    src.write_text("question,expected\nq1,yes\nq2,maybe\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"expected: expected label not in --labels for 1 of 2 rows: row 2 \('maybe'\)"
    ):
        importers.import_csv(src, tmp_path / "o.jsonl", labels=["yes", "no"])
    with pytest.raises(InputError, match="--labels: labels must be distinct: 'yes' and 'Yes'"):
        importers.import_csv(src, tmp_path / "o.jsonl", labels=["yes", "Yes", "maybe"])
    assert not (tmp_path / "o.jsonl").exists()
