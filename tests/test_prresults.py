"""The pull-request results (`promptci.pr/1`) as data: what the report shows of each item, how a file
is checked before anything is rendered or gated from it, and how shards are merged."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from promptci.rendering import render
from promptci.rendering.escape import ZERO_WIDTH_SPACE

from .helpers import run_cli

MD = MarkdownIt("commonmark").enable("table")
ALLOWED_HTML = re.compile(r"^(<!-- promptci:report -->|</?details>|<details><summary>.*|</summary>|</?sub>.*)$", re.S)
HOSTILE = "<img src=x onerror=alert(1)> `x` ``` | a | b | @octo-org/admins\n\n# heading </details> <!--"


def _item(item_id: str, score: float, output: str = "yes", expected: Any = "yes") -> dict[str, Any]:
    return {
        "id": item_id,
        "output": output,
        "expected": expected,
        "score": score,
        "evaluations": [],
        "label_probs": None,
        "label_method": None,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cost_usd": 0.0,
        "latency_s": 0.1,
        "cached": False,
        "error": None,
        "error_kind": None,
    }


def results(text: str = "plain", *, n: int = 4, flips: int = 2, prefix: str = "item") -> dict[str, Any]:
    """A small but complete results file: `n` items, base right on all, head wrong on the first `flips`."""
    ids = [f"{prefix}-{k}" for k in range(n)]
    base = {i: _item(i, 1.0) for i in ids}
    head = {i: _item(i, 0.0 if k < flips else 1.0, output="no" if k < flips else "yes") for k, i in enumerate(ids)}
    texts = {i: f"{text} {i}" for i in [*ids, f"{prefix}-new"]}
    prompt = {
        "path": "prompts/a.prompt.yml",
        "change": {
            "status": "modified",
            "old_path": "prompts/a.prompt.yml",
            "new_path": "prompts/a.prompt.yml",
            "old_text": "a: 1\n",
            "new_text": "a: 2\n",
            "reason": "the prompt file changed",
        },
        "model": "local/gemma",
        "seed": 0,
        "hashes": {"head": "ab" * 32, "base": "cd" * 32, "pool": "ef" * 32},
        "error": None,
        "timings": {"decide": 0.1},
        "gate": {
            "min_score": None,
            "margin": 0.03,
            "significance": 0.05,
            "max_items": 160,
            "on_inconclusive": "neutral",
        },
        "verdict": {"status": "pass", "reason": "whatever the file says"},
        "comparison": None,
        "scores": {"base": 1.0, "head": 1 - flips / n},
        "items": ids,
        "subset_items": n,
        "subset_note": "committed",
        "texts": texts,
        "subset": {
            "path": "eval_sets/a.subset.yml",
            "changed": True,
            "text": "items: []\n",
            "patch": "",
            "replacements": [{"removed": ids[-1], "added": f"{prefix}-new", "why": "redundant"}],
        },
        "base": base,
        "head": head,
        "optimizer": None,
    }
    return {
        "format": "promptci.pr/1",
        "verdict": {"status": "pass", "reason": "1 prompt passed the gate"},
        "usage": {
            "calls": 8,
            "cache_hits": 0,
            "prompt_tokens": 8,
            "completion_tokens": 8,
            "cost_usd": 0.0,
            "wall_s": 1.0,
            "budget": "no budget",
        },
        "prompts": [prompt],
    }


def _html(markdown: str) -> list[str]:
    tokens = [t for block in MD.parse(markdown) for t in [block, *(block.children or [])]]
    return [t.content.strip() for t in tokens if t.type in ("html_inline", "html_block")]


def test_a_graded_item_flips_where_it_crosses_the_pass_line_and_shows_its_scores() -> None:
    data = results(n=4, flips=0)
    prompt = data["prompts"][0]
    for item_id, (b, h) in zip(prompt["items"], [(0.6, 0.7), (0.6, 0.3), (0.2, 0.9), (1.0, 1.0)]):
        prompt["base"][item_id]["score"], prompt["head"][item_id]["score"] = b, h
    comment = render.render(data)
    flipped = comment.split("Items that flipped (2)", 1)[1].split("</details>", 1)[0]
    assert "`yes (score 0.60)` | `yes (score 0.30)` ⬇️" in flipped and "(score 0.90)` ⬆️" in flipped
    assert "item-0" not in flipped  # 0.6 to 0.7 moved, but passes on both sides


def test_flipped_items_and_swapped_subset_items_show_their_input_text_escaped() -> None:
    data = results(HOSTILE)
    comment = render.render(data)
    flipped = comment.split("Items that flipped", 1)[1].split("</details>", 1)[0]
    rows = [line for line in flipped.splitlines() if line.startswith("| `item-")]
    assert len(rows) == 2  # one table row per flipped item: the newlines and pipes did not break the table
    for row in rows:
        assert "onerror" in row and "\\`x\\`" in row and "\\|" in row and "@" + ZERO_WIDTH_SPACE + "octo" in row
    cells = MD.parse(flipped)
    assert sum(1 for t in cells if t.type == "tr_open") == 3  # the header and the two flipped items
    refreshed = comment.split("items replaced (IPOMP stage 2)", 1)[1]
    assert "removed `item-3`" in refreshed and "added `item-new`" in refreshed
    assert refreshed.count("onerror") == 2  # both texts, escaped
    assert all(ALLOWED_HTML.match(h) for h in _html(comment)), _html(comment)
    assert "@octo-org" not in re.sub(r"<code[^>]*>.*?</code>", "", MD.render(comment), flags=re.S)
    terminal = render.render(data, name=render.TERMINAL)
    assert terminal.count("<img src=x onerror=alert(1)> `x`") == 4  # 2 flipped, removed, added: one line each
    summary = render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT)
    assert summary.count("onerror") >= 4 + 2 + 2  # every item compared, and the comment's flips and swaps


def test_report_renders_the_item_texts_from_the_results_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results("Is the flight to Paris on time?")))
    proc = run_cli("report", str(path), "--format", "terminal")
    assert "item-0  Is the flight to Paris on time? item-0" in proc.stdout, proc.stdout + proc.stderr


def _write(tmp_path: Path, data: dict[str, Any], name: str = "results.json") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _broken(change) -> dict[str, Any]:
    data = results()
    change(data)
    return data


BROKEN = {  # what is wrong -> the field the error names
    "an unknown key": (lambda d: d["prompts"][0].update(extra=1), "prompts.0.extra"),
    "a score that is a string": (
        lambda d: d["prompts"][0]["head"]["item-0"].update(score="1"),
        "prompts.0.head.item-0.score",
    ),
    "a score above 1": (lambda d: d["prompts"][0]["head"]["item-0"].update(score=1.5), "prompts.0.head.item-0.score"),
    "negative calls": (lambda d: d["usage"].update(calls=-1), "usage.calls"),
    "a status outside the enum": (
        lambda d: d["prompts"][0]["change"].update(status="<b>x</b>"),
        "prompts.0.change.status",
    ),
    "a comparison method outside the enum": (
        lambda d: d["prompts"][0].update(
            comparison={
                "n": 1,
                "base_mean": 1,
                "head_mean": 1,
                "delta": 0,
                "low": 0,
                "high": 0,
                "p_value": 1,
                "method": "<i>",
                "improved": 0,
                "regressed": 0,
            }
        ),
        "prompts.0.comparison.method",
    ),
    "a seed that is not a number": (lambda d: d["prompts"][0].update(seed="@octo-org"), "prompts.0.seed"),
    "an item compared without a score": (lambda d: d["prompts"][0]["head"].pop("item-1"), "prompts.0"),
    "a hash that is not hex": (lambda d: d["prompts"][0]["hashes"].update(head="</details>"), "prompts.0.hashes.head"),
    "infinite cost": (lambda d: d["usage"].update(cost_usd=float("inf")), "usage.cost_usd"),
}


def test_report_checks_the_results_file_strictly_and_names_the_field(tmp_path: Path) -> None:
    for n, (what, (change, field)) in enumerate(BROKEN.items()):
        path = _write(tmp_path, _broken(change), f"{n}/results.json")
        proc = run_cli("report", str(path))
        assert proc.returncode == 2 and not proc.stdout, (what, proc.stderr)
        assert f"results.json: {field}: the results file is invalid" in proc.stderr, (what, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (what, proc.stderr)


def test_report_recomputes_every_verdict_from_the_scores_and_never_trusts_the_file(tmp_path: Path) -> None:
    data = results(n=20, flips=10)  # head loses 10 of 20 items base gets right: significantly worse
    data["prompts"][0]["scores"] = {"base": 0.1, "head": 0.9}  # and the file claims otherwise everywhere
    data["prompts"][0]["comparison"] = {
        "n": 20,
        "base_mean": 0.1,
        "head_mean": 0.9,
        "delta": 0.8,
        "low": 0.7,
        "high": 0.9,
        "p_value": 0.001,
        "method": "mcnemar",
        "improved": 16,
        "regressed": 0,
    }
    proc = run_cli("report", str(_write(tmp_path, data)), "--format", "terminal")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the gate fails, whatever the file said
    assert "promptci: FAIL - 1 of 1 prompts failed the gate" in proc.stdout
    assert "base 1.000  head 0.500  delta -0.500" in proc.stdout
    assert "head is worse than base by more than 3 points (95% confidence, 20 items, base's scores from this run)" in (
        proc.stdout
    )
    assert "whatever the file says" not in proc.stdout
    data["prompts"][0]["gate"]["min_score"] = 0.9  # a new prompt: only the minimum applies
    data["prompts"][0]["hashes"].pop("base")
    data["prompts"][0]["base"] = {}
    proc = run_cli("report", str(_write(tmp_path, data)), "--format", "terminal")
    assert proc.returncode == 1 and "new prompt: head scores 0.500 on the pool (from 20 items" in proc.stdout
    assert "below the minimum 0.9 (95% confidence)" in proc.stdout, proc.stdout
    data["prompts"][0]["gate"]["min_score"] = 0.1  # shown above it (anytime bound), not merely estimated above it
    proc = run_cli("report", str(_write(tmp_path, data)), "--format", "terminal")
    assert proc.returncode == 0 and "PASS - 1 prompt passed the gate" in proc.stdout, proc.stdout
    data["prompts"][0]["gate"]["min_score"] = 0.5  # an estimate at the minimum shows nothing either way
    proc = run_cli("report", str(_write(tmp_path, data)), "--format", "terminal")
    assert proc.returncode == 0 and "INCONCLUSIVE" in proc.stdout, proc.stdout


def test_autolinks_in_every_string_field_are_defused_in_the_comment_and_the_summary() -> None:
    """GitHub links plain URLs, `www.` names, e-mail addresses, @mentions and #123/GH-123 references in a comment's
    text: a link in a flipped item's text would be a phishing link under the bot's name. Code spans and blocks are
    never autolinked; everywhere else a zero-width space breaks each."""
    links = (
        "see https://evil.example/login www.evil.example _www.evil.example mail root@evil.example @octocat #123 "
        "GH-45 x/y#6"
    )
    data, _ = _hostile_everywhere(results(links), hostile=links)
    for name in (render.COMMENT, render.SUMMARY):
        text = re.sub(
            r"<(code|pre)[^>]*>.*?</\1>",
            "",
            MD.render(render.render(data, name=name, limit=render.SUMMARY_LIMIT)),
            flags=re.S,
        )
        assert "evil" in text and "123" in text  # the text is shown, as it reads
        for autolink in (r"(?i)\b[a-z]+://", r"(?i)www\.", r"[\w.+-]@[\w-]", r"@octocat", r"#\d", r"(?i)\bGH-\d"):
            assert not re.search(autolink, text), (autolink, re.search(autolink, text))


def _hostile_everywhere(data: Any, path: tuple = (), hostile: str = HOSTILE) -> tuple[Any, list[str]]:
    """Every string in the results made hostile where the model accepts it; the fields that refuse one."""
    from pydantic import ValidationError

    from promptci.files import prresults

    refused: list[str] = []

    def walk(node: Any, where: tuple) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, (dict, list)):
                walk(value, (*where, key))
            elif isinstance(value, str) or value is None:
                node[key] = f"{hostile} {value}"
                try:
                    prresults.parse(data)
                except ValidationError:
                    node[key] = value
                    if value is not None:  # a None that cannot become text is a number or an object
                        refused.append(".".join(map(str, (*where, key))))

    walk(data, path)
    return data, refused


def test_every_string_field_of_the_results_renders_escaped() -> None:
    data = results(HOSTILE, prefix=HOSTILE.replace("\n", " "))
    p = data["prompts"][0]
    p["optimizer"] = {
        "improved": True,
        "stopped": "x",
        "steps_done": 1,
        "subset_score": {"head": 0.5, "best": 0.75},
        "score_after_step": [0.5, 0.75],
        "best_text": "x",
        "diff": "+x",
        "attempts": [
            {
                "step": 1,
                "unit": 0,
                "kind": "instruction",
                "before": "x",
                "after": "y",
                "failure_score": 0.5,
                "subset_score": 0.75,
                "accepted": True,
                "why": "x",
            }
        ],
    }
    for result in p["head"].values():
        result.update(evaluations=[{"name": "x", "score": 1.0, "reason": "x"}], error="x", expected={"k": "x"})
    data["pull_request"] = {"number": 1, "head_sha": "a" * 40}
    data, refused = _hostile_everywhere(data)
    # only fields with a fixed vocabulary or shape refuse text: enums, hashes; an item's id must match its key
    # (the keys, the item ids, are hostile already)
    assert {r.rsplit(".", 1)[-1] for r in refused} <= {
        "format",
        "status",
        "kind",
        "label_method",
        "error_kind",
        "head",
        "base",
        "pool",
        "head_sha",
        "id",
        "on_inconclusive",
    }, refused
    assert "prompts.0.change.status" in refused and "prompts.0.hashes.head" in refused
    for name in (render.COMMENT, render.SUMMARY):
        text = render.render(data, name=name, limit=render.SUMMARY_LIMIT)
        html = _html(text)
        assert all(ALLOWED_HTML.match(h) for h in html), html
        assert sum(1 for h in html if h.startswith("<details>")) == sum(1 for h in html if h == "</details>") > 0
        assert "@octo-org" not in re.sub(r"<code[^>]*>.*?</code>", "", MD.render(text), flags=re.S)
        assert "@" + ZERO_WIDTH_SPACE + "octo-org" in text


def test_a_comment_from_an_uploaded_artifact_says_its_scores_are_untrusted(tmp_path: Path) -> None:
    from promptci.files import prresults
    from promptci.github import publish
    from promptci.github.actions import Actions, PullRequest

    def actions(event: str) -> Actions:
        pr = PullRequest(
            number=1, repo="o/r", head_sha="a" * 40, head_ref="x", head_repo="o/r", base_ref="", base_sha=""
        )
        return Actions(
            api_url="",
            server_url="",
            repository="o/r",
            run_id="1",
            token="",
            event_name=event,
            output_path=tmp_path / "output",
            summary_path=tmp_path / f"{event}.md",
            pr=pr,
        )

    data = prresults.recompute(prresults.parse(results()))
    with open(tmp_path / "log", "w") as log:
        for event in ("workflow_run", "pull_request"):
            publish.publish(
                data,
                actions(event),
                None,
                repo_dir=str(tmp_path),
                out_dir=tmp_path,
                settings=publish.PublishSettings(),
                stdout=log,
            )
    assert "come from an untrusted run" in (tmp_path / "workflow_run.md").read_text()
    assert "untrusted" not in (tmp_path / "pull_request.md").read_text()
    assert publish.commit_refusal(actions("workflow_run")) and publish.commit_refusal(actions("pull_request_target"))
    assert not publish.commit_refusal(actions("pull_request"))
    fork = actions("pull_request")
    fork = Actions(**{**fork.__dict__, "pr": PullRequest(**{**fork.pr.__dict__, "head_repo": "mallory/r"})})
    assert "not in this repository" in publish.commit_refusal(fork)


def _shard(tmp_path: Path, shard: str, plan: dict[str, list[str]], path: str) -> Path:
    data = results(n=20, flips=10)  # a clear failure
    data["prompts"][0]["path"] = path
    data.update(shard=shard, plan=plan)
    return _write(tmp_path, data, f"shard-{shard}/results.json").parent


def test_a_missing_or_foreign_shard_fails_the_merge_naming_it(tmp_path: Path) -> None:
    plan = {"1": ["prompts/a.prompt.yml"], "2": ["prompts/b.prompt.yml"], "3": ["prompts/c.prompt.yml"]}
    one, two = (_shard(tmp_path, s, plan, plan[s][0]) for s in ("1", "2"))
    proc = run_cli("report", str(one), "--format", "terminal")
    assert proc.returncode == 3 and not proc.stdout, proc.stderr
    assert "no results from shards 2, 3 of 3 planned" in proc.stderr
    assert "prompts not gated: prompts/b.prompt.yml prompts/c.prompt.yml" in proc.stderr
    matrix = _write(
        tmp_path,
        {
            "include": [
                {"shard": "1", "prompts": "prompts/a.prompt.yml", "items": 4},
                {"shard": "2", "prompts": "prompts/b.prompt.yml", "items": 4},
            ]
        },
        "plan.json",
    )
    proc = run_cli("report", str(one), str(two), "--plan", str(matrix), "--format", "terminal")
    assert proc.returncode == 2 and "shard 1 was cut from another plan" in proc.stderr  # the plan job's plan rules
    two_only = {k: plan[k] for k in ("1", "2")}
    one, two = (_shard(tmp_path / "ok", s, two_only, plan[s][0]) for s in ("1", "2"))
    proc = run_cli("report", str(one), str(two), "--plan", str(matrix), "--format", "terminal")
    assert proc.returncode == 1 and "prompts/b.prompt.yml" in proc.stdout, proc.stderr
    proc = run_cli("report", str(one), str(one), "--format", "terminal")
    assert proc.returncode == 2 and "shard 1 appears twice" in proc.stderr
    lone = _write(tmp_path, results(), "lone/results.json")
    proc = run_cli("report", str(one), str(two), str(lone), "--format", "terminal")
    assert proc.returncode == 2 and "not the results of a shard, merged with shards" in proc.stderr
    wrong = _shard(tmp_path / "wrong", "2", two_only, "prompts/z.prompt.yml")
    proc = run_cli("report", str(one), str(wrong), "--format", "terminal")
    assert proc.returncode == 2 and "shard 2 gated other prompts than planned" in proc.stderr


def test_pull_request_target_is_refused_with_the_reason(tmp_path: Path) -> None:
    side = {"ref": "main", "sha": "a" * 40, "repo": {"full_name": "octo/repo"}}
    event = _write(tmp_path, {"pull_request": {"number": 1, "head": side, "base": side}}, "event.json")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request_target",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": "ghs_write",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    proc = run_cli("report", str(_write(tmp_path, results())), "--github", env=env)
    assert proc.returncode == 2 and "does not run on pull_request_target" in proc.stderr, proc.stderr
    assert "secrets and a write token" in proc.stderr and not (tmp_path / "summary.md").exists()


def test_secrets_are_masked_before_a_message_is_cut(monkeypatch) -> None:
    from promptci.errors import redact
    from promptci.models.llm import _describe

    key = "sk-live-0123456789abcdefghijklmnopqrstuvwxyz"
    for name in ("OPENAI_API_KEY", "DATABASE_PASSWD", "MY_SERVICE_PRIVATE", "GH_PAT"):
        monkeypatch.setenv(name, key)
        message = _describe(RuntimeError("x" * 290 + key + " tail"))  # the cut at 300 falls inside the key
        assert key[:8] not in message and message.endswith("*** tail"), (name, message)
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOME_API_TOKEN", key)
    assert redact("y" * 195 + key, limit=200) == "y" * 195 + "***"


def test_a_missing_shard_fails_the_merge_job_even_for_a_fork(tmp_path: Path) -> None:
    plan = {"1": ["prompts/a.prompt.yml"], "2": ["prompts/b.prompt.yml"]}
    one = _shard(tmp_path, "1", plan, plan["1"][0])
    head = {"ref": "x", "sha": "a" * 40, "repo": {"full_name": "mallory/repo"}}  # a fork: neutral for a model fault
    base = {"ref": "main", "sha": "b" * 40, "repo": {"full_name": "octo/repo"}}
    event = _write(tmp_path, {"pull_request": {"number": 1, "head": head, "base": base}}, "event.json")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": "ghs_read_only",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    proc = run_cli("report", str(one), "--github", env=env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "no results from shard 2 of 2 planned" in (tmp_path / "summary.md").read_text()
    assert "verdict<<" in (tmp_path / "output").read_text() and "error" in (tmp_path / "output").read_text()


def test_an_uploaded_artifact_is_judged_by_the_base_gate_not_its_own() -> None:
    from promptci.files import prresults
    from promptci.files.settings import GateSettings

    data = results(n=20, flips=10)  # head 10 of 20 items worse
    data["prompts"][0]["gate"] = {
        "min_score": None,
        "margin": 1.0,
        "significance": 0.5,
        "max_items": 20,
        "on_inconclusive": "pass",
    }  # the artifact's own: anything passes
    loose = prresults.recompute(prresults.parse(data))
    assert loose.verdict.status == "pass"
    strict = prresults.regate(prresults.parse(data), {"prompts/a.prompt.yml": GateSettings(min_score=0.9)})
    gated, verdict = strict.prompts[0].gate, strict.prompts[0].verdict
    assert gated is not None and gated.min_score == 0.9 and strict.verdict.status == "fail"
    assert verdict is not None and "below the minimum 0.9" in verdict.reason
    untouched = prresults.regate(prresults.parse(data), {"prompts/other.prompt.yml": GateSettings(min_score=0.9)})
    assert untouched.verdict.status == "pass"  # a prompt the base does not have keeps what was recorded


def test_shards_of_one_pull_request_merge_with_its_reference() -> None:
    from promptci.files import prresults
    from promptci.pullrequest import shards

    ref = {"number": 7, "head_sha": "ab" * 20}
    a, b = results(prefix="a"), results(prefix="b")
    b["prompts"][0]["path"] = "prompts/b.prompt.yml"
    merged = shards.merge([prresults.parse({**a, "pull_request": ref}), prresults.parse({**b, "pull_request": ref})])
    assert merged.pull_request is not None and merged.pull_request.number == 7 and len(merged.prompts) == 2


def test_a_fail_the_run_reached_after_the_test_is_never_undone_by_a_replay(demo_results: dict) -> None:
    """Protected items and slices fail a prompt after its test: reading the results again (`promptci report`, the
    merge of shards, the fork post) re-derives the test, which alone would not fail here, and keeps the fail."""
    from promptci.files import prresults

    data = json.loads(json.dumps(demo_results))
    [p] = data["prompts"]
    p["head"] = {i: {**r, "score": p["base"][i]["score"]} for i, r in p["head"].items()}  # head = base: a pass
    p["gate"] = {**p["gate"], "min_score": None}
    p["verdict"] = {"status": "inconclusive", "reason": "undecided"}
    assert prresults.recompute(prresults.parse(data)).verdict.status == "inconclusive"  # the test alone: no fail
    p["verdict"] = {"status": "fail", "reason": "protected items that base passes failed on head: x"}
    again = prresults.recompute(prresults.parse(data))
    assert again.prompts[0].verdict is not None and again.prompts[0].verdict.status == "fail"
    assert again.verdict.status == "fail"
