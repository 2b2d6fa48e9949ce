"""The README and docs/ stay true: every setting documented, the two set-up commands present and wired to CI."""

from __future__ import annotations

import runpy

from pydantic import BaseModel

from promptci.files.settings import PromptciEvaluator, Settings

from .helpers import ROOT


def _leaf_settings(model: type[BaseModel], prefix: str) -> dict[str, str | None]:
    """Every leaf setting of `model` with its description."""
    found: dict[str, str | None] = {}
    for name, info in model.model_fields.items():
        key = f"{prefix}.{info.alias or name}"
        inner = info.annotation if isinstance(info.annotation, type) else None
        if inner is not None and issubclass(inner, BaseModel):
            found |= _leaf_settings(inner, key)
        else:
            found[key] = info.description
    return found


def test_every_setting_has_a_description_and_the_reference_is_written_from_them() -> None:
    """docs/settings.md is generated from the models' descriptions (scripts/settings_reference), so each text
    exists once; a setting without one, or a page not regenerated after a change, fails here."""
    settings = _leaf_settings(Settings, "promptci") | _leaf_settings(PromptciEvaluator, "evaluator")
    assert not [name for name, text in settings.items() if not text], "describe these settings with Field(description=)"
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in page for name in _leaf_settings(Settings, "promptci"))
    render = runpy.run_path(str(ROOT / "scripts" / "settings_reference"))["render"]
    assert page == render(), "docs/settings.md is out of date: run scripts/settings_reference"


def test_readme_commands_exist_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo" in readme and "scripts/test" in readme
    for script in ("scripts/demo", "scripts/test", "scripts/setup", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} must be executable"
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_every_test_the_reliability_and_security_tables_name_exists() -> None:
    import ast
    import re

    for doc, at_least in (("reliability.md", 30), ("security.md", 10), ("github.md", 10)):
        named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", (ROOT / "docs" / doc).read_text())
        assert len(named) >= at_least, doc
        for module, test in named:
            tree = ast.parse((ROOT / "tests" / module).read_text())
            functions = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            assert test in functions, f"docs/{doc} names {module}::{test}, which does not exist"


def test_the_python_promptci_claims_is_one_it_runs_on() -> None:
    """pyproject, action.yml and the README name one minimum Python, and it is at least what the code needs:
    `enum.StrEnum` is 3.11's (the precheck, on the runner's own Python, crashed on ubuntu-22.04's 3.10)."""
    import ast
    import re
    import tomllib

    claimed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    found = re.fullmatch(r">=(3\.\d+)", claimed)
    assert found is not None, claimed
    minimum = found.group(1)
    assert f"({minimum} or later)" in (ROOT / "action.yml").read_text()
    assert f"Python ≥ {minimum}," in (ROOT / "README.md").read_text()
    strenum = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "promptci").rglob("*.py")
        if any(
            isinstance(n, ast.ImportFrom) and n.module == "enum" and any(a.name == "StrEnum" for a in n.names)
            for n in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert not strenum or tuple(map(int, minimum.split("."))) >= (3, 11), strenum


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    import re

    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        text = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
        anchors.add(text.replace(" ", "-"))
    return anchors


def test_every_link_between_the_documents_leads_somewhere() -> None:
    """A link in the README, CONTRIBUTING.md, docs/ or benchmarks/README.md names a file of the repository (and, for
    a page, a heading it has), so moving a section cannot leave a reader at a dead end."""
    import re

    pages = [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists() or (ROOT.resolve() not in resolved.parents and resolved != ROOT.resolve()):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved.read_text(encoding="utf-8")):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)


EXAMPLE_START, EXAMPLE_END = "<!-- the report of scripts/demo: start -->", "<!-- the report of scripts/demo: end -->"


def test_the_readmes_picture_is_the_report_promptci_renders_from_a_real_run(capsys) -> None:
    """docs/example-comment.md is `promptci report` of the committed results of a real `scripts/demo` run
    (docs/example/results.json), and the README shows a part of it, so the picture stays what promptci posts.
    After a change to the report: `promptci report docs/example/results.json > docs/example-comment.md`."""
    from promptci import cli

    code = cli.main(["report", str(ROOT / "docs" / "example" / "results.json")])
    rendered = capsys.readouterr().out
    assert code == 1, "the demo's change fails the gate, and the report's exit code says so"
    assert (ROOT / "docs" / "example-comment.md").read_text(encoding="utf-8") == rendered, (
        "docs/example-comment.md is out of date: promptci report docs/example/results.json > docs/example-comment.md"
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = readme.split(EXAMPLE_START, 1)[1].split(EXAMPLE_END, 1)[0].strip().splitlines()
    excerpt = "\n".join(line.removeprefix(">").removeprefix(" ") for line in quoted)  # shown as a quote
    assert len(excerpt.splitlines()) >= 5 and excerpt in rendered, "the README's excerpt is not part of the report"
