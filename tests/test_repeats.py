"""Targeted repeats (gate/repeats.py): the item's value is unbiased whatever r and whatever its chances, the extra
draws go only to sampled or judged prompts' disagreeing items, are counted, cached and replayed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from promptci import promptfile
from promptci.files import prresults
from promptci.files.evalresults import Draw, ItemResult
from promptci.gate import decision, draws, repeats

from .helpers import run_cli


def _expected(chances_b: dict[float, float], chances_h: dict[float, float], r: int, rule) -> float:
    """E[rule(base's draws, head's draws)] by exact enumeration: r independent draws a side from these chances."""
    total = 0.0
    for b in itertools.product(chances_b, repeat=r):
        pb = float(np.prod([chances_b[x] for x in b]))
        for h in itertools.product(chances_h, repeat=r):
            total += pb * float(np.prod([chances_h[x] for x in h])) * rule(list(b), list(h))
    return total


def _naive(b: list[float], h: list[float]) -> float:
    """Repeat where the first draws disagree and average every draw: the biased rule."""
    if draws.passes(b[0]) == draws.passes(h[0]):
        return h[0] - b[0]
    return sum(h) / len(h) - sum(b) / len(b)


@pytest.mark.parametrize("r", [2, 3, 5])
@pytest.mark.parametrize("p_b, p_h", [(0.5, 0.5), (0.9, 0.3), (0.2, 0.7), (0.05, 0.95), (1.0, 0.4)])
def test_the_value_of_a_pass_fail_item_is_unbiased_and_averaging_every_draw_is_not(
    r: int, p_b: float, p_h: float
) -> None:
    base, head = {1.0: p_b, 0.0: 1 - p_b}, {1.0: p_h, 0.0: 1 - p_h}
    assert _expected(base, head, r, repeats.value) == pytest.approx(p_h - p_b, abs=1e-12)
    if p_b != p_h:
        assert abs(_expected(base, head, r, _naive) - (p_h - p_b)) > 0.01  # the test sees a biased rule


def _cross(b: list[float], h: list[float]) -> float:
    """The disagreeing pairs across sample indices (head's draw i against base's draw j): unbiased only when the
    two sides' draws are independent."""
    if draws.passes(b[0]) == draws.passes(h[0]):
        return h[0] - b[0]
    pairs = [y - x for y in h for x in b if draws.passes(y) != draws.passes(x)]
    return sum(pairs) / len(pairs)


@pytest.mark.parametrize("p_b, p_h", [(0.6, 0.3), (0.8, 0.7), (0.2, 0.9)])
def test_the_value_stays_unbiased_when_base_and_head_share_each_draws_seed(p_b: float, p_h: float) -> None:
    """Draw d of base and of head share a seed (llm.py), so at one index they agree more than chance says. Here
    they are as coupled as can be (one uniform number decides both); the value, which pairs draws by index,
    keeps its expectation, where pairing across indices would not."""
    joint = {(1.0, 1.0): min(p_b, p_h), (1.0, 0.0): max(0.0, p_b - p_h), (0.0, 1.0): max(0.0, p_h - p_b)}
    joint[(0.0, 0.0)] = 1 - sum(joint.values())
    r = 4

    def expected(rule) -> float:
        total = 0.0
        for pairs in itertools.product(joint, repeat=r):
            chance = float(np.prod([joint[p] for p in pairs]))
            total += chance * rule([b for b, _ in pairs], [h for _, h in pairs])
        return total

    assert expected(repeats.value) == pytest.approx(p_h - p_b, abs=1e-12)
    assert abs(expected(_cross) - (p_h - p_b)) > 0.01  # the test sees the coupled bias


