"""Draws: a sampled prompt's items and a judge's grades are samples, keyed by sample index, repeated, and read for
pass^k, flaky items, the judge's fingerprint and its self-agreement."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from promptci import promptfile
from promptci.files import evalresults as results, prresults
from promptci.files.evalresults import Draw, ItemResult
from promptci.files.evalset import load_pool
from promptci.gate import draws
from promptci.models import labelprobs
from promptci.models.llm import Completion, ModelClient, Params, Usage
from promptci.models.mockllm import generate
from promptci.runner import Task, run

from .helpers import run_cli

PROMPT = """\
name: noisy
model: mockllm/model
modelParameters:
  temperature: {temperature}
messages:
  - role: user
    content: "{{{{input}}}}"
testData:
  - {{input: "Capital of France? ANSWER: Paris || Lyon", expected: Paris}}
  - {{input: "Two and two? ANSWER: 4", expected: "4"}}
  - {{input: "Colour of the sky? ANSWER: red || green || blue || blue", expected: blue}}
  - {{input: "Largest planet? ANSWER: Jupiter || Saturn || Jupiter", expected: Jupiter}}
evaluators:
  - name: eq
    string: {{equals: "{{{{expected}}}}"}}
promptci:
  repeats: {repeats}
"""


def _prompt(tmp_path: Path, temperature: float = 0.8, repeats: int = 6, extra: str = "") -> Path:
    path = tmp_path / "noisy.prompt.yml"
    path.write_text(PROMPT.format(temperature=temperature, repeats=repeats) + extra, encoding="utf-8")
    return path


def _eval(tmp_path: Path, *args: str) -> tuple[int, str, dict]:
    out = tmp_path / "r.json"
    done = run_cli("eval", *args, "--json", str(out), env={"PROMPTCI_CACHE_DIR": str(tmp_path / "cache")})
    return done.returncode, done.stdout, json.loads(out.read_text(encoding="utf-8"))["runs"][0]


def test_a_sampled_prompt_records_distinct_draws_and_a_rerun_reuses_them(tmp_path: Path) -> None:
    path = _prompt(tmp_path)
    code, shown, first = _eval(tmp_path, str(path))
    assert code == 0
    by_id = {i["id"]: i for i in first["items"]}
    assert all(len(i["draws"]) == 6 for i in by_id.values())
    outputs = [{d["output"] for d in i["draws"]} for i in by_id.values()]
    assert {"Paris", "Lyon"} in outputs  # the alternatives were both drawn: the draws are not one cached answer
    for item in by_id.values():  # the score is the mean of the draws
        assert abs(item["score"] - sum(d["score"] for d in item["draws"]) / 6) < 1e-12
    summary = first["summary"]
    assert summary["draws"] == 6 and summary["calls"] == 24
    flaky = {i for i, item in by_id.items() if len({d["score"] for d in item["draws"]}) > 1}
    assert set(summary["flaky"]) == flaky and flaky
    assert summary["pass_all"] == sum(all(d["score"] == 1.0 for d in i["draws"]) for i in by_id.values())
    assert f"pass^6 {summary['pass_all'] / 4:.3f}" in shown and f"{len(flaky)} flaky" in shown
    code, _, again = _eval(tmp_path, str(path))
    assert again["summary"]["calls"] == 0 and again["summary"]["cache_hits"] == 24
    assert [i["draws"] for i in again["items"]] == [i["draws"] for i in first["items"]]
    _, _, more = _eval(tmp_path, str(path), "--repeats", "8")  # two more draws are two new samples, six reused
    assert more["summary"]["calls"] == 2 * 4 and [i["draws"][:6] for i in more["items"]] == [
        i["draws"] for i in first["items"]
    ]


def test_a_deterministic_exact_prompt_is_scored_once_whatever_the_repeats(tmp_path: Path) -> None:
    path = _prompt(tmp_path, temperature=0, repeats=5)
    _, shown, scored = _eval(tmp_path, str(path))
    assert scored["summary"]["calls"] == 4 and scored["summary"]["draws"] == 1
    assert all(i["draws"] == [] for i in scored["items"]) and "pass^" not in shown
    assert [i["output"] for i in scored["items"]] == ["Paris", "4", "red", "Jupiter"]


LABELLED = """\
name: labelled
model: mockllm/model
modelParameters:
  temperature: {temperature}
