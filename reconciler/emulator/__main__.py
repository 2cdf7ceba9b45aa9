"""`python -m reconciler.emulator`: the emulate command without loading the rest of the CLI."""

from __future__ import annotations

import argparse
import sys

from reconciler.commands.emulate import DESCRIPTION, add_arguments, run
from reconciler.errors import ReconcilerError


def main() -> int:
    """Parse the emulate flags and serve."""
    parser = argparse.ArgumentParser(prog="python -m reconciler.emulator", description=DESCRIPTION)
    add_arguments(parser)
    try:
        return run(parser.parse_args())
    except ReconcilerError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
