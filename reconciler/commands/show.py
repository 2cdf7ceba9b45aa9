"""`reconciler show PLANFILE`: render a saved plan (text, markdown or json)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reconciler.app import print_rendering
from reconciler.planning.planfile import load_plan
from reconciler.render import FORMATS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `show` command."""
    parser = subparsers.add_parser("show", help="render a saved plan",
                                   description="Render a plan saved by `reconciler plan --out FILE`.")
    parser.add_argument("planfile", metavar="PLANFILE", help="the saved plan (JSON)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="rendering (default: text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load and print the saved plan."""
    plan, _ = load_plan(Path(args.planfile))
    print_rendering(plan.to_dict(), args.format)
    return 0
