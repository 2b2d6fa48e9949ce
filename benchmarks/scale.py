"""Load figures for a large pull request: 100 changed prompts whose pools hold 10,000 items each.

Real components throughout except where said: a git repository with 100 prompt files, each with its own
10,000-item pool drawn (seeded) from a corpus of 20,000 distinct texts made from the BIG-bench inputs in
$BIGBENCH_DIR (as selection_scale.py makes them), MiniLM embeddings, the promptci commands in fresh
processes, peak RSS per process. Phases:

1. embed the corpus into an empty cache (`promptci select` on a prompt whose pool is the whole corpus):
   what stage 1 costs the first time, before any embedding is cached;
2. `promptci plan --max-shards 8` on the 100-prompt change;
3. `promptci select` on all 100 prompts with the embeddings cached: stage 1 for every pool;
4. stage 2 for every pool, on a seeded random performance matrix (20 items x 12 prompts; the cost of
   stage 2 does not depend on where the scores come from, and 1,200 model calls per pool cannot run here);
5. rendering the comment and the job summary for 100 prompts (results of the promptci.pr/1 shape with 20
   items per prompt and every item flipped: the largest report this change can make).
The 100,000-item pool is measured by selection_scale.py (its raw file is read and shown here).

    python benchmarks/scale.py [--prompts 100] [--pool 10000] [--corpus 20000]

Targets: planning <= 10 s; stage 1 for all 100 pools <= 10 minutes on 2 cores with cached
embeddings; peak <= 4 GB; the comment within GitHub's limits.
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
sys.path.insert(0, str(ROOT / "benchmarks"))
from selection_scale import corpus

RUN = r"""
import json, resource, sys, time
from promptci.cli import main
started = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "s": time.perf_counter() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), file=sys.stderr)
"""

STAGE2 = r"""
import json, resource, sys, time
import numpy as np
from pathlib import Path
from promptci import evalset, promptfile, subsetfile, subsets
from promptci.selection import Refiner
started, swaps = time.perf_counter(), 0
for path in sorted(Path("prompts").glob("p*.prompt.yml")):
    prompt = promptfile.load(path)
    pool = evalset.load_pool(prompt)
    subset = subsetfile.read(subsetfile.path_for(prompt))
    embeddings = subsets.pool_embeddings(prompt, pool)
    index = {item.id: n for n, item in enumerate(pool.items)}
    rows = np.array([index[i] for i in subset.ids])
    rng = np.random.default_rng(0)
    matrix = rng.random((len(rows), 12))
    matrix[: len(rows) // 2] = matrix[0] + rng.normal(0, 0.01, (len(rows) // 2, 12))  # a redundant group
    available = np.setdiff1d(np.arange(len(pool.items)), rows)
    _, replaced = Refiner(threshold=0.9, replace_share=0.5, random_state=0).refine(rows, matrix, embeddings, available)
    swaps += len(replaced)
print(json.dumps({"s": time.perf_counter() - started, "swaps": swaps,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

RENDER = r"""
import json, resource, sys, time
from promptci.rendering import render
data = json.loads(open(sys.argv[1]).read())
started = time.perf_counter()
comment = render.render(data)
summary = render.render(data, name=render.SUMMARY, limit=render.SUMMARY_LIMIT)
print(json.dumps({"s": time.perf_counter() - started, "comment_chars": len(comment),
                  "summary_bytes": len(summary.encode()), "cut": "cut to fit" in comment,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PROMPT = """name: {name}
model: local/gemma-3-270m
messages:
  - role: user
    content: "{instruction} {{{{input}}}}"
promptci:
  pool: ../eval_sets/{pool}.jsonl
"""


def promptci(repo: Path, env: dict, *args: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN, *args], cwd=repo, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0 or '"code": 0' not in proc.stderr.splitlines()[-1]:
        raise SystemExit(f"promptci {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stderr.splitlines()[-1]), "process_wall_s": wall, "stdout": proc.stdout}


def python(code: str, repo: Path, env: dict, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def build(repo: Path, texts: list[str], prompts: int, pool: int) -> None:
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    lines = [json.dumps({"input": t, "expected": "x"}) for t in texts]
    (repo / "eval_sets" / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    (repo / "corpus.prompt.yml").write_text(
        PROMPT.format(name="corpus", instruction="Label:", pool="corpus").replace("../eval_sets/", "eval_sets/")
    )
    for k in range(prompts):
        sample = random.Random(k).sample(lines, pool)
        (repo / "eval_sets" / f"p{k}.jsonl").write_text("\n".join(sample) + "\n")
        (repo / "prompts" / f"p{k}.prompt.yml").write_text(
            PROMPT.format(name=f"p{k}", instruction="Label:", pool=f"p{k}")
        )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "change")
    for k in range(prompts):
        path = repo / "prompts" / f"p{k}.prompt.yml"
        path.write_text(path.read_text().replace("Label:", "Label this text:"))
    git(repo, "commit", "-qam", "reword every prompt")


def results(prompts: int, items: int) -> dict:
    """A promptci.pr/1 document for `prompts` prompts with every one of `items` items flipped."""

    def run(score: float) -> dict:
        return {
            f"i{n:04d}": {"id": f"i{n:04d}", "output": f"answer {n} " * 4, "expected": f"label {n % 7}", "score": score}
            for n in range(items)
        }

    prompt = {
        "change": {"status": "modified", "reason": "prompt file modified", "old_text": "a", "new_text": "b"},
        "model": "local/gemma-3-270m",
        "seed": 0,
        "hashes": {"head": "0" * 64, "pool": "1" * 64},
        "error": None,
        "timings": {},
        "verdict": {"status": "fail", "reason": "head scores 0.000"},
        "comparison": {
            "n": items,
            "base_mean": 1.0,
            "head_mean": 0.0,
            "delta": -1.0,
            "low": -1.0,
            "high": -1.0,
            "p_value": 1e-6,
            "method": "mcnemar",
            "improved": 0,
            "regressed": items,
        },
        "scores": {"base": 1.0, "head": 0.0},
        "items": [f"i{n:04d}" for n in range(items)],
        "subset_items": items,
        "subset_note": "committed subset",
        "subset": {"path": "eval_sets/x.subset.yml", "changed": False, "text": None, "patch": "", "replacements": []},
        "base": run(1.0),
        "head": run(0.0),
        "optimizer": None,
    }
    return {
        "format": "promptci.pr/1",
        "verdict": {"status": "fail", "reason": f"{prompts} of {prompts} failed"},
        "usage": {
            "calls": 0,
            "cache_hits": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "wall_s": 0.0,
            "budget": "no limit",
        },
        "prompts": [{**prompt, "path": f"prompts/p{k}.prompt.yml"} for k in range(prompts)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--pool", type=int, default=10_000)
    parser.add_argument("--corpus", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    args = parser.parse_args()
    record: dict = {"prompts": args.prompts, "pool": args.pool, "corpus": args.corpus, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="promptci-scale-") as tmp:
        repo = Path(tmp) / "repo"
        env = {**os.environ, "PROMPTCI_CACHE_DIR": str(Path(tmp) / "cache"), "CI": "1"}
        started = time.perf_counter()
        build(repo, corpus(args.corpus), args.prompts, args.pool)
        record["build_s"] = time.perf_counter() - started
        print(f"built {args.prompts} prompts x {args.pool:,} items in {record['build_s']:.0f} s", flush=True)
        record["embed_corpus"] = promptci(repo, env, "select", "corpus.prompt.yml")
        print(f"embedded {args.corpus:,} texts: {record['embed_corpus']['s']:.0f} s", flush=True)
        plan = promptci(repo, env, "plan", "--base", "main", "--max-shards", "8")
        record["plan"] = {k: v for k, v in plan.items() if k != "stdout"}
        record["plan"]["shards"] = [row["items"] for row in json.loads(plan["stdout"])["include"]]
        prompts = sorted(str(p.relative_to(repo)) for p in (repo / "prompts").glob("p*.prompt.yml"))
        record["stage1_all"] = promptci(repo, env, "select", *prompts)
        record["stage1_all"].pop("stdout")
        record["stage2_all"] = python(STAGE2, repo, env)
        report = Path(tmp) / "results.json"
        report.write_text(json.dumps(results(args.prompts, 20)))
        record["render"] = python(RENDER, repo, env, str(report))
    record["embed_corpus"].pop("stdout")
    old = ROOT / "benchmarks" / "results" / "selection_scale.json"
    if old.exists():
        record["pool_100k"] = json.loads(old.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    throughput = args.corpus / record["embed_corpus"]["s"]
    rows = [
        (
            "embed the corpus, empty cache (+ stage 1 on it)",
            record["embed_corpus"]["s"],
            record["embed_corpus"]["peak_rss_mb"],
        ),
        (
            f"plan, {args.prompts} prompts, 8 shards (target <= 10 s)",
            record["plan"]["process_wall_s"],
            record["plan"]["peak_rss_mb"],
        ),
        (
            f"stage 1, all {args.prompts} pools, cached (target <= 600 s)",
            record["stage1_all"]["process_wall_s"],
            record["stage1_all"]["peak_rss_mb"],
        ),
        (f"stage 2, all {args.prompts} pools", record["stage2_all"]["s"], record["stage2_all"]["peak_rss_mb"]),
        (f"render comment + summary, {args.prompts} prompts", record["render"]["s"], record["render"]["peak_rss_mb"]),
    ]
    print(f"\n{args.prompts} prompts x {args.pool:,} items, {os.cpu_count()} cores")
    print(f"{'phase':58} {'time':>9} {'peak RSS':>10}")
    for name, seconds, rss in rows:
        print(f"{name:58} {seconds:>8.1f}s {rss:>7.0f} MB")
    print(f"shards (pool items each): {record['plan']['shards']}")
    print(
        f"comment {record['render']['comment_chars']:,} characters (cut: {record['render']['cut']}); "
        f"summary {record['render']['summary_bytes']:,} bytes"
    )
    print(
        f"embedding throughput {throughput:.0f} texts/s: 100 pools of distinct texts "
        f"({args.prompts * args.pool:,}) would take {args.prompts * args.pool / throughput / 3600:.1f} h uncached"
    )
    if "pool_100k" in record:
        p = record["pool_100k"]
        print(
            f"100,000-item pool (selection_scale.py): stage 1 {p['select']['select_s']:.1f} s, "
            f"peak {p['select']['peak_rss_mb']:.0f} MB; embedding it uncached {p['embed']['embed_s']:.0f} s"
        )
    print(f"raw: {args.out}")


if __name__ == "__main__":
    main()