messages:
  - role: user
    content: "{{{{input}}}} Answer:"
testData:
{rows}
promptci:
  labels: [{labels}]
  repeats: 8
"""
LABELS = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"]


def _labelled(tmp_path: Path, temperature: float) -> Path:
    rows = "".join(f'  - {{input: "Animal {i}?", expected: {LABELS[i]}}}\n' for i in range(6))
    path = tmp_path / "labelled.prompt.yml"
    path.write_text(LABELLED.format(temperature=temperature, rows=rows, labels=", ".join(LABELS)), encoding="utf-8")
    return path


def test_a_label_prompt_at_a_temperature_draws_its_labels_from_one_call_per_item(tmp_path: Path) -> None:
    code, shown, hot = _eval(tmp_path, str(_labelled(tmp_path, 2.0)))
    assert code == 0 and hot["summary"]["draws"] == 8
    assert hot["summary"]["calls"] == 6  # the probabilities asked once per item; every draw reads them
    drawn = [[d["output"] for d in i["draws"]] for i in hot["items"]]
    assert all(len(o) == 8 and set(o) <= set(LABELS) for o in drawn)
    assert any(len(set(o)) > 1 for o in drawn) and "flaky" in shown  # drawn, not the most probable label 8 times
    first = hot["items"][0]
    assert first["prompt_tokens"] > 0 and first["prompt_tokens"] == hot["items"][1]["prompt_tokens"]  # counted once
    _, _, again = _eval(tmp_path, str(_labelled(tmp_path, 2.0)))
    assert again["summary"]["calls"] == 0 and [[d["output"] for d in i["draws"]] for i in again["items"]] == drawn
    _, shown, cold = _eval(tmp_path, str(_labelled(tmp_path, 0)))
    assert cold["summary"]["draws"] == 1 and all(i["draws"] == [] for i in cold["items"]) and "pass^" not in shown
    assert [i["output"] for i in cold["items"]] == [
        max(i["label_probs"], key=i["label_probs"].get) for i in hot["items"]
    ]


def test_a_label_is_drawn_with_its_chance_as_a_sampled_answer() -> None:
    probs = {"a": 0.6, "b": 0.3, "c": 0.1}
    assert labelprobs.tempered(probs, 1.0, None) == pytest.approx(probs)
    squared = {k: p**2 for k, p in probs.items()}  # T = 0.5: p^(1/T), renormalised
    total = sum(squared.values())
    assert labelprobs.tempered(probs, 0.5, None) == pytest.approx({k: v / total for k, v in squared.items()})
    assert labelprobs.tempered(probs, 1.0, 0.8) == pytest.approx({"a": 2 / 3, "b": 1 / 3, "c": 0.0})  # top_p cut
    assert labelprobs.tempered(probs, 1.0, 0.5) == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0})
    assert labelprobs.tempered(probs, 0.0, 0.5) is None  # greedy: the most probable label, as without temperature
    assert labelprobs.tempered({"a": 0.5, "b": 0.5}, 1.0, None) is None  # no evidence: the answer stands
    grid = [(j + 0.5) / 10_000 for j in range(10_000)]
    drawn = [labelprobs.sample(probs, 0.5, None, u) for u in grid]
    assert {k: drawn.count(k) / len(grid) for k in probs} == pytest.approx(
        labelprobs.tempered(probs, 0.5, None), abs=1e-3
    )
    near = {"a": 0.58, "b": 0.32, "c": 0.1}  # base and head alike: one u draws one label on both sides, mostly
    alike = sum(labelprobs.sample(probs, 0.8, None, u) == labelprobs.sample(near, 0.8, None, u) for u in grid)
    assert alike / len(grid) > 0.95


def test_draw_zero_keeps_the_cache_key_of_earlier_versions() -> None:
    messages = [{"role": "user", "content": "hi"}]
    key = ModelClient._key("complete", "mockllm/model", messages, Params(temperature=0.8), None)
    assert key == "2e937e2c13cda16a48ebcdeebb171143254db85d936bb27914bb5c7493e6acc7"  # promptci's key before draws
    assert ModelClient._key("complete", "mockllm/model", messages, Params(temperature=0.8, sample=1), None) != key


def test_a_draw_is_seeded_by_its_sample_only_where_the_seed_is_the_models() -> None:
    assert Params(temperature=0.8, sample=3).seeded("mockllm/model")["seed"] == 3
    assert "seed" not in Params(temperature=0.8, sample=3).seeded("openai/gpt-4o-mini")
    assert Params(temperature=0.8, seed=10, sample=3).seeded("openai/gpt-4o-mini")["seed"] == 13
    assert "seed" not in Params(temperature=0.8).seeded("mockllm/model")
    assert generate("x ANSWER: a || b", 0.0, 7) == "a" and generate("x ANSWER: a || b", 0.0, None) == "a"
    assert {generate("x ANSWER: a || b", 1.0, seed) for seed in range(20)} == {"a", "b"}


def test_repeats_beyond_the_limit_are_refused(tmp_path: Path) -> None:
    done = run_cli("eval", str(_prompt(tmp_path)), "--repeats", "51")
    assert done.returncode == 2 and "at most 50" in done.stderr


def test_a_head_that_turns_stable_items_flaky_is_named() -> None:
    def item(i: str, *scores: float) -> ItemResult:
        return ItemResult(id=i, score=sum(scores) / len(scores), draws=[Draw("x", s) for s in scores])

    base = {"a": item("a", 1, 1, 1), "b": item("b", 1, 0, 1), "c": item("c", 0, 0, 0)}
    head = {"a": item("a", 1, 0, 1), "b": item("b", 1, 0, 1), "c": item("c", 1, 1, 1)}
    assert draws.newly_flaky(base, head) == ["a"]
    stable = draws.stability(list(head.values()))
    assert (stable.draws, stable.pass_all, stable.flaky) == (3, 1, ["a", "b"])


JUDGE = """
  judge_regrades: 3
  judge_model: mockllm/model
  evaluators:
    - name: grader
      judge: "Is {{completion}} right? Say PASS or FAIL."
      choices: [{choice: PASS, score: 1}, {choice: FAIL, score: 0}]
