"""What the optimizer model is asked, in two framings, and how its replies are checked.

*instruct* is the faithful path for chat models that follow instructions: the meta-instruction of
docs/algorithms.md (phase 1) and the sentence rewrite of phase 2, worded as the paper's code words them.
*completion* is for base models such as the embedded Gemma 270M, which continue text and follow no
instruction: each request is a pattern the model can continue (examples, then a skeleton to fill;
pairs of plain and improved sentences, then one to improve), cut at the first line break or blank line.

Every reply is data: it is cleaned, checked for length and printable text, and returned or refused
with a reason the trajectory shows. Nothing here is ever executed or rendered as a template.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..models.llm import LOCAL_PREFIX

SKELETON = """###Task type###
Task type: This is a <...> task.
###Task detailed description###
Task detailed description: <Task detailed description>
###Your output must satisfy the following format and constraints###
Output format(type): <Output format or its type>
Output constraints: <constraints on output>
###You must follow the reasoning process###
<add several reasoning steps if it's necessary>
###Tips###
<add several useful tips from a professional point of view to accomplish this task better>"""

MAX_INSTRUCTION_CHARS = 4000
MAX_SENTENCE_CHARS = 600

# Completion framing for sentence rewrites: generic pairs (no task's data), so the pattern is clear.
_REWRITE_PAIRS = (
    ("Answer the question.", "Read the question carefully and answer with exactly one of the allowed options."),
    ("Classify the text.", "Decide which category best describes the text, and reply with that category's name only."),
    ("Be accurate.", "Check the answer against the input before replying, and never invent an option."),
)


@dataclass(frozen=True)
class Example:
    """A pool item shown to the optimizer model: its input text, gold answer, and a rationale if one was kept."""

    input: str
    answer: str
    rationale: str | None = None


class Refused(ValueError):
    """A reply that cannot be used; the message says why, for the trajectory."""


# Completion framing for phase 1: the skeleton is filled one line at a time, each line started for the
# model, so even a base model that would never write the skeleton on its own fills every section.
SECTION_STARTS = (
    ("###Task type###", "Task type: This is a"),
    ("###Task detailed description###", "Task detailed description:"),
    ("###Your output must satisfy the following format and constraints###", "Output format(type):"),
    ("", "Output constraints:"),
    ("###You must follow the reasoning process###", "1."),
    ("###Tips###", "-"),
)
SKELETON_HEADERS = tuple(header for header, _ in SECTION_STARTS if header)


def meta_instruction(examples: Sequence[Example], current: str | None) -> str:
    """Phase 1's request with the instruct framing (docs/algorithms.md, "Phase 1")."""
    shown = "\n\n".join(
        f"Input: {e.input}\n" + (f"Chain of thought: {e.rationale}\n" if e.rationale else "") + f"Output: {e.answer}"
        for e in examples
    )
    seeded = f"Here is the initial instruction: {current}\n" if current else ""
    return (
        "You gave me an instruction on a certain task and some example inputs with chain-of-thought. I read "
        "the instruction carefully and wrote a correct chain-of-thought output for every input.\n"
        f"{seeded}Here are some correct input-output pairs which strictly meet all your requirements:\n\n"
        f"{shown}\n\nThe instruction contains the following parts. Based on the input-output pairs, give me "
        f"the final complete instruction in English without any explanation:\n{SKELETON}"
    )


def meta_completion_lead(examples: Sequence[Example], current: str | None) -> str:
    """Phase 1 with the completion framing: examples, then the skeleton's sections to continue one by one."""
    shown = "\n\n".join(f"Input: {e.input}\nOutput: {e.answer}" for e in examples)
    lead = f"The instructions below explain a task. {current}" if current else "The instructions below explain a task."
    return f"{lead}\n\nExamples of the task:\n\n{shown}\n\nInstructions:\n"


def section_line(reply: str, section: str) -> str:
    """One filled skeleton line from a base model's continuation: its first line, checked."""
    line = reply.strip().split("\n")[0].strip()
    if not line:
        raise Refused(f"empty reply for '{section}'")
    _check_text(line, MAX_SENTENCE_CHARS)
    return line


def rewrite_request(style: str, prompt_text: str, sentence: str, failures: Sequence[tuple[str, str, str]]) -> str:
    """Phase 2's request to rewrite one sentence; failures are (input, model output, expected)."""
    if style == "instruct":
        cases = "\n\n".join(f"Input: {i}\nOutput: {o}\nExpected: {e}" for i, o, e in failures)
        return (
            "I'm writing a prompt made of several parts. My current prompt is:\n```\n"
            f"{prompt_text}\n```\nIt produces these outputs that do not match the expected ones:\n\n{cases}\n\n"
            f"The sentence I want to revise is: `{sentence}`\nComparing the wrong outputs with the expected "
            "answers for the same inputs, rewrite this sentence so the AI understands the task more fully and "
            "does it better. Reply only with the revised sentence, no explanation."
        )
    pairs = "\n\n".join(f"Sentence: {plain}\nBetter: {better}" for plain, better in _REWRITE_PAIRS)
    return (
        f"Each sentence of a prompt, rewritten to be clearer and more precise.\n\n{pairs}\n\n"
        f"Sentence: {sentence}\nBetter:"
    )


