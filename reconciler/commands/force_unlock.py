"""`reconciler force-unlock LOCK_ID`: release a state lock left by a killed or stuck run."""

from __future__ import annotations

import argparse
import sys

from reconciler.app import add_config_flags, open_state


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `force-unlock` command."""
    parser = subparsers.add_parser(
        "force-unlock",
        help="release a lock left by a killed run",
        description=(
            "Release the state lock with id LOCK_ID (shown in the error of the run it blocks). "
            "A lock whose run was killed is taken over automatically; use this for a run that is "
            "stuck, or a lock on a filesystem without working OS locks. On the postgres backend a "
            "live lock ends only with its holder's database session: --terminate ends it."
        ),
    )
    parser.add_argument("lock_id", metavar="LOCK_ID", help="the id of the lock to release")
    add_config_flags(parser)
    parser.add_argument(
        "--terminate",
        action="store_true",
        help="postgres backend: end the database session of a live holder (its run stops writing)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Remove the lock if its id matches; LockError (exit 1) otherwise."""
    with open_state(args) as store:
        released = store.force_unlock(args.lock_id, terminate=args.terminate)
        location = store.location
    info = released.info
    holder = info.describe() if info is not None else "an unknown run"
    sys.stdout.write(f"Released the state lock of {location}, held by {holder}.\n")
    if released.live and args.terminate:
        sys.stderr.write("Ended the database session that held it; that run stops writing the state.\n")
    elif released.live:
        sys.stderr.write(
            "Warning: the process holding it was still running; if it is still working, "
            "it may write the state while another run does.\n"
        )
    return 0
