"""Terminal output: one stdout and one stderr console, styled only when allowed.

Colour and styles are used when the stream is a terminal (or FORCE_COLOR is set) and NO_COLOR is
not set; otherwise the console emits plain text with no escape codes at all.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console


def styling_allowed(stream: TextIO) -> bool:
    """Whether output to `stream` may carry colour and styles (NO_COLOR always wins)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _console(stream: TextIO) -> Console:
    if styling_allowed(stream):
        return Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
    # color_system=None drops every style (bold, dim too), not only colours.
    return Console(
        file=stream, highlight=False, soft_wrap=True, color_system=None, no_color=True, force_terminal=False
    )


def stdout() -> Console:
    """A console writing to the current sys.stdout (re-created so tests can capture it)."""
    return _console(sys.stdout)


def stderr() -> Console:
    """A console writing to the current sys.stderr."""
    return _console(sys.stderr)
