"""Library warnings and logs never reach the user raw: the few that mean something to a promptci user
are said in promptci's own words, as a progress note on stderr; the rest are dropped.

`tame()` is called once by the command line, before torch, transformers, scikit-learn, litellm or
llama.cpp are imported (llama.cpp's own log is routed to nowhere in `models/local.py`).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Any

from .. import progress

_DISTINCT = re.compile(r"Number of distinct clusters \((\d+)\) found smaller than n_clusters \((\d+)\)")


def explain(message: str) -> str | None:
    """What a library's warning means for a promptci user, or None when it means nothing to them."""
    found = _DISTINCT.search(message)
    if found:
        return (
            f"the items have only {found[1]} distinct texts for {found[2]} clusters, so some clusters repeat "
            f"(fix: fewer promptci.selection.clusters, or more varied pool items)"
        )
    return None


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    text = explain(str(message))
    if text is not None:
        progress.note(f"note: {text}")


def tame() -> None:
    """Silence what libraries print on their own; keep what promptci can explain."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # huggingface tokenizers' fork warning
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.getLogger().addHandler(logging.NullHandler())  # no "last resort" printing of library log records
    warnings.showwarning = _show
