"""Where promptci keeps what it can rebuild: model weights, model responses, embeddings."""

from __future__ import annotations

from .env import cache_dir

__all__ = ["cache_dir"]