def induction_request(style: str, examples: Sequence[Example]) -> str:
    """APE's forward template (Zhou et al. 2022): the instruction induced from input/output pairs. A base model
    continues "The instruction was to"; a chat model is asked for the instruction."""
    pairs = "\n\n".join(f"Input: {e.input}\nOutput: {e.answer}" for e in examples)
    lead = (
        f"I gave a friend an instruction and {len(examples)} inputs. The friend read the instruction and wrote an "
        f"output for every one of the inputs. Here are the input-output pairs:\n\n{pairs}\n\n"
    )
    return lead + (
        "What was the instruction? Reply with the instruction only, one sentence."
        if style == "instruct"
        else "The instruction was to"
    )


def parse_induction(reply: str, style: str) -> str:
    """An induced instruction as one sentence; a base model's continuation of "The instruction was to" becomes
    an imperative ("classify the text." → "Classify the text.")."""
    text = _clean(reply).split("\n")[0].strip() if style != "instruct" else _clean(reply)
    text = re.sub(r"(?i)^(the instruction (was|is)( to)?|instruction)\s*:?\s*", "", text).strip()
    if not text:
        raise Refused("empty reply")
    text = text[0].upper() + text[1:]
    if not text.endswith((".", "!", "?")):
        text += "."
    return parse_sentence(text, "")


def rationale_request(example: Example) -> str:
    """Ask for a chain of thought ending in an answer; kept only when the answer is the gold one."""
    return (
        f"Input: {example.input}\nThink step by step in two or three sentences, then give the final answer on "
        "its own last line as 'Answer: <answer>'."
    )


def parse_rationale(reply: str, gold: str) -> str | None:
    """The reasoning before 'Answer:' when the answer matches the gold one, else None."""
    match = re.search(r"(?is)^(.*?)\banswer\s*:\s*(.+?)\s*$", reply.strip())
    if not match or _norm(match.group(2)) != _norm(gold):
        return None
    reasoning = " ".join(match.group(1).split())
    return reasoning[:MAX_SENTENCE_CHARS] or None


def parse_instruction(reply: str) -> str:
    """Phase 1's reply as the instruction text; refuses empty, garbled, over-long and off-format replies."""
    text = _clean(reply)
    _check_text(text, MAX_INSTRUCTION_CHARS)
    found = sum(header in text for header in SKELETON_HEADERS)
    if found < 2:
        raise Refused(f"off-format: {found} of the 5 skeleton sections")
    if "<" in text and re.search(r"<(Task detailed description|Output format|add several)[^>]*>", text):
        raise Refused("off-format: skeleton placeholders left unfilled")
    return text


def parse_sentence(reply: str, original: str) -> str:
    """A rewrite reply as one sentence (or list item); refuses what cannot replace `original`."""
    text = _clean(reply)
    text = re.sub(r"(?i)^(revised sentence|better|sentence)\s*:\s*", "", text).strip()
    text = text.split("\n\n")[0].strip()
    text = text.strip("`\"'“”").strip()
    _check_text(text, max(MAX_SENTENCE_CHARS, 3 * len(original)))
    if "\n" in text:
        text = " ".join(text.split())
    if _norm(text) == _norm(original):
        raise Refused("unchanged: the rewrite repeats the sentence")
    return text


def _clean(reply: str) -> str:
    text = reply.strip()
    fenced = re.fullmatch(r"```[\w-]*\n(.*?)\n?```", text, flags=re.S)
    return (fenced.group(1) if fenced else text).strip()


def _check_text(text: str, limit: int) -> None:
    if not text:
        raise Refused("empty reply")
    if len(text) > limit:
        raise Refused(f"over-long reply ({len(text)} characters, the limit is {limit})")
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    if printable < len(text) or letters < 0.5 * len(text.replace(" ", "").replace("\n", "")):
        raise Refused("garbled reply (control characters or too few letters)")


def _norm(text: str) -> str:
    return " ".join(text.lower().strip(" .`'\"").split())


def style_for(model: str, configured: str = "auto") -> str:
    """How to ask the optimizer model: `completion` for the embedded base model, `instruct` for chat models."""
    if configured != "auto":
        return configured
    return "completion" if model.startswith(LOCAL_PREFIX) else "instruct"
