"""Command-line entry point: parse arguments, dispatch to a command, map errors to exit codes.

Exit codes: 0 success / no changes; 1 error; 2 changes pending (plan --detailed-exitcode);
3 refused by a safety guard. No command ends in a traceback on bad input.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from reconciler.errors import ReconcilerError
from reconciler.safetext import printable_lines

# Command name -> module under reconciler.commands, in help order. Only the module of the command
# being run is imported (the others pull in numpy, httpx, jsonschema...), except for --help.
COMMANDS: dict[str, str] = {
    "validate": "validate",
    "plan": "plan",
    "apply": "apply",
    "show": "show",
    "refresh": "refresh",
    "import": "import_",
    "state": "state_cmd",
    "force-unlock": "force_unlock",
    "emulate": "emulate",
    "schema": "schema",
    "providers": "providers_cmd",
}


# Commands that end after one bounded piece of work run without the cyclic garbage collector: what
# they leave in cycles is a few hundred objects whatever the size of the project (861 after a plan
# of 1,000 audiences, and of 1,000,000 members), while the collector's passes over the objects they
# build cost 10-20% of a plan. apply, refresh, import and emulate talk to providers for as long as
# it takes (retries leave cycles), so they keep it.
_WITHOUT_GC = frozenset({"validate", "plan", "show", "state", "force-unlock", "schema", "providers"})


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors with exit code 1 (not 2, which means 'changes pending')."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(1)


def _requested_command(argv: Sequence[str]) -> str | None:
    """The command named on the command line, if any (the first argument not an option)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(only: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """The argument parser. With `lazy`, only command `only` (if any) gets its full parser; the
    others get a bare placeholder, so their modules are not imported."""
    parser = _Parser(prog="reconciler", description="Audiences as code: plan and apply contact lists.")
    parser.add_argument(
        "--version",
        action="store_true",
        help="print the versions of reconciler, Python, phonenumbers and the plan/state formats, and "
        "whether the phone fast path is on; with --json as JSON",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        if lazy and name != only:
            sub.add_parser(name)
            continue
        module = importlib.import_module(f"reconciler.commands.{module_name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    collecting = gc.isenabled()
    if _requested_command(arguments) in _WITHOUT_GC:
        gc.disable()
    try:
        return _run(arguments)
    finally:
        if collecting:
            gc.enable()  # as it was: tests call main() in-process


def _run(arguments: list[str]) -> int:
    wants_help = any(arg in ("-h", "--help") for arg in arguments)
    if "--version" in arguments and not wants_help and _requested_command(arguments) is None:
        return _version([a for a in arguments if a != "--version"])
    parser = build_parser(_requested_command(arguments), lazy=not wants_help)
    args = parser.parse_args(arguments)
    try:
        code: int = args.func(args)
        return code
    except ReconcilerError as exc:
        sys.stderr.write(f"Error: {printable_lines(str(exc))}\n")
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


def _version(rest: list[str]) -> int:
    """`reconciler --version [--json]`."""
    if rest not in ([], ["--json"]):
        sys.stderr.write(f"reconciler: error: --version takes only --json, not {' '.join(rest)}\n")
        return 1
    from reconciler import versions

    try:
        print(versions.render(as_json=bool(rest)), flush=True)
    except BrokenPipeError:  # `reconciler --version | head -1`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
    return 0