"""


NO_PARAMS = Params()


class _CoinJudge(ModelClient):
    """The mock for answers; a judge whose grade is a coin tossed by the grade's sample index."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.judged: list[int] = []

    async def complete(self, model: str, messages: list, params: Params = NO_PARAMS) -> Completion:  # type: ignore[override]
        if "PASS or FAIL" in messages[-1]["content"]:
            self.judged.append(params.sample)
            verdict = "PASS" if params.sample in (0, 2) or messages[-1]["content"].startswith("Is 4") else "FAIL"
            return Completion(verdict, Usage())
        return await super().complete(model, messages, params)


def test_a_judge_is_fingerprinted_and_its_grades_are_samples_with_self_agreement(tmp_path: Path) -> None:
    path = _prompt(tmp_path, temperature=0, repeats=3, extra=JUDGE)
    prompt = promptfile.load(path)
    assert draws.judged(prompt) and not draws.sampled(prompt) and draws.per_item(prompt) == 3
    client = _CoinJudge(cache_path=tmp_path / "cache")
    scored = asyncio.run(run(Task(prompt, load_pool(prompt), load_pool(prompt).items), client))
    client.close()
    # one answer per item (deterministic), three grades of it, and three answers graded a fourth time
    assert sorted(set(client.judged)) == [0, 1, 2, draws.REGRADE_SAMPLE]
    assert client.judged.count(draws.REGRADE_SAMPLE) == 3
    agreement = scored.summary.judge_agreement
    assert agreement is not None and agreement.graded == 3 and agreement.agreed == 1  # only "Is 4" agrees
    assert scored.evaluators["grader"].llm and scored.evaluators["grader"].model == "mockllm/model"
    assert not scored.evaluators["eq"].llm
    written = tmp_path / "r.json"
    results.write(written, [scored])
    assert results.read(written)[0].evaluators == scored.evaluators
    assert results.read(written)[0].summary.judge_agreement == agreement
    changed = promptfile.load(_prompt(tmp_path, temperature=0, repeats=3, extra=JUDGE.replace("right?", "correct?")))
    from promptci.scoring import fingerprints

    assert fingerprints(changed)["grader"] != scored.evaluators["grader"]
    assert fingerprints(changed)["eq"] == scored.evaluators["eq"]


