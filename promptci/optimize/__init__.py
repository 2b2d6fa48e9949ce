"""The dual-phase prompt optimizer with IPOMP in the loop (docs/algorithms.md).

`units` cuts a prompt into editable pieces, `writer` asks the optimizer model for text (`framing` says how,
and checks its replies), `demos` chooses demonstrations from labelled data, `judge` says whether a candidate
beats the current prompt, `dualphase` runs the search and `outcome` records it, `splits` decides which pool
items the optimizer is judged on, which it may learn from, and which it never sees (the held-out slice), and
`job` runs it all on a prompt file.
"""

from __future__ import annotations

from . import acceptance, demos
from .dualphase import DualPhase
from .framing import style_for
from .outcome import Attempt, Outcome
from .splits import Split, split

__all__ = ["Attempt", "DualPhase", "Outcome", "Split", "acceptance", "demos", "split", "style_for"]
