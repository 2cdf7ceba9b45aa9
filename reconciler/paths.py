"""Resolving user-given paths without surprises: a symbolic link loop is a clear error, not a crash."""

from __future__ import annotations

from pathlib import Path


def resolve(path: Path) -> Path:
    """`path.resolve()`; its absolute form when it cannot be resolved (a symbolic link loop), so
    that opening it fails with the operating system's clear message."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError on a loop
        return path.absolute()


def unresolvable(path: Path) -> str | None:
    """Why `path` cannot be resolved ('a symbolic link loop', ...), or None when it can."""
    try:
        path.resolve()
    except RuntimeError:
        return "it is a symbolic link loop"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
