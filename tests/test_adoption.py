"""A suggestion applied in the pull request (GitHub's one click on a review suggestion) is recognised on the next
run: the comment says it was adopted, and its answers come from the cache. On the mock model, in the fast tier."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from promptci.files import evalset, prresults, suggested
from promptci.github import suggestions
from promptci.models import local, mockllm
from promptci.promptfile import parse
from promptci.pullrequest import adoption
from promptci.rendering import render, suggestion as rendering

from .helpers import run_cli
from .test_flows import GOOD, git, repo  # noqa: F401 (the fixture)

# head adds a message after the input that names a label last: the mock answers "gamma" to every item, and the
# optimizer's "remove" edit empties that message, which the verdict shows better on held-out items
WORSE = 'content: "{{input}}"\n  - role: user\n    content: "If in doubt, say gamma."'
PATH = "prompts/sort.prompt.yml"


def apply(head: str, found: suggestions.Suggestion) -> str:
    """What GitHub's "Commit suggestion" does: the lines of the comment's suggestion block replace its lines."""
    body = found.body("").splitlines()[2:-1]  # the marker, then the fence, the block, the fence
    lines = head.splitlines()
    return "\n".join(lines[: found.start - 1] + body + lines[found.end :]) + "\n"


def commit(clone: Path, branch: str, start: str, text: str) -> None:
    git(clone, "checkout", "-qB", branch, start)
    (clone / PATH).write_text(text)
    git(clone, "commit", "-qam", branch)


def pr(clone: Path, out: Path, head: str, cache: Path, asked: list[str]) -> tuple[dict, str, str]:
    """`promptci pr` from main to `head`; the prompts the mock model was asked are appended to `asked`."""
    asked.clear()
    proc = run_cli(
        "pr", "--base", "main", "--head", head, "--repo", str(clone), "--out", str(out), "--no-refresh",
        env={"PROMPTCI_CACHE_DIR": str(cache)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    [prompt] = json.loads((out / "results.json").read_text())["prompts"]
    return prompt, (out / "report.md").read_text(), proc.stdout


def requests(text: str, items: Sequence[evalset.Item]) -> dict[str, str]:
    """The prompt text the mock receives for each item under the prompt file `text`."""
    prompt = parse(text, Path(PATH))
    return {i.id: local.join_messages(prompt.render(i.data)) for i in items}


def test_a_suggestion_committed_with_one_click_is_adopted_and_answered_from_the_cache(
    repo: Path,  # noqa: F811 (the fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    scores = mockllm.label_scores

    def heard(prompt: str, labels: Sequence[str]) -> list[float]:
        asked.append(prompt)
        return scores(prompt, labels)

    monkeypatch.setattr(mockllm, "label_scores", heard)
    cache = tmp_path / "cache"
    pool = evalset.load_pool(parse((repo / PATH).read_text(), repo / PATH)).items
    main = (repo / PATH).read_text()
    commit(repo, "worse", "main", main.replace(GOOD, WORSE))

    first, report, _ = pr(repo, tmp_path / "run1", "worse", cache, asked)
    verdict = first["optimizer"]["verdict"]
    assert first["verdict"]["status"] == "fail" and verdict["status"] == "better", verdict
    assert first["adopted"] is None and "adopted" not in report
    best, change = first["optimizer"]["best_text"], first["change"]
    head = (repo / PATH).read_text()
    [found] = suggestions.on_head(change["old_text"], change["new_text"], head, best)  # the review suggestion
    applied = apply(head, found)
    scored = {i for i, text in requests(best, pool).items() if text in asked}  # run 1 asked the model these
    assert len(scored) >= 20  # the subset, the judged items and the held-out items the verdict scored

    commit(repo, "adopted", "worse", applied)
    second, report, terminal = pr(repo, tmp_path / "run2", "adopted", cache, asked)
    sha = git(repo, "rev-parse", "worse").strip()
    said = f"head is the suggestion of commit {sha[:12]}: adopted"
    assert said in report and said in terminal
    again = scored & set(second["head"])
    assert len(again) >= 12  # run 2 scored head on the committed subset at least, all of it scored in run 1
    committed = requests(applied, pool)
    assert not [i for i in again if committed[i] in asked]  # no model call for an item run 1 scored
    assert second["adopted"] == {"run": "", "commit": sha, "items": len(again), "cached": len(again)}
    assert f"({len(again)} of its answers on the {len(again)} items that run scored came from the cache)" in terminal

    described = applied.replace("name: Sorter\n", "name: Sorter\ndescription: the suggestion, with a note\n")
    commit(repo, "described", "adopted", described)  # a field no request carries: still the suggestion scored
    third, report, _ = pr(repo, tmp_path / "run3", "described", cache, asked)
    assert third["adopted"] is not None and "adopted" in report

    edited = applied.replace("Put each message in one folder.", "Put each message in a folder.")
    commit(repo, "edited", "adopted", edited)  # the suggestion, then edited by hand: another prompt
    fourth, report, terminal = pr(repo, tmp_path / "run4", "edited", cache, asked)
    assert fourth["adopted"] is None and "adopted" not in report + terminal
    hand = requests(edited, pool)
    assert all(hand[i] in asked for i in scored & set(fourth["head"]))  # nothing to reuse: each one a call


def test_the_record_is_bounded_and_a_malformed_one_is_set_aside_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "suggestions.json"
    assert suggested.load(path) == (suggested.Record(), "")
    made = suggested.Made(fingerprint="a" * 64, run="7", commit="b" * 40, items=["x"])
    record = suggested.Record()
    for n in range(suggested.DEPTH + 3):
        record = suggested.remember(record, "p.prompt.yml", made.model_copy(update={"fingerprint": f"{n:064x}"}))
    assert len(record.prompts["p.prompt.yml"]) == suggested.DEPTH
    again = suggested.remember(record, "p.prompt.yml", made.model_copy(update={"fingerprint": f"{3:064x}", "run": "9"}))
    assert again.prompts["p.prompt.yml"][0].run == "7"  # the run that first made it, whose suggestion was posted
    suggested.save(record, path)
    assert suggested.load(path) == (record, "")

    forged = {"format": suggested.FORMAT, "prompts": {"p": [{**made.model_dump(), "commit": "<img src=x>"}]}}
    for text in ("{", json.dumps(forged), json.dumps({"format": "other"})):
        path.write_text(text)
        loaded, note = suggested.load(path)
        assert loaded == suggested.Record() and str(path) in note and "set aside" in note
    path.write_bytes(b" " * (suggested.MAX_BYTES + 1))
    assert "byte limit" in suggested.load(path)[1]
    path.unlink()
    path.symlink_to("/dev/zero")  # endless: refused before it is read, as a pipe would be
    assert suggested.load(path)[0] == suggested.Record() and "not a record" in suggested.load(path)[1]


def test_the_fingerprint_is_what_the_requests_carry(tmp_path: Path) -> None:
    """Layout and fields no request carries leave it alone; a message's words, a parameter or the model change it."""
    text = (
        "name: N\nmodel: mockllm/model\nmessages:\n  - role: user\n    content: |\n      Sort {{input}}\n\n"
        "modelParameters:\n  max_tokens: 5\n"
    )
    key = adoption.fingerprint(parse(text, tmp_path / "p.prompt.yml"), mockllm.MODEL)
    same = (
        "# a comment\nname: Other\ndescription: d\nmodel: mockllm/model\n"
        'messages:\n- role: user\n  content: "Sort {{input}}\\n"\nmodelParameters: {max_tokens: 5}\n'
    )
    assert adoption.fingerprint(parse(same, tmp_path / "p.prompt.yml"), mockllm.MODEL) == key
    for other in (text.replace("Sort", "Order"), text.replace("max_tokens: 5", "max_tokens: 6")):
        assert adoption.fingerprint(parse(other, tmp_path / "p.prompt.yml"), mockllm.MODEL) != key
    assert adoption.fingerprint(parse(text, tmp_path / "p.prompt.yml"), "mockllm/other") != key
    assert suggested.Origin.of("12a", "XYZ") == suggested.Origin() and suggested.Origin.of("12", "AB12CD3").run == "12"


