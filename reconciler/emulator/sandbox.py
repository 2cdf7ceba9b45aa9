"""`apply --sandbox`: run against the local emulator instead of the real providers.

The emulator is started in-process on a free loopback port, and the run gets an explicit endpoint
(the emulator's URL and token) for every provider: no declared `base_url`, environment variable or
plugin can route a sandbox call elsewhere, and a provider without an emulator cannot run at all.
The run also sees an environment without any provider variable (real tokens stay unread), with
the emulator's defaults for settings read from the environment (e.g. an account id). The process
environment is not changed. The emulator holds its audiences in memory, so every sandbox run
starts from nothing: its state lives
apart from the real state, in `<state>/.sandbox/` (git-ignored), and is wiped at the start of each
run so that it always matches the fresh emulator - under the state lock of that directory, so a
second sandbox run there is refused instead of wiping the first one's state. It is left in place
afterwards for inspection.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import StateError
from reconciler.providers import registry
from reconciler.providers.base import Endpoint
from reconciler.state.lock import LOCK_NAME

SANDBOX_DIR = ".sandbox"


def provider_variables() -> tuple[str, ...]:
    """Every environment variable a registered provider reads (tokens, base URLs, setting defaults)."""
    names: list[str] = []
    for cls in registry.providers().values():
        names += [cls.token_env, cls.base_url_env]
        names += [s.env for s in cls.settings.values() if s.env]
    return tuple(dict.fromkeys(names))


# Everything that points a provider client somewhere; never read by a sandbox run.
PROVIDER_ENV: tuple[str, ...] = provider_variables()


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: where its emulator listens, the endpoint of every provider, the
    environment the run sees, and where its state lives."""

    url: str
    state_dir: Path
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

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


def _check_directory(directory: Path) -> None:
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise StateError(f"{directory}: expected the sandbox state directory, found a file or a symlink")


def wipe(directory: Path) -> None:
    """Empty the sandbox state directory, all but its state lock: call it holding that lock, so a
    second sandbox run in the same directory wipes nothing (it is refused by the lock)."""
    try:
        _check_directory(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for entry in directory.iterdir():
            if entry.name == LOCK_NAME or entry.name.startswith(".lock-"):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    except OSError as exc:
        where = exc.filename or directory
        raise StateError(f"{where}: cannot prepare the sandbox state: {exc.strerror}") from None


@contextmanager
def sandbox(state_dir: Path) -> Iterator[Sandbox]:
    """Start the emulator and give the run its endpoints, a clean environment and a fresh state."""
    from reconciler.emulator import Emulator

    directory = sandbox_state_dir(state_dir)
    _check_directory(directory)  # wiped by the run, under its state lock (`wipe`)
    hidden = set(provider_variables())
    with Emulator(port=0) as emulator:
        env = {k: v for k, v in os.environ.items() if k not in hidden}
        env.update(emulator.settings_env())
        yield Sandbox(url=emulator.root_url, state_dir=directory, endpoints=emulator.endpoints(), env=env)
