"""Keys and spending in `promptci pr`, against a fake provider: each test builds its own git repository and starts
its own OpenAI-compatible server on 127.0.0.1 (tests/openai_server.py), which records every credential it
receives. It stands in for the team's own server, for GitHub Models' endpoint and for a remote embedding model
(none can be reached here); the model is a fake adder, so no test runs the embedded model.

A pull request may try another model of the base's provider, never another provider, host or key; the base's
budget and concurrency hold; a dollar limit that cannot bind is refused; GitHub Models runs within its free tier."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from promptci.models import ghmodels

from .helpers import ROOT, run_cli
from .openai_server import Fault, OpenAIServer

GITHUB_TOKEN = "ghp_promptci_test_token_0123456789"
ANTHROPIC_KEY = "sk-ant-promptci-test-key-0123456789"
ITEMS = 40


def _adder(body: dict[str, Any]) -> str:
    """The fake task model: the sum asked for, after a short wait (so that calls in flight overlap)."""
    time.sleep(0.02)
    asked = re.search(r"(\d+) \+ (\d+)", body["messages"][-1]["content"])
    return str(int(asked.group(1)) + int(asked.group(2))) if asked else "0"


def _prompt(model: str, settings: str, *, items: int = ITEMS, words: str = "=") -> str:
    rows = "".join(f"  - {{input: '{k} + {k}', expected: '{2 * k}'}}\n" for k in range(items))
    return (
        f'name: adder\nmodel: {model}\nmessages:\n  - role: user\n    content: "{{{{input}}}} {words}"\n'
        f"promptci:\n  embedding_model: openai/fake-embed\n  selection: {{size: 4, clusters: 2}}\n{settings}"
        f"testData:\n{rows}"
    )


def _repo(repo: Path, base: str, head: str, **more: tuple[str, str]) -> Path:
    """A repository whose main branch holds `base` as prompts/adder.prompt.yml and branch `pr` holds `head` (and
    each of `more` as prompts/NAME.prompt.yml, base and head)."""
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)

    (repo / "prompts").mkdir(parents=True)
    files = {"adder": (base, head), **more}
    for name, (text, _) in files.items():
        (repo / "prompts" / f"{name}.prompt.yml").write_text(text)
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "pr")
    for name, (_, text) in files.items():
        (repo / "prompts" / f"{name}.prompt.yml").write_text(text)
    git("commit", "-qam", "head")
    return repo


def _env(server: OpenAIServer, tmp_path: Path) -> dict[str, str]:
    """Every key a job might hold; OpenAI's base URL (the embedding model's) and GitHub Models' endpoint here."""
    return {
        **server.env(),
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "PROMPTCI_GITHUB_MODELS_URL": server.url.removesuffix("/v1") + "/inference",
        "PROMPTCI_CACHE_DIR": str(tmp_path / "cache"),
        ghmodels.DAILY_LIMIT_ENV: "",
    }


def _pr(repo: Path, out: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "pr", "--base", "main", "--head", "pr", "--repo", str(repo), "--out", str(out), *flags, env=env, timeout=120
    )


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("promptci: error")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_changed_model_never_takes_the_keys_to_another_provider_or_host(tmp_path: Path) -> None:
    """The base runs the team's own OpenAI-compatible server (`api_base`); a pull request changes only `model:` to
    GitHub Models or to Anthropic, whose keys litellm would send to that same host. Neither key leaves."""
    with OpenAIServer(_adder) as server:
        base = _prompt("openai/adder", f"  api_base: {server.url}\n")
        github, anthropic = (
            base.replace("model: openai/adder", f"model: {model}")
            for model in ("github/openai/gpt-4o", "anthropic/claude-3-5-haiku-20241022")
        )
        repo = _repo(tmp_path / "repo", base, github, claude=(base, anthropic))
        proc = _pr(repo, tmp_path / "out", _env(server, tmp_path))
        assert proc.returncode == 1, proc.stderr
        results = json.loads((tmp_path / "out" / "results.json").read_text())["prompts"]
        assert len(results) == 2
        for result in results:
            assert result["verdict"]["status"] == "fail" and "moves the model from openai/adder" in result["error"]
            assert result["base"] == {} and result["head"] == {}  # refused before any call
        assert not any(GITHUB_TOKEN in c or ANTHROPIC_KEY in c for c in server.credentials), server.credentials
        assert server.requests == []
        # another model of the base's provider is the pull request's to try: same host, same key
        repo = _repo(tmp_path / "same", base, base.replace("model: openai/adder", "model: openai/adder-2"))
        proc = _pr(repo, tmp_path / "same-out", _env(server, tmp_path), "--no-optimize", "--no-refresh")
        assert proc.returncode in (0, 1), proc.stderr
        chat = [b["model"] for b, p in zip(server.requests, server.paths) if p.endswith("/chat/completions")]
        assert set(chat) == {"adder", "adder-2"}  # base and head, both on the base's server
        # the workflow's --model is trusted, yet a server set up for one provider never gets another's key either
        claude = "anthropic/claude-3-5-haiku-20241022"
        proc = _pr(repo, tmp_path / "override", _env(server, tmp_path), "--model", claude)
        result = json.loads((tmp_path / "override" / "results.json").read_text())["prompts"][0]
        assert proc.returncode == 1 and "would be sent with its key to promptci.api_base" in result["error"]
        assert not any(GITHUB_TOKEN in c or ANTHROPIC_KEY in c for c in server.credentials), server.credentials


