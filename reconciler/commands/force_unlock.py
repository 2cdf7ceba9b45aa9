"""`reconciler force-unlock LOCK_ID`: release a state lock left by a killed or stuck run."""

from __future__ import annotations

import argparse
import sys

from reconciler.app import add_config_flags, state_dir
from reconciler.state.store import StateStore


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `force-unlock` command."""
    parser = subparsers.add_parser(
        "force-unlock",
        help="release a lock left by a killed run",
        description=(
            "Release the state lock with id LOCK_ID (shown in the error of the run it blocks). "
            "A lock whose run was killed is taken over automatically; use this for a run that is "
            "stuck, or a lock on a filesystem without working OS locks."
        ),
    )
    parser.add_argument("lock_id", metavar="LOCK_ID", help="the id of the lock to release")
    add_config_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Remove the lock if its id matches; LockError (exit 1) otherwise."""
    store = StateStore(state_dir(args))
    released = store.force_unlock(args.lock_id)
    info = released.info
    holder = info.describe() if info is not None else "an unknown run"
    sys.stdout.write(f"Released the state lock of {store.directory}, held by {holder}.\n")
    if released.live:
        sys.stderr.write(
            "Warning: the process holding it was still running; if it is still working, "
            "it may write the state while another run does.\n"
        )
    return 0
