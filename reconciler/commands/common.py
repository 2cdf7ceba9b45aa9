"""Flags and helpers shared by several commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.state.store import LockInfo, StateStore

DEFAULT_CONFIG = "audiences.yaml"


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """-c/--config and --state, as every command that reads the project takes them."""
    parser.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help="declaration file (default: audiences.yaml)"
    )
    parser.add_argument(
        "--state", default=None, help="state directory (default: state/ next to the config file)"
    )


def state_dir(args: argparse.Namespace) -> Path:
    """The state directory: --state, else `state/` next to the config file."""
    if getattr(args, "state", None):
        return Path(args.state)
    return Path(args.config).resolve().parent / "state"


@contextmanager
def state_lock(store: StateStore, operation: str) -> Iterator[LockInfo]:
    """Hold the state lock for `operation`, warning on stderr when it took over an abandoned one."""
    with store.lock(operation) as info:
        warning = info.takeover_warning()
        if warning:
            sys.stderr.write(f"Warning: {warning}\n")
        yield info
