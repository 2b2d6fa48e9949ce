"""Settings resolved once and one result model: every command takes a prompt's models and limits from the same
rule, the command line's gate values are checked by the gate's own settings model, and a run's records are the
very classes its results file keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from promptci import effective, promptfile, runner
from promptci.files import evalresults, prresults
from promptci.files.settings import GateSettings
from promptci.flows import evaluate
from promptci.gate import decision as gate

from .helpers import run_cli
from .test_prresults import results as results_file

PROMPT = """name: echo
model: mockllm/model
messages:
  - role: user
    content: "{{input}}"
promptci:
  concurrency: 3
  optimizer: {model: mockllm/other}
  gate: {margin: 0.05, min_score: 0.2}
testData:
  - {input: a, expected: x}
  - {input: b, expected: y}
"""


def _prompt(tmp_path: Path, text: str = PROMPT) -> promptfile.PromptFile:
    path = tmp_path / "p.prompt.yml"
    path.write_text(text, encoding="utf-8")
    return promptfile.load(path)


def test_each_models_precedence_is_the_flag_else_the_prompts(tmp_path: Path) -> None:
    prompt = _prompt(tmp_path)
    assert runner.models(prompt, None, None) == ("mockllm/model", "mockllm/other")
    assert runner.models(prompt, "mockllm/flag", None) == ("mockllm/flag", "mockllm/other")
    assert runner.models(prompt, None, "mockllm/asker") == ("mockllm/model", "mockllm/asker")
    plain = _prompt(tmp_path, PROMPT.replace("  optimizer: {model: mockllm/other}\n", ""))
    assert runner.models(plain, "mockllm/flag", None) == ("mockllm/flag", "mockllm/flag")  # the task's by default
    resolved = effective.of_prompt(prompt, effective.Overrides(model="mockllm/flag"))
    assert (resolved.model, resolved.optimizer_model) == runner.models(prompt, "mockllm/flag", None)


def test_eval_takes_the_effective_settings(tmp_path: Path) -> None:
    prompt = _prompt(tmp_path)
    plan = evaluate.prepare(evaluate.EvalRequest(prompts=[prompt.path], model="mockllm/flag"))
    assert [t.model for t in plan.tasks] == ["mockllm/flag"] and plan.concurrency == 3
    assert plan.tasks[0].label == "echo (mockllm/flag)"
    own = evaluate.prepare(evaluate.EvalRequest(prompts=[prompt.path]))
    assert [t.model for t in own.tasks] == ["mockllm/model"]


def test_command_line_gate_values_are_validated_over_the_prompts_gate(tmp_path: Path) -> None:
    judged = _prompt(tmp_path).settings.gate
    merged = effective.gate_settings(judged, effective.Overrides(gate={"margin": 0.1}))
    assert (merged.margin, merged.min_score, merged.max_items) == (0.1, 0.2, judged.max_items)
    assert effective.gate_settings(judged, effective.Overrides()) == judged
    with pytest.raises(ValidationError, match="margin"):
        effective.gate_settings(judged, effective.Overrides(gate={"margin": 1.5}))
    with pytest.raises(ValidationError, match="tolerance"):
        effective.gate_settings(judged, effective.Overrides(gate={"tolerance": 0.1}))


def test_a_gate_flag_out_of_range_is_refused_by_the_settings_model(tmp_path: Path) -> None:
    proc = run_cli("pr", "--base", "HEAD", "--margin", "1.5", cwd=tmp_path)
    assert proc.returncode == 2 and "--margin" in proc.stderr and "less than or equal to 1" in proc.stderr
    proc = run_cli("pr", "--base", "HEAD", "--min-score", "nan", cwd=tmp_path)
    assert proc.returncode == 2 and "--min-score" in proc.stderr and "finite" in proc.stderr


def test_a_runs_records_are_the_classes_its_results_file_keeps() -> None:
    data = prresults.parse(results_file())
    prompt = data.prompts[0]
    assert isinstance(data.verdict, gate.Verdict) and isinstance(prompt.head["item-0"], evalresults.ItemResult)
    assert prresults.parse(json.loads(prresults.dump(data))) == data  # written and read back: the same
    again = prresults.recompute(data)
    assert isinstance(again.prompts[0].comparison, prresults.Comparison)
    verdict = again.prompts[0].verdict
    assert isinstance(again.verdict, gate.Verdict) and verdict is not None and again.verdict.status == verdict.status


def test_a_results_file_is_read_strictly_as_json() -> None:
    loose = results_file()
    loose["prompts"][0]["head"]["item-0"]["score"] = "0.0"  # a number written as a string
    with pytest.raises(ValidationError, match="score"):
        prresults.parse(loose)
    extra = results_file()
    extra["prompts"][0]["change"]["trusted"] = True  # a field no version wrote
    with pytest.raises(ValidationError, match="trusted"):
        prresults.parse(extra)
    older = results_file()
    older["prompts"][0].pop("settings", None)  # files written before the effective settings were recorded
    assert prresults.parse(older).prompts[0].settings is None


def test_a_gate_settings_record_refuses_what_the_settings_refuse() -> None:
    data = results_file()
    data["prompts"][0]["gate"] = {**GateSettings().model_dump(), "margin": 2.0}
    with pytest.raises(ValidationError, match="margin"):
        prresults.parse(data)
