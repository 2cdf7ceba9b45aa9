"""Terminal output: one stdout and one stderr console, colour only when allowed (NO_COLOR honoured)."""

from __future__ import annotations

import os
import sys

from rich.console import Console


def _color_allowed(stream: object) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def stdout() -> Console:
    """A console writing to the current sys.stdout (re-created so tests can capture it)."""
    return Console(
        file=sys.stdout,
        no_color=not _color_allowed(sys.stdout),
        highlight=False,
        soft_wrap=True,
        force_terminal=_color_allowed(sys.stdout) or None,
    )


def stderr() -> Console:
    """A console writing to the current sys.stderr."""
    return Console(
        file=sys.stderr,
        no_color=not _color_allowed(sys.stderr),
        highlight=False,
        soft_wrap=True,
        force_terminal=_color_allowed(sys.stderr) or None,
    )
