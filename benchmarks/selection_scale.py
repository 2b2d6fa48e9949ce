"""IPOMP stage 1 at scale: a pool of 100,000 items on 2 cores.

The pool is built from the BIG-bench task files in $BIGBENCH_DIR (default benchmarks/data/bigbench, fetched as
docs/install.md says; every input of every task,
then pairs of them joined, deterministically, until there are enough distinct texts). Each phase runs in its
own process so its peak RSS is its own:

1. embed every item with MiniLM into an empty cache (the embedding time);
2. embed again: every vector comes from the on-disk cache;
3. stage 1 (boundary + K-means representatives) on the cached embeddings: the selection time beyond embedding.

    python benchmarks/selection_scale.py [--items 100000] [--out benchmarks/results/selection_scale.json]

Targets: stage 1 <= 2 minutes beyond the embedding time, <= 3 GB peak; the second run reuses the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIGBENCH = Path(os.environ.get("BIGBENCH_DIR") or ROOT / "benchmarks" / "data" / "bigbench")  # docs/install.md

PHASE = r"""
import json, resource, sys, time
import numpy as np
from promptci import embeddings
from promptci.selection import IPOMPSelector
phase, texts_file, cache = sys.argv[1], sys.argv[2], sys.argv[3]
texts = json.loads(open(texts_file).read())
started = time.perf_counter()
vectors = embeddings.embed_cached(texts, cache_path=__import__("pathlib").Path(cache))
embed_s = time.perf_counter() - started
record = {"phase": phase, "embed_s": embed_s}
if phase == "select":
    started = time.perf_counter()
    sel = IPOMPSelector(size=20, alpha=0.5, n_clusters=5, random_state=0).fit(vectors)
    record["select_s"] = time.perf_counter() - started
    record["selected"] = sel.selected_.tolist()
record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(record))
"""


def corpus(n: int) -> list[str]:
    """n distinct texts from BIG-bench inputs: the inputs themselves, then deterministic pairs of them."""
    base: list[str] = []
    for path in sorted(BIGBENCH.glob("*.json")):
        for example in json.loads(path.read_text())["examples"]:
            text = " ".join(str(example.get("input", "")).split())[:300]
            if text:
                base.append(text)
    base = list(dict.fromkeys(base))
    rng = random.Random(0)
    texts = list(base[:n])
    seen = set(texts)
    while len(texts) < n:
        text = f"{rng.choice(base)[:150]} {rng.choice(base)[:150]}"
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def phase(name: str, texts_file: Path, cache: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PHASE, name, str(texts_file), str(cache)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CI": "1"},
    )
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr[-3000:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    record["process_wall_s"] = time.perf_counter() - started
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "selection_scale.json")
    args = parser.parse_args()
    texts = corpus(args.items)
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        cache = Path(tmp) / "embeddings.sqlite"
        first = phase("embed", texts_file, cache)
        second = phase("embed-cached", texts_file, cache)
        third = phase("select", texts_file, cache)
        cache_mb = cache.stat().st_size / 2**20
    record = {
        "items": len(texts),
        "cpu_count": os.cpu_count(),
        "embed": first,
        "embed_cached": second,
        "select": {k: v for k, v in third.items() if k != "selected"},
        "selected": third["selected"],
        "cache_mb": cache_mb,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"IPOMP stage 1 on {len(texts):,} items, {os.cpu_count()} cores")
    print(f"{'phase':44} {'time':>9} {'peak RSS':>10}")
    print(f"{'embed (empty cache)':44} {first['embed_s']:>8.1f}s {first['peak_rss_mb']:>7.0f} MB")
    print(f"{'embed again (all from the cache)':44} {second['embed_s']:>8.1f}s {second['peak_rss_mb']:>7.0f} MB")
    print(
        f"{'stage 1 selection (target <= 120 s, <= 3 GB)':44} {third['select_s']:>8.1f}s "
        f"{third['peak_rss_mb']:>7.0f} MB"
    )
    print(f"embedding cache: {cache_mb:.0f} MB; raw: {args.out}")


if __name__ == "__main__":
    main()
