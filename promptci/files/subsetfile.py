"""Subset files, `eval_sets/<name>.subset.yml`: the curated items a prompt is judged on, reviewed like code.

The file names the pool (path relative to the subset file, sha256, size), the embedding model, the
method with its parameters and seed, one entry per item with *why* it is there (and a preview of its
text for the reviewer), the history of refinements, and the evidence ledger: which prompts (by sha256
prefix) got each item right (1) or wrong (0) or did not score it (.), at most EVIDENCE_PROMPTS of them,
the newest kept. Stage 2 judges redundancy from that ledger as the base revision committed it.
promptci writes it atomically, with no timestamps, so the same inputs give the same bytes; it never
names an id that is not in the pool.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from ..errors import InputError
from ..gitdiff import is_prompt
from ..promptfile import PromptFile, yaml_events
from .evalset import Pool
from .fileio import atomic_write_text, check_output_file, read_input

FORMAT = "promptci.subset/1"
MAX_BYTES = 512 * 1024  # a subset of 1,000 items with a long history is well under this; parsing it stays fast
PREVIEW = 100
EVIDENCE_PROMPTS = 64  # ledger columns kept: 20 items × 64 prompts is 1.3 kB, and 64 prompts settle correlations
SHA_CHARS = 12
HEADER = (
    "Evaluation subset written by promptci (`promptci select`, refined by `promptci refine` and pull-request "
    "runs).\nReview it like code; do not edit the items by hand: `promptci select --check` would flag it."
)


class EntryKind(StrEnum):
    """Why an item is in the subset, as a kind: stage 1's boundary and representative items, a random pick
    (the baseline), stage 1's fallback on weak embeddings, a stage-2 replacement, or another method's pick."""

    BOUNDARY = "boundary"
    REPRESENTATIVE = "representative"
    RANDOM = "random"
    FALLBACK = "fallback"  # chosen without embeddings that can tell the items apart
    REPLACEMENT = "replaced"
    OTHER = "other"

    @classmethod
    def of(cls, why: str) -> EntryKind:
        """The kind a `why` names by its first word: entries of files that record no kind (promptci.subset/1)."""
        return next((kind for kind in cls if kind is not cls.OTHER and why.startswith(kind.value)), cls.OTHER)


STAGE1_KINDS = (EntryKind.BOUNDARY, EntryKind.REPRESENTATIVE, EntryKind.RANDOM, EntryKind.FALLBACK)


@dataclass(frozen=True)
class Entry:
    """One item of the subset. `kind` is given by whoever chose the item; an entry read from a file that records
    none gets the kind its `why` names. The file does not record it (promptci.subset/1 stays byte for byte)."""

    id: str
    why: str
    text: str = ""
    kind: EntryKind = None  # type: ignore[assignment]  # set in __post_init__ when not given

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", EntryKind.of(self.why))


@dataclass(frozen=True)
class Refinement:
    """One stage-2 pass: where its scores came from and what it swapped."""

    source: str
    replaced: tuple[dict[str, str], ...]  # {removed, added, why}


@dataclass(frozen=True)
class Evidence:
    """How prompts scored the subset's items: one column per prompt (sha256 prefix, oldest first), one row
    per item as a string of 1 (right), 0 (wrong), . (not scored)."""

    prompts: tuple[str, ...] = ()
    scores: dict[str, str] = field(default_factory=dict)

    def row(self, item: str) -> str:
        return self.scores.get(item, "." * len(self.prompts))

    def merged(self, columns: dict[str, dict[str, str]], ids: list[str]) -> Evidence:
        """This ledger with more columns (sha prefix → item → '1'/'0'), for the items `ids` only: a prompt
        already in it gets its unknown cells filled, a new prompt is appended, the oldest beyond the bound go."""
        prompts = list(self.prompts) + [p for p in columns if p not in self.prompts]
        table = {i: [self.row(i)[n] if n < len(self.prompts) else "." for n in range(len(prompts))] for i in ids}
        for n, sha in enumerate(prompts):
            for i, mark in columns.get(sha, {}).items():
                if i in table and table[i][n] == ".":
                    table[i][n] = mark
        keep = slice(max(0, len(prompts) - EVIDENCE_PROMPTS), None)
        return Evidence(prompts=tuple(prompts[keep]), scores={i: "".join(row[keep]) for i, row in table.items()})

    def matrix(self, ids: list[str]) -> np.ndarray:
        """One row per item, one column per prompt: 1.0, 0.0 or NaN (not scored)."""
        value = {"1": 1.0, "0": 0.0, ".": np.nan}
        rows = [[value[c] for c in self.row(i)] for i in ids]
        return np.array(rows, dtype=float).reshape(len(ids), len(self.prompts))


@dataclass(frozen=True)
class Subset:
    pool_path: str  # relative to the subset file
    pool_sha256: str
    pool_size: int
    embedding_model: str
    method: str
    parameters: dict[str, Any]
    items: tuple[Entry, ...]
    history: tuple[Refinement, ...] = field(default_factory=tuple)
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.items]

    def kinds(self) -> dict[EntryKind, int]:
        """How many entries of each kind, in EntryKind's order (kinds with none left out)."""
        counts = {kind: sum(e.kind is kind for e in self.items) for kind in EntryKind}
        return {kind: n for kind, n in counts.items() if n}

    def removed_ids(self) -> set[str]:
        """Items taken out by earlier refinements; they never come back (as in the paper's code)."""
        return {r["removed"] for h in self.history for r in h.replaced}


