"""Outputs never overwrite inputs: `--out`, `--rejects` and the like refuse the declaration, a
source file, and anything inside the state directory.

Paths are compared as real paths (symlinks and `..` resolved, relative to the working directory),
and an existing file is also compared by identity, so a hard link to a source is caught too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from reconciler.config.model import Declaration, SourceSpec
from reconciler.errors import UsageError
from reconciler.safetext import printable


def _real(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):  # a symlink loop, an embedded NUL
        return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _refuse(flag: str, dest: Path, what: str) -> UsageError:
    return UsageError(f"{flag} {printable(str(dest), 200)} {what}; write the output somewhere else")


def check_output(flag: str, dest: Path, *, config: Path, sources: Iterable[tuple[str, Path]],
                 state_dir: Path | None) -> None:
    """UsageError when writing `dest` would overwrite the declaration `config`, one of `sources`
    (display name, path), or anything inside `state_dir`."""
    target = _real(dest)
    if target == _real(config) or _same_file(dest, config):
        raise _refuse(flag, dest, f"would overwrite the declaration {printable(str(config), 200)}")
    for display, path in sources:
        if target == _real(path) or _same_file(dest, path):
            raise _refuse(flag, dest, f"would overwrite the source {printable(display, 200)}")
    if state_dir is not None:
        state = _real(state_dir)
        if target == state or state in target.parents:
            raise _refuse(flag, dest, f"is inside the state directory {printable(str(state_dir), 200)}")


def check_project_output(flag: str, dest: Path, declaration: Declaration, state_dir: Path | None) -> None:
    """`check_output` against a loaded declaration's file and every source it names."""
    sources = [(source.display, source.path) for spec in declaration.audiences.values()
               if isinstance(source := spec.source, SourceSpec)]  # a query source has no file
    check_output(flag, dest, config=declaration.path, sources=sources, state_dir=state_dir)
