"""The test suite stands alone: a fresh clone with nothing beside it passes.

A test that reads `../shared` (the team's data folder beside its own checkouts) passes here and fails for everyone
who clones the repository, so no file under `tests/` may name a path outside the repository. `.ci/run` proves the
rest by running the suite from a copy of the clone with nothing beside it.
"""

from __future__ import annotations

import re
from collections.abc import Set
from pathlib import Path

from .helpers import ROOT

OUTSIDE = re.compile(
    r"\.\.[/\\]+shared"  # ../shared
    r"|[\"']shared[\"']"  # / "shared"
    r"|\bROOT\s*\.\s*parent\b"  # the folder above the repository
    r"|\.parent\.parent\.parent"  # three levels up from a test file is outside the repository
    r"|(?<![\w.])/(?:work|home|mnt|srv)/\w"  # an absolute path on a developer's machine
)


def outside_references(folder: Path, skip: Set[Path] = frozenset()) -> list[str]:
    """`file:line: text` for each line under `folder` that names a path outside the repository."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p not in skip and "__pycache__" not in p.parts):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(folder)}:{number}: {line.strip()[:120]}")
    return found


def test_no_test_names_a_path_outside_the_repository() -> None:
    found = outside_references(ROOT / "tests", skip={Path(__file__).resolve()})
    assert not found, "tests must read only what the repository holds (vendor data under tests/data/):\n" + "\n".join(
        found
    )


def test_the_check_finds_what_it_must(tmp_path: Path) -> None:
    planted = {
        "a.py": 'BIGBENCH = Path("../shared/datasets/bigbench")',
        "b.py": 'SHARED = ROOT.parent / "shared"',
        "c.py": 'data = Path(__file__).parent.parent.parent / "x"',
        "d.py": 'open("/work/main/README.md")',
        "e.py": 'fine = ROOT / "tests" / "data" / "bigbench"',
    }
    for name, line in planted.items():
        (tmp_path / name).write_text(line + "\n")
    assert [f.split(":")[0] for f in outside_references(tmp_path)] == ["a.py", "b.py", "c.py", "d.py"]


def test_vendored_bigbench_keeps_its_notice_and_canary() -> None:
    folder = ROOT / "tests" / "data" / "bigbench"
    assert "Apache License" in (folder / "LICENSE").read_text() and "Version 2.0" in (folder / "LICENSE").read_text()
    for task in folder.glob("*.json"):
        assert "canary GUID" in task.read_text(encoding="utf-8"), task.name
