"""Command-line entry point: parse arguments, dispatch to a command, map errors to exit codes.

Exit codes: 0 success / no changes; 1 error; 2 changes pending (plan --detailed-exitcode);
3 refused by a safety guard. No command ends in a traceback on bad input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from reconciler import __version__
from reconciler.errors import ReconcilerError

# Command modules under reconciler.commands, in help order.
COMMANDS: tuple[str, ...] = (
    "validate",
    "plan",
    "apply",
    "show",
    "refresh",
    "import_",
    "state_cmd",
    "force_unlock",
    "emulate",
    "schema",
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors with exit code 1 (not 2, which means 'changes pending')."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reconciler", description="Audiences as code: plan and apply contact lists.")
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"reconciler.commands.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name != f"reconciler.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ReconcilerError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # last resort: never a traceback unless asked for
        if os.environ.get("RECONCILER_DEBUG"):
            raise
        sys.stderr.write(
            f"Internal error: {type(exc).__name__}. This is a bug in reconciler; "
            "re-run with RECONCILER_DEBUG=1 for details.\n"
        )
        return 1
