"""`promptci demo`: a throwaway repository with the bundled example and a realistic pull request on it.

The change is one a team might well make: "three examples are enough, drop the others to save
tokens". It saves about a third of the prompt tokens and costs accuracy on the intents whose example
went, which the pull-request flow is there to catch.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from . import gitdiff

EXAMPLE = Path(__file__).parent / "example"
PROMPT = "prompts/intent.prompt.yml"
DROPPED = (
    "Utterance: Add this song by Adele to my road trip playlist.\n      Intent: add_to_playlist\n\n      ",
    "Utterance: Rate the novel The Hobbit five out of six points.\n      Intent: rate_book\n\n      ",
    "Utterance: Find the TV show called The Office.\n      Intent: search_creative_work\n\n      ",
)
TITLE = "Trim the intent prompt: three examples are enough"


EXACT = "  temperature: 0\n"


def make_repo(
    target: Path, on_main: Callable[[Path, str], object] | None = None, temperature: float | None = None
) -> tuple[str, str]:
    """The example committed on `main`, the change committed on `trim-examples`; their SHAs. `on_main` sees the
    work tree at main's commit, before the change (as the default branch's warm job does). `temperature`: both
    branches sample at it (a label drawn per draw, labelprobs.sample) instead of the example's 0."""
    shutil.copytree(EXAMPLE / "prompts", target / "prompts")
    shutil.copytree(EXAMPLE / "eval_sets", target / "eval_sets")
    if temperature is not None:
        prompt = target / PROMPT
        text = prompt.read_text(encoding="utf-8")
        if EXACT not in text:
            raise RuntimeError("the bundled example changed; update promptci.demo.EXACT")
        prompt.write_text(text.replace(EXACT, f"  temperature: {temperature:g}\n", 1), encoding="utf-8")
    base = gitdiff.commit_all(str(target), "Add the intent classifier and its eval set")
    if on_main is not None:
        on_main(target, base)
    prompt = target / PROMPT
    text = prompt.read_text(encoding="utf-8")
    for example in DROPPED:
        if example not in text:
            raise RuntimeError(
                f"the bundled example changed; update promptci.demo.DROPPED ({example.split(chr(10))[0]})"
            )
        text = text.replace(example, "", 1)
    prompt.write_text(text, encoding="utf-8")
    head = gitdiff.commit_all(str(target), TITLE, branch="trim-examples")
    return base, head
