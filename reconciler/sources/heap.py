"""Let the C heap give large freed blocks back to the system (glibc; elsewhere a no-op).

glibc serves a freed block of over 128 KB from mmap, but then raises its mmap threshold to that
block's size, so the multi-megabyte numpy temporaries of a large scan end up on the heap, which
is never shrunk: a process that scanned 1,000,000 rows would keep ~20 MB it no longer uses while it
goes on to render and upload. Fixing the threshold keeps such blocks on mmap, returned on free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
_THRESHOLD = 1 << 17  # glibc's default: blocks this large or larger are mmap'd
_done: list[bool] = []


def return_large_blocks() -> None:
    """Fix glibc's mmap threshold at its default once per process (idempotent, never raises)."""
    if _done or not sys.platform.startswith("linux"):
        return
    _done.append(True)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to tune
        pass
