"""Draws: when an item's score is a sample, how many samples each item gets, and what they say about stability.

A prompt that samples (temperature > 0 or top_p < 1, generation rather than label scoring) has no one answer per
item: the truth it is judged by is its expected score over answers, and one answer is one draw of it. An LLM
judge's grade is a draw too. Such an item is scored `promptci.repeats` times, each draw under its own sample index
(llm.py keys the cache by it, so a re-run reuses the same draws and a repeat is never a cached copy), and its score
is the mean of its draws, an unbiased estimate of its expected score. A deterministic prompt with exact checks is
scored once whatever the setting: another draw would be the same answer.

An item *passes* a draw when the draw scores at least PASS_SCORE; it is *flaky* when it passes some of its draws
and fails others, and pass^k counts the items that pass all k.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..files.evalresults import Agreement, Summary
from ..promptfile import PromptFile
from ..rendering.escape import flat

PASS_SCORE = 0.5
REGRADE_SAMPLE = 10_000
"""The sample index of a judge's second grade of an answer: beyond any repeat, so never one of the run's grades."""


def sampled(prompt: PromptFile) -> bool:
    """Whether the prompt's answers are samples: a generated answer at temperature > 0 or top_p < 1; with label
    scoring, at temperature > 0, a label drawn from the labels' probabilities (labelprobs.sample)."""
    mp = prompt.spec.modelParameters
    if prompt.settings.labels:
        return (mp.temperature or 0.0) > 0
    top_p = mp.top_p_sent
    return (mp.temperature or 0.0) > 0 or (top_p is not None and top_p < 1)


def free(prompt: PromptFile) -> bool:
    """Whether a draw after an item's first costs no call: label scoring asks the probabilities once and draws
    every label from them, and no LLM judge grades the labels."""
    return bool(prompt.settings.labels) and not judged(prompt)


def judged(prompt: PromptFile) -> bool:
    """Whether an LLM grades the prompt's answers (its grades are samples)."""
    from ..scoring import fingerprints  # here: the report reads draws without loading the evaluators

    return any(f.llm for f in fingerprints(prompt).values())


def per_item(prompt: PromptFile, repeats: int | None = None) -> int:
    """Draws of each item: `repeats` (default `promptci.repeats`) where a score is a sample, else one."""
    k = repeats or prompt.settings.repeats
    return k if sampled(prompt) or judged(prompt) else 1