def test_the_github_token_goes_only_to_github_models_endpoint(tmp_path: Path) -> None:
    """Even a base that names a GitHub Models model beside an api_base: the token never goes to that host."""
    with OpenAIServer(_adder) as server, OpenAIServer(_adder) as elsewhere:
        prompt = tmp_path / "p.prompt.yml"
        prompt.write_text(_prompt("openai/gpt-4o", f"  api_base: {elsewhere.url}\n  model: github/openai/gpt-4o\n"))
        proc = run_cli("eval", str(prompt), env=_env(server, tmp_path))
        assert proc.returncode == 2 and "would send the GitHub token to" in _error_line(proc.stderr), proc.stderr
        assert elsewhere.requests == [] and server.requests == []


def test_pr_holds_the_bases_budget_and_concurrency_and_counts_embeddings(tmp_path: Path) -> None:
    """The base's `budget.max_calls: 12` and `concurrency: 1` hold in `pr` (they were ignored: 250 calls at 4 in
    flight); the pull request also edits the pool and names its own embedding model, which is not obeyed: the
    offered subset is embedded with the base's, and those calls count."""
    with OpenAIServer(_adder) as server:
        base = _prompt("openai/adder", f"  api_base: {server.url}\n  concurrency: 1\n  budget: {{max_calls: 12}}\n")
        head = _prompt("openai/adder", f"  api_base: {server.url}\n", items=ITEMS + 5, words="is")
        head = head.replace("openai/fake-embed", "openai/head-embed")
        repo = _repo(tmp_path / "repo", base, head)
        proc = _pr(repo, tmp_path / "out", _env(server, tmp_path))
        assert proc.returncode in (0, 1), proc.stderr
        data = json.loads((tmp_path / "out" / "results.json").read_text())
        embedded = [b["model"] for b, p in zip(server.requests, server.paths) if p.endswith("/embeddings")]
        assert embedded and set(embedded) == {"fake-embed"}  # the base's embedding model, for the offer too
        assert len(server.requests) == data["usage"]["calls"] <= 12  # every call counted, embeddings too
        assert "of 12 calls" in data["usage"]["budget"]
        assert server.most_in_flight == 1


def test_a_dollar_limit_on_a_model_without_a_price_is_refused(tmp_path: Path) -> None:
    """litellm has no price for GitHub Models: `--max-usd` (or `optimize --budget-usd`) would count every call as
    free and never stop one."""
    with OpenAIServer(_adder) as server:
        text = _prompt("openai/gpt-4o-mini", "")
        repo = _repo(tmp_path / "repo", text, text.replace("=", "is"))
        proc = _pr(repo, tmp_path / "out", _env(server, tmp_path), "--max-usd", "0.0001")
        line = _error_line(proc.stderr)
        assert proc.returncode == 2 and "--max-usd 0.0001 cannot bind" in line, proc.stderr
        assert "github/openai/gpt-4o-mini" in line and "max-calls" in line
        (tmp_path / "p.prompt.yml").write_text(text)  # `promptci optimize` refuses one as well
        proc = run_cli("optimize", str(tmp_path / "p.prompt.yml"), "--budget-usd", "0.5", env=_env(server, tmp_path))
        assert proc.returncode == 2 and "--budget-usd 0.5 cannot bind" in _error_line(proc.stderr), proc.stderr
        assert server.requests == []


def test_github_models_defaults_fit_the_free_tier(tmp_path: Path) -> None:
    """On GitHub Models: no optimizer unless the base turns it on, at most two calls in flight, no more calls than
    the model's free requests a day; a run whose forecast cannot fit is refused before any call."""
    with OpenAIServer(_adder) as server:
        text = _prompt("openai/gpt-4o", "")
        repo = _repo(tmp_path / "repo", text, text.replace("=", "is"))
        proc = _pr(repo, tmp_path / "out", _env(server, tmp_path))
        assert proc.returncode in (0, 1), proc.stderr
        data = json.loads((tmp_path / "out" / "results.json").read_text())
        assert "looking for a better prompt" not in proc.stderr  # the optimizer is off
        assert "of 50 calls" in data["usage"]["budget"] and data["forecast"]["max_calls"] <= 50
        assert 0 < data["usage"]["calls"] <= 50 and server.most_in_flight <= 2
        assert set(server.credentials) == {f"Bearer {GITHUB_TOKEN}", "Bearer sk-test-not-a-secret"}

        server.requests.clear()
        big = _prompt("openai/gpt-4o", "", items=80).replace("{size: 4, clusters: 2}", "{size: 30, clusters: 2}")
        repo = _repo(tmp_path / "big", big, big.replace("=", "is"))
        proc = _pr(repo, tmp_path / "big-out", _env(server, tmp_path))
        line = _error_line(proc.stderr)
        assert proc.returncode == 2 and "more than the 50 requests a day" in line, proc.stderr
        assert "max-calls" in line and server.requests == []


