"""What the report says of a suggestion's verdict: shown better than head or not, the gain with its interval,
the items the change broke that it wins back, and what the search cost. Plain text; the templates escape it."""

from __future__ import annotations

from ..files import prresults
from ..files.suggested import Adopted


def headline(o: prresults.Optimizer) -> str:
    """One line: a suggestion shown better, with its gain, or that no candidate was, with the best one's interval."""
    v = o.verdict
    if v is None and o.holdout_score is not None:
        return "Suggested prompt, not judged by the gate’s test (a results file of an earlier version)"
    if v is None:
        why = o.holdout_note or "no held-out item was scored"
        return f"No candidate was shown better than head: the best one could not be judged ({why})"
    gain = (
        f"{_points(v.gain)} on {v.items} held-out items the optimizer never saw, between {_points(v.low)} and "
        f"{_points(v.high)} (each bound one-sided at {100 * (1 - v.significance):g}% confidence)"
    )
    if v.status == "better":
        return f"💡 Suggested prompt, shown better than head by the gate’s test: {gain}"
    return f"No candidate was shown better than head: the best one gains {gain}"


def notes(o: prresults.Optimizer) -> list[str]:
    """The lines under the headline: the broken items won back, and the cost of the search and the verdict."""
    out = []
    if o.broken:
        still = [i for i in o.broken if i not in o.won_back]
        out.append(
            f"of the {len(o.broken)} subset items this change broke (base right, head wrong), the "
            f"{'suggestion' if o.improved else 'head prompt'} gets {len(o.won_back)} right"
            + (f" (won back: {', '.join(o.won_back)})" if o.won_back else "")
            + (f"; still broken: {', '.join(still)}" if still else "")
            + " (items the optimizer saw)"
        )
    if o.cost is not None:
        out.append(
            f"the search cost {o.cost.calls} model calls and {o.cost.seconds:.0f} s "
            f"({o.steps_done} steps; {o.stopped}); the verdict {o.cost.verdict_calls} calls"
        )
    return out


def adopted(a: Adopted) -> str:
    """One line: head is the suggestion an earlier run made, and how much of that run's scoring of it was reused."""
    where = " / ".join(filter(None, (f"run {a.run}" if a.run else "", f"commit {a.commit[:12]}" if a.commit else "")))
    line = f"head is the suggestion of {where or 'an earlier run'}: adopted"
    if a.items:
        line += f" ({a.cached} of its answers on the {a.items} items that run scored came from the cache)"
    return line


def _points(value: float) -> str:
    return f"{100 * value:+.1f} points"