class Scored(Protocol):
    """An item's result as a run (results.ItemResult) or a pull request's results file (prresults) holds it."""

    @property
    def id(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def draws(self) -> Sequence[Drawn]: ...


class Drawn(Protocol):
    @property
    def score(self) -> float | None: ...


class Regraded(Protocol):
    @property
    def evaluations(self) -> Sequence[Graded]: ...
    @property
    def regrades(self) -> Sequence[Graded]: ...


class Graded(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def score(self) -> float: ...


def noisy(prompts: Sequence[PromptFile | None]) -> bool:
    """Whether any of these prompts' scores are samples (sampled answers or an LLM judge's grades)."""
    return any(p is not None and (sampled(p) or judged(p)) for p in prompts)


def gate_design(prompts: Sequence[PromptFile | None], fixed: int, pool: int | None) -> tuple[int, int | None]:
    """`fixed` and `pool` for gate.evidence. Exact scores keep the design-based test on a finite pool (the
    committed subset's values count exactly, and the whole pool scored is the exact answer). Sampled scores are
    not exact even on the whole pool: every compared item counts as a draw from an endless population (pool None;
    the subset's items come first, in a fixed shuffle), whose bounded, unbiased per-item draws keep the betting
    test valid for the expected-score mean (docs/gate.md, "Output noise")."""
    return (fixed, None) if noisy(prompts) else (fixed, pool)


def passes(score: float | None) -> bool:
    """Whether a score passes: from PASS_SCORE up (an exact answer right, a mean of draws or a grade from the
    line); an item not scored does not."""
    return score is not None and score >= PASS_SCORE


def _outcomes(item: Scored) -> list[bool]:
    scores = [d.score for d in item.draws] if item.draws else [item.score]
    return [passes(s) for s in scores if s is not None]


def flaky(item: Scored) -> bool:
    """Passed in some draws and failed in others."""
    return len(set(_outcomes(item))) > 1


def passes_all(item: Scored) -> bool:
    outcomes = _outcomes(item)
    return bool(outcomes) and all(outcomes)


@dataclass(frozen=True)
class Stability:
    """pass^k and the flaky items of one prompt's run."""

    draws: int
    items: int  # items scored
    pass_all: int
    flaky: list[str]

    @property
    def pass_k(self) -> float | None:
        return self.pass_all / self.items if self.items else None


def stability(items: Sequence[Scored]) -> Stability:
    scored = [i for i in items if i.score is not None]
    return Stability(
        draws=max((len(i.draws) for i in scored), default=1) or 1,
        items=len(scored),
        pass_all=sum(passes_all(i) for i in scored),
        flaky=[i.id for i in scored if flaky(i)],
    )


def broken(protected: Sequence[str], base: Mapping[str, Scored], head: Mapping[str, Scored]) -> list[str]:
    """The protected items base passed in every draw and head failed in at least one."""
    return [
        i
        for i in protected
        if i in base and i in head and passes_all(base[i]) and not all(_outcomes(head[i]) or [False])
    ]


def newly_flaky(base: Mapping[str, Scored], head: Mapping[str, Scored]) -> list[str]:
    """Items that base answers stably (the same outcome in each of several draws) and head does not: named even
    when head's mean holds, since a user meets one draw, not the mean."""
    return [
        i
        for i, h in head.items()
        if i in base and len(base[i].draws) > 1 and not flaky(base[i]) and flaky(h) and base[i].score is not None
    ]


def agreement(items: Sequence[Regraded]) -> Agreement | None:
    """The LLM judges' self-agreement over the answers they graded twice: the same score both times counts as
    agreed (None: no answer was graded twice)."""
    graded = agreed = 0
    for item in items:
        first = {e.name: e.score for e in item.evaluations}
        for again in item.regrades:
            graded += 1
            agreed += first.get(again.name) == again.score
    return Agreement(graded, agreed) if graded else None


def lines(summary: Summary) -> list[str]:
    """pass^k, the flaky items and the judges' self-agreement as `promptci eval` prints them (none: nothing to say)."""
    s, said = summary, []
    if s.draws > 1 and s.pass_all is not None and s.scored:
        flaky = ", ".join(flat(i, 40) for i in s.flaky[:5]) + (" …" if len(s.flaky) > 5 else "")
        said.append(
            f"  draws   {s.draws} per item · pass^{s.draws} {s.pass_all / s.scored:.3f} ({s.pass_all}/{s.scored}) · "
            f"{len(s.flaky)} flaky" + (f": {flaky}" if s.flaky else "")
        )
    agreement = s.judge_agreement
    if agreement is not None and agreement.graded:
        said.append(
            f"  judge   self-agreement {agreement.agreed}/{agreement.graded} "
            f"({agreement.agreed / agreement.graded:.0%} of the answers graded twice got the same grade)"
        )
    return said


class Result(Scored, Regraded, Protocol):
    """An item's result with its draws and its judges' second grades."""


@dataclass(frozen=True)
class Compared:
    """Base's and head's stability side by side, for the pull request's report."""

    base: Stability | None
    head: Stability
    newly_flaky: list[str]
    agreement: Agreement | None  # the judges' self-agreement over both sides' answers graded twice


def compare(base: Mapping[str, Result], head: Mapping[str, Result]) -> Compared | None:
    """None when there is nothing to say: every item drawn once and no answer graded twice."""
    both = [*base.values(), *head.values()]
    agreed = agreement(both)
    if agreed is None and all(len(r.draws) <= 1 for r in both):
        return None
    return Compared(
        base=stability(list(base.values())) if base else None,
        head=stability(list(head.values())),
        newly_flaky=newly_flaky(base, head),
        agreement=agreed,
    )