def test_the_value_of_a_graded_item_is_unbiased_and_bounded() -> None:
    base = {0.0: 0.3, 0.25: 0.1, 0.5: 0.2, 0.75: 0.15, 1.0: 0.25}
    head = {0.0: 0.1, 0.4: 0.3, 0.6: 0.2, 1.0: 0.4}
    mean = sum(x * p for x, p in head.items()) - sum(x * p for x, p in base.items())
    assert _expected(base, head, 3, repeats.value) == pytest.approx(mean, abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        b, h = list(rng.random(3)), list(rng.random(3))
        assert -1.0 <= repeats.value(b, h) <= 1.0


PROMPT = """name: Capitals
model: mockllm/model
modelParameters:
  temperature: {temperature}
messages:
  - role: user
    content: "{{{{input}}}}{tail}"
evaluators:
  - name: eq
    string: {{equals: "{{{{expected}}}}"}}
promptci:
  pool: ../eval_sets/capitals.jsonl
  repeats: {repeats}
  embedding_model: mockllm/embed
  selection: {{size: 12}}
"""


def _repo(tmp_path: Path, temperature: float, repeats_: int, items: int = 60) -> Path:
    """A pool whose items the mock answers right or wrong at random when sampling; head differs from base by a
    space, so at temperature > 0 their draws differ and about half the items' first draws disagree."""
    from .test_flows import git

    repo = tmp_path / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "eval_sets").mkdir()
    rows = [
        {"id": f"c{n:02d}", "input": f"City {n}? ANSWER: city{n} || nowhere", "expected": f"city{n}"}
        for n in range(items)
    ]
    (repo / "eval_sets" / "capitals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = repo / "prompts" / "c.prompt.yml"
    path.write_text(PROMPT.format(temperature=temperature, repeats=repeats_, tail=""))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "capitals")
    git(repo, "checkout", "-qb", "edit")
    path.write_text(PROMPT.format(temperature=temperature, repeats=repeats_, tail=" "))
    git(repo, "commit", "-qam", "a space")
    return repo


EMBED = 1  # the pool embedded once (mockllm/embed, metered) to choose the subset


