"""Prompt files: every GitHub Models field loads, bad input is one clear line, write-back keeps layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptci import promptfile
from promptci.errors import InputError

from .helpers import EXAMPLE

# Every field of the GitHub Models format, written the way `gh models eval` reads it
# (gh-models pkg/prompt: unknown keys ignored, jsonSchema a JSON string, roles any case).
GH_FULL = """\
# a comment that must survive
name: Summarizer
description: Summarizes text
model: openai/gpt-4o-mini
modelParameters:
  maxTokens: 100
  temperature: 0.5
  topP: 0.9
responseFormat: json_schema
jsonSchema: |-
  {"name": "summary", "strict": true,
   "schema": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}}
messages:
  - role: System
    content: You are a summarizer.
  - role: user
    content: 'Summarize: {{input}}'   # quoted on purpose
  - role: assistant
    content: "Sure."
testData:
  - input: The quick brown fox jumps over the lazy dog.
    expected: A fox jumps over a dog.
  - input: Rain is expected tomorrow.
    expected: Rain tomorrow.
evaluators:
  - name: starts
    string:
      startsWith: 'A'
  - name: has fox
    string:
      contains: fox
  - name: ends
    string:
      endsWith: '.'
  - name: exact
    string:
      equals: '{{expected}}'
  - name: judge
    llm:
      modelId: openai/gpt-4o-mini
      systemPrompt: You grade summaries.
      prompt: 'Is "{{completion}}" a good summary of "{{input}}"? Answer yes or no.'
      choices:
        - choice: 'yes'
          score: 1
        - choice: 'no'
          score: 0
  - name: similar
    uses: github/similarity
