"""What several commands share: the project flags and state lock, opening provider clients,
refreshing, and printing a plan rendering. Commands import this module, never each other."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from reconciler import console
from reconciler.config.model import Declaration
from reconciler.errors import UsageError
from reconciler.planning.drift import RefreshResult, fold_drift_into_plan, providers_in_use, refresh
from reconciler.planning.engine import PlanOptions, Project, make_plan
from reconciler.planning.guards import apply_guards
from reconciler.planning.plan import Plan
from reconciler.planning.records import provider_settings
from reconciler.providers import make_provider
from reconciler.providers.base import Endpoint, Provider
from reconciler.state.backend import StateBackend
from reconciler.state.settings import local_directory, open_backend, read_settings
from reconciler.state.store import LockInfo

DEFAULT_CONFIG = "audiences.yaml"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)?")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, None: 1.0}


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """-c/--config and --state, as every command that reads the project takes them."""
    parser.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help="declaration file (default: audiences.yaml)"
    )
    parser.add_argument(
        "--state",
        default=None,
        help="local state directory (default: the declaration's state: section, else state/ next to it)",
    )


def add_rescan_flag(parser: argparse.ArgumentParser) -> None:
    """--rescan: parse every source, even those unchanged since the last apply."""
    parser.add_argument(
        "--rescan",
        action="store_true",
        help="read every source, also those unchanged since the last apply (planned from state otherwise)",
    )


def add_lock_timeout_flag(parser: argparse.ArgumentParser) -> None:
    """--lock-timeout DURATION, for commands that take the state lock."""
    parser.add_argument(
        "--lock-timeout",
        default="0",
        metavar="DURATION",
        help="wait this long for the state lock held by another run, e.g. 30s, 5m (default 0: fail at once)",
    )


def parse_duration(text: str, flag: str = "--lock-timeout") -> float:
    """Seconds in a duration like '0', '45', '30s', '5m', '1h', '1m30s', '500ms'; UsageError otherwise."""
    value = text.strip().lower()
    pos, total = 0, 0.0
    while pos < len(value):
        match = _DURATION_PART.match(value, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise UsageError(f"{flag} {text!r} is not a duration: use e.g. 0, 30s, 5m or 1h")
    return total


def lock_timeout(args: argparse.Namespace) -> float:
    """The --lock-timeout of `args` in seconds (0 when the command has no such flag)."""
    return parse_duration(getattr(args, "lock_timeout", "0") or "0")


def state_dir(args: argparse.Namespace) -> Path:
    """The local state directory: --state, else the declaration's state.path (default `state/`)
    next to the config file. The sandbox keeps its own state under it whatever the backend."""
    if getattr(args, "state", None):
        return Path(args.state)
    config = Path(args.config)
    return local_directory(read_settings(config), config)


@contextmanager
def open_state(args: argparse.Namespace) -> Iterator[StateBackend]:
    """The state backend of the command (--state, else the declaration's state: section), closed
    at the end."""
    config = Path(args.config)
    store = open_backend(read_settings(config), config, getattr(args, "state", None))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def state_lock(store: StateBackend, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
    """Hold the state lock for `operation`, warning on stderr when it took over an abandoned one."""
    with store.lock(operation, timeout=timeout) as info:
        warning = info.takeover_warning()
        if warning:
            sys.stderr.write(f"Warning: {warning}\n")
        yield info


def print_rendering(doc: dict[str, object], fmt: str) -> None:
    """Print a plan document in `fmt` to stdout (colour only when the console allows it)."""
    from reconciler.render import render

    rendered = render(doc, fmt)
    out = console.stdout()
    if not isinstance(rendered, str) and out.no_color:  # rich keeps bold/dim under NO_COLOR: drop all
        rendered = rendered.plain
    if isinstance(rendered, str):
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")
    else:
        out.print(rendered, end="")


def load_declared(args: argparse.Namespace, store: StateBackend) -> Project:
    """The declaration named by -c and the state of `store`, without scanning sources (refresh and
    import read none)."""
    from reconciler.config.load import load_declaration

    declaration = load_declaration(Path(args.config))
    state = store.load()
    # no fingerprint key: nothing here fingerprints members (import asks the store under the lock)
    return Project(declaration, store, state, b"", {}, config_display=args.config)


@contextmanager
def open_providers(
    declaration: Declaration,
    names: Sequence[str],
    env: Mapping[str, str] = os.environ,
    endpoints: Mapping[str, Endpoint] | None = None,
) -> Iterator[dict[str, Provider]]:
    """Provider clients for `names`, configured from the declaration and `env` (or, for a provider
    in `endpoints`, sent only there); closed on exit.

    Raises AuthError (naming the variable to set) when a needed token is missing."""
    with ExitStack() as stack:
        clients: dict[str, Provider] = {}
        for name in names:
            endpoint = (endpoints or {}).get(name)
            client = make_provider(name, provider_settings(declaration, name), env, endpoint=endpoint)
            stack.callback(client.close)
            clients[name] = client
        yield clients


def refresh_project(project: Project) -> RefreshResult:
    """Read back every audience `project.state` manages, opening (and closing) the provider clients
    it needs; what `plan --refresh` and `refresh` call. Raises AuthError naming a missing token's
    variable."""
    with open_providers(project.declaration, providers_in_use(project.state)) as clients:
        return refresh(project.state, clients)


def derive_plan(project: Project, options: PlanOptions) -> Plan:
    """The plan of `project` under `options`: with `options.refresh`, read the providers first and
    fold what they report into the plan (`project.state` itself is left as loaded). What `plan`
    shows and saves, and what `apply PLANFILE` re-derives to verify a saved plan."""
    if not options.refresh:
        return make_plan(project, options)
    refreshed = refresh_project(project)
    plan = make_plan(dataclasses.replace(project, state=refreshed.state), options)
    fold_drift_into_plan(plan, refreshed)
    apply_guards(
        plan.changes,
        project.declaration.audiences,
        refreshed.state,
        allow_shrink=set(options.allow_shrink),
        allow_destroy=set(options.allow_destroy),
    )
    return plan
