"""The shape docs/architecture.md describes: module-top imports form no cycle and go down the layers only, no module
grows too large, and the command line only parses and prints (its flows live in promptci/flows).

Size is counted in statements, which the formatter does not change: `ruff format` writes a long call one argument
a line, so lines measure layout more than size. 340 statements is about 450 lines as the code was packed by hand."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "promptci"
MOST_STATEMENTS = 340
CLI_STATEMENTS = 200  # about 300 lines packed by hand


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


def _top_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The promptci modules a module imports when it is imported (not inside functions, not for type checking)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {m for m in found if m in modules and m != name}


def test_module_top_imports_form_no_cycle() -> None:
    modules = _modules()
    graph = {name: _top_imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [name, dep])
            elif dep not in state:
                visit(dep, stack + [name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, cycles[0]
    assert "promptci.flows.pull_request" in graph["promptci.flows.report"]  # the walk sees relative imports


# Each module's layer, by its name without the folder that groups it (`llm` is `promptci.llm` and, once modules are
# grouped in folders, `promptci.models.llm`); `pkg.*` covers a package's modules. A module imports its own layer
# and those below only. The names a grouping gives some modules (gate.py as gate/decision.py, results.py as
# files/evalresults.py, plan.py as pullrequest/sharding.py, report/ as rendering/) are listed beside the old.
BASE, DATA, DOMAIN, FLOWS, COMMAND_LINE = range(5)
LAYERS = {
    **dict.fromkeys(
        ["promptci", "errors", "env", "paths", "progress", "records", "verdicts", "usage", "settings", "fileio"],
        BASE,
    ),
    **dict.fromkeys(["sequential", "stats", "labelprobs", "judges", "weakembed", "activetest"], BASE),
    **dict.fromkeys(["report.escape", "github", "github.workflow", "github.actions"], BASE),
    **dict.fromkeys(["llm", "local", "labelscore", "mockllm", "ghmodels", "embeddings", "budget", "gitdiff"], DATA),
    **dict.fromkeys(
        ["promptfile.*", "importers.*", "evalset", "subsetfile", "results", "evalresults", "warmbase", "suggested"],
        DATA,
    ),
    **dict.fromkeys(["github.client", "github.overall", "github.precheck", "github.pulls", "github.accept"], DATA),
    **dict.fromkeys(["github.suggestions", "github.gitdata", "report.sandbox"], DATA),
    **dict.fromkeys(
        [
            "pipeline",
            "effective",
            "gate",
            "decision",
            "removals",
            "noise",
            "changes",
            "demo",
            "warmpr",
            "draws",
            "judgecheck",
            "slices",
            "repeats",
            "adoption",
        ],
        DOMAIN,
    ),
    **dict.fromkeys(
        ["forecast", "plan", "sharding", "shards", "sides", "prresults", "runner", "scoring", "checks"], DOMAIN
    ),
    **dict.fromkeys(
        ["subsets", "audit", "selection.*", "optimize.*", "report", "report.render", "report.suggestion"], DOMAIN
    ),
    **dict.fromkeys(["github.publish", "github.coverage"], DOMAIN),
    **dict.fromkeys(["models", "files", "pullrequest"], BASE),  # the folders' own __init__: a docstring
    "flows.*": FLOWS,
    **dict.fromkeys(["cli", "arguments", "__main__"], COMMAND_LINE),
}
FOLDERS = ("models", "files", "gate", "pullrequest")  # folders that group modules without naming them


def _layer(module: str) -> int | None:
    parts = module.split(".")[1:] or ["promptci"]
    if len(parts) > 1 and parts[0] in FOLDERS:
        parts = parts[1:]
    parts = ["report" if p == "rendering" else p for p in parts]
    name = ".".join(parts)
    if name in LAYERS:
        return LAYERS[name]
    return LAYERS.get(f"{parts[0]}.*")


def test_every_import_goes_down_the_layers() -> None:
    modules = _modules()
    unplaced = sorted(m for m in modules if _layer(m) is None)
    assert not unplaced, f"add {unplaced} to LAYERS in tests/test_architecture.py (docs/architecture.md's layers)"
    upward = [
        f"{name} imports {dep}"
        for name, path in modules.items()
        for dep in sorted(_top_imports(name, path, modules))
        if (_layer(dep) or 0) > (_layer(name) or 0)
    ]
    assert not upward, upward
    assert _layer("promptci.pullrequest.pipeline") == _layer("promptci.pullrequest.pipeline") == DOMAIN  # either layout
    assert _layer("promptci.rendering.render") == _layer("promptci.rendering.render") == DOMAIN


def _statements(path: Path) -> int:
    return sum(isinstance(node, ast.stmt) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


def test_no_module_grows_too_large() -> None:
    sizes = {name: _statements(path) for name, path in _modules().items()}
    assert sizes and not {n: s for n, s in sizes.items() if s > MOST_STATEMENTS}


def test_the_command_line_parses_and_prints_only() -> None:
    text = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    assert _statements(PACKAGE / "cli.py") <= CLI_STATEMENTS
    assert "asyncio" not in text and "atomic_write" not in text  # running and writing happen in the flows


def test_the_eval_command_imports_no_heavy_library_before_it_needs_one() -> None:
    """A run answered from the cache never needs litellm, scipy or scikit-learn: importing them cost a cached
    `promptci eval` a second and more (benchmarks/README.md, eval_overhead.py), so the eval flow and the forecast
    it asks for the time must not import them at module level."""
    import subprocess
    import sys

    code = (
        "import sys, promptci.cli, promptci.flows.evaluate, promptci.pullrequest.forecast\n"
        "heavy = ('litellm', 'scipy', 'sklearn', 'sentence_transformers', 'torch')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
