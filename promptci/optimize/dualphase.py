"""The dual-phase optimizer (ALGORITHMS.md §2) with IPOMP stage 2 in the loop (§4).

Phase 1 asks the optimizer model for a five-part instruction from correct examples and keeps it
only if it scores better than the prompt it started from. Phase 2 edits one unit per attempt,
chosen by EXP3 softmax weights: a sentence is rewritten by the optimizer model from the current
failures; a demonstration is swapped for the pool item most like a current failure, with its gold
answer (the "previous tuning experience"), which is what makes a base model that cannot rewrite
text useful. A candidate must pass the quick filter on the failures (h_f) and beat the current
prompt on the evaluation subset (h_v, with the near-ceiling rule) to be accepted. After every
step the subset is refreshed by IPOMP stage 2 from every prompt scored on it so far.

Items the optimizer learns from (demonstrations, phase-1 examples, stage-2 replacements) come from
`Split.training` only; the held-out slice is never seen here.
"""

from __future__ import annotations

import difflib
import math
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Awaitable, Callable, Mapping, Sequence

import numpy as np

from .. import progress, promptfile
from ..budget import Budget
from ..errors import InfraError, InputError
from ..evalset import Item, Pool
from ..llm import ModelClient, Params
from ..promptfile import PromptFile
from ..results import ItemResult
from ..settings import OptimizerSettings
from ..subsets import Stage2, item_text
from . import framing
from .splits import Split
from .units import Layout, Unit, UnitKind, instruction_text, layout, same_variables, with_instruction

MAX_FAILURES_SHOWN = 5
PHASE1_EXAMPLES = 3


class AttemptKind(StrEnum):
    """What an attempt changed: phase 1's new instruction, or (phase 2) the kind of the unit it edited."""

    INSTRUCTION = "instruction"
    SENTENCE = UnitKind.SENTENCE.value
    DEMO = UnitKind.DEMO.value


@dataclass
class Attempt:
    """One candidate tried: where it came from, how it scored, and what became of it."""

    step: int
    unit: int | None
    kind: AttemptKind
    before: str
    after: str | None
    failure_score: float | None = None
    subset_score: float | None = None
    accepted: bool = False
    why: str = ""


@dataclass
class Outcome:
    """What an optimizer run found. `best_text` is always a valid prompt file (the input when nothing won)."""

    initial_text: str
    best_text: str
    initial_score: float  # on the first subset
    best_score: float  # on the final subset
    initial_on_final: float  # the input prompt re-scored on the final subset, for a fair comparison
    steps_done: int
    stopped: str
    attempts: list[Attempt] = field(default_factory=list)
    best_after_step: list[str] = field(default_factory=list)  # the best prompt's text after step 0, 1, ...
    score_after_step: list[float] = field(default_factory=list)  # and its subset score then
    replacements: list[dict] = field(default_factory=list)
    subset_ids: list[str] = field(default_factory=list)
    fault: InfraError | None = None  # set when a model stayed unreachable
    scored: dict[str, dict[str, ItemResult]] = field(default_factory=dict, repr=False)  # every prompt tried: sha → item
    initial_results: dict[str, ItemResult] = field(default_factory=dict, repr=False)  # the input's, by item
    best_results: dict[str, ItemResult] = field(default_factory=dict, repr=False)  # the best prompt's, by item

    @property
    def improved(self) -> bool:
        return self.best_text != self.initial_text

    def diff(self, before: str, after: str) -> str:
        """The best prompt as a unified diff against the input."""
        return "".join(difflib.unified_diff(self.initial_text.splitlines(keepends=True),
                                            self.best_text.splitlines(keepends=True), fromfile=before, tofile=after))


class _Stop(Exception):
    """Ends the run cleanly with the best prompt so far; the message says why."""


@dataclass
class _Candidate:
    layout: Layout
    prompt: PromptFile
    weights: list[float]  # EXP3 weight per unit, carried from the prompt this one was accepted over
    results: dict[str, ItemResult] = field(default_factory=dict)

    def score(self, ids: Sequence[str]) -> float:
        return sum(self.results[i].score or 0.0 for i in ids) / len(ids)

    def failures(self, ids: Sequence[str]) -> list[str]:
        return [i for i in ids if (self.results[i].score or 0.0) < 1.0]