def test_a_review_suggestion_commits_the_prompt_that_was_judged_blank_lines_and_all(tmp_path: Path) -> None:
    """A new paragraph in a block scalar is suggested as lines that end with a blank line; that blank line is the
    prompt's own text, so the suggestion block keeps it and the committed file is the suggestion, request for
    request."""
    head = (
        "name: N\nmodel: mockllm/model\nmessages:\n  - role: system\n    content: |\n      First paragraph.\n\n"
        "      Last paragraph.\n  - role: user\n    content: '{{input}}'\n"
    )
    best = head.replace("First paragraph.\n\n", "First paragraph.\n\n      A new paragraph.\n\n")
    [found] = suggestions.on_head(head.replace("Last", "Final"), head, head, best)
    assert found.lines[-1] == "\n" and apply(head, found) == best
    path = tmp_path / "p.prompt.yml"
    assert adoption.fingerprint(parse(apply(head, found), path), mockllm.MODEL) == adoption.fingerprint(
        parse(best, path), mockllm.MODEL
    )


def test_the_comment_names_the_run_and_commit_and_a_forged_one_is_refused(demo_results: dict) -> None:
    said = rendering.adopted(suggested.Adopted(run="123", commit="ab" * 20, items=40, cached=38))
    assert said == (
        "head is the suggestion of run 123 / commit abababababab: adopted (38 of its answers on the 40 items that "
        "run scored came from the cache)"
    )
    data = copy.deepcopy(demo_results)
    data["prompts"][0]["adopted"] = {"run": "123", "commit": "ab" * 20, "items": 40, "cached": 38}
    assert "💡 head is the suggestion of run 123 / commit abababababab: adopted" in render.render(
        prresults.parse(data), name=render.SUMMARY
    )
    data["prompts"][0]["adopted"]["commit"] = "<img src=x onerror=alert(1)>"
    with pytest.raises(ValidationError):
        prresults.parse(data)
