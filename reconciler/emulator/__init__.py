"""A local, stateful emulator of the CommBox, Whop and Smallest AI Atoms audience APIs.

`Emulator` serves all three over real HTTP on one loopback port (see `reconciler emulate`);
`Faults` injects throttling, server errors, dropped connections and latency.
"""

from reconciler.emulator.core import DEFAULT_TOKENS, DEFAULT_WHOP_ACCOUNT, Emulator, is_loopback
from reconciler.emulator.faults import Faults
from reconciler.emulator.server import LoggedRequest
from reconciler.emulator.whop import WHOP_API_VERSION_DATE

__all__ = [
    "DEFAULT_TOKENS",
    "DEFAULT_WHOP_ACCOUNT",
    "WHOP_API_VERSION_DATE",
    "Emulator",
    "Faults",
    "LoggedRequest",
    "is_loopback",
]
