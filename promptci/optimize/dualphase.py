"""The dual-phase optimizer (docs/algorithms.md) with IPOMP stage 2 in the loop.

Phase 1 proposes whole new starting points, in turn, each made from the best prompt so far and kept when it
beats it: k demonstrations from the training split (like the failures, or one per answer at random), then
instructions induced from training examples (APE's forward template, which even a base model continues) and
the five-part meta-instruction filled where the model can, on top of the demonstrations that won.
Phase 2 makes one edit per attempt, chosen by EXP3 softmax weights over every edit the prompt allows:
rewrite a sentence (the optimizer model, from the current failures), swap a demonstration for the training
item most like a failure, add one, insert an instruction sentence where there is none, remove a sentence or
a demonstration. Every candidate is judged alike (`judge`): the quick filter on the current failures among
the judged items, then a paired comparison on all of them. After every step the subset is refreshed by IPOMP
stage 2 from every prompt scored on it so far.

Items the optimizer learns from (demonstrations, examples shown to it, stage-2 replacements) come from
`Split.training` less `Split.judged`; the held-out slice is never seen here.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax

from .. import progress, promptfile
from ..errors import InfraError, InputError
from ..files.evalresults import ItemResult
from ..files.evalset import Item, Pool
from ..files.records import AttemptKind
from ..files.settings import OptimizerSettings
from ..models.budget import Budget
from ..models.llm import ModelClient
from ..promptfile import PromptFile
from ..selection.subsets import Stage2, item_text
from . import acceptance, arms, demos, framing, turns
from .outcome import Attempt, Outcome, Stop
from .splits import Split
from .units import Layout, UnitKind, instruction_text, layout, same_variables, with_instruction
from .writer import Writer

MAX_FAILURES_SHOWN = 5
PHASE1_EXAMPLES = 3  # correct examples shown with the meta-instruction
INDUCTION_EXAMPLES = 5  # input/output pairs APE's template shows
INDUCTIONS = {"completion": 2, "instruct": 1}  # instructions induced in phase 1, by framing


@dataclass
class _Candidate:
    layout: Layout
    prompt: PromptFile
    weights: dict[tuple[str, str], float] = field(default_factory=dict)  # EXP3 weight per (edit, unit text)
    shows: dict[str, str] = field(default_factory=dict)  # demonstration text → the pool item it shows
    results: dict[str, ItemResult] = field(default_factory=dict)

    def score(self, ids: Sequence[str]) -> float:
        return sum(self.results[i].score or 0.0 for i in ids) / len(ids)


Score = Callable[[PromptFile, Sequence[Item]], Awaitable[Sequence[ItemResult]]]
"""Scores a prompt on items (every item, or an InfraError): the runner in promptci, anything in a test."""

Refresh = Callable[[Sequence[str], Sequence[Mapping[str, ItemResult]], Sequence[int], int], Stage2]
"""IPOMP stage 2: (subset ids, every prompt's results by item, available pool rows, seed) -> the new subset."""


@dataclass
class _State:
    """What one run changes as it goes."""

    best: _Candidate  # the best prompt so far: the input until a candidate is accepted
    subset: list[str]  # the evaluation subset's item ids (stage 2 replaces some after a step)
    judged: list[str]  # training items judged on besides the subset (fixed)
    started: float = field(default_factory=time.monotonic)
    removed: set[str] = field(default_factory=set)  # items stage 2 took out; they never come back
    scored: list[_Candidate] = field(default_factory=list)  # every candidate scored on every judged item
    used_demos: set[str] = field(default_factory=set)  # training items shown by an accepted prompt
    tried: set[str] = field(default_factory=set)  # every prompt judged (sha256), the input's included

    @property
    def items(self) -> list[str]:
        return self.subset + self.judged


class DualPhase:
    """Optimizes one prompt (`run()`, once): built whole from the prompt, its pool and split, and the two things it
    needs done, scoring prompts (`score`) and refreshing the subset (`refresh`, None: never); the optimizer model is
    asked through `client`. Every random choice is seeded."""

    def __init__(
        self,
        prompt: PromptFile,
        pool: Pool,
        split: Split,
        embeddings: np.ndarray,
        *,
        score: Score,
        refresh: Refresh | None,
        client: ModelClient,
        budget: Budget,
        settings: OptimizerSettings,
        optimizer_model: str,
        style: str,
        seed: int = 0,
        steps: int | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        on_step: Callable[[int, float], None] | None = None,
        focus: Sequence[str] = (),
    ) -> None:
        self.focus = set(focus)  # items the change broke: first among the failures the search aims at
        self.writer = Writer(client, optimizer_model, style, budget, temperature=settings.temperature, seed=seed)
        self.head_prompt, self.pool, self.split, self.embeddings = prompt, pool, split, embeddings
        self.score_items, self.refresh = score, refresh
        self.budget, self.settings = budget, settings
        self.optimizer_model, self.style, self.seed = optimizer_model, style, seed
        self.steps = settings.steps if steps is None else steps
        self.on_attempt, self.on_step = on_attempt, on_step
        self.rng = random.Random(seed)
        self.by_id = pool.by_id()
        self.index = {item.id: i for i, item in enumerate(pool.items)}
        self.learn_from = [
            i for i in split.training if i not in set(split.judged) and pool.items[i].expected is not None
        ]  # rows that may be shown
        self.demo_cap = len(layout(prompt).indices(UnitKind.DEMO)) + settings.demos  # the most phase 2 adds up to
        self.state = _State(
            best=self._candidate(layout(prompt).contents()),
            subset=[pool.items[i].id for i in split.subset],
            judged=[pool.items[i].id for i in split.judged],
        )

    async def run(self) -> Outcome:
        prompt, steps, state = self.head_prompt, self.steps, self.state
        head = state.best
        outcome = Outcome(
            initial_text=prompt.text,
            best_text=prompt.text,
            initial_score=0.0,
            best_score=0.0,
            initial_on_final=0.0,
            steps_done=0,
            stopped="",
            judged_ids=list(state.judged),
        )
        try:
            await self._score_candidate(head, state.subset, required=True)
            outcome.initial_score = outcome.best_score = head.score(state.subset)
            await self._score_candidate(head, state.judged)
            state.scored.append(head)
            state.tried.add(head.prompt.sha256)
            if not acceptance.failures(head.results, state.items):
                raise Stop("no failures to learn from: the input gets every judged item right")
            with progress.step(
                f"optimizer phase 1: new instructions and demonstrations from the training items "
                f"({self.optimizer_model})"
            ):
                await self._phase1(outcome)
                await self._after_step(0, outcome)
            outcome.stopped = f"{steps} steps done"
            for step in range(1, steps + 1):
                if not acceptance.failures(state.best.results, state.items):
                    raise Stop(f"no failures to learn from after step {step - 1}: every judged item is right")
                with progress.step(
                    f"optimizer step {step} of {steps}: up to {self.settings.attempts} edits of "
                    f"one sentence or demonstration each"
                ):
                    await self._phase2_step(step, outcome)
                    await self._after_step(step, outcome)
        except Stop as stop:
            outcome.stopped = str(stop)
            where = f"step {outcome.steps_done + 1}" if outcome.best_after_step else "phase 1"
            scored = all(i in state.best.results for i in state.subset)
            progress.note(
                f"optimizer {where} stopped early: {str(stop).split(';')[0]}; best prompt so far "
                + (f"{state.best.score(state.subset):.3f} on the subset · " if scored else "")
                + f"{self.budget.describe()} · {progress.duration(time.monotonic() - state.started)}"
            )
        except InfraError as exc:
            outcome.fault = InfraError(f"model unreachable: {exc}")
            outcome.stopped = str(outcome.fault)
        best = state.best
        outcome.best_text = best.prompt.text
        outcome.demonstrations = sorted(best.shows.values())
        outcome.initial_results, outcome.best_results = head.results, best.results
        outcome.best_score = (
            best.score(state.subset) if all(i in best.results for i in state.subset) else outcome.best_score
        )
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

    # ---- scoring and judging -------------------------------------------------------------------

    async def _score_candidate(self, candidate: _Candidate, ids: Sequence[str], *, required: bool = False) -> None:
        """Score the candidate on the items it has no result for yet: within the budget, unless it is the
        input prompt's own score on the subset, which every run needs (it counts, but is never cut)."""
        todo = [i for i in ids if i not in candidate.results]
        if not todo:
            return
        if not required and not self.budget.allows(len(todo)):
            raise Stop.spent(self.budget)
        scored = await self.score_items(candidate.prompt, [self.by_id[i] for i in todo])
        candidate.results.update({r.id: r for r in scored})

    async def _judge(self, candidate: _Candidate, current: _Candidate, attempt: Attempt) -> bool:
        """The quick filter on the current prompt's failures, then the paired comparison on every judged item."""
        if candidate.prompt.sha256 in self.state.tried:
            attempt.why = "refused: the same prompt was tried before"
            return False
        self.state.tried.add(candidate.prompt.sha256)
        items = self.state.items
        failed = acceptance.failures(current.results, items)
        if failed:
            await self._score_candidate(candidate, failed)
            attempt.failure_score, stopped = acceptance.quick_filter(
                candidate.results, failed, len(items), self.settings
            )
            if stopped:
                attempt.why = stopped
                return False
        await self._score_candidate(candidate, items)
        self.state.scored.append(candidate)
        attempt.subset_score = candidate.score(self.state.subset)
        attempt.accepted, attempt.why = acceptance.accepts(
            acceptance.paired(current.results, candidate.results, items), self.settings
        )
        return attempt.accepted

    # ---- phase 1 -------------------------------------------------------------------------------

    async def _phase1(self, outcome: Outcome) -> None:
        """Proposals in turn, each made from the best prompt so far and kept when it beats it: k demonstrations
        chosen from data first (no model needed), then new instructions over whatever demonstrations won."""
        proposals: list[tuple[AttemptKind, Callable[[_Candidate], Awaitable[_Candidate]]]] = []
        shown = self.state.best.layout.shape is not None or turns.find(self.state.best.prompt) is not None
        if shown and self.settings.demos and self.learn_from:
            proposals += [(AttemptKind.DEMOS, self._demos_like_failures), (AttemptKind.DEMOS, self._demos_spread)]
        proposals += [(AttemptKind.INSTRUCTION, self._induced)] * INDUCTIONS[self.style]
        proposals.append((AttemptKind.INSTRUCTION, self._meta_instruction))
        start = self.state.best
        for kind, make in proposals:
            current = self.state.best
            attempt = Attempt(step=0, unit=None, kind=kind, before=arms.described(kind, current.layout), after=None)
            try:
                candidate = await make(current)
            except framing.Refused as refused:
                attempt.why = f"refused: {refused}"
                self._report(outcome, attempt)
                continue
            attempt.after = arms.described(kind, candidate.layout)
            if await self._judge(candidate, current, attempt):
                self._accept(candidate)
            self._report(outcome, attempt)
        if self.state.best is start:
            progress.note("optimizer phase 1: no proposal beat the input; phase 2 starts from the input")

    def _accept(self, candidate: _Candidate) -> None:
        self.state.best = candidate
        self.state.used_demos |= set(candidate.shows.values())

    async def _induced(self, current: _Candidate) -> _Candidate:
        """The prompt with an instruction induced from training pairs (APE), in place of its own."""
        return self._candidate(
            with_instruction(current.layout, await self._induce()).contents(), current.shows, of=current.prompt
        )

    async def _meta_instruction(self, current: _Candidate) -> _Candidate:
        """The prompt with the five-part meta-instruction, seeded with its own, in place of it."""
        text = await self.writer.instruction(await self._examples(), instruction_text(current.layout) or None)
        return self._candidate(with_instruction(current.layout, text).contents(), current.shows, of=current.prompt)

    async def _induce(self) -> str:
        """An instruction induced from training pairs, one per answer where possible."""
        pairs = [
            framing.Example(self._text(self.pool.items[r]), str(self.pool.items[r].expected))
            for r in demos.spread(self.pool, self.learn_from, INDUCTION_EXAMPLES, self.rng)
        ]
        if not pairs:
            raise framing.Refused("no training item with a gold answer to induce an instruction from")
        return await self.writer.induce(pairs)

    async def _examples(self) -> list[framing.Example]:
        """Correct examples for the meta-instruction."""
        items = [self.pool.items[row] for row in demos.spread(self.pool, self.learn_from, PHASE1_EXAMPLES, self.rng)]
        return await self.writer.with_rationales([framing.Example(self._text(i), str(i.expected)) for i in items])

    async def _demos_like_failures(self, current: _Candidate) -> _Candidate:
        """k training items most like the prompt's failures, every answer shown (DSPy's KNN few-shot)."""
        near = [self.index[i] for i in self._failures(current)]
        return self._with_demos(
            current, demos.choose(self.pool, self._unshown(), self.embeddings, near=near, k=self.settings.demos)
        )

    async def _demos_spread(self, current: _Candidate) -> _Candidate:
        """k training items drawn at random, one per answer first (DSPy's LabeledFewShot)."""
        return self._with_demos(current, demos.spread(self.pool, self._unshown(), self.settings.demos, self.rng))

    def _with_demos(self, current: _Candidate, rows: Sequence[int]) -> _Candidate:
        """The prompt with its demonstrations replaced by these training rows, with their gold answers: written in
        the query's shape, or as user/assistant turns before a chat prompt's query turn (`turns`)."""
        chat = turns.find(current.prompt) if current.layout.shape is None else None
        if chat is not None and rows:
            pairs = [turns.pair(current.prompt, chat, self.pool.items[row]) for row in rows]
            shows = {user: self.pool.items[row].id for (user, _), row in zip(pairs, rows)}
            return self._parsed(turns.with_pairs(current.prompt, chat, pairs), shows)
        texts = [self._demonstration(current.layout, row) for row in rows]
        if not texts:
            raise framing.Refused("no training item fits the query to demonstrate with")
        shows = dict(zip(texts, (self.pool.items[row].id for row in rows)))
        return self._candidate(current.layout.with_demos(texts).contents(), shows, of=current.prompt)

    # ---- phase 2 -------------------------------------------------------------------------------

    async def _phase2_step(self, step: int, outcome: Outcome) -> None:
        """Up to `attempts` edits of the best prompt, until one is accepted."""
        best = self.state.best
        edits = arms.edits(best.layout, data=bool(self.learn_from), demo_cap=self.demo_cap)
        if not edits:
            raise Stop("nothing to edit: the prompt has no sentence or demonstration, and no query to add one to")
        failures = self._failures(best)
        attempts = 0
        while attempts < self.settings.attempts and edits:
            probs = list(softmax([best.weights.get(e.key(best.layout), 1.0) for e in edits]))
            edit = edits[self.rng.choices(range(len(edits)), weights=probs)[0]]
            before = best.layout.units[edit.unit].body if edit.unit is not None else ""
            attempt = Attempt(step=step, unit=edit.unit, kind=edit.kind, before=before, after=None)
            try:
                candidate = await self._apply(best, edit, failures)
            except framing.Refused as refused:
                if edit.kind == AttemptKind.REWRITE:  # the model's reply was refused: that was an attempt
                    attempts += 1
                else:  # any other edit cannot be made of this prompt: an exhausted arm
                    edits.remove(edit)
                attempt.why = f"refused: {refused}"
                self._report(outcome, attempt)
                continue
            if candidate.prompt.sha256 in self.state.tried:  # an exhausted arm: drawn no more, no attempt spent
                edits.remove(edit)
                continue
            attempts += 1
            attempt.after = arms.changed(best.layout, candidate.layout)
            if not await self._judge(candidate, best, attempt):
                self._report(outcome, attempt)
                continue
            reward = self.settings.reward_mix * candidate.score(self.state.items) + (1 - self.settings.reward_mix) * (
                attempt.failure_score or 0.0
            )
            key, p_k = edit.key(best.layout), probs[edits.index(edit)]
            candidate.weights = dict(best.weights)
            candidate.weights[key] = best.weights.get(key, 1.0) * math.exp(
                self.settings.learning_rate * reward / (p_k * len(edits))
            )
            self._accept(candidate)
            self._report(outcome, attempt)
            return

    async def _apply(self, best: _Candidate, edit: arms.Edit, failures: list[str]) -> _Candidate:
        """The candidate an edit makes of the best prompt."""
        lay, shows = best.layout, dict(best.shows)
        unit = lay.units[edit.unit] if edit.unit is not None else None
        if edit.kind == AttemptKind.REMOVE:
            assert edit.unit is not None and unit is not None  # a removal names its unit
            shows.pop(unit.body, None)
            lay = lay.without(edit.unit)
        elif edit.kind in (AttemptKind.SWAP, AttemptKind.ADD):
            row = self._like_a_failure(best, failures, unit.body if unit else None)
            text = self._demonstration(lay, row)
            if unit is not None:
                shows.pop(unit.body, None)
            lay = lay.with_body(edit.unit, text) if edit.unit is not None else lay.with_demo(text)
            shows[text] = self.pool.items[row].id
        elif edit.kind == AttemptKind.INSERT:
            lay = with_instruction(lay, await self._induce())
        else:
            pick = [i for i in failures if i in self.focus] or failures
            shown = self.rng.sample(pick, min(MAX_FAILURES_SHOWN, len(pick)))
            cases = [
                (self._text(self.by_id[i]), str(best.results[i].output), str(self.by_id[i].expected)) for i in shown
            ]
            whole = "\n\n".join(c for c in lay.contents() if c)
            assert edit.unit is not None and unit is not None  # a rewrite names its unit
            lay = lay.with_body(edit.unit, await self.writer.rewrite(whole, unit.body, cases))
        return self._candidate(lay.contents(), shows, of=best.prompt)

    def _like_a_failure(self, best: _Candidate, failures: list[str], replacing: str | None) -> int:
        """The training row most like a failure, with its gold answer. Swapping, a failure whose answer is the one
        the old demonstration shows is preferred, so the prompt keeps showing every answer."""
        shown = best.layout.answer_of(replacing) if replacing else None
        alike = [i for i in failures if str(self.by_id[i].expected).strip() == shown] or failures
        failure = self.index[self.rng.choice([i for i in alike if i in self.focus] or alike)]
        chosen = demos.choose(self.pool, self._unshown(), self.embeddings, near=[failure], k=1)
        if not chosen:
            raise framing.Refused("no unused training item left to demonstrate with")
        return chosen[0]

    def _failures(self, candidate: _Candidate) -> list[str]:
        """The candidate's failures among the judged items, shuffled, with the items the change broke first."""
        failed = acceptance.failures(candidate.results, self.state.items)
        self.rng.shuffle(failed)
        return sorted(failed, key=lambda i: i not in self.focus)

    def _unshown(self) -> list[int]:
        taken = self.state.used_demos | set(self.state.subset)
        return [r for r in self.learn_from if self.pool.items[r].id not in taken]

    def _demonstration(self, lay: Layout, row: int) -> str:
        item = self.pool.items[row]
        try:
            return lay.demonstration(item.data, str(item.expected))
        except InputError as exc:
            raise framing.Refused(f"the item {item.id} does not fit the query template: {exc.problem}") from None

    # ---- between steps -------------------------------------------------------------------------

    async def _after_step(self, step: int, outcome: Outcome) -> None:
        """IPOMP stage 2 on every prompt scored on the whole subset, then the best prompt on the new items."""
        outcome.steps_done = step
        state, best = self.state, self.state.best
        if self.refresh is not None:
            taken = state.removed | state.used_demos | set(state.subset) | set(state.judged)
            available = [i for i in self.split.training if self.pool.items[i].id not in taken]
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
        progress.note(
            f"optimizer {which} done: best prompt so far {score:.3f} on the subset · "
            f"{self.budget.describe()} · {progress.duration(time.monotonic() - state.started)}"
        )
        if self.on_step:
            self.on_step(step, score)

    # ---- helpers -------------------------------------------------------------------------------

    def _candidate(
        self, contents: list[str], shows: Mapping[str, str] | None = None, of: PromptFile | None = None
    ) -> _Candidate:
        """A candidate prompt file: `of`'s messages (default: the input's) with these contents."""
        if not same_variables(self.head_prompt, contents):
            raise framing.Refused("the rewrite drops or invents a template variable")
        return self._parsed((of or self.head_prompt).with_message_contents(contents), shows)

    def _parsed(self, text: str, shows: Mapping[str, str] | None) -> _Candidate:
        """A candidate prompt file from its text, refused unless it is valid and reads exactly the template variables
        of the input; cut into units afresh (EXP3 weights follow a unit's text, so they survive units added or
        removed). `shows`: demonstration text (a unit, or a user turn) -> the pool item it shows."""
        head = self.head_prompt
        try:
            prompt = promptfile.measured_by(promptfile.parse(text, head.path), head)
        except InputError as exc:
            raise framing.Refused(f"the rewrite is not a valid prompt: {exc}") from None
        if prompt.variables != head.variables:
            raise framing.Refused("the rewrite drops or invents a template variable")
        lay = layout(prompt)
        bodies = {u.body for u in lay.units} | {m.content for m in prompt.spec.messages if m.role == "user"}
        return _Candidate(lay, prompt, shows={body: item for body, item in (shows or {}).items() if body in bodies})

    def _text(self, item: Item) -> str:
        return item_text(self.head_prompt, item)

    def _report(self, outcome: Outcome, attempt: Attempt) -> None:
        outcome.attempts.append(attempt)
        if self.on_attempt:
            self.on_attempt(attempt)
