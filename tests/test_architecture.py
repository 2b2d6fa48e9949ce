"""The shape docs/architecture.md describes: module-top imports form no cycle, no module grows too large, and the
command line only parses and prints (its flows live in promptci/flows).

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


def _statements(path: Path) -> int:
    return sum(isinstance(node, ast.stmt) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


def test_no_module_grows_too_large() -> None:
    sizes = {name: _statements(path) for name, path in _modules().items()}
    assert sizes and not {n: s for n, s in sizes.items() if s > MOST_STATEMENTS}


def test_the_command_line_parses_and_prints_only() -> None:
    text = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    assert _statements(PACKAGE / "cli.py") <= CLI_STATEMENTS
    assert "asyncio" not in text and "atomic_write" not in text  # running and writing happen in the flows
