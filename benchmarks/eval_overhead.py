"""What promptci costs on top of the model: `promptci eval` against a bare llama-cpp-python loop.

Both score the same rendered prompts of the bundled example with the same exact label scoring (each
label's log-likelihood after the prompt: promptci.models.labelscore, the prompt's shared prefix reused and every
label's tokens in one batch; the bare loop calls it on a plain llama_cpp.Llama, with none of promptci's runner,
cache or litellm around it), each in its own process, timed
from outside the process (start-up, imports and model load included, as a user sees it). Then
`promptci eval` runs again on its warm cache. Peak RSS is each process's own maximum resident set.

    python benchmarks/eval_overhead.py [--items 250] [--repeats 3] [--out benchmarks/results/eval_overhead.json]

Targets: uncached ratio <= 1.10; cached re-run <= 5% of uncached; peak RSS <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROMPT = ROOT / "prompts" / "intent.prompt.yml"

BARE = r"""
import json, os, sys, numpy as np, llama_cpp
from promptci.models.labelscore import LabelScorer
model_path, prompts_file, labels = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
prompts = json.loads(open(prompts_file).read())
llm = llama_cpp.Llama(model_path=model_path, n_ctx=2048, n_threads=os.cpu_count(), verbose=False)
scorer = LabelScorer(llm)
answers = []
for prompt in prompts:
    tokens = llm.tokenize(prompt.encode(), add_bos=True, special=False)
    ids = [llm.tokenize((" " + label).encode(), add_bos=False, special=False) for label in labels]
    answers.append(labels[int(np.argmax(scorer.score(tokens, ids)))])
print(json.dumps(answers))
"""


def peak_rss_mb(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Like timed(), with the child's own peak RSS from wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None  # (PIPE)
    out_chunks = []
    for line in proc.stdout:
        out_chunks.append(line)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({code}):\n{stderr[-2000:]}")
    return {"wall_s": wall, "stdout": "".join(out_chunks), "returncode": code}, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3, help="alternating bare/promptci rounds; medians reported")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "eval_overhead.json")
    args = parser.parse_args()

    from promptci import promptfile
    from promptci.files import evalset
    from promptci.models import local

    prompt = promptfile.load(PROMPT)
    items = evalset.load_pool(prompt).items[: args.items]
    rendered = [local.join_messages(prompt.render(item.data)) for item in items]
    assert isinstance(prompt.settings.labels, list)
    labels = list(prompt.settings.labels)
    model_path = str(local.model_path())

    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        prompts_file = Path(tmp) / "prompts.json"
        prompts_file.write_text(json.dumps(rendered))
        for r in range(args.repeats):
            cache = Path(tmp) / f"cache{r}"
            (cache / "models").mkdir(parents=True)
            os.symlink(model_path, cache / "models" / Path(model_path).name)
            env = {**os.environ, "PROMPTCI_CACHE_DIR": str(cache), "CI": "1"}
            bare, bare_rss = peak_rss_mb(
                [sys.executable, "-c", "import os\n" + BARE, model_path, str(prompts_file), json.dumps(labels)], env
            )
            results_file = Path(tmp) / "results.json"
            cli = [
                sys.executable,
                "-m",
                "promptci",
                "eval",
                str(PROMPT),
                "--limit",
                str(args.items),
                "--json",
                str(results_file),
            ]
            uncached, uncached_rss = peak_rss_mb(cli, env)
            run = json.loads(results_file.read_text())["runs"][0]
            cached, cached_rss = peak_rss_mb(cli, env)
            rerun = json.loads(results_file.read_text())["runs"][0]
            answers = json.loads(bare["stdout"])
            rounds.append(
                {
                    "bare_wall_s": bare["wall_s"],
                    "bare_peak_rss_mb": bare_rss,
                    "promptci_wall_s": uncached["wall_s"],
                    "promptci_peak_rss_mb": uncached_rss,
                    "ratio": uncached["wall_s"] / bare["wall_s"],
                    "cached_wall_s": cached["wall_s"],
                    "cached_peak_rss_mb": cached_rss,
                    "cached_share": cached["wall_s"] / uncached["wall_s"],
                    "promptci_calls": run["summary"]["calls"],
                    "cached_calls": rerun["summary"]["calls"],
                    "cached_hits": rerun["summary"]["cache_hits"],
                    "accuracy": run["summary"]["mean"],
                    "answers_identical_share": sum(a == i["output"] for a, i in zip(answers, run["items"]))
                    / len(items),
                }
            )
            print(
                f"round {r + 1}: bare {bare['wall_s']:.1f} s, promptci {uncached['wall_s']:.1f} s, "
                f"cached {cached['wall_s']:.2f} s",
                file=sys.stderr,
                flush=True,
            )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    record = {
        "items": len(items),
        "cpu_count": os.cpu_count(),
        "repeats": args.repeats,
        "rounds": rounds,
        **{f"median_{k}": median(k) for k in rounds[0] if isinstance(rounds[0][k], float)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    def spread(key: str, fmt: str) -> str:
        values = [r[key] for r in rounds]
        return f"{format(median(key), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"

    print(
        f"eval overhead on {len(items)} items of the bundled example, {os.cpu_count()} cores, "
        f"median (min-max) of {args.repeats} rounds"
    )
    print(f"{'run':30} {'wall s':>20} {'peak RSS MB':>18}")
    print(
        f"{'bare llama-cpp-python loop':30} {spread('bare_wall_s', '.1f'):>20} {spread('bare_peak_rss_mb', '.0f'):>18}"
    )
    print(
        f"{'promptci eval, uncached':30} {spread('promptci_wall_s', '.1f'):>20} "
        f"{spread('promptci_peak_rss_mb', '.0f'):>18}"
    )
    print(
        f"{'promptci eval, cached re-run':30} {spread('cached_wall_s', '.2f'):>20} "
        f"{spread('cached_peak_rss_mb', '.0f'):>18}"
    )
    print(
        f"ratio uncached/bare {spread('ratio', '.3f')} (target <= 1.10); cached/uncached "
        f"{spread('cached_share', '.3f')} (target <= 0.05); peak RSS target <= 1536 MB"
    )
    print(
        f"answers identical to the bare loop: {100 * median('answers_identical_share'):.1f}%; accuracy "
        f"{rounds[0]['accuracy']:.3f}; cached re-runs made {rounds[0]['cached_calls']} calls"
    )
    print(f"raw: {args.out}")


if __name__ == "__main__":
    main()