def _pr(repo: Path, out: Path, *extra: str) -> dict:
    """`promptci pr` with its own response cache beside the repository (so the counts are this test's alone)."""
    done = run_cli(
        *("pr", "--base", "main", "--head", "edit", "--repo", str(repo), "--out", str(out), "--no-optimize"),
        *("--no-refresh", *extra),
        env={"PROMPTCI_CACHE_DIR": str(repo.parent / "cache")},
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads((out / "results.json").read_text())


def test_a_deterministic_exact_prompt_makes_no_extra_call_whatever_the_repeats(tmp_path: Path) -> None:
    results = _pr(_repo(tmp_path, temperature=0, repeats_=4), tmp_path / "out")
    [p] = results["prompts"]
    assert p["repeats"] is None and not p["sampled"]
    assert all(not p[side][i]["draws"] for side in ("base", "head") for i in p["items"])
    assert results["usage"]["calls"] == len(p["base"]) + len(p["head"]) + EMBED  # one call per item and side


def test_sampled_items_are_drawn_again_only_where_the_first_draws_disagree_and_replay_to_the_same_verdict(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path, temperature=0.8, repeats_=1)
    results = _pr(repo, tmp_path / "out")
    [p] = results["prompts"]
    r = p["repeats"]
    assert r == repeats.DEFAULT
    first = {side: {i: (p[side][i]["draws"] or [p[side][i]])[0]["score"] for i in p[side]} for side in ("base", "head")}
    disagreed = [i for i in p["base"] if (first["base"][i] >= 0.5) != (first["head"][i] >= 0.5)]
    assert 0 < len(disagreed) < len(p["base"])
    for side in ("base", "head"):
        assert all(len(p[side][i]["draws"]) == (r if i in disagreed else 0) for i in p[side])
    extra = 2 * (r - 1) * len(disagreed)
    assert results["usage"]["calls"] == len(p["base"]) + len(p["head"]) + extra + EMBED  # the first draw: cached
    assert results["forecast"]["max_calls"] >= results["usage"]["calls"]

    loaded = prresults.load(tmp_path / "out" / "results.json")  # what `promptci report` reads: judged again
    [again] = loaded.prompts
    assert again.verdict is not None and again.verdict.status == p["verdict"]["status"]
    assert again.comparison is not None and again.comparison.delta == pytest.approx(p["comparison"]["delta"])
    assert again.repeats is not None
    values = [repeats.paired(again.base[i], again.head[i], again.repeats) for i in again.items]
    assert p["comparison"]["delta"] == pytest.approx(sum(values) / len(values))  # the items' values, not the means'
    shown = (tmp_path / "out" / "report.md").read_text()
    in_items = sum(1 for i in p["items"] if i in disagreed)
    assert f"repeats on {in_items} item{'s' if in_items != 1 else ''} whose draws disagreed" in shown

    rerun = _pr(repo, tmp_path / "again")
    assert rerun["usage"]["calls"] == 0 and rerun["prompts"][0]["verdict"]["status"] == p["verdict"]["status"]
    assert all(rerun["prompts"][0]["head"][i]["draws"] == p["head"][i]["draws"] for i in p["head"])  # the same draws
    # (without PROMPTCI_GATE_SECRET the order is fresh each run, so the interval may differ: docs/gate.md)


def test_the_replay_counts_a_disagreeing_item_by_its_value_not_its_means() -> None:
    def item(i: str, *scores: float) -> ItemResult:
        return ItemResult(
            id=i, score=sum(scores) / len(scores), draws=[Draw("x", s) for s in scores] * (len(scores) > 1)
        )

    base = {"a": item("a", 1, 1, 0), "b": item("b", 1)}
    head = {"a": item("a", 0, 1, 1), "b": item("b", 1)}
    targeted = decision.evidence(["a", "b"], 0, base, head, None, targeted=3)
    assert targeted.paired == [pytest.approx(repeats.value([1, 1, 0], [0, 1, 1])), 0.0]
    assert repeats.value([1, 1, 0], [0, 1, 1]) == pytest.approx(0.0)  # by index: −1, (agree), +1
    assert repeats.value([1, 0, 0], [0, 1, 1]) == pytest.approx(1 / 3)  # −1, +1, +1
    assert decision.evidence(["a", "b"], 0, base, head, None).paired is None  # exact scores: the means' difference


def test_only_a_paired_sampled_or_judged_prompt_repeats(tmp_path: Path) -> None:
    def prompt(name: str, temperature: float, k: int) -> promptfile.PromptFile:
        folder = tmp_path / name
        (folder / "eval_sets").mkdir(parents=True)
        (folder / "eval_sets" / "capitals.jsonl").write_text('{"input": "x", "expected": "x"}\n')
        (folder / "prompts").mkdir()
        path = folder / "prompts" / "c.prompt.yml"
        path.write_text(PROMPT.format(temperature=temperature, repeats=k, tail=""))
        return promptfile.load(path)

    exact, sampled, five = prompt("e", 0, 4), prompt("s", 0.8, 1), prompt("f", 0.8, 5)
    assert repeats.rounds(exact, exact) is None  # exact scores: one draw whatever promptci.repeats says
    assert repeats.rounds(sampled, None) is None  # a new prompt has no pair
    assert repeats.rounds(sampled, exact) == repeats.DEFAULT  # either side sampled; r from head's settings:
    assert repeats.rounds(exact, sampled) == 4  # (a pull request's head carries the reference's settings)
    assert repeats.rounds(five, five) == 5
    assert repeats.draws_per_item(exact, 4, True) == (1.0, 1)
    assert repeats.draws_per_item(sampled, 1, True) == (1 + repeats.EXPECTED_SHARE * 2, 3)


def test_a_batch_whose_repeats_the_budget_cannot_pay_ends_the_run_inconclusive_without_it(tmp_path: Path) -> None:
    free = _pr(_repo(tmp_path / "free", temperature=0.8, repeats_=1), tmp_path / "free" / "out")
    [p] = free["prompts"]
    first = {s: {i: (p[s][i]["draws"] or [p[s][i]])[0]["score"] >= 0.5 for i in p[s]} for s in ("base", "head")}
    subset = p["items"][:12]  # the committed subset comes first; its repeats are the comparison's, never cut
    comparison = EMBED + 2 * len(subset) + 4 * sum(first["base"][i] != first["head"][i] for i in subset)
    repo = _repo(tmp_path / "capped", temperature=0.8, repeats_=1)
    capped = _pr(repo, tmp_path / "capped" / "out", "--max-calls", str(comparison + 40))  # a batch's first draws
    [q] = capped["prompts"]
    assert q["verdict"]["status"] == "inconclusive" and "the budget is spent" in q["verdict"]["reason"]
    assert q["items"] == subset and len(q["head"]) == 32  # the batch was scored once, not counted
    assert capped["usage"]["calls"] == comparison + 40
    again = prresults.load(tmp_path / "capped" / "out" / "results.json").prompts[0]
    assert again.verdict is not None and again.verdict.status == "inconclusive"


def test_a_results_file_whose_draws_are_not_its_scores_is_refused(demo_results: dict) -> None:
    """The replay reads the draws: a file whose draws do not average to the score, or have a missing one, is bad
    input (exit 2 when `promptci report` reads it), never a traceback or a verdict from the forged draws."""
    import copy

    from pydantic import ValidationError

    prompt = demo_results["prompts"][0]
    item = prompt["items"][0]
    for forged in ([None, None], [1.0, 1.0]):
        data = copy.deepcopy(demo_results)
        score = data["prompts"][0]["head"][item]["score"]
        data["prompts"][0]["head"][item]["draws"] = [
            {"output": "x", "score": s if s is None or score != 1.0 else 0.0} for s in forged
        ]
        with pytest.raises(ValidationError, match="not the draws of its score"):
            prresults.parse(data)
