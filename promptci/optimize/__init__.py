"""The dual-phase prompt optimizer with IPOMP in the loop (ALGORITHMS.md §2–§4).

`units` cuts a prompt into editable pieces, `framing` says what the optimizer model is asked and
checks its replies, `dualphase` runs the search, `splits` decides which pool items the optimizer
is judged on, which it may learn from, and which it never sees (the held-out slice), and `job`
runs it all on a prompt file.
"""

from __future__ import annotations

from .dualphase import Attempt, DualPhase, Outcome
from .framing import style_for
from .splits import Split, split

__all__ = ["Attempt", "DualPhase", "Outcome", "Split", "split", "style_for"]