def path_for(prompt: PromptFile) -> Path:
    """`promptci.subset`, else the pool's name with `.subset.yml`, else `<prompt>.subset.yml` beside it.
    A path that can never hold the file (a folder) is an error now, before any work."""
    path = prompt.resolve(relative_path(prompt), field="promptci.subset")
    check_output_file(path, option="promptci.subset", example=f"{prompt.name}.subset.yml")
    return path


def relative_path(prompt: PromptFile) -> str:
    """The subset file's path relative to the prompt file's folder (see path_for)."""
    settings = prompt.settings
    if settings.subset:
        return settings.subset
    if settings.pool:
        pool = PurePosixPath(settings.pool)
        return str(pool.with_name(pool.name.removesuffix(".jsonl") + ".subset.yml"))
    return prompt.name.replace("/", "_") + ".subset.yml"


def check_destination(repo_path: str, existing: Path | None = None) -> None:
    """Refuse a subset path that promptci must never write: with commit-subsets the refreshed subset is committed
    there, in a commit that inherits the check's status, and the path is the pull request's own `promptci.subset`.
    Refused: a prompt file, anything under `.github/`, and (given `existing`, where the file is in the tested
    head's tree) a file that exists and is not a subset file, a pool say. The one rule: the pull-request run
    checks it before any model call, and the commit checks each path's name again."""
    problem = ""
    if is_prompt(repo_path):
        problem = "is a prompt file"
    elif PurePosixPath(repo_path).parts[:1] == (".github",):
        problem = "lies under .github/"
    elif existing is not None and (existing.exists() or existing.is_symlink()):
        try:
            read(existing)
        except InputError as exc:
            problem = f"is a file that is not a subset file ({exc.problem})"
    if problem:
        raise InputError(
            f"the subset path {repo_path} {problem}: promptci would overwrite it",
            field="promptci.subset",
            fix="name a .subset.yml file of the prompt's own, or drop promptci.subset for the default "
            "<pool>.subset.yml",
        )


def read(path: Path) -> Subset:
    """Read and validate a subset file; problems are InputErrors naming the field."""
    where = str(path)
    fix = "re-create it with 'promptci select PROMPT'"
    raw = read_input(path, what="subset file", fix="create it with 'promptci select PROMPT'", limit=MAX_BYTES)
    try:
        text = raw.decode("utf-8")
        if any(isinstance(e, pyyaml.AliasEvent) or getattr(e, "anchor", None) for e in yaml_events(text)):
            raise InputError(
                "subset file uses YAML anchors or aliases, which promptci never writes", path=where, fix=fix
            )  # and an alias bomb of a few hundred bytes would expand to gigabytes
        data = YAML(typ="safe", pure=True).load(text)
    except (YAMLError, pyyaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"subset file is not valid YAML ({type(exc).__name__})", path=where, fix=fix) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} file", path=where, field="format", fix=fix)
    try:
        pool = data["pool"]
        items = tuple(_entry(e) for e in data["items"])
        history = tuple(
            Refinement(
                source=str(h["source"]),
                replaced=tuple({k: str(v) for k, v in r.items()} for r in h.get("replaced") or []),
            )
            for h in data.get("history") or []
        )
        subset = Subset(
            pool_path=str(pool["path"]),
            pool_sha256=str(pool["sha256"]),
            pool_size=int(pool["size"]),
            embedding_model=str(data["embedding_model"]),
            method=str(data["method"]),
            parameters=dict(data.get("parameters") or {}),
            items=items,
            history=history,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"subset file is incomplete ({exc})", path=where, fix=fix) from None
    if not subset.items:
        raise InputError("subset file has no items: nothing would judge a change", path=where, field="items", fix=fix)
    if len(set(subset.ids)) != len(subset.ids):
        raise InputError("subset file names an item twice", path=where, field="items", fix=fix)
    return replace(subset, evidence=_evidence(data.get("evidence"), subset.ids, where))


