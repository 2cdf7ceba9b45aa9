"""A local, stateful emulator of the providers' audience APIs (each provider class names its own).

`Emulator` serves every registered provider that has one over real HTTP on one loopback port (see
`reconciler emulate`); `Faults` injects throttling, server errors, dropped connections and latency.
"""

from reconciler.emulator.core import DEFAULT_TOKENS, Emulator, is_loopback
from reconciler.emulator.faults import Faults
from reconciler.emulator.server import LoggedRequest

__all__ = [
    "DEFAULT_TOKENS",
    "Emulator",
    "Faults",
    "LoggedRequest",
    "is_loopback",
]