PR_PROMPT = """name: Capitals
model: mockllm/model
modelParameters:
  temperature: 0.8
messages:
  - role: user
    content: "{{input}}"
evaluators:
  - name: eq
    string: {equals: "{{expected}}"}
promptci:
  pool: ../eval_sets/capitals.jsonl
  repeats: 4
  protected: [c00, nowhere]
  embedding_model: mockllm/embed
  selection: {size: 12}
"""


def test_a_pull_request_shows_draws_and_names_the_items_head_made_flaky(tmp_path: Path) -> None:
    from .test_flows import git, pr

    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    rows = [
        {"id": f"c{n:02d}", "input": f"City number {n}? ANSWER: city{n}", "expected": f"city{n}", "alt": f"city{n}"}
        for n in range(40)
    ]
    (repo / "eval_sets" / "capitals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (repo / "prompts" / "c.prompt.yml").write_text(PR_PROMPT)
    assert run_cli("select", "prompts/c.prompt.yml", cwd=repo).returncode == 0
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "capitals")
    git(repo, "checkout", "-qb", "noisy")
    path = repo / "prompts" / "c.prompt.yml"
    path.write_text(PR_PROMPT.replace('content: "{{input}}"', 'content: "{{input}} || elsewhere"'))
    git(repo, "commit", "-qam", "noisier")
    proc, results = pr(repo, tmp_path / "out", "main", "noisy", "--no-optimize", "--no-refresh")
    [prompt] = results["prompts"]
    disagreed = [i for i in prompt["items"] if prompt["head"][i]["score"] != 1.0]  # base answers every item right
    assert prompt["repeats"] == 4 and disagreed  # about half of head's first draws answer "elsewhere"
    assert all(
        len(prompt[side][i]["draws"]) == (4 if i in disagreed or i == "c00" else 0)  # c00 is protected: every draw
        for side in ("base", "head")
        for i in prompt["items"]
    )
    made_flaky = [i for i in prompt["items"] if len({d["score"] for d in prompt["head"][i]["draws"]}) > 1]
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"repeats on {len(disagreed)} items whose draws disagreed" in report
    assert not made_flaky or (f"Head made {len(made_flaky)} item" in report and f"`{made_flaky[0]}`" in report)
    c00 = [d["score"] for d in prompt["head"]["c00"]["draws"]]
    assert len(c00) == 4 and min(c00) < 1.0  # drawn 4 times whatever its first draw said, and failed in one
    assert prompt["verdict"]["status"] == "fail"
    assert "protected items that base passes failed on head: c00" in prompt["verdict"]["reason"]
    assert "c00" in prompt["head"] and "does not have: nowhere" in prompt["subset_note"]
    replayed = prresults.load(tmp_path / "out" / "results.json")  # as `promptci report` and a shards' merge read it
    assert replayed.prompts[0].verdict is not None and replayed.prompts[0].verdict.status == prompt["verdict"]["status"]
    assert (
        replayed.verdict.status == results["verdict"]["status"]
    )  # a fail reached after the test (protected) is never undone
    again, rerun = pr(repo, tmp_path / "again", "main", "noisy", "--no-optimize", "--no-refresh")
    assert again.returncode == proc.returncode and rerun["prompts"][0]["verdict"] == prompt["verdict"]
    assert rerun["usage"]["calls"] == 0  # every draw came back from the cache: the same draws, the same verdict


def _graded(i: str, first: float, second: float) -> ItemResult:
    from promptci.files.evalresults import Evaluation

    return ItemResult(
        id=i,
        score=first,
        evaluations=[Evaluation("grader", first, "x"), Evaluation("eq", 1.0, "x")],
        regrades=[Evaluation("grader", second, "y")],
    )


