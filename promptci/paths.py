"""Where promptci keeps what it can rebuild: model weights, model responses, embeddings."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$PROMPTCI_CACHE_DIR`, else `$XDG_CACHE_HOME/promptci`, else `~/.cache/promptci`."""
    explicit = os.environ.get("PROMPTCI_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "promptci"
