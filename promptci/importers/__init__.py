"""Importers: other eval formats turned into promptci pools (BIG-bench, CSV) and into whole prompt files with
their pools and evaluators (promptfoo configs, openai/evals registry evals)."""

from .bigbench import import_bigbench
from .migrate import Written, as_list
from .openai_evals import import_openai_evals
from .promptfoo import import_promptfoo
from .tables import OPTIONS_FIELD, ImportReport, import_csv

__all__ = ["OPTIONS_FIELD", "ImportReport", "Written", "as_list", "import_bigbench", "import_csv",
           "import_openai_evals", "import_promptfoo"]