def test_a_fail_from_a_judge_that_disagrees_with_itself_is_advisory_unless_the_prompt_blocks(tmp_path: Path) -> None:
    from promptci.gate import decision as gate, judgecheck

    prompt = promptfile.load(_prompt(tmp_path, temperature=0, extra=JUDGE))
    failed = gate.Verdict(gate.FAIL, "head is worse than base")
    noisy = [_graded("a", 1, 0), _graded("b", 1, 1), _graded("c", 0, 1), _graded("d", 1, 1), _graded("e", 1, 1)]
    softened = judgecheck.verdict(failed, noisy, prompt)  # 3 of 5 agree: 60% < 80%
    assert softened is not None and softened.status == gate.INCONCLUSIVE  # never a green check
    assert "3 of 5" in softened.reason and "head is worse than base" in softened.reason
    steady = [_graded("a", 1, 1), _graded("b", 0, 0), _graded("c", 1, 1), _graded("d", 1, 1), _graded("e", 1, 0)]
    assert judgecheck.verdict(failed, steady, prompt) == failed  # 4 of 5: 80%, the minimum
    blocking = promptfile.load(_prompt(tmp_path, temperature=0, extra=JUDGE + "  judge_blocks: true\n"))
    assert judgecheck.verdict(failed, noisy, blocking) == failed
    passed = gate.Verdict(gate.PASS, "not worse")
    assert judgecheck.verdict(passed, noisy, prompt) == passed  # only a fail is made advisory


def test_a_pull_request_that_edits_its_judge_is_told_base_graded_both_sides(tmp_path: Path) -> None:
    from promptci.gate import judgecheck

    base = promptfile.load(_prompt(tmp_path, temperature=0, extra=JUDGE))
    (tmp_path / "head").mkdir()
    head = promptfile.load(_prompt(tmp_path / "head", temperature=0.8, extra=JUDGE.replace("right?", "correct?")))
    assert judgecheck.changed(base, head) == ["grader"]  # the temperature is no evaluator
    assert "grader" in judgecheck.note(base, head) and judgecheck.note(base, base) == ""


def test_sampled_scores_count_as_draws_from_an_endless_population_in_the_gate(tmp_path: Path) -> None:
    exact = promptfile.load(_prompt(tmp_path, temperature=0))
    assert draws.gate_design([exact, exact], 12, 90) == (12, 90)  # exact scores: the design-based finite pool
    assert draws.gate_design([exact, None], 12, 90) == (12, 90)
    (tmp_path / "s").mkdir()
    noisy = promptfile.load(_prompt(tmp_path / "s", temperature=0.8))
    assert draws.gate_design([exact, noisy], 12, 90) == (12, None)  # either side sampled: nothing is exact
    (tmp_path / "j").mkdir()
    judged = promptfile.load(_prompt(tmp_path / "j", temperature=0, extra=JUDGE))
    assert draws.gate_design([judged, None], 12, 90) == (12, None)


def test_a_protected_item_breaks_when_head_fails_it_in_any_draw_where_base_passed_every_draw() -> None:
    def item(i: str, *scores: float) -> ItemResult:
        return ItemResult(id=i, score=sum(scores) / len(scores), draws=[Draw("x", s) for s in scores])

    base = {"a": item("a", 1, 1, 1), "b": item("b", 1, 0, 1), "c": item("c", 1, 1, 1), "d": item("d", 1, 1, 1)}
    head = {"a": item("a", 1, 1, 0), "b": item("b", 0, 0, 0), "c": item("c", 1, 1, 1)}
    assert draws.broken(["a", "b", "c", "d"], base, head) == ["a"]  # b was never stable on base; d not scored


