"""The pull request is the adversary: every path a prompt file names stays inside the repository, and hostile
pools, subset files and report templates cost a one-line refusal, not memory, time or a secret. Each file attack
is refused at the door (exit 2) or fails its prompt before any item is scored; the template attacks render the
demo's real results."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from promptci.errors import InputError
from promptci.models.llm import ModelClient

from .helpers import run_cli

PROMPT = """name: t
model: mockllm/model
messages:
  - role: user
    content: "Answer: {{input}}"
promptci:
  pool: ../eval_sets/t.jsonl
"""
SECRET = "sk-live-0123456789abcdef-not-a-real-key"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    (repo / "prompts" / "t.prompt.yml").write_text(PROMPT)
    (repo / "eval_sets" / "t.jsonl").write_text(
        "".join(json.dumps({"input": f"q{i}", "expected": "a"}) + "\n" for i in range(30))
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def set_pool(repo: Path, pool: str) -> str:
    path = repo / "prompts" / "t.prompt.yml"
    path.write_text(PROMPT.replace("../eval_sets/t.jsonl", pool))
    return str(path)


@pytest.mark.parametrize(
    "pool, words",
    [
        ("/etc/passwd", ["'/etc/passwd' is an absolute path", "promptci.pool"]),
        ("../../../../../../etc/passwd", ["resolves outside the repository", "promptci.pool"]),
        ("~/.ssh/id_rsa", ["is an absolute path"]),
    ],
)
def test_a_pool_path_outside_the_repository_is_refused(repo: Path, pool: str, words: list[str]) -> None:
    refused(run_cli("eval", set_pool(repo, pool), cwd=repo), *words)


def test_a_pool_or_subset_that_is_a_symlink_is_never_followed(repo: Path) -> None:
    os.symlink("/proc/self/environ", repo / "eval_sets" / "env.jsonl")
    refused(
        run_cli("eval", set_pool(repo, "../eval_sets/env.jsonl"), cwd=repo, env={"OPENAI_API_KEY": SECRET}),
        "is a symlink",
        "promptci.pool",
    )
    os.symlink("/dev/zero", repo / "eval_sets" / "zero.jsonl")
    refused(run_cli("eval", set_pool(repo, "../eval_sets/zero.jsonl"), cwd=repo), "is a symlink")
    set_pool(repo, "../eval_sets/t.jsonl")
    os.symlink("/proc/self/environ", repo / "eval_sets" / "t.subset.yml")
    proc = run_cli("select", "--check", "prompts/t.prompt.yml", cwd=repo, env={"OPENAI_API_KEY": SECRET})
    refused(proc, "is a symlink", "promptci.subset")
    assert SECRET not in proc.stdout + proc.stderr


def test_a_subset_path_outside_the_repository_is_never_written(repo: Path, tmp_path: Path) -> None:
    path = repo / "prompts" / "t.prompt.yml"
    path.write_text(PROMPT + "  subset: ../../outside.subset.yml\n")
    refused(run_cli("select", str(path), cwd=repo), "resolves outside the repository", "promptci.subset")
    assert not (tmp_path / "outside.subset.yml").exists()


def test_a_pull_request_that_links_its_subset_to_the_environment_leaks_nothing(repo: Path, tmp_path: Path) -> None:
    assert run_cli("select", "prompts/t.prompt.yml", cwd=repo).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "subset")
    git(repo, "checkout", "-qb", "attack")
    subset = repo / "eval_sets" / "t.subset.yml"
    subset.unlink()
    os.symlink("/proc/self/environ", subset)
    (repo / "prompts" / "t.prompt.yml").write_text(PROMPT.replace("Answer:", "Reply:"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "attack")
    out = tmp_path / "out"
    proc = run_cli(
        "pr",
        "--base",
        "main",
        "--head",
        "attack",
        "--repo",
        str(repo),
        "--out",
        str(out),
        "--no-optimize",
        env={"OPENAI_API_KEY": SECRET},
    )
    assert proc.returncode == 1, proc.stderr
    result = json.loads((out / "results.json").read_text())["prompts"][0]
    assert result["verdict"]["status"] == "fail" and "is a symlink" in result["error"]
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert SECRET not in written + proc.stdout + proc.stderr and "OPENAI_API_KEY" not in written


def test_hostile_pool_lines_cost_a_line_of_error(repo: Path) -> None:
    pool = repo / "eval_sets" / "t.jsonl"
    pool.write_text('{"input": ' + "[" * 100_000 + "]" * 100_000 + ', "expected": "a"}\n')
    refused(run_cli("eval", "prompts/t.prompt.yml", cwd=repo), "nests JSON over 32 levels", "t.jsonl:1:")
    pool.write_text(json.dumps({"input": "x" * (1024 * 1024 + 1), "expected": "a"}) + "\n")
    refused(run_cli("eval", "prompts/t.prompt.yml", cwd=repo), "over 1048576 characters", "t.jsonl:1:")


def test_a_subset_alias_bomb_is_refused_before_it_expands(repo: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    assert len(bomb) < 800  # 9**9 leaves
    (repo / "eval_sets" / "t.subset.yml").write_text("format: promptci.subset/1\n" + bomb)
    refused(run_cli("select", "--check", "prompts/t.prompt.yml", cwd=repo, timeout=30), "anchors or aliases")


@pytest.mark.parametrize(
    "name, source, words",
    [
        ("include", "{{ marker }}{% include 'include.md.j2' %}", "'include' is not allowed"),
        ("import", "{{ marker }}{% import 'other.md.j2' as other %}", "'import' is not allowed"),
        ("extends", "{% extends 'other.md.j2' %}", "'extends' is not allowed"),
        ("range", "{{ marker }}{% for i in range(10**9) %}{% endfor %}", "range() of 1000000000 numbers"),
        ("repeat", "{{ marker }}{{ 'x' * 10**9 }}", "a repetition of 1000000000 items"),
        ("power", "{{ marker }}{{ 9 ** 99999999 }}", "a power with exponent 99999999"),
        ("output", "{{ marker }}{% for a in range(9999) %}{{ 'x' * 9999 }}{% endfor %}", "output passed 8000000"),
        (
            "loops",
            "{{ marker }}{% for a in range(9999) %}{% for b in range(9999) %}{% for c in range(9999) %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "rendering took over 1 s",
        ),  # the 10 s bound, set to 1 s here
    ],
)
def test_a_report_template_runs_nothing_it_does_not_need_and_is_bounded(
    demo_results: dict, tmp_path: Path, name: str, source: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptci.rendering import render, sandbox

    monkeypatch.setattr(sandbox, "MAX_SECONDS", 1.0)  # the time bound itself, shortened: the fast tier waits 1 s

    template = tmp_path / f"{name}.md.j2"
    template.write_text(source)
    (tmp_path / "other.md.j2").write_text("{{ marker }} another file")
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        render.render(demo_results, template=template)
    assert words in str(caught.value) and f"{name}.md.j2" in str(caught.value)
    assert time.monotonic() - started < 30


def test_a_pull_request_that_drops_the_items_is_still_judged_on_the_bases(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-qb", "no-items")
    (repo / "prompts" / "t.prompt.yml").write_text(PROMPT.split("promptci:")[0].replace("Answer:", "Reply:"))
    git(repo, "commit", "-qam", "no items, no gate?")
    out = tmp_path / "out"
    proc = run_cli(
        "pr",
        "--base",
        "main",
        "--head",
        "no-items",
        "--repo",
        str(repo),
        "--out",
        str(out),
        "--no-optimize",
        "--no-refresh",
        "--subset-size",
        "4",
        timeout=600,
    )
    result = json.loads((out / "results.json").read_text())["prompts"][0]
    assert result["verdict"]["status"] in ("pass", "fail"), result["verdict"]  # judged, not "not gated"
    assert len(result["items"]) >= 4 and "leaves the prompt without items" in result["subset_note"], proc.stderr


def test_a_field_only_the_bases_judge_reads_never_reaches_the_heads_prompt(tmp_path: Path) -> None:
    from promptci import promptfile

    base_text = (
        "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: 'Question: {{question}}'\n"
        "testData:\n  - {question: capital of France?, answer: GOLD-Paris}\n"
        "evaluators:\n  - name: judge\n    llm:\n      modelId: openai/gpt-4o\n"
        "      prompt: 'Reference: {{answer}} Given: {{completion}} Question: {{question}}'\n"
        "      choices: [{choice: good, score: 1}, {choice: bad, score: 0}]\n"
    )
    base = promptfile.parse(base_text, tmp_path / "p.prompt.yml")
    assert "answer" in base.answer_fields and "question" not in base.answer_fields
    # a head that reads `answer` (its own judge then no longer counts it an answer) may not: the base's judge decides
    head = promptfile.parse(
        base_text.split("evaluators:")[0].replace("'Question: {{question}}'", "'Q: {{question}} (hint: {{answer}})'"),
        tmp_path / "p.prompt.yml",
    )
    with pytest.raises(InputError, match="answer field 'answer'"):
        promptfile.measured_by(head, base)


def test_catastrophic_regexes_deep_outputs_and_remote_schemas_cost_a_failed_item(tmp_path: Path) -> None:
    import asyncio

    from promptci import promptfile, scoring
    from promptci.files.evalset import Item

    text = (
        "model: openai/gpt-4o\nmessages: [{role: user, content: '{{q}}'}]\n"
        "promptci:\n  evaluators:\n    - {name: slow, regex: '^(a|aa)+$'}\n    - {name: json, json: true}\n"
    )
    prompt = promptfile.parse(text, tmp_path / "p.prompt.yml")
    no_client: Any = None  # no judge here: the checks call no model
    checks = scoring.build_checks(prompt, client=no_client)
    started = time.monotonic()
    results = asyncio.run(scoring.evaluate(checks, "a" * 60 + "!", Item(id="1", data={"q": "x"})))
    assert time.monotonic() - started < 10 and results[0].score == 0.0 and "ran over" in results[0].reason
    deep = asyncio.run(scoring.evaluate(checks, "[" * 100_000, Item(id="1", data={"q": "x"})))
    assert deep[1].score == 0.0 and "nested too deeply" in deep[1].reason
    remote = text.replace(
        "- {name: json, json: true}", '- {name: s, json_schema: \'{"$ref": "https://example.com/s.json"}\'}'
    )
    with pytest.raises(InputError, match="outside itself"):
        scoring.build_checks(promptfile.parse(remote, tmp_path / "p.prompt.yml"), client=no_client)
    with pytest.raises(InputError, match="nested too deeply"):
        promptfile.parse(
            text + "responseFormat: json_object\njsonSchema: '" + "[" * 100_000 + "'\n", tmp_path / "p.prompt.yml"
        )


def test_nothing_inside_git_is_read_or_written(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    path = repo / "prompts" / "t.prompt.yml"
    path.write_text(PROMPT + "  subset: ../.git/hooks/pre-commit\n")
    refused(run_cli("select", str(path), cwd=repo), "is inside .git", "promptci.subset")
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"  # once a subset file whose item text the hook would run
    refused(run_cli("eval", set_pool(repo, "../.git/config"), cwd=repo), "is inside .git", "promptci.pool")


def test_a_subset_path_at_an_untracked_secret_file_leaks_nothing(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-qb", "attack")
    (repo / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")  # untracked, in the work tree the Action checks out
    (repo / "prompts" / "t.prompt.yml").write_text(PROMPT.replace("Answer:", "Reply:") + "  subset: ../.env\n")
    git(repo, "commit", "-qam", "attack")
    out = tmp_path / "out"
    proc = run_cli(
        "pr",
        "--base",
        "main",
        "--head",
        "attack",
        "--repo",
        str(repo),
        "--out",
        str(out),
        "--no-optimize",
        "--no-refresh",
        "--subset-size",
        "2",
        timeout=600,
    )
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert written and SECRET not in written + proc.stdout + proc.stderr, proc.stderr


def test_bidirectional_controls_cannot_disguise_names_in_the_report() -> None:
    from promptci.rendering import escape

    for shown in (
        escape.inline("evil\u202egnp.exe"),
        escape.code("p\u2066x\u2069.yml", table=True),
        escape.flat("a\u200fb", 50),
    ):
        assert not any(c in shown for c in "\u202e\u2066\u2069\u200f"), repr(shown)


def test_a_prompt_file_that_links_out_of_the_repository_is_not_read(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "creds.yml"
    outside.write_text("aws_secret_access_key: not-for-promptci\n")
    os.symlink(outside, repo / "prompts" / "evil.prompt.yml")
    refused(run_cli("eval", "prompts/evil.prompt.yml", cwd=repo), "a link to a file outside the repository")


def test_a_subset_path_at_a_prompt_a_pool_or_a_workflow_is_refused_before_any_model_call(
    repo: Path, tmp_path: Path
) -> None:
    """With commit-subsets the refreshed subset is committed at the head's `promptci.subset`, in a commit that
    inherits the check: pointed at another prompt, the pool or a workflow, it would overwrite that file."""
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (repo / "prompts" / "other.prompt.yml").write_text(PROMPT.replace("name: t", "name: other"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more files")
    for target, words in (
        ("other.prompt.yml", "is a prompt file"),
        ("../eval_sets/t.jsonl", "not a subset file"),
        ("../.github/workflows/ci.yml", "lies under .github/"),
        ("../.github/new.subset.yml", "lies under .github/"),
    ):
        git(repo, "checkout", "-q", "-B", "attack", "main")
        (repo / "prompts" / "t.prompt.yml").write_text(PROMPT.replace("Answer:", "Reply:") + f"  subset: {target}\n")
        git(repo, "commit", "-qam", "attack")
        out = tmp_path / "out"
        proc = run_cli(
            "pr",
            "--base",
            "main",
            "--head",
            "attack",
            "--repo",
            str(repo),
            "--out",
            str(out),
            "--no-optimize",
            "--no-refresh",
        )
        assert proc.returncode == 1, proc.stderr
        results = json.loads((out / "results.json").read_text())
        prompt = results["prompts"][0]
        assert prompt["verdict"]["status"] == "fail" and "promptci.subset" in prompt["error"], prompt["error"]
        assert words in prompt["error"] and not prompt["subset"]["text"]  # nothing to commit
        assert results["usage"]["calls"] == 0, target  # refused before any model call


def test_a_json_schema_pattern_runs_under_the_regex_time_limit(tmp_path: Path) -> None:
    """jsonschema matches `pattern`, `patternProperties` and the names `additionalProperties` skips with `re`, which
    has no time limit: `'^(a+)+$'` on "aaa…ab" took hours. They run with `regex` under the regex evaluator's limit."""
    import asyncio

    from promptci import promptfile, scoring
    from promptci.files.evalset import Item

    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}, "b": {"type": "string", "pattern": "^(a|aa)+$"}},
        "patternProperties": {"^(c|cc)+$": {"type": "string"}},
        "additionalProperties": False,
    }
    text = (
        "model: openai/gpt-4o\nmessages: [{role: user, content: '{{q}}'}]\n"
        f"promptci:\n  evaluators:\n    - {{name: s, json_schema: '{json.dumps(schema)}'}}\n"
    )
    checks = scoring.build_checks(
        promptfile.parse(text, tmp_path / "p.prompt.yml"), client=ModelClient(use_cache=False)
    )
    for output, score, words in (
        (json.dumps({"a": "a" * 5000 + "b"}), 0.0, "does not match '^(a+)+$'"),
        (json.dumps({"a": "aaaa"}), 1.0, "valid against the schema"),
        (json.dumps({"b": "a" * 60 + "!"}), 0.0, "ran over 1.0 s"),
        (json.dumps({"c" * 60 + "!": "x"}), 0.0, "ran over 1.0 s"),
        (json.dumps({"cc": "x", "d": 1}), 0.0, "'d' was unexpected"),
    ):
        started = time.monotonic()
        [result] = asyncio.run(scoring.evaluate(checks, output, Item(id="1", data={"q": "x"})))
        # not a timing: without the limit these run for hours; 60 s leaves room for a loaded machine
        assert time.monotonic() - started < 60 and result.score == score and words in result.reason, result.reason
    schema["unevaluatedProperties"] = False  # jsonschema matches patternProperties there itself: refused at load
    with pytest.raises(InputError, match="unevaluatedProperties and patternProperties"):
        scoring.build_checks(
            promptfile.parse(
                text.replace("false}", 'false, "unevaluatedProperties": false}'), tmp_path / "p.prompt.yml"
            ),
            client=ModelClient(use_cache=False),
        )


