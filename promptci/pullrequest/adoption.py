"""Whether a pull request's head is a suggestion promptci made in an earlier run (applied with one click), and the
record of the suggestions made in this one (files/suggested.py keeps it).

A suggestion is recognised by its `fingerprint`: what decides every request its items make, and so the cache keys
of their answers (models/llm.py keys an answer by model, messages and parameters). The file a review suggestion
commits need not be byte for byte the one that was scored (its line endings, say), and the file's other fields (name,
description, comments, evaluators, `promptci:` settings, which the base's replace) never reach the model: none of
that changes the fingerprint, and none of it stops the cache from answering. Any edit that changes a request (a word
of a message, a parameter) changes the fingerprint: that head is not called adopted, and the cache has no answer for
it either. So "adopted" and "its answers come from the cache" are one condition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import progress
from ..files import suggested
from ..files.evalresults import ItemResult
from ..files.suggested import Adopted, Made, Origin, Record
from ..optimize.job import Job
from ..promptfile import PromptFile, measured_by, parse
from ..runner import request_params


def fingerprint(prompt: PromptFile, model: str) -> str:
    """What decides the prompt's request for any item: the model, the request's parameters, the messages as
    templates, and the row fields kept out of them (the reference's answers)."""
    what = {
        "model": model,
        "params": request_params(prompt).litellm_kwargs(),
        "messages": [[m.role, m.content] for m in prompt.spec.messages],
        "hidden": sorted(prompt.answer_fields),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def scored_items(job: Job, best: PromptFile) -> list[str]:
    """The items the optimizer scored its suggestion on: the subset and judged items in the search, then the
    held-out items of its verdict."""
    searched = job.outcome.scored.get(best.sha256, {})
    return list(dict.fromkeys([*searched, *job.holdout_items]))[: suggested.MAX_ITEMS]


@dataclass
class Memory:
    """The record of suggestions, read once per run and written back once at its end."""

    record: Record = field(default_factory=Record)
    origin: Origin = field(default_factory=Origin)
    changed: bool = False

    @classmethod
    def load(cls, origin: Origin | None) -> Memory:
        record, note = suggested.load(suggested.default_path())
        if note:
            progress.note(f"promptci: the record of earlier suggestions is unusable: {note}")
        return cls(record, origin or Origin(), changed=bool(note))

    def save(self) -> None:
        """Write the record when it changed; a cache that cannot be written costs the next run its "adopted" line
        only, never this run's verdict."""
        if self.changed:
            try:
                suggested.save(self.record, suggested.default_path())
            except OSError as exc:
                progress.note(f"promptci: the record of suggestions was not saved ({exc.strerror})")


def remember(memory: Memory | None, path: str, job: Job, head: PromptFile, model: str) -> None:
    """Keep this run's suggestion for the next run to recognise, when there is one shown better than head (the
    only kind posted on the pull request)."""
    if memory is None or job.verdict is None or not job.verdict.better or not job.outcome.improved:
        return
    best = measured_by(parse(job.outcome.best_text, head.path), head)  # as the optimizer scored it
    items = [i for i in scored_items(job, best) if 0 < len(i) <= suggested.MAX_ID][: suggested.MAX_ITEMS]
    if len(path) > suggested.MAX_PATH:
        return  # not recorded: the next run will not say "adopted", and nothing else depends on it
    made = Made(fingerprint=fingerprint(best, model), run=memory.origin.run, commit=memory.origin.commit, items=items)
    memory.record = suggested.remember(memory.record, path, made)
    memory.changed = True


def adopted(
    memory: Memory | None, path: str, head: PromptFile, model: str, results: Mapping[str, ItemResult]
) -> Adopted | None:
    """Whether head is a suggestion an earlier run made for this prompt: where it was made, and how many of the
    items that run scored it on were scored again here from the cache (`results`: head's, in this run)."""
    made = suggested.find(memory.record, path, fingerprint(head, model)) if memory is not None else None
    if made is None:
        return None
    again = [i for i in made.items if i in results]
    return Adopted(run=made.run, commit=made.commit, items=len(again), cached=sum(results[i].cached for i in again))
