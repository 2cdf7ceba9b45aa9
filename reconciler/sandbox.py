"""`apply --sandbox`: run against the local emulator instead of the real providers.

The emulator is started in-process on a free loopback port and the provider environment (base
URLs and tokens) points at it for the duration of the run; real tokens are hidden meanwhile. The
emulator holds its audiences in memory, so every sandbox run starts from nothing: its state lives
apart from the real state, in `<state>/.sandbox/` (git-ignored), and is wiped at the start of each
run so that it always matches the fresh emulator. It is left in place afterwards for inspection.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import StateError

SANDBOX_DIR = ".sandbox"
# Everything that points a provider client somewhere; hidden from a sandbox run.
PROVIDER_ENV: tuple[str, ...] = (
    "COMMBOX_API_TOKEN",
    "COMMBOX_BASE_URL",
    "WHOP_API_KEY",
    "WHOP_BASE_URL",
    "SMALLEST_API_KEY",
    "SMALLEST_BASE_URL",
)


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: where its emulator listens and where its state lives."""

    url: str
    state_dir: Path

    def describe(self) -> str:
        """What the sandbox set up, for the user (no tokens)."""
        return (
            f"Sandbox: provider emulator on {self.url} (fresh and empty; no credentials used, "
            f"nothing sent to real providers).\n"
            f"Sandbox: state in {_display(self.state_dir)} (wiped at the start of every sandbox run)."
        )

    def farewell(self) -> str:
        """What the sandbox leaves behind."""
        return (
            f"Sandbox: the emulator has stopped and its audiences are gone; the sandbox state stays in "
            f"{_display(self.state_dir)} for inspection. The real state was not touched."
        )


def _display(path: Path) -> str:
    """`path` relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def sandbox_state_dir(state_dir: Path) -> Path:
    """The sandbox's own state directory inside the real one."""
    return state_dir / SANDBOX_DIR


def _wipe(directory: Path) -> None:
    try:
        if directory.is_symlink() or directory.is_file():
            raise StateError(f"{directory}: expected the sandbox state directory, found a file")
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
    except OSError as exc:
        raise StateError(f"{directory}: cannot prepare the sandbox state: {exc.strerror}") from None


@contextmanager
def sandbox(state_dir: Path) -> Iterator[Sandbox]:
    """Start the emulator, point the provider environment at it, and give a fresh sandbox state."""
    from reconciler.emulator import Emulator

    directory = sandbox_state_dir(state_dir)
    _wipe(directory)
    saved = {name: os.environ.get(name) for name in PROVIDER_ENV}
    with Emulator(port=0) as emulator:
        env = emulator.env()
        saved.update({name: os.environ.get(name) for name in env if name not in saved})
        try:
            for name in PROVIDER_ENV:
                os.environ.pop(name, None)
            os.environ.update(env)
            yield Sandbox(url=emulator.root_url, state_dir=directory)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
