"""`reconciler plan`: diff the declaration against the state, offline and read-only.

Exit codes: 0 (no changes, or changes without --detailed-exitcode), 2 (changes pending with
--detailed-exitcode), 3 (a safety guard refused a change; the plan is still shown), 1 (error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler import console
from reconciler.app import add_config_flags, add_rescan_flag, derive_plan, open_state, print_rendering
from reconciler.outputs import check_project_output
from reconciler.planning.engine import PlanOptions, load_project, plan_checksum_key
from reconciler.planning.plan import Plan
from reconciler.planning.planfile import save_plan
from reconciler.render import FORMATS
from reconciler.scanprogress import ScanProgress
from reconciler.state.backend import StateBackend

EXIT_CHANGES = 2
EXIT_REFUSED = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `plan` command."""
    parser = subparsers.add_parser(
        "plan", help="show what apply would change (offline, read-only)",
        description="Diff the declaration and its sources against the state. Needs no token.",
    )
    add_config_flags(parser)
    parser.add_argument("--out", metavar="FILE", help="save the plan as JSON for `reconciler apply FILE`")
    parser.add_argument("--format", choices=FORMATS, default="text", help="rendering (default: text)")
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 2 when there are changes (0 when none)")
    parser.add_argument("--target", action="append", default=[], metavar="KEY",
                        help="plan only this audience (repeatable)")
    parser.add_argument("--replace", action="append", default=[], metavar="KEY",
                        help="plan a replacement of this audience (repeatable)")
    parser.add_argument("--allow-shrink", action="append", default=[], metavar="KEY",
                        help="allow this audience to lose more members than its max_shrink")
    parser.add_argument("--allow-destroy", action="append", default=[], metavar="KEY",
                        help="allow replacing, deleting or forgetting this protected audience")
    parser.add_argument("--refresh", action="store_true", help="read the providers before planning")
    add_rescan_flag(parser)
    parser.set_defaults(func=run)


def _make(args: argparse.Namespace, options: PlanOptions, store: StateBackend) -> Plan:
    with ScanProgress(console.stderr()) as progress:
        targets = options.targets or None
        project = load_project(Path(args.config), store, targets, reuse=not args.rescan, progress=progress)
    if args.out:  # before any work: an output path that is an input is a usage error
        state_dir = getattr(store, "directory", None)  # a local state directory (none in PostgreSQL)
        check_project_output("--out", Path(args.out), project.declaration, state_dir)
    plan = derive_plan(project, options)
    if args.out:
        save_plan(plan, Path(args.out), plan_checksum_key(project))
    return plan


def run(args: argparse.Namespace) -> int:
    """Make, optionally save, and print the plan; return the exit code."""
    options = PlanOptions(
        targets=list(dict.fromkeys(args.target)),
        replace=list(dict.fromkeys(args.replace)),
        allow_shrink=list(dict.fromkeys(args.allow_shrink)),
        allow_destroy=list(dict.fromkeys(args.allow_destroy)),
        refresh=args.refresh,
        rescan=args.rescan,
    )
    with open_state(args) as store:
        plan = _make(args, options, store)
    print_rendering(plan.to_dict(), args.format)
    if plan.refused:
        sys.stderr.write(f"Refused by safety guard: {len(plan.refused)} change(s); see the plan above.\n")
        return EXIT_REFUSED
    if args.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return 0
