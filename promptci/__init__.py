"""promptci: prompt CI for GitHub — evaluation subsets chosen by IPOMP, a dual-phase prompt
optimizer, and a merge gate, for prompts kept as GitHub Models `.prompt.yml` files."""

import os
from importlib.metadata import PackageNotFoundError, version

# litellm downloads its price list at import unless told to use its bundled copy; promptci must
# never touch the network on its own, so this is set before any module can import litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

try:
    __version__ = version("promptci-gate")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