def test_a_pool_column_that_holds_the_answer_is_refused_before_any_model_call(repo: Path, tmp_path: Path) -> None:
    """A pool column that holds the answer under another name (`label`, kept by an import of every CSV column)
    substituted by `{{label}}` scored 1.000: the model read the answer."""
    from .openai_server import OpenAIServer

    rows = [{"input": f"q{k}", "label": f"a{k}", "expected": f"a{k}"} for k in range(30)]
    (repo / "eval_sets" / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompt = PROMPT.replace("model: local/gemma-3-270m", "model: openai/fake-leak") + "  model: openai/fake-leak\n"
    (repo / "prompts" / "t.prompt.yml").write_text(prompt)
    git(repo, "commit", "-qam", "a pool with a label column")
    git(repo, "checkout", "-qb", "leak")
    (repo / "prompts" / "t.prompt.yml").write_text(prompt.replace("{{input}}", "{{input}} (hint: {{label}})"))
    git(repo, "commit", "-qam", "a hint")
    with OpenAIServer(lambda body: body["messages"][-1]["content"].rsplit(": ", 1)[-1].rstrip(")")) as server:
        refused(
            run_cli("eval", "prompts/t.prompt.yml", cwd=repo, env=server.env()),
            "placeholder {{label}} holds the answer",
            "30 of 30 items",
            "t.prompt.yml",
        )
        out = tmp_path / "out"
        proc = run_cli(
            "pr",
            "--base",
            "main",
            "--head",
            "leak",
            "--repo",
            str(repo),
            "--out",
            str(out),
            "--no-optimize",
            "--no-refresh",
            "--subset-size",
            "4",
            env=server.env(),
        )
        result = json.loads((out / "results.json").read_text())["prompts"][0]
        assert proc.returncode == 1 and result["verdict"]["status"] == "fail", result["verdict"]
        assert "{{label}} holds the answer" in result["error"]
        assert not [p for p in server.paths if p.endswith("/chat/completions")]  # no model call: eval's nor pr's


def test_a_list_column_that_holds_the_answer_is_refused_too(tmp_path: Path) -> None:
    """The same leak with the answer inside a list-valued column (`alts: [good, ...]`), as an import keeps it."""
    from promptci import promptfile
    from promptci.files import evalset

    text = "model: openai/x\nmessages: [{role: user, content: '{{input}} ({{alts}})'}]\n"
    prompt = promptfile.parse(text, tmp_path / "p.prompt.yml")
    rows = [{"input": f"q{k}", "alts": ["other", f"a{k}"], "expected": f"a{k}"} for k in range(10)]
    with pytest.raises(InputError, match=r"placeholder \{\{alts\}\} holds the answer.*10 of 10 items"):
        evalset.check_answers_hidden(prompt, [evalset.Item(id=str(k), data=row) for k, row in enumerate(rows)])
    unrelated = [{**row, "alts": ["other", "more"]} for row in rows]
    evalset.check_answers_hidden(prompt, [evalset.Item(id=str(k), data=row) for k, row in enumerate(unrelated)])