Score = Callable[[PromptFile, Sequence[Item]], Awaitable[Sequence[ItemResult]]]
"""Scores a prompt on items (every item, or an InfraError): the runner in promptci, anything in a test."""

Refresh = Callable[[Sequence[str], Sequence[Mapping[str, ItemResult]], Sequence[int], int], Stage2]
"""IPOMP stage 2: (subset ids, every prompt's results by item, available pool rows, seed) -> the new subset."""


@dataclass
class _State:
    """What one run changes as it goes."""

    subset: list[str]  # the evaluation subset's item ids (stage 2 replaces some after a step)
    started: float = field(default_factory=time.monotonic)
    removed: set[str] = field(default_factory=set)  # items stage 2 took out; they never come back
    scored: list[_Candidate] = field(default_factory=list)  # every candidate scored on the whole current subset
    used_demos: set[str] = field(default_factory=set)  # training items already made demonstrations
    samples: int = 0  # optimizer-model requests so far (each gets its own seed)


class DualPhase:
    """Optimizes one prompt (`run()`, once): built whole from the prompt, its pool and split, and the two things it
    needs done, scoring prompts (`score`) and refreshing the subset (`refresh`, None: never); the optimizer model is
    asked through `client`. Every random choice is seeded."""

    def __init__(self, prompt: PromptFile, pool: Pool, split: Split, embeddings: np.ndarray, *, score: Score,
                 refresh: Refresh | None, client: ModelClient, budget: Budget, settings: OptimizerSettings,
                 optimizer_model: str, style: str, seed: int = 0, steps: int | None = None,
                 on_attempt: Callable[[Attempt], None] | None = None,
                 on_step: Callable[[int, float], None] | None = None) -> None:
        if style not in ("instruct", "completion"):
            raise ValueError("style must be instruct or completion")
        self.head_prompt, self.pool, self.split, self.embeddings = prompt, pool, split, embeddings
        self.score_items, self.refresh = score, refresh
        self.client, self.budget, self.settings = client, budget, settings
        self.optimizer_model, self.style, self.seed = optimizer_model, style, seed
        self.steps = settings.steps if steps is None else steps
        self.on_attempt, self.on_step = on_attempt, on_step
        self.rng = random.Random(seed)
        self.by_id = pool.by_id()
        self.index = {item.id: i for i, item in enumerate(pool.items)}
        self.can_swap_demos = any(pool.items[i].expected is not None for i in split.training)
        self.state = _State(subset=[pool.items[i].id for i in split.subset])

    async def run(self) -> Outcome:
        prompt, steps, state = self.head_prompt, self.steps, self.state
        head = self._candidate(layout(prompt), prompt, relayout=True)
        outcome = Outcome(initial_text=prompt.text, best_text=prompt.text, initial_score=0.0, best_score=0.0,
                          initial_on_final=0.0, steps_done=0, stopped="")
        best = head
        try:
            await self._score_candidate(head, state.subset, required=True)
            outcome.initial_score = outcome.best_score = head.score(state.subset)
            state.scored.append(head)
            with progress.step(f"optimizer phase 1: a new instruction written from correct examples "
                               f"({self.optimizer_model})"):
                best = await self._phase1(best, outcome)
                best = await self._after_step(0, best, outcome)
            outcome.stopped = f"{steps} steps done"
            for step in range(1, steps + 1):
                if not best.failures(state.subset):
                    raise _Stop(f"no failures to learn from after step {step - 1}: every subset item is right")
                with progress.step(f"optimizer step {step} of {steps}: up to {self.settings.attempts} edits of "
                                   f"one sentence or example each"):
                    accepted = await self._phase2_step(step, best, outcome)
                    best = await self._after_step(step, accepted or best, outcome)
        except _Stop as stop:
            outcome.stopped = str(stop)
        except InfraError as exc:
            outcome.fault = InfraError(f"model unreachable: {exc}")
            outcome.stopped = str(outcome.fault)
        outcome.best_text = best.prompt.text
        outcome.initial_results, outcome.best_results = head.results, best.results
        outcome.best_score = best.score(state.subset) if all(i in best.results for i in state.subset) else \
            outcome.best_score
        outcome.subset_ids = list(state.subset)
        outcome.scored = {c.prompt.sha256: c.results for c in state.scored}
        outcome.initial_on_final = math.nan
        if outcome.fault is None:
            try:
                # the input on the final subset, to compare
                await self._score_candidate(head, state.subset, required=True)
                outcome.initial_on_final = head.score(state.subset)
            except InfraError as exc:
                outcome.fault = InfraError(f"model unreachable: {exc}")
                outcome.stopped = str(outcome.fault)
        return outcome

    # ---- scoring -------------------------------------------------------------------------------

    async def _score_candidate(self, candidate: _Candidate, ids: Sequence[str], *, required: bool = False) -> None:
        """Score the candidate on the items it has no result for yet: within the budget, unless it is the
        input prompt's own score, which every run needs (it counts, but is never cut)."""
        todo = [i for i in ids if i not in candidate.results]
        if not todo:
            return
        if not required and not self.budget.allows(len(todo)):
            raise _Stop(f"budget spent ({self.budget.describe()}); kept the best prompt so far")
        scored = await self.score_items(candidate.prompt, [self.by_id[i] for i in todo])
        candidate.results.update({r.id: r for r in scored})

    async def _ask(self, text: str, *, max_tokens: int, stop: Sequence[str] = ()) -> str:
        if not self.budget.allows(1):
            raise _Stop(f"budget spent ({self.budget.describe()}); kept the best prompt so far")
        self.state.samples += 1
        params = Params(temperature=self.settings.temperature, max_tokens=max_tokens, stop=tuple(stop),
                        seed=self.seed * 100_003 + self.state.samples)
        completion = await self.client.complete(self.optimizer_model, [{"role": "user", "content": text}], params)
        return completion.text

    # ---- phase 1 -------------------------------------------------------------------------------

    async def _phase1(self, head: _Candidate, outcome: Outcome) -> _Candidate:
        attempt = Attempt(step=0, unit=None, kind=AttemptKind.INSTRUCTION, before=instruction_text(head.layout),
                          after=None)
        try:
            examples = await self._examples()
            attempt.after = await self._initial_instruction(examples, attempt.before or None)
            candidate = self._candidate(with_instruction(head.layout, attempt.after), head.prompt, relayout=True)
        except framing.Refused as refused:
            attempt.why = f"refused: {refused}"
            self._report(outcome, attempt)
            return head
        await self._score_candidate(candidate, self.state.subset)
        self.state.scored.append(candidate)
        attempt.subset_score, before = candidate.score(self.state.subset), head.score(self.state.subset)
        attempt.accepted = attempt.subset_score > before
        attempt.why = (f"better than the input ({attempt.subset_score:.3f} > {before:.3f})" if attempt.accepted else
                       f"not better than the input ({attempt.subset_score:.3f} ≤ {before:.3f}); phase 2 starts "
                       "from the input")
        self._report(outcome, attempt)
        return candidate if attempt.accepted else head

    async def _initial_instruction(self, examples: list[framing.Example], current: str | None) -> str:
        if self.style == "instruct":
            reply = await self._ask(framing.meta_instruction(examples, current), max_tokens=700)
            return framing.parse_instruction(reply)
        text = framing.meta_completion_lead(examples, current)
        lines = []
        for header, start in framing.SECTION_STARTS:
            text += (f"{header}\n" if header else "") + start
            line = framing.section_line(await self._ask(text, max_tokens=48, stop=("\n",)), header or start)
            text += f" {line}\n"
            lines += [header] if header else []
            lines.append(f"{start} {line}")
        return framing.parse_instruction("\n".join(lines))

    async def _examples(self) -> list[framing.Example]:
        """Correct examples for the meta-instruction: training items with their gold answers, one per answer
        where possible; with the instruct framing, each gets a rationale kept only when it reaches the gold one."""
        items = [self.pool.items[i] for i in self.split.training if self.pool.items[i].expected is not None]
        self.rng.shuffle(items)
        chosen: list[Item] = []
        for item in items:
            if len(chosen) == PHASE1_EXAMPLES:
                break
            if str(item.expected) not in {str(c.expected) for c in chosen}:
                chosen.append(item)
        chosen += [i for i in items if i not in chosen][: PHASE1_EXAMPLES - len(chosen)]
        examples = []
        for item in chosen:
            example = framing.Example(input=self._text(item), answer=str(item.expected))
            if self.style == "instruct":
                reply = await self._ask(framing.rationale_request(example), max_tokens=300)
                example = framing.Example(example.input, example.answer, framing.parse_rationale(reply, example.answer))
            examples.append(example)
        return examples

    # ---- phase 2 -------------------------------------------------------------------------------

    async def _phase2_step(self, step: int, best: _Candidate, outcome: Outcome) -> _Candidate | None:
        editable = [i for i in best.layout.editable
                    if best.layout.units[i].kind == UnitKind.SENTENCE or self.can_swap_demos]
        if not editable:
            raise _Stop("nothing to edit: the prompt has no editable sentence or demonstration")
        weights = best.weights
        current = best.score(self.state.subset)
        failures = best.failures(self.state.subset)
        for _ in range(self.settings.attempts):
            probs = _softmax([weights[i] for i in editable])
            k = editable[self.rng.choices(range(len(editable)), weights=probs)[0]]
            unit = best.layout.units[k]
            attempt = Attempt(step=step, unit=k, kind=AttemptKind(unit.kind), before=unit.body, after=None)
            try:
                attempt.after, source = await self._edit(best, unit, failures)
                candidate = self._candidate(best.layout.with_body(k, attempt.after), best.prompt)
            except framing.Refused as refused:
                attempt.why = f"refused: {refused}"
                self._report(outcome, attempt)
                continue
            await self._score_candidate(candidate, failures)
            attempt.failure_score = candidate.score(failures)
            if attempt.failure_score < self.settings.quick_filter:
                attempt.why = (f"quick filter: {attempt.failure_score:.2f} on the {len(failures)} failures < "
                               f"h_f {self.settings.quick_filter}")
                self._report(outcome, attempt)
                continue
            await self._score_candidate(candidate, self.state.subset)
            self.state.scored.append(candidate)
            attempt.subset_score = score = candidate.score(self.state.subset)
            gain, h_v = score - current, self.settings.min_gain
            if not (gain > 0 and (gain >= h_v - 1e-9 or current >= 1 - h_v)):
                attempt.why = f"subset {score:.3f} vs {current:.3f}: gain {gain:+.3f} below h_v {h_v}"
                self._report(outcome, attempt)
                continue
            attempt.accepted = True
            attempt.why = f"subset {score:.3f} vs {current:.3f}: gain {gain:+.3f}"
            reward = self.settings.reward_mix * score + (1 - self.settings.reward_mix) * attempt.failure_score
            p_k = probs[editable.index(k)]
            candidate.weights = list(weights)
            candidate.weights[k] *= math.exp(self.settings.learning_rate * reward / (p_k * len(editable)))
            if source:
                self.state.used_demos.add(source)
            self._report(outcome, attempt)
            return candidate
        return None

    async def _edit(self, best: _Candidate, unit: Unit, failures: list[str]) -> tuple[str, str | None]:
        """The unit's new text, and the pool item it was made from (demonstrations only)."""
        if unit.kind == UnitKind.DEMO:
            return self._swap_demo(best, unit, failures)
        shown = self.rng.sample(failures, min(MAX_FAILURES_SHOWN, len(failures)))
        cases = [(self._text(self.by_id[i]), str(best.results[i].output), str(self.by_id[i].expected)) for i in shown]
        request = framing.rewrite_request(self.style, _prompt_text(best.layout), unit.body, cases)
        reply = await self._ask(request, max_tokens=200 if self.style == "instruct" else 60,
                                stop=() if self.style == "instruct" else ("\n",))
        return framing.parse_sentence(reply, unit.body), None

    def _swap_demo(self, best: _Candidate, unit: Unit, failures: list[str]) -> tuple[str, str]:
        """The training item most like a failure, with its gold answer, as a demonstration. A failure whose
        answer is the one the old demonstration shows is preferred, so the prompt keeps showing every answer."""
        shown = unit.body.strip().splitlines()[-1].strip()[len(best.layout.cue or ""):].strip()
        alike = [i for i in failures if str(self.by_id[i].expected).strip() == shown]
        failure = self.by_id[self.rng.choice(alike or failures)]
        taken = self.state.used_demos | set(self.state.subset)
        pool_rows = [i for i in self.split.training if self.pool.items[i].expected is not None
                     and self.pool.items[i].id not in taken]
        if not pool_rows:
            raise framing.Refused("no unused training item left to demonstrate with")
        same = [i for i in pool_rows if str(self.pool.items[i].expected) == str(failure.expected)] or pool_rows
        cosines = self.embeddings[same] @ self.embeddings[self.index[failure.id]]
        chosen = self.pool.items[same[int(np.argmax(cosines))]]
        try:
            return best.layout.demonstration(chosen.data, str(chosen.expected)), chosen.id
        except InputError as exc:
            raise framing.Refused(f"the item {chosen.id} does not fit the query template: {exc.problem}") from None

    # ---- between steps -------------------------------------------------------------------------

    async def _after_step(self, step: int, best: _Candidate, outcome: Outcome) -> _Candidate:
        """IPOMP stage 2 on every prompt scored on the whole subset, then the best prompt on the new items."""
        outcome.steps_done = step
        state = self.state
        if self.refresh is not None:
            available = [i for i in self.split.training if self.pool.items[i].id not in state.subset
                         and self.pool.items[i].id not in state.removed
                         and self.pool.items[i].id not in state.used_demos]
            found = self.refresh(state.subset, [c.results for c in state.scored], available, self.seed + step)
            swaps = found.records
            if swaps and not self.budget.allows(len(swaps)):
                swaps = []  # no budget left to score the best prompt on new items: keep the subset as it is
            for record in swaps:
                state.removed.add(record["removed"])
                outcome.replacements.append({"step": step, **record})
            if swaps:
                state.subset = [self.pool.items[r].id for r in found.rows]
                await self._score_candidate(best, state.subset)
        outcome.best_after_step.append(best.prompt.text)
        score = best.score(state.subset)
        outcome.score_after_step.append(score)
        which = "phase 1" if step == 0 else f"step {step} of {self.steps}"
        progress.note(f"optimizer {which} done: best prompt so far {score:.3f} on the subset · "
                      f"{self.budget.describe()} · {progress.duration(time.monotonic() - state.started)}")
        if self.on_step:
            self.on_step(step, score)
        return best

    # ---- helpers -------------------------------------------------------------------------------

    def _candidate(self, new: Layout, like: PromptFile, *, relayout: bool = False) -> _Candidate:
        """A candidate prompt file, refused unless it reads exactly the template variables of the input.
        A phase-2 edit keeps the units as they were (so EXP3 weights stay with their units); a new
        instruction is cut into units afresh, with fresh weights."""
        contents = new.contents()
        try:
            if not same_variables(like, contents):
                raise framing.Refused("the rewrite drops or invents a template variable")
            text = like.with_message_contents(contents)
            prompt = promptfile.judged_by(promptfile.parse(text, like.path), like)
        except InputError as exc:
            raise framing.Refused(f"the rewrite is not a valid prompt: {exc}") from None
        if relayout:
            fresh = layout(prompt)
            return _Candidate(fresh, prompt, [1.0] * len(fresh.units))
        return _Candidate(new, prompt, [])

    def _text(self, item: Item) -> str:
        return item_text(self.head_prompt, item)

    def _report(self, outcome: Outcome, attempt: Attempt) -> None:
        outcome.attempts.append(attempt)
        if self.on_attempt:
            self.on_attempt(attempt)


def _softmax(weights: Sequence[float]) -> list[float]:
    top = max(weights)
    exps = [math.exp(w - top) for w in weights]
    total = sum(exps)
    return [e / total for e in exps]


def _prompt_text(lay: Layout) -> str:
    return "\n\n".join(c for c in lay.contents() if c)
