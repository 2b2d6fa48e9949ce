"""Phase 2's arms: every edit a prompt allows now, as EXP3 draws them (dualphase), and how an edit is described.

An arm whose edit gives back a prompt already judged, or that cannot be made of the prompt, is exhausted: the search
drops it for the rest of its step instead of spending an attempt on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..files.records import AttemptKind
from .units import Layout, UnitKind, instruction_text, instruction_units


@dataclass(frozen=True)
class Edit:
    """One arm of phase 2: what to do, and to which unit (None: add or insert)."""

    kind: AttemptKind
    unit: int | None

    def key(self, lay: Layout) -> tuple[str, str]:
        return self.kind.value, lay.units[self.unit].body if self.unit is not None else ""


def edits(lay: Layout, *, data: bool, demo_cap: int) -> list[Edit]:
    """Every edit the prompt allows now; `data`: there are training items to demonstrate with, `demo_cap`: the
    most demonstrations the prompt may show."""
    out: list[Edit] = []
    for i, unit in enumerate(lay.units):
        if unit.kind == UnitKind.SENTENCE:
            out += [Edit(AttemptKind.REWRITE, i), Edit(AttemptKind.REMOVE, i)]
        elif unit.kind == UnitKind.DEMO:
            out += [Edit(AttemptKind.SWAP, i)] if data else []
            out.append(Edit(AttemptKind.REMOVE, i))
    if data and lay.shape is not None and len(lay.indices(UnitKind.DEMO)) < demo_cap:
        out.append(Edit(AttemptKind.ADD, None))
    if not any(lay.units[i].kind == UnitKind.SENTENCE for i in instruction_units(lay)):
        out.append(Edit(AttemptKind.INSERT, None))
    return out


def described(kind: AttemptKind, lay: Layout) -> str:
    """What a phase-1 proposal replaces or brings: the prompt's demonstrations, or its instruction."""
    if kind == AttemptKind.DEMOS:
        return "\n".join(lay.units[i].body for i in lay.indices(UnitKind.DEMO) + lay.indices(UnitKind.TURN))
    return instruction_text(lay)


def changed(before: Layout, after: Layout) -> str:
    """What an edit changed, as the candidate's new units (or what it removed)."""
    old, new = [u.body for u in before.units], [u.body for u in after.units]
    added = [b for b in new if b not in old]
    return "\n".join(added) if added else "removed: " + "\n".join(b for b in old if b not in new)