def test_the_terminal_report_shows_the_draws_too(tmp_path: Path) -> None:
    from .test_flows import git, pr

    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    rows = [{"id": f"c{n:02d}", "input": f"City {n}? ANSWER: city{n}", "expected": f"city{n}"} for n in range(30)]
    (repo / "eval_sets" / "capitals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (repo / "prompts" / "c.prompt.yml").write_text(PR_PROMPT)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "capitals")
    git(repo, "checkout", "-qb", "noisy")
    path = repo / "prompts" / "c.prompt.yml"
    path.write_text(PR_PROMPT.replace('content: "{{input}}"', 'content: "{{input}} || elsewhere"'))
    git(repo, "commit", "-qam", "noisier")
    pr(repo, tmp_path / "out", "main", "noisy", "--no-optimize", "--no-refresh")
    shown = run_cli("report", str(tmp_path / "out" / "results.json"), "--format", "terminal").stdout
    assert "output noise inside the interval: repeats on " in shown and "(4 draws a side there, one elsewhere)" in shown


def test_a_slice_head_is_worse_on_is_found_and_named_by_its_most_typical_item(tmp_path: Path) -> None:
    from promptci.files.settings import GateSettings
    from promptci.gate import slices

    rows = [{"id": f"a{n:02d}", "input": f"apple pear orchard fruit {n}", "expected": "x"} for n in range(20)]
    rows += [{"id": f"b{n:02d}", "input": f"bus train station ticket {n}", "expected": "x"} for n in range(60)]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "s.prompt.yml"
    path.write_text(
        'name: s\nmodel: mockllm/model\nmessages:\n  - {role: user, content: "{{input}}"}\n'
        "promptci:\n  pool: pool.jsonl\n  embedding_model: mockllm/embed\n  selection: {clusters: 2}\n"
    )
    prompt = promptfile.load(path)
    pool = load_pool(prompt)
    ids = [r["id"] for r in rows]
    base = {i: ItemResult(id=i, score=1.0) for i in ids}
    head = {i: ItemResult(id=i, score=0.0 if i.startswith("a") else 1.0) for i in ids}
    [found] = slices.worse(prompt, pool, ids, base, head, GateSettings())
    assert found.typical.startswith("a") and found.items == 20 and found.difference == -1.0
    assert "the cluster around a" in found.describe() and "-100.0 points" in found.describe()
    assert slices.worse(prompt, pool, ids, base, base, GateSettings()) == []
    few = [i for i in ids if i.startswith("b")] + ids[: slices.MIN_ITEMS - 1]
    assert slices.worse(prompt, pool, few, base, head, GateSettings()) == []  # too few items in the cluster

    from promptci.files import prresults
    from promptci.gate import decision as gate
    from promptci.gitdiff import Change
    from promptci.pullrequest import pipeline

    def judged(text: str) -> prresults.PromptResults:
        result = prresults.PromptResults.start(Change("modified", "s", "s", "", "", "edited"))
        result.items, result.base, result.head = ids, base, head
        result.verdict = gate.Verdict(gate.PASS, "not worse")
        pipeline._slices(result, promptfile.parse(path.read_text() + text, path), pool)
        return result

    listed = judged("")
    assert listed.verdict is not None and listed.verdict.status == gate.PASS and len(listed.slices) == 1
    blocking = judged("  gate_slices: true\n")
    assert blocking.verdict is not None and blocking.verdict.status == gate.FAIL
    assert "head is worse on 1 slice" in blocking.verdict.reason and "the cluster around a" in blocking.verdict.reason


def test_the_demo_at_a_temperature_draws_labels_and_a_rerun_from_the_cache_gives_its_verdict(tmp_path: Path) -> None:
    env = {"PROMPTCI_CACHE_DIR": str(tmp_path / "cache"), "PROMPTCI_GATE_SECRET": "s", "CI": "true"}
    args = ["demo", "--temperature", "0.8", "--model", "mockllm/model", "--no-optimize", "--no-refresh"]
    runs = [run_cli(*args, "--out", str(tmp_path / name), env=env) for name in ("first", "again")]
    reports = [json.loads((tmp_path / name / "results.json").read_text()) for name in ("first", "again")]
    first, again = (r["prompts"][0] for r in reports)
    assert first["verdict"] == again["verdict"] and first["comparison"] == again["comparison"]
    assert reports[0]["usage"]["calls"] > 0 and reports[1]["usage"]["calls"] == 0  # the same draws, from the cache
    assert first["sampled"] and first["repeats"] == 3 and runs[0].returncode == runs[1].returncode
    assert "Output noise is inside the interval" in (tmp_path / "first" / "report.md").read_text(encoding="utf-8")