"""


def write(tmp_path: Path, text: str, name: str = "p.prompt.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        promptfile.load(path)
    return info.value


def test_every_github_models_field_loads(tmp_path: Path) -> None:
    prompt = promptfile.load(write(tmp_path, GH_FULL))
    spec = prompt.spec
    assert spec.name == "Summarizer" and spec.model == "openai/gpt-4o-mini"
    assert (spec.modelParameters.maxTokens, spec.modelParameters.temperature, spec.modelParameters.topP) == (
        100,
        0.5,
        0.9,
    )
    assert spec.responseFormat == "json_schema" and spec.jsonSchema and '"summary"' in spec.jsonSchema
    assert [m.role for m in spec.messages] == ["system", "user", "assistant"]
    assert spec.testData and len(spec.testData) == 2 and spec.testData[0]["expected"] == "A fox jumps over a dog."
    assert [e.name for e in spec.evaluators] == ["starts", "has fox", "ends", "exact", "judge", "similar"]
    judge = spec.evaluators[4].llm
    assert judge is not None and judge.choices[0].score == 1.0
    assert prompt.variables == {"input"}
    assert prompt.settings.selection.size == 20  # defaults fill the promptci block


def test_bundled_example_loads_with_its_settings() -> None:
    prompt = promptfile.load(EXAMPLE)
    assert prompt.model == "local/gemma-3-270m"
    assert isinstance(prompt.settings.labels, list) and len(prompt.settings.labels) == 7
    assert prompt.variables == {"input"}


def test_render_substitutes_row_keys_literally_and_runs_nothing(tmp_path: Path) -> None:
    """gh's templating (pkg/prompt TemplateString): `{{key}}` for each row key, all else is text. This
    replaced an earlier Jinja sandbox: no template language runs, so there is nothing for a pull request to escape."""
    prompt = promptfile.load(write(tmp_path, GH_FULL))
    messages = prompt.render({"input": "Hello {{not a template}}"})
    assert messages[1] == {"role": "user", "content": "Summarize: Hello {{not a template}}"}
    assert prompt.render({})[1]["content"] == "Summarize: {{input}}"  # gh sends a placeholder it cannot fill as text


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ input.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% for x in range(10**9) %}{{x}}{% endfor %}",
    ],
)
def test_template_code_is_sent_as_text(tmp_path: Path, attack: str) -> None:
    text = GH_FULL.replace("content: 'Summarize: {{input}}'   # quoted on purpose", "content: |-\n      " + attack)
    prompt = promptfile.load(write(tmp_path, text))
    assert prompt.render({"input": "x", "x": 1})[1]["content"] == attack.replace("{{x}}", "1")


def test_unchanged_round_trip_is_byte_identical(tmp_path: Path) -> None:
    for text in (GH_FULL, EXAMPLE.read_text(encoding="utf-8")):
        prompt = promptfile.load(write(tmp_path, text))
        contents = [m.content for m in prompt.spec.messages]
        assert prompt.with_message_contents(contents) == text


def test_rewrite_keeps_comments_order_and_styles(tmp_path: Path) -> None:
    prompt = promptfile.load(EXAMPLE)
    contents = [m.content for m in prompt.spec.messages]
    contents[1] = contents[1].replace("Norah Jones", "Miles Davis")
    new_text = prompt.with_message_contents(contents)
    assert "# Intent classifier for a voice assistant." in new_text
    assert "# well above the 0.18 majority baseline" in new_text
    assert new_text.index("name:") < new_text.index("messages:") < new_text.index("promptci:")
    assert "content: |-" in new_text and "content: >-" in new_text
    reloaded = promptfile.parse(new_text, EXAMPLE)
    assert reloaded.spec.messages[1].content == contents[1]
    assert reloaded.spec.promptci == prompt.spec.promptci
    changed = [a for a, b in zip(EXAMPLE.read_text().splitlines(), new_text.splitlines()) if a != b]
    assert changed == ["      Utterance: Play the newest album by Norah Jones on Spotify."]


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("name: x\nmodel: m\nmessages:\n  - role: user\n    content: [unclosed\n", 5, "malformed YAML"),
        ("name: x\nmodel: m\nmessages: [\n", None, "malformed YAML"),
        ("name: x\nname: y\nmodel: m\nmessages: [{role: user, content: hi}]\n", 2, "malformed YAML"),
    ],
)
def test_malformed_yaml_names_the_line(tmp_path: Path, text: str, line: int | None, words: str) -> None:
    err = error_of(write(tmp_path, text))
    assert words in str(err)
    if line:
        assert f"p.prompt.yml:{line}:" in str(err)
    assert "\n" not in str(err)


def test_unknown_field_suggests_the_right_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # gh ignores unknown GitHub Models keys, so promptci does too, with a warning (docs/github-models.md); promptci:
    # stays strict
    promptfile.load(write(tmp_path, GH_FULL.replace("description:", "descripton:")))
    assert "keys gh ignores, ignored here too: descripton" in capsys.readouterr().err
    err = error_of(write(tmp_path, GH_FULL + "promptci:\n  selection:\n    sise: 10\n"))
    assert "promptci.selection.sise: unknown field" in str(err) and "'size'" in str(err)


def test_missing_and_invalid_fields(tmp_path: Path) -> None:
    assert promptfile.load(write(tmp_path, "name: x\nmessages: [{role: user, content: hi}]\n")).model is None
    err = error_of(write(tmp_path, GH_FULL.replace("role: System", "role: robot")))
    assert "messages[0].role" in str(err) and ":14:" in str(err)
    err = error_of(write(tmp_path, GH_FULL + "promptci:\n  selection:\n    alpha: 1.5\n"))
    assert "promptci.selection.alpha" in str(err) and "less than or equal to 1" in str(err)
    err = error_of(write(tmp_path, GH_FULL.replace("responseFormat: json_schema\n", "responseFormat: xml\n")))
    assert "responseFormat" in str(err)
    err = error_of(write(tmp_path, GH_FULL + "promptci:\n  labels: [a, a]\n"))
    assert "promptci.labels" in str(err) and "distinct" in str(err)


def test_placeholder_of_an_answer_field_is_refused(tmp_path: Path) -> None:
    """A prompt that reads {{expected}} would score the answer it was given; gh would send it."""
    err = error_of(write(tmp_path, GH_FULL.replace("'Summarize: {{input}}'", "'Summarize: {{input}} ({{expected}})'")))
    assert "messages[1].content" in str(err) and "answer field 'expected'" in str(err) and ":17:" in str(err)


def test_unreadable_files_fail_fast(tmp_path: Path) -> None:
    assert "file not found" in str(error_of(tmp_path / "nope.prompt.yml"))
    bad = tmp_path / "latin1.prompt.yml"
    bad.write_bytes("name: caf\xe9\nmodel: m\n".encode("latin-1"))
    assert "not UTF-8" in str(error_of(bad)) and ":1:" in str(error_of(bad))
    binary = tmp_path / "bin.prompt.yml"
    binary.write_bytes(b"name: x\x00\x01\x02")
    assert "binary" in str(error_of(binary))
    huge = tmp_path / "huge.prompt.yml"
    huge.write_text("name: " + "x" * (promptfile.MAX_FILE_BYTES + 1))
    assert "limit" in str(error_of(huge))


def test_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "name: bomb\nmodel: m\nmessages: [{role: user, content: hi}]\ntestData:\n  - " + "\n    ".join(levels) + "\n"
    err = error_of(write(tmp_path, text))
    assert "aliases expand" in str(err)


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = GH_FULL.replace(
        "  - name: has fox\n    string:\n      contains: fox\n",
        "  - name: has fox\n    string: &fox\n      contains: fox\n  - name: again\n    string: *fox\n",
    )
    assert len(promptfile.load(write(tmp_path, text)).spec.evaluators) == 7


@pytest.mark.parametrize(
    "setting, words",
    [
        ("selection:\n    size: true", "promptci.selection.size: Input should be a valid integer"),
        ("selection:\n    size: '20'", "promptci.selection.size: Input should be a valid integer"),
        ("selection:\n    seed: '3'", "promptci.selection.seed: Input should be a valid integer"),
        ("selection:\n    alpha: '0.5'", "promptci.selection.alpha: Input should be a valid number"),
        ("selection:\n    threshold: true", "promptci.selection.threshold: Input should be a valid number"),
        ("optimizer:\n    enabled: 1", "promptci.optimizer.enabled: Input should be a valid boolean"),
        ("optimizer:\n    steps: 2.0", "promptci.optimizer.steps: Input should be a valid integer"),
        ("concurrency: '8'", "promptci.concurrency: Input should be a valid integer"),
        ("pool: 5", "promptci.pool: Input should be a valid string"),
        ("labels: [1, 2]", "promptci.labels"),
        ("budget:\n    max_usd: .nan", "promptci.budget.max_usd: Input should be a finite number"),
        ("budget:\n    max_usd: .inf", "promptci.budget.max_usd: Input should be a finite number"),
        ("optimizer:\n    learning_rate: .inf", "promptci.optimizer.learning_rate: Input should be a finite number"),
    ],
)
def test_settings_are_strict_about_types(tmp_path: Path, setting: str, words: str) -> None:
    """`size: true` was read as 1 and `seed: '3'` as 3: a setting of the wrong type means something else."""
    err = error_of(write(tmp_path, GH_FULL + "promptci:\n  " + setting + "\n"))
    assert words in str(err) and "\n" not in str(err)
    ok = promptfile.load(write(tmp_path, GH_FULL + "promptci:\n  selection:\n    threshold: 1\n    seed: 3\n"))
    assert ok.settings.selection.threshold == 1.0  # a whole number is still a number


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_outside_what_numpy_takes_is_refused(tmp_path: Path, seed: str) -> None:
    """A negative seed was a scikit-learn traceback after the embeddings were computed."""
    err = error_of(write(tmp_path, GH_FULL + f"promptci:\n  selection:\n    seed: {seed}\n"))
    assert "promptci.selection.seed" in str(err)


@pytest.mark.parametrize("labels", ["[yes, Yes]", "['yes', ' yes']", "[A, b, 'a ']"])
def test_labels_that_differ_only_by_case_or_space_are_refused(tmp_path: Path, labels: str) -> None:
    """A label match ignores case and surrounding space, so such labels could never be told apart."""
    err = error_of(write(tmp_path, GH_FULL + f"promptci:\n  labels: {labels}\n"))
    assert "promptci.labels" in str(err) and "differ only by case or surrounding space" in str(err)


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        ("[" + ", ".join(f"l{i}" for i in range(301)) + "]", "at most 300 labels (301 given)"),
        ("[short, " + "x" * 201 + "]", "at most 200 characters"),
    ],
)
def test_a_label_set_too_large_to_score_is_refused(tmp_path: Path, labels: str, said: str) -> None:
    """Every label is scored on every item (each of its tokens a row of logits over the whole vocabulary for the
    embedded model): a pull request's label set is bounded like its other inputs."""
    err = error_of(write(tmp_path, GH_FULL + f"promptci:\n  labels: {labels}\n"))
    assert "promptci.labels" in str(err) and said in str(err)


def test_a_prompt_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    err = error_of(tmp_path)
    assert "is a folder, not a prompt file" in str(err) and str(tmp_path) in str(err)
