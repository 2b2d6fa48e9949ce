"""A model server that misbehaves: 429 bursts, 500s, slow answers, and a crash mid-run. The server is a
small real OpenAI-compatible HTTP server on loopback (tests/openai_server.py); a remote provider cannot
run here. promptci retries, records per-item errors, always writes complete results, and a re-run takes
every answer it already has from the cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .helpers import run_cli
from .openai_server import Fault, OpenAIServer

N = 10
PROMPT = """name: adder
model: openai/fake-adder
messages:
  - role: user
    content: "{{input}} ="
promptci:
  concurrency: 1
  model: openai/fake-adder  # a litellm name: the file's model: alone is a GitHub Models id (docs/github-models.md)
testData:
""" + "".join(f"  - {{input: '{k} + {k}', expected: '{2 * k}'}}\n" for k in range(N))


def _answer(body: dict) -> str:
    a = re.search(r"(\d+) \+ (\d+)", body["messages"][-1]["content"])
    assert a is not None, body
    return str(int(a.group(1)) + int(a.group(2)))


def _prompt(tmp_path: Path) -> Path:
    path = tmp_path / "adder.prompt.yml"
    path.write_text(PROMPT)
    return path


def test_rate_limit_bursts_server_errors_and_slow_answers_are_ridden_out(tmp_path: Path) -> None:
    seen = {"n": 0}

    def reply(body: dict) -> str | Fault:
        seen["n"] += 1
        n = seen["n"]
        if n <= 3:
            return Fault(429, retry_after=0)  # a burst of rate limits
        if n in (6, 9):
            return Fault(500)
        if n == 11:
            return Fault(503, delay_s=1.5)  # slow, then failing
        return _answer(body)

    with OpenAIServer(reply) as server:
        proc = run_cli(
            "eval", str(_prompt(tmp_path)), "--json", str(tmp_path / "r.json"), "--no-cache", env=server.env()
        )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "r.json").read_text())["runs"][0]["summary"]
    assert summary["scored"] == N and summary["errors"] == 0 and summary["mean"] == 1.0
    assert len(server.requests) == N + 6  # every fault was retried, each once


def test_a_server_killed_mid_run_leaves_complete_results_and_a_rerun_resumes_from_the_cache(tmp_path: Path) -> None:
    prompt, results = _prompt(tmp_path), tmp_path / "r.json"

    def reply_then_die(body: dict) -> str:
        if len(server.requests) == 4:
            server.kill()  # the fourth answer is the last: the server crashes while the run goes on
        return _answer(body)

    with OpenAIServer(reply_then_die) as server:
        proc = run_cli("eval", str(prompt), "--json", str(results), env=server.env())
    assert proc.returncode == 3, proc.stderr
    items = json.loads(results.read_text())["runs"][0]["items"]
    assert len(items) == N  # complete: every item is in the file
    scored = [i for i in items if i["score"] is not None]
    failed = [i for i in items if i["score"] is None]
    assert len(scored) >= 3 and failed and all(i["error_kind"] == "infra" and i["error"] for i in failed)

    with OpenAIServer(_answer) as again:
        proc = run_cli("eval", str(prompt), "--json", str(results), env=again.env())
    assert proc.returncode == 0, proc.stderr
    assert len(again.requests) == len(failed)  # only what was missing is asked again
    rerun = json.loads(results.read_text())["runs"][0]["summary"]
    assert rerun["scored"] == N and rerun["cache_hits"] == len(scored)
