"""`promptci import promptfoo` and `promptci import openai-evals` on real public configs (vendored under
tests/data/imports, each cited in its README), the verdict of every evaluator an assertion becomes against the
original assertion's, hostile paths, and the imported files run by `promptci eval` and `promptci select`."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptci import promptfile, scoring
from promptci.errors import InputError
from promptci.files.evalset import load_pool
from promptci.importers import (
    import_bigbench,
    import_config,
    import_openai_evals,
    import_promptfoo,
)

from .helpers import DATA, run_cli
from .openai_server import OpenAIServer

IMPORTS = DATA / "imports"
REGISTRY = IMPORTS / "openai-evals" / "registry" / "evals"

# config folder → (items, prompt files, kinds of leftover that must be named, each with a test or place it names)
PROMPTFOO = {
    "promptfoo-workshop": (4, 3, {"javascript assertions": "tests[3]", "further providers": "openai:gpt-4o"}),
    "llm-unit-testing": (4, 1, {"javascript assertions": "tests[0]", "similar (MiniLM": "tests[1]"}),
    "ai-testing-promptfoo": (3, 1, {"custom providers": "http", "no prompts": "prompts"}),
    "ai-testing-series": (1, 1, {}),
    "generative-ai-testing": (3, 2, {"javascript assertions": "tests[1]"}),
    "llm-eval-harness": (3, 1, {"latency assertions": "tests[2]", "cost assertions": "tests[0]"}),
    "llm-eval-pipeline": (3, 1, {"further providers": "openai:gpt-3.5-turbo"}),
    "ai-testing-blockace": (4, 1, {"javascript assertions": "tests[2]"}),
    "deepwiki-open": (3, 1, {"transform": "tests[0]", "custom providers": "deepwiki-provider.mjs"}),
    "ai-invoice-assistant": (5, 1, {"javascript assertions": "tests[2]", "custom providers": "provider.mjs"}),
    "llm-project-bbeelina": (1, 1, {"top-level vars": "", "no assertion carried over": "all tests"}),
    "pytutor": (3, 1, {"redteam": "", "without file://": "prompts[0]"}),
}
REFUSED = {  # configs nothing can be imported from, and the words of their one-line error
    "wall-e": "prompts.mjs",
    "prompt-eval-engine": "pf_prompts.py",
    "lmstudio-chatbot": "no tests to import",
}


@pytest.mark.parametrize("name", sorted(PROMPTFOO))
def test_real_promptfoo_configs_import_and_name_what_they_leave_out(name: str, tmp_path: Path) -> None:
    items, prompts, leftovers = PROMPTFOO[name]
    written = import_promptfoo(IMPORTS / name / "promptfooconfig.yaml", tmp_path)
    assert written.items == items and len(written.prompts) == prompts
    for kind, place in leftovers.items():
        assert any(kind in line and place in line for line in written.leftovers), (kind, written.leftovers)
    assert len(written.leftovers) == len({line.split(":")[0] for line in written.leftovers})  # one line per kind
    for path in written.prompts:  # every file loads as promptci eval loads it, pool and all
        assert len(load_pool(promptfile.load(path))) == items


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_configs_with_nothing_to_import_are_one_line_errors(name: str, tmp_path: Path) -> None:
    proc = run_cli("import", "promptfoo", str(IMPORTS / name / "promptfooconfig.yaml"), "--out", str(tmp_path))
    assert proc.returncode == 2 and REFUSED[name] in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "prompts").exists()


def test_the_workshop_config_maps_each_assertion_to_its_evaluator(tmp_path: Path) -> None:
    written = import_promptfoo(IMPORTS / "promptfoo-workshop" / "promptfooconfig.yaml", tmp_path)
    prompt = promptfile.load(written.prompts[0])
    assert prompt.spec.model == "openai/gpt-4o-mini"
    assert prompt.spec.messages[0].content == "Write a tweet about {{topic}}"
    evaluators = {e.name: e for e in prompt.settings.evaluators}
    assert evaluators["not-contains"].value == ["AI language model"] and evaluators["not-contains"].negate
    assert evaluators["icontains"].ignore_case and evaluators["icontains"].field == "assert_icontains"
    rows = [json.loads(line) for line in written.pool.read_text().splitlines()]
    assert [r["assert_icontains"] for r in rows] == [["banana"], ["avocado"], [], []]
    climate = "verify that the tweet contains factually accurate information about climate change"
    assert rows[3]["assert_llm_rubric"] == [climate, "does the tweet include a call to action?"]


@pytest.mark.parametrize(
    "spec, evals, items",
    [
        ("agent-tool-abstention.yaml", ["agent-tool-abstention"], 4),
        ("agent-tool-routing.yaml", ["agent-tool-routing"], 4),
        ("test-basic.yaml", ["test-fuzzy-match", "test-includes", "test-includes-ignore-case"], 3),
        ("logic.yaml", ["logic-fact"], 3),
    ],
)
def test_real_openai_evals_import(spec: str, evals: list[str], items: int, tmp_path: Path) -> None:
    written = import_openai_evals(REGISTRY / spec, tmp_path, judge_model="openai/judge")
    assert [w.prompts[0].name for w in written] == [f"{e}.prompt.yml" for e in evals]
    for w in written:
        prompt = promptfile.load(w.prompts[0])
        assert len(load_pool(prompt)) == items == w.items
        assert "{{input}}" in prompt.spec.messages[-1].content  # the sample's own text is the variable
    if spec == "test-basic.yaml":
        assert any("TestMatch" in line for line in written[0].leftovers)
        assert promptfile.load(written[2].prompts[0]).settings.evaluators[0].ignore_case


def test_an_lfs_pointer_is_named_not_imported(tmp_path: Path) -> None:
    proc = run_cli(
        "import",
        "openai-evals",
        str(REGISTRY / "Indian_Menstrual_Health_ChatBot-closedqa.yaml"),
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 2 and "Git LFS pointer" in proc.stderr and "git lfs pull" in proc.stderr


@dataclass
class _Judge:
    """Stands in for a judge model (a remote model cannot run here): answers as told, records what it was asked."""

    answer: str
    asked: list[str]

    async def complete(self, model: str, messages: list[dict[str, str]], params: Any) -> Any:
        self.asked.append(messages[-1]["content"])
        return type("Completion", (), {"text": self.answer})()


def _verdict(tmp_path: Path, assertion: dict[str, Any], output: str, judge: _Judge | None = None) -> float:
    """The score promptci gives `output` under the evaluator the assertion was imported as."""
    folder = tmp_path / "cfg"
    folder.mkdir(exist_ok=True)
    config = {
        "prompts": ["Say {{x}}"],
        "providers": ["openai:gpt-4o-mini"],
        "tests": [{"vars": {"x": "hi"}, "assert": [assertion]}],
    }
    (folder / "promptfooconfig.yaml").write_text(json.dumps(config))
    written = import_promptfoo(folder / "promptfooconfig.yaml", tmp_path / "out", judge_model="openai/judge")
    prompt = promptfile.load(written.prompts[0])
    item = load_pool(prompt).items[0]
    checks = scoring.build_checks(prompt, judge or _Judge("", []))  # type: ignore[arg-type]
    (evaluation,) = asyncio.run(scoring.evaluate(checks, output, item))
    return evaluation.score


# (assertion, output, promptfoo's verdict): a passing and a failing output per kind, as promptfoo's docs define
# each assertion (expected-outputs/deterministic, model-graded); `not-` forms pass where the plain form fails.
ROUND_TRIP = [
    ({"type": "equals", "value": "Hello"}, "Hello", True),
    ({"type": "equals", "value": "Hello"}, "hello", False),
    ({"type": "not-equals", "value": "Hello"}, "Hello!", True),
    ({"type": "contains", "value": "Paris"}, "It is Paris.", True),
    ({"type": "contains", "value": "Paris"}, "It is paris.", False),
    ({"type": "not-contains", "value": "sorry"}, "Sure.", True),
    ({"type": "not-contains", "value": "sorry"}, "I am sorry", False),
    ({"type": "icontains", "value": "PARIS"}, "it is paris", True),
    ({"type": "icontains", "value": "PARIS"}, "it is rome", False),
    ({"type": "not-icontains", "value": "Best regards"}, "best REGARDS, Bob", False),
    ({"type": "starts-with", "value": "Yes"}, "Yes, it is", True),
    ({"type": "starts-with", "value": "Yes"}, "yes, it is", False),
    ({"type": "not-starts-with", "value": "Yes"}, "No", True),
    ({"type": "regex", "value": "ACCT-[0-9]{6}"}, "id ACCT-482913", True),
    ({"type": "regex", "value": "ACCT-[0-9]{6}"}, "id ACCT-48", False),
    ({"type": "not-regex", "value": "ACCT-[0-9]{6}"}, "unknown", True),
    ({"type": "contains-any", "value": ["red", "blue"]}, "a blue sky", True),
    ({"type": "contains-any", "value": "red, blue"}, "a green sky", False),
    ({"type": "contains-all", "value": ["red", "blue"]}, "red and blue", True),
    ({"type": "contains-all", "value": ["red", "blue"]}, "red only", False),
    ({"type": "icontains-all", "value": ["Test APIs", "module"]}, "the test apis MODULE", True),
    ({"type": "icontains-any", "value": ["NEXT.JS"]}, "built with React", False),
    ({"type": "not-contains-any", "value": ["red", "blue"]}, "green", True),
    ({"type": "not-contains-any", "value": ["red", "blue"]}, "blue", False),
    ({"type": "is-json"}, '{"a": 1}', True),
    ({"type": "is-json"}, "{a: 1}", False),
    ({"type": "is-json", "value": {"type": "object", "required": ["a"]}}, '{"b": 1}', False),
    ({"type": "not-is-json"}, "plain text", True),
    ({"type": "contains-json"}, 'Here: {"a": [1, 2]} done', True),
    ({"type": "contains-json"}, "no json {here", False),
    ({"type": "contains-json", "value": {"required": ["a"]}}, 'x {"b": 1} y {"a": 2}', True),
]


@pytest.mark.parametrize("assertion, output, passes", ROUND_TRIP)
def test_each_assertion_kind_keeps_promptfoos_verdict(
    assertion: dict[str, Any], output: str, passes: bool, tmp_path: Path
) -> None:
    assert _verdict(tmp_path, assertion, output) == (1.0 if passes else 0.0)


@pytest.mark.parametrize(
    "kind, answer, passes",
    [
        ("llm-rubric", "The output is friendly.\nPASS", True),
        ("llm-rubric", "It names a pass but fails the rubric.\nFAIL", False),
        ("not-llm-rubric", "PASS", False),
        ("model-graded-closedqa", "Step by step, it meets it.\nY", True),
        ("model-graded-closedqa", "N", False),
        ("factuality", "The submission is a superset.\n(B)", True),
        ("factuality", "They disagree.\nD", False),
    ],
)
def test_model_graded_assertions_become_judges_with_the_rubric_as_prompt(
    kind: str, answer: str, passes: bool, tmp_path: Path
) -> None:
    judge = _Judge(answer, [])
    score = _verdict(tmp_path, {"type": kind, "value": "Is polite to {{ x }}"}, "Hello there", judge)
    assert score == (1.0 if passes else 0.0)
    assert "Is polite to hi" in judge.asked[0] and "Hello there" in judge.asked[0]  # rubric, vars filled, output


def test_similar_uses_the_bundled_embeddings_with_the_configs_threshold(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    same = {"type": "similar", "value": "The cat sat on the mat.", "threshold": 0.8}
    assert _verdict(tmp_path, same, "The cat sat on the mat.") == 1.0
    assert _verdict(tmp_path, same, "Quarterly revenue grew by eight percent.") == 0.0


@pytest.mark.parametrize(
    "cls_args, output, ideal, passes",
    [
        ({"class": "evals.elsuite.basic.match:Match"}, "NO_TOOL\n", "NO_TOOL", True),  # starts with the ideal
        ({"class": "evals.elsuite.basic.match:Match"}, "I would use NO_TOOL", "NO_TOOL", False),
        ({"class": "evals.elsuite.basic.includes:Includes"}, "It is Paris.", ["Rome", "Paris"], True),
        ({"class": "evals.elsuite.basic.includes:Includes"}, "It is paris.", ["Paris"], False),
        ({"class": "evals.elsuite.basic.includes:Includes", "ignore_case": True}, "It is paris.", ["Paris"], True),
        ({"class": "evals.elsuite.basic.fuzzy_match:FuzzyMatch"}, "Season 11!", ["season 11"], True),
        ({"class": "evals.elsuite.basic.fuzzy_match:FuzzyMatch"}, "The Hobbit", ["Evangeline Lilly"], False),
    ],
)
def test_openai_evals_matchers_keep_their_verdict(
    cls_args: dict[str, Any], output: str, ideal: Any, passes: bool, tmp_path: Path
) -> None:
    registry = tmp_path / "registry"
    (registry / "data" / "t").mkdir(parents=True)
    (registry / "evals").mkdir()
    sample = {"input": [{"role": "system", "content": "Answer."}, {"role": "user", "content": "Q?"}], "ideal": ideal}
    (registry / "data" / "t" / "samples.jsonl").write_text(json.dumps(sample) + "\n")
    args = {"samples_jsonl": "t/samples.jsonl", **{k: v for k, v in cls_args.items() if k != "class"}}
    spec = {"t": {"id": "t.dev.v0"}, "t.dev.v0": {"class": cls_args["class"], "args": args}}
    (registry / "evals" / "t.yaml").write_text(json.dumps(spec))
    (written,) = import_openai_evals(registry / "evals" / "t.yaml", tmp_path / "out")
    prompt = promptfile.load(written.prompts[0])
    checks = scoring.build_checks(prompt, _Judge("", []))  # type: ignore[arg-type]
    (evaluation,) = asyncio.run(scoring.evaluate(checks, output, load_pool(prompt).items[0]))
    assert evaluation.score == (1.0 if passes else 0.0)


@pytest.mark.parametrize(
    "reference, words",
    [
        ("file://../outside.txt", "leaves the config's folder"),
        ("file:///etc/passwd", "absolute path"),
        ("file://link/prompt.txt", "symlink"),
        ("file://big.txt", "over the"),
        ("file://prompts.py:make", "code prompts, not run: prompts[0] file://prompts.py:make"),
    ],
)
def test_file_references_stay_in_the_configs_folder_and_run_nothing(reference: str, words: str, tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("secret {{x}}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "prompt.txt").write_text("secret {{x}}")
    os.symlink(tmp_path / "elsewhere", folder / "link")
    (folder / "big.txt").write_text("x" * (8 * 1024 * 1024 + 1))
    (folder / "prompts.py").write_text("raise SystemExit('ran')")
    test = {"vars": {"x": "1"}, "assert": [{"type": "equals", "value": "1"}]}
    config = {"prompts": [reference], "tests": [test]}
    (folder / "promptfooconfig.yaml").write_text(json.dumps(config))
    proc = run_cli("import", "promptfoo", str(folder / "promptfooconfig.yaml"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "secret" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "examples, field",
    [
        ([{"input": "q", "target_scores": "yes"}], "examples[0].target_scores"),
        ([{"input": "q", "target_scores": {"a": "1", "b": 0}}], "examples[0].target_scores"),
        ([{"input": "q", "target_scores": {"a": True, "b": 0}}], "examples[0].target_scores"),
        ([{"input": "q", "target": {"x": 1}}], "examples[0].target"),
        ([{"input": "q", "target": [None]}], "examples[0].target"),
    ],
)
def test_bigbench_refuses_malformed_values_in_one_line(examples: list[Any], field: str, tmp_path: Path) -> None:
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"examples": examples}))
    with pytest.raises(InputError) as caught:
        import_bigbench(task, tmp_path / "o.jsonl")
    assert caught.value.field == field and caught.value.fix
    proc = run_cli("import", "bigbench", str(task), "--out", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and field in proc.stderr and "Traceback" not in proc.stderr


def test_imported_prompts_run_under_eval_and_select(tmp_path: Path) -> None:
    """The workshop config, imported and run as written: the task model and the judge are a loopback server
    (remote models cannot run here); `promptci select` chooses a subset of the imported pool."""
    proc = run_cli(
        "import",
        "promptfoo",
        str(IMPORTS / "promptfoo-workshop" / "promptfooconfig.yaml"),
        "--out",
        str(tmp_path),
        "--judge-model",
        "openai/judge",
    )
    assert proc.returncode == 0 and "javascript assertions" in proc.stderr
    prompt = tmp_path / "prompts" / "prompt-2.prompt.yml"

    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        return "Funny enough.\nPASS" if "[Rubric]" in text else "Avocado toast, but make it a banana."

    with OpenAIServer(reply) as server:
        proc = run_cli(
            "eval",
            str(prompt),
            "--limit",
            "2",
            "--model",
            "openai/fake",
            "--no-cache",
            "--json",
            str(tmp_path / "r.json"),
            env=server.env(),
        )
    assert proc.returncode == 0, proc.stderr
    run = json.loads((tmp_path / "r.json").read_text())["runs"][0]
    scores = {e["name"]: e["score"] for e in run["items"][1]["evaluations"]}
    assert scores == {"not-contains": 1.0, "icontains": 1.0, "llm-rubric": 1.0}
    assert any("[Rubric]: rate how funny" in r["messages"][-1]["content"] for r in server.requests)
    proc = run_cli("select", str(prompt), "--size", "2", "--clusters", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "eval_sets" / "promptfoo-workshop.subset.yml").exists()


def test_a_check_field_is_an_answer_field_never_put_into_a_prompt(tmp_path: Path) -> None:
    """The item field a `check:` reads holds answers, as `expected` does: a message naming it is refused."""
    text = (
        "name: leak\nmessages:\n  - role: user\n    content: 'Say {{wanted}}'\npromptci:\n  evaluators:\n"
        "    - {name: c, check: contains, field: wanted}\n"
    )
    with pytest.raises(InputError, match="answer field 'wanted'"):
        promptfile.parse(text, tmp_path / "leak.prompt.yml")


@pytest.mark.parametrize(
    "evaluator, words",
    [
        ("{name: c, check: contains}", "check needs exactly one of value, field"),
        ("{name: c, check: contains, value: x, field: y}", "check needs exactly one of value, field"),
        ("{name: c, judge: 'Grade', choices: [{choice: A, score: 1}], value: x, field: y}", "value or field, not both"),
        ("{name: c, check: regex, value: x, ignore_case: true}", "ignore_case goes with check: equals"),
        ("{name: c, check: contains, value: x, threshold: 0.5}", "threshold goes with check: similar"),
        ("{name: c, regex: x, negate: true}", "negate goes with check or judge only"),
        ("{name: c, judge: 'Grade {{value}}', value: x}", "a judge needs choices"),
        ("{name: c, check: contains, value: x, model: m}", "choices and model go with judge only"),
        ("{name: c, check: json, value: [{type: nonsense}]}", "invalid JSON schema"),
        ("{name: c, check: regex, value: '(unclosed'}", "invalid regular expression"),
    ],
)
def test_check_and_judge_evaluators_are_checked_before_any_model_call(
    evaluator: str, words: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.prompt.yml"
    path.write_text(
        "name: p\nmessages:\n  - {role: user, content: hi}\ntestData:\n  - {expected: x}\n"
        f"promptci:\n  evaluators:\n    - {evaluator}\n"
    )
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(".", r"\.")):
        scoring.build_checks(promptfile.load(path), _Judge("", []))  # type: ignore[arg-type]


PLATFORM = IMPORTS / "openai-platform"


def test_a_hosted_eval_and_its_run_import_with_the_label_grader_as_a_judge(tmp_path: Path) -> None:
    (written,) = import_config("openai-evals", PLATFORM / "eval.json", tmp_path, run=PLATFORM / "run.json")
    prompt = promptfile.load(written.prompts[0])
    assert prompt.spec.model == "openai/gpt-4o-mini" and prompt.spec.messages[0].role == "system"
    assert prompt.spec.messages[1].content == "{{notifications}}"
    items = load_pool(prompt).items
    assert len(items) == 3 and "Thunderstorm" in items[1].data["notifications"]
    for answer, score in (("Concise and snappy.\ncorrect", 1.0), ("Too long.\nincorrect", 0.0)):
        judge = _Judge(answer, [])
        (evaluation,) = asyncio.run(
            scoring.evaluate(
                scoring.build_checks(prompt, judge),  # type: ignore[arg-type]
                "Sarah called; parcel here.",
                items[0],
            )
        )
        assert evaluation.score == score
        assert "Summary: Sarah called; parcel here." in judge.asked[0] and "Flash sale" in judge.asked[0]


@pytest.mark.parametrize(
    "operation, reference, output, passes",
    [
        ("eq", "{{item.label}}", "billing", True),
        ("eq", "{{item.label}}", "Billing", False),
        ("ne", "{{item.label}}", "bug", True),
        ("like", "{{item.label}}", "it is billing.", True),
        ("like", "{{item.label}}", "it is BILLING.", False),
        ("ilike", "{{item.label}}", "it is BILLING.", True),
        ("eq", "billing", "billing", True),
    ],
)
def test_hosted_string_check_graders_keep_their_verdict(
    operation: str, reference: str, output: str, passes: bool, tmp_path: Path
) -> None:
    grader = {
        "type": "string_check",
        "name": "label",
        "input": "{{sample.output_text}}",
        "reference": reference,
        "operation": operation,
    }
    eval_json = tmp_path / "eval.json"
    eval_json.write_text(json.dumps({"name": "route", "testing_criteria": [grader]}))
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"item": {"ticket": "I was charged twice", "label": "billing"}}) + "\n")
    (written,) = import_config("openai-evals", eval_json, tmp_path / "out", items=items)
    prompt = promptfile.load(written.prompts[0])
    (evaluation,) = asyncio.run(
        scoring.evaluate(
            scoring.build_checks(prompt, _Judge("", [])),  # type: ignore[arg-type]
            output,
            load_pool(prompt).items[0],
        )
    )
    assert evaluation.score == (1.0 if passes else 0.0)
    if reference.startswith("{{"):  # the field a grader compares with is an answer: never in the prompt
        assert "{{label}}" not in prompt.spec.messages[0].content


def test_hosted_graders_without_a_faithful_evaluator_are_named(tmp_path: Path) -> None:
    graders = [
        {"type": "text_similarity", "name": "sim", "evaluation_metric": "bleu"},
        {"type": "python", "name": "code", "source": "def grade(s, i): return 1"},
    ]
    eval_json = tmp_path / "eval.json"
    eval_json.write_text(json.dumps({"name": "x", "testing_criteria": graders}))
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"item": {"q": "hi"}}) + "\n")
    proc = run_cli("import", "openai-evals", str(eval_json), "--items", str(items), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "text_similarity graders" in proc.stderr and "python graders" in proc.stderr


def test_every_imported_prompt_runs_under_eval(tmp_path: Path) -> None:
    """Every prompt file every vendored config becomes, scored by `promptci eval --limit 1` as written; the task
    model and the judges are a loopback server (remote models cannot run here; the embedded model's run of the
    same files is in the importers' report)."""
    prompts: list[Path] = []
    for name in sorted(PROMPTFOO):
        prompts += import_promptfoo(
            IMPORTS / name / "promptfooconfig.yaml", tmp_path / name, judge_model="openai/judge"
        ).prompts
    for spec in ("agent-tool-abstention.yaml", "agent-tool-routing.yaml", "test-basic.yaml", "logic.yaml"):
        prompts += [
            p
            for w in import_openai_evals(REGISTRY / spec, tmp_path / "oe", judge_model="openai/judge")
            for p in w.prompts
        ]
    prompts += import_config(
        "openai-evals", PLATFORM / "eval.json", tmp_path / "pl", run=PLATFORM / "run.json", judge_model="openai/judge"
    )[0].prompts

    def reply(body: dict[str, Any]) -> str:
        return "Reasoned.\nPASS" if body["model"] == "judge" else '{"answer": "NO_TOOL"}'

    with OpenAIServer(reply) as server:
        proc = run_cli(
            "eval",
            *map(str, prompts),
            "--limit",
            "1",
            "--model",
            "openai/fake",
            "--no-cache",
            "--json",
            str(tmp_path / "r.json"),
            env=server.env(),
            timeout=600,
        )
    assert proc.returncode == 0, proc.stderr
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert len(runs) == len(prompts) == 22
    for run in runs:
        assert run["summary"]["scored"] == 1 and run["summary"]["errors"] == 0, run["prompt"]


def test_a_repeated_test_is_a_second_item(tmp_path: Path) -> None:
    test = {"vars": {"x": "1"}, "assert": [{"type": "equals", "value": "1"}]}
    (tmp_path / "promptfooconfig.yaml").write_text(json.dumps({"prompts": ["{{x}}"], "tests": [test, test]}))
    written = import_promptfoo(tmp_path / "promptfooconfig.yaml", tmp_path / "out")
    ids = [item.id for item in load_pool(promptfile.load(written.prompts[0])).items]
    assert len(ids) == 2 and ids[1] == ids[0] + "~2"


def test_file_variables_are_read_as_promptfoo_reads_them_and_code_is_named(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_text("The TS-100 reports Celsius.")
    (tmp_path / "gen.py").write_text("raise SystemExit('ran')")
    tests = [
        {
            "vars": {"context": "file://doc.txt", "extra": "file://gen.py:make"},
            "assert": [{"type": "icontains", "value": "celsius"}],
        }
    ]
    (tmp_path / "promptfooconfig.yaml").write_text(json.dumps({"prompts": ["{{context}} {{extra}}"], "tests": tests}))
    written = import_promptfoo(tmp_path / "promptfooconfig.yaml", tmp_path / "out")
    item = load_pool(promptfile.load(written.prompts[0])).items[0]
    assert item.data["context"] == "The TS-100 reports Celsius." and item.data["extra"] == "file://gen.py:make"
    assert any("variables computed by code" in line and "extra" in line for line in written.leftovers)


def test_assertion_values_from_files_and_vars_and_a_bad_threshold(tmp_path: Path) -> None:
    (tmp_path / "rubric.txt").write_text("Names the capital of {{ country }}")
    tests = [
        {
            "vars": {"country": "France"},
            "assert": [
                {"type": "llm-rubric", "value": "file://rubric.txt"},
                {"type": "contains-any", "value": ["{{country}}", "Paris"]},
                {"type": "javascript", "value": "file://check.js"},
            ],
        }
    ]
    (tmp_path / "promptfooconfig.yaml").write_text(json.dumps({"prompts": ["About {{country}}"], "tests": tests}))
    written = import_promptfoo(tmp_path / "promptfooconfig.yaml", tmp_path / "out", judge_model="openai/judge")
    prompt = promptfile.load(written.prompts[0])
    values = {e.name: e.value for e in prompt.settings.evaluators}
    assert values["contains"] == [["France", "Paris"]]
    assert values["llm-rubric"] == ["Names the capital of {{ country }}"]  # promptfoo renders a file's text as is
    tests[0]["assert"] = [{"type": "similar", "value": "x", "threshold": "high"}]
    (tmp_path / "promptfooconfig.yaml").write_text(json.dumps({"prompts": ["About {{country}}"], "tests": tests}))
    with pytest.raises(InputError, match="threshold 'high' is not a number"):
        import_promptfoo(tmp_path / "promptfooconfig.yaml", tmp_path / "out2")


def test_an_import_that_would_write_an_unreadable_pool_writes_nothing(tmp_path: Path) -> None:
    """A small config that expands one 2 MiB file:// value into items promptci could never read: refused in one
    line before anything is written, instead of an 80 MB pool that fails to load."""
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "big.txt").write_text("x" * (2 * 1024 * 1024))
    (config / "promptfooconfig.yaml").write_text(
        "prompts: ['Say {{doc}} {{n}}']\ndefaultTest:\n  vars: {doc: 'file://big.txt'}\ntests:\n  - vars: {n: 1}\n"
    )
    out = tmp_path / "out"
    proc = run_cli("import", "promptfoo", str(config / "promptfooconfig.yaml"), "--out", str(out))
    assert proc.returncode == 2 and "would make the pool over its limit" in proc.stderr, proc.stderr
    assert not list(out.rglob("*.jsonl"))
