"""What several commands share: the project flags and state lock, opening provider clients,
refreshing, and printing a plan rendering. Commands import this module, never each other."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from reconciler import console
from reconciler.config.model import Declaration
from reconciler.planning.drift import RefreshResult, providers_in_use, refresh
from reconciler.planning.engine import Project
from reconciler.planning.records import provider_settings
from reconciler.providers import make_provider
from reconciler.providers.base import Endpoint, Provider
from reconciler.state.store import LockInfo, StateStore

DEFAULT_CONFIG = "audiences.yaml"


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """-c/--config and --state, as every command that reads the project takes them."""
    parser.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help="declaration file (default: audiences.yaml)"
    )
    parser.add_argument(
        "--state", default=None, help="state directory (default: state/ next to the config file)"
    )


def add_rescan_flag(parser: argparse.ArgumentParser) -> None:
    """--rescan: parse every source, even those unchanged since the last apply."""
    parser.add_argument(
        "--rescan",
        action="store_true",
        help="read every source, also those unchanged since the last apply (planned from state otherwise)",
    )


def state_dir(args: argparse.Namespace) -> Path:
    """The state directory: --state, else `state/` next to the config file."""
    if getattr(args, "state", None):
        return Path(args.state)
    return Path(args.config).resolve().parent / "state"


@contextmanager
def state_lock(store: StateStore, operation: str) -> Iterator[LockInfo]:
    """Hold the state lock for `operation`, warning on stderr when it took over an abandoned one."""
    with store.lock(operation) as info:
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


def load_declared(args: argparse.Namespace) -> Project:
    """The declaration and state named by -c/--state, without scanning sources (refresh and import
    read none)."""
    from reconciler.config.load import load_declaration

    declaration = load_declaration(Path(args.config))
    store = StateStore(state_dir(args))
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
