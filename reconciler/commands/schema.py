"""`reconciler schema`: print the JSON Schema of audiences.yaml (for editors and CI)."""

from __future__ import annotations

import argparse

from reconciler import console
from reconciler.config.schema import schema_text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of audiences.yaml",
        description="Print the JSON Schema (draft 2020-12) of the declaration, e.g. "
        "`reconciler schema > audiences.schema.json` for an editor's yaml-language-server.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the schema exactly as shipped in the package to stdout."""
    console.stdout().out(schema_text().rstrip("\n"), highlight=False)
    return 0
