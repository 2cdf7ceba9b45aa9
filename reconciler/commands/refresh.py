"""`reconciler refresh`: read every managed audience back from its provider and report drift."""

from __future__ import annotations

import argparse
import json

from reconciler import console
from reconciler.app import (
    add_config_flags,
    add_lock_timeout_flag,
    load_declared,
    lock_timeout,
    open_providers,
    open_state,
    refresh_project,
    state_lock,
)
from reconciler.planning.drift import Finding, RefreshResult, providers_in_use, refresh
from reconciler.safetext import printable
from reconciler.state.backend import StateBackend

EXIT_DRIFT = 2

# kind -> (symbol, column label, summary phrase); also the order of the summary
_KINDS: dict[str, tuple[str, str, str]] = {
    "gone_at_provider": ("-", "gone", "gone"),
    "renamed_at_provider": ("~", "renamed", "renamed"),
    "member_count_differs": ("~", "members", "member count changed"),
    "dynamic_at_provider": ("!", "dynamic", "Dynamic"),
    "failed_at_provider": ("!", "failed", "failed"),
    "interrupted_create": ("?", "orphan", "interrupted create"),
    "not_ready_at_provider": (" ", "pending", "still processing"),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "refresh",
        help="read every managed audience back from its provider and report drift",
        description="Read every audience in state back from its provider and report drift: gone, "
        "renamed, member count changed, Dynamic, failed, and creates a killed run left behind.",
    )
    add_config_flags(parser)
    add_lock_timeout_flag(parser)
    parser.add_argument(
        "--detailed-exitcode", action="store_true", help="exit 2 when drift was found (0: none, 1: error)"
    )
    parser.add_argument(
        "--write", action="store_true", help="record what was found into state (under the state lock)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_state(args) as store:
        return _run(args, store)


def _run(args: argparse.Namespace, store: StateBackend) -> int:
    project = load_declared(args, store)
    if args.write:
        with state_lock(project.store, "refresh", lock_timeout(args)):
            state = project.store.load()
            with open_providers(project.declaration, providers_in_use(state)) as clients:
                result = refresh(state, clients)
            if result.state != state:
                project.store.save(result.state)
    else:
        result = refresh_project(project)
    _render(result, args.format, written=args.write)
    return EXIT_DRIFT if args.detailed_exitcode and result.has_drift else 0


def _render(result: RefreshResult, fmt: str, *, written: bool) -> None:
    out = console.stdout()
    if fmt == "json":
        out.file.write(json.dumps(result.to_dict(), indent=2, sort_keys=False) + "\n")
        return
    for line in render_text(result, written=written):  # names the providers report: escaped
        out.print(printable(line), markup=False, highlight=False)


def _finding_line(item: Finding, width: int) -> str:
    symbol, label, _ = _KINDS.get(item.kind, ("!", item.kind, item.kind))
    return f"  {symbol} {label:<8} {item.key:<{width}}  {item.provider:<8}  {item.message}"


def render_text(result: RefreshResult, *, written: bool = False) -> list[str]:
    """The text report: one line per finding, adoption hints, then a summary line."""
    lines: list[str] = []
    width = max((len(f.key) for f in result.findings), default=0)
    lines.extend(_finding_line(f, width) for f in result.findings)
    for adoption in result.adoptions:
        for command in adoption.commands:
            lines.append(f"    to adopt: {command}")
    if lines:
        lines.append("")
    drift = [f.kind for f in result.findings if f.is_drift]
    checked = f"{result.checked} managed audience{'s' if result.checked != 1 else ''} checked"
    if not drift:
        lines.append(f"No drift: {checked}.")
        return lines
    order = [*_KINDS, *sorted(set(drift) - set(_KINDS))]
    summary = ", ".join(
        f"{drift.count(kind)} {_KINDS.get(kind, ('', '', kind))[2]}" for kind in order if kind in drift
    )
    tail = "Recorded in state." if written else "Run `reconciler refresh --write` to record it in state."
    lines.append(f"Drift: {summary} ({checked}). {tail}")
    return lines
