"""Is raw member data committed to git? (`validate --forbid-tracked-sources`)

Source files hold phone numbers and e-mail addresses; the state directory is safe to commit, the
sources usually are not. `tracked_sources` asks git which of them it tracks (committed or staged).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path


def _git(repo_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    env = {**os.environ, "GIT_LITERAL_PATHSPECS": "1", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        return subprocess.run(
            ["git", "-C", str(repo_dir), *args], capture_output=True, env=env, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):  # git missing or hung: cannot tell
        return None


def repo_root(repo_dir: Path) -> Path | None:
    """The work tree containing `repo_dir`, or None when it is not in a git work tree (or git is absent)."""
    done = _git(repo_dir, "rev-parse", "--show-toplevel")
    if done is None or done.returncode != 0:
        return None
    return Path(os.fsdecode(done.stdout.rstrip(b"\n"))).resolve()


def tracked_sources(paths: Iterable[Path], repo_dir: Path) -> list[Path]:
    """The files among `paths` that git tracks (in the index: committed or staged) in `repo_dir`'s work tree.

    Relative paths are taken relative to `repo_dir`; a directory stands for the tracked files under it
    (returned individually). Paths outside the work tree are ignored. Returns [] outside a git work tree
    or when git is unavailable: this is a warning aid, never a gate that breaks without git."""
    root = repo_root(repo_dir)
    if root is None:
        return []
    wanted: dict[str, Path] = {}
    for path in paths:
        full = (path if path.is_absolute() else repo_dir / path).resolve()
        try:
            rel = full.relative_to(root).as_posix()
        except ValueError:
            continue
        wanted[rel or "."] = path
    if not wanted:
        return []
    done = _git(root, "ls-files", "-z", "--", *wanted)
    if done is None or done.returncode != 0:
        return []
    tracked = [os.fsdecode(item) for item in done.stdout.split(b"\0") if item]
    found: list[Path] = []
    for name in tracked:
        if name in wanted:
            found.append(wanted[name])
            continue
        # a file under a directory that was asked about
        for rel, given in wanted.items():
            if rel == "." or name.startswith(rel.rstrip("/") + "/"):
                found.append(given / Path(name).relative_to(rel) if rel != "." else given / name)
                break
    return found
