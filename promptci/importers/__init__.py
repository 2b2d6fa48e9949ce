"""Importers: other eval formats turned into promptci pools (BIG-bench, CSV) and into whole prompt files with
their pools and evaluators (promptfoo configs, openai/evals registry evals, OpenAI's hosted Evals exports)."""

from __future__ import annotations

from pathlib import Path

from .bigbench import import_bigbench
from .migrate import Written
from .openai_evals import import_openai_evals
from .openai_platform import import_openai_platform
from .promptfoo import import_promptfoo
from .tables import OPTIONS_FIELD, ImportReport, import_csv


def import_config(
    kind: str,
    source: Path,
    out: Path,
    *,
    judge_model: str | None = None,
    run: Path | None = None,
    items: Path | None = None,
) -> list[Written]:
    """`promptci import promptfoo|openai-evals`: a registry YAML, or a hosted eval's JSON with its run or items."""
    if kind == "promptfoo":
        return [import_promptfoo(source, out, judge_model=judge_model)]
    if source.suffix == ".json" or run is not None or items is not None:
        return [import_openai_platform(source, out, run=run, items=items, judge_model=judge_model)]
    return import_openai_evals(source, out, judge_model=judge_model)


__all__ = [
    "OPTIONS_FIELD",
    "ImportReport",
    "Written",
    "import_bigbench",
    "import_config",
    "import_csv",
    "import_openai_evals",
    "import_openai_platform",
    "import_promptfoo",
]
