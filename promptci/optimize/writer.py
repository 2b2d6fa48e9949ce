"""What the optimizer model writes: instructions induced from examples, the meta-instruction, rationales and
sentence rewrites, each asked in the framing the model follows (`framing`) and checked before it is used.

Every request is within the budget (`Stop` when it is spent) and seeded on its own, so a run replays.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models.budget import Budget
from ..models.llm import ModelClient, Params
from . import framing
from .outcome import Stop


class Writer:
    """The optimizer model, asked through `client` in the `style` framing (instruct or completion)."""

    def __init__(
        self, client: ModelClient, model: str, style: str, budget: Budget, *, temperature: float, seed: int
    ) -> None:
        if style not in ("instruct", "completion"):
            raise ValueError("style must be instruct or completion")
        self.client, self.model, self.style, self.budget = client, model, style, budget
        self.temperature, self.seed, self.samples = temperature, seed, 0

    async def ask(self, text: str, *, max_tokens: int, stop: Sequence[str] = ()) -> str:
        if not self.budget.allows(1):
            raise Stop.spent(self.budget)
        self.samples += 1
        params = Params(
            temperature=self.temperature,
            max_tokens=max_tokens,
            stop=tuple(stop),
            seed=self.seed * 100_003 + self.samples,
        )
        completion = await self.client.complete(self.model, [{"role": "user", "content": text}], params)
        return completion.text

    @property
    def _one_line(self) -> tuple[str, ...]:
        return () if self.style == "instruct" else ("\n",)

    async def induce(self, pairs: Sequence[framing.Example]) -> str:
        """APE's forward template: the instruction that input/output pairs were written to."""
        reply = await self.ask(framing.induction_request(self.style, pairs), max_tokens=80, stop=self._one_line)
        return framing.parse_induction(reply, self.style)

    async def instruction(self, examples: Sequence[framing.Example], current: str | None) -> str:
        """The five-part meta-instruction (docs/algorithms.md, "Phase 1"). A base model fills the skeleton one started
        line
        at a time; a section it leaves empty is left out."""
        if self.style == "instruct":
            return framing.parse_instruction(
                await self.ask(framing.meta_instruction(examples, current), max_tokens=700)
            )
        text = framing.meta_completion_lead(examples, current)
        lines = []
        for header, start in framing.SECTION_STARTS:
            lead = (f"{header}\n" if header else "") + start
            try:
                line = framing.section_line(await self.ask(text + lead, max_tokens=48, stop=("\n",)), header or start)
            except framing.Refused:
                continue
            text += f"{lead} {line}\n"
            lines += [header] if header else []
            lines.append(f"{start} {line}")
        return framing.parse_instruction("\n".join(lines))

    async def with_rationales(self, examples: Sequence[framing.Example]) -> list[framing.Example]:
        """With the instruct framing, each example gets a rationale, kept only when it reaches the gold answer."""
        if self.style != "instruct":
            return list(examples)
        out = []
        for e in examples:
            reply = await self.ask(framing.rationale_request(e), max_tokens=300)
            out.append(framing.Example(e.input, e.answer, framing.parse_rationale(reply, e.answer)))
        return out

    async def rewrite(self, prompt_text: str, sentence: str, cases: Sequence[tuple[str, str, str]]) -> str:
        """One sentence rewritten from failures (input, output, expected)."""
        reply = await self.ask(
            framing.rewrite_request(self.style, prompt_text, sentence, cases),
            max_tokens=200 if self.style == "instruct" else 60,
            stop=self._one_line,
        )
        return framing.parse_sentence(reply, sentence)