def _entry(e: Any) -> Entry:
    """An item as the file has it; one that records no kind gets the kind its `why` names."""
    id_, why, text = str(e["id"]), str(e.get("why", "")), str(e.get("text", ""))
    return Entry(id=id_, why=why, text=text, kind=EntryKind(e["kind"]) if "kind" in e else EntryKind.of(why))


def _evidence(raw: Any, ids: list[str], where: str) -> Evidence:
    """The ledger, checked: known shas, one row of the right length per subset item, nothing else."""
    if raw is None:
        return Evidence()
    fix = "restore the evidence section from the base branch, or delete it (the ledger starts again)"
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("prompts", ""), str)
        or not isinstance(raw.get("scores") or {}, dict)
    ):
        raise InputError(
            "the evidence is not {prompts: 'SHA SHA ...', scores: {ID: '01.'}}", path=where, field="evidence", fix=fix
        )
    prompts = tuple(raw.get("prompts", "").split())
    if (
        len(prompts) > EVIDENCE_PROMPTS
        or len(set(prompts)) != len(prompts)
        or not all(len(p) == SHA_CHARS and all(c in "0123456789abcdef" for c in p) for p in prompts)
    ):
        raise InputError(
            f"evidence.prompts must be at most {EVIDENCE_PROMPTS} different {SHA_CHARS}-digit sha256 prefixes",
            path=where,
            field="evidence.prompts",
            fix=fix,
        )
    scores = {str(k): str(v) for k, v in (raw.get("scores") or {}).items()}
    bad = [k for k, v in scores.items() if k not in ids or len(v) != len(prompts) or v.strip("01.")]
    if bad:
        raise InputError(
            f"evidence.scores of {bad[0]} is not a subset item's row of {len(prompts)} characters 1, 0 or .",
            path=where,
            field="evidence.scores",
            fix=fix,
        )
    return Evidence(prompts=prompts, scores=scores)


def write(path: Path, subset: Subset) -> None:
    """Write the subset file atomically; the same subset always gives the same bytes."""
    atomic_write_text(path, dumps(subset))


def dumps(subset: Subset) -> str:
    """The subset file's text."""
    doc = CommentedMap()
    doc["format"] = FORMAT
    doc["pool"] = {"path": subset.pool_path, "sha256": subset.pool_sha256, "size": subset.pool_size}
    doc["embedding_model"] = subset.embedding_model
    doc["method"] = subset.method
    doc["parameters"] = dict(subset.parameters)
    doc["items"] = [{"id": e.id, "why": e.why, "text": e.text} for e in subset.items]
    doc["history"] = [{"source": h.source, "replaced": [dict(r) for r in h.replaced]} for h in subset.history]
    if subset.evidence.prompts:
        doc["evidence"] = {
            "prompts": " ".join(subset.evidence.prompts),
            "scores": {i: subset.evidence.row(i) for i in subset.ids},
        }
    doc.yaml_set_start_comment(HEADER)
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def pool_reference(pool: Pool, subset_path: Path) -> str:
    """How a subset file names its pool: a path relative to the subset file, or `testData`."""
    if pool.path is None:
        return "testData"
    return Path(os.path.relpath(pool.path, subset_path.parent)).as_posix()


def problems(subset: Subset, pool: Pool, subset_path: Path) -> list[str]:
    """Why a subset no longer fits its pool (empty when it does)."""
    found = []
    expected = pool_reference(pool, subset_path)
    if expected != subset.pool_path:
        found.append(f"it was made for pool {subset.pool_path}, the prompt now uses {expected}")
    if subset.pool_sha256 != pool.sha256:
        found.append(
            f"the pool changed since the subset was written (sha256 {subset.pool_sha256[:12]} → {pool.sha256[:12]})"
        )
    known = set(pool.by_id())
    missing = [i for i in subset.ids if i not in known]
    if missing:
        found.append(
            f"{len(missing)} subset ids are not in the pool ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''})"
        )
    return found


def preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW else flat[: PREVIEW - 1] + "…"