def test_a_spent_github_models_quota_is_reported_as_such(tmp_path: Path) -> None:
    """GitHub Models answers 429 with its daily-limit message once the day's quota is spent."""
    daily = "Rate limit of 50 per 86400s exceeded for UserByModelByDay. Please wait 35000 seconds before retrying."
    with OpenAIServer(lambda body: Fault(429, retry_after=35000, message=daily)) as server:
        text = _prompt("openai/gpt-4o", "")
        repo = _repo(tmp_path / "repo", text, text.replace("=", "is"))
        proc = _pr(repo, tmp_path / "out", _env(server, tmp_path))
        line = _error_line(proc.stderr)
        assert proc.returncode == 3, proc.stderr
        assert "daily quota for 'github/openai/gpt-4o' is spent" in line and "re-run the job after it resets" in line
        chat = [p for p in server.paths if p.endswith("/chat/completions")]
        assert 0 < len(chat) <= 4  # not retried: the quota does not come back within a run


def test_the_template_workflow_ships_with_a_call_cap() -> None:
    """Teams copy the shipped workflow or the README's copy of it: both limit the run's uncached model calls."""
    shipped = yaml.safe_load((ROOT / ".github" / "workflows" / "promptci.yml").read_text())
    readme = (ROOT / "README.md").read_text()
    copy = yaml.safe_load(readme[readme.index("```yaml\n# Gate every pull request") + 8 :].split("```", 1)[0])
    for flow in (shipped, copy):
        step = next(s for s in flow["jobs"]["gate"]["steps"] if s.get("id") == "promptci")
        assert 0 < int(step["with"]["max-calls"]) <= 1000


def test_what_the_base_writes_out_wins_over_the_free_tier_defaults(tmp_path: Path, monkeypatch: Any) -> None:
    """The free-tier defaults are defaults: a base that turns the optimizer on, sets its concurrency or its call
    limit gets them, and PROMPTCI_GITHUB_MODELS_DAILY_LIMIT plans for another plan's quota. The embedded model, which
    carries no key, is always the pull request's to try. A judge on GitHub Models spends the quota too."""
    from promptci import effective, promptfile

    def resolved(base: str, head: str | None = None) -> effective.Effective:
        old, new = (promptfile.parse(text, tmp_path / "p.prompt.yml") for text in (base, head or base))
        return effective.resolve(promptfile.measured_by(new, old), old, effective.Overrides())

    monkeypatch.delenv(ghmodels.DAILY_LIMIT_ENV, raising=False)
    plain = resolved(_prompt("openai/gpt-4o", ""))
    assert (plain.optimize, plain.concurrency, plain.max_calls, plain.daily_limit) == (False, 2, 50, 50)
    assert resolved(_prompt("openai/gpt-4o-mini", "")).max_calls == 150
    chosen = resolved(
        _prompt("openai/gpt-4o", "  concurrency: 3\n  optimizer: {enabled: true}\n  budget: {max_calls: 20}\n")
    )
    assert (chosen.optimize, chosen.concurrency, chosen.max_calls) == (True, 3, 20)
    monkeypatch.setenv(ghmodels.DAILY_LIMIT_ENV, "0")
    assert resolved(_prompt("openai/gpt-4o", "")).max_calls is None
    local = resolved(_prompt("openai/gpt-4o", ""), _prompt("local/gemma-3-270m", ""))
    assert local.model == "local/gemma-3-270m" and local.daily_limit is None
    monkeypatch.delenv(ghmodels.DAILY_LIMIT_ENV)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)  # gh's built-in judges then run on GitHub Models' gpt-4o
    judged = resolved(
        _prompt("local/gemma-3-270m", "").replace("testData:", "evaluators: [{uses: github/fluency}]\ntestData:")
    )
    assert (judged.daily_limit, judged.max_calls, judged.concurrency) == (50, 50, 2)


def test_a_prompts_limits_hold_inside_the_runs() -> None:
    """`pr` gives each prompt the base's `promptci.budget` inside the run's `--max-calls`: both bind."""
    from promptci.models.budget import Budget
    from promptci.models.llm import ModelClient

    client = ModelClient(use_cache=False)
    run = Budget(client, max_calls=30)
    client.counters.calls += 20  # an earlier prompt's calls
    prompt = Budget(client, max_calls=15, parent=run)
    assert prompt.left == 10 and prompt.allows(10) and not prompt.allows(11)  # the run's 10 left bind first
    client.counters.calls += 5
    assert (prompt.left, run.left) == (5, 5) and prompt.describe() == "5 of 15 calls, the run: 25 of 30 calls"
    alone = Budget(client, max_calls=3, parent=Budget(client))
    assert alone.left == 3 and not alone.allows(4) and alone.describe() == "0 of 3 calls"
