"""Importers: other eval formats turned into promptci pools (BIG-bench, CSV) and into whole prompt files with
their pools and evaluators (promptfoo configs, openai/evals registry evals)."""

from .bigbench import import_bigbench
from .tables import OPTIONS_FIELD, ImportReport, import_csv

__all__ = ["OPTIONS_FIELD", "ImportReport", "import_bigbench", "import_csv"]
