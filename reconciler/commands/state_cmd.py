"""`reconciler state list|show KEY|rm KEY|mv OLD NEW|history|migrate --to BACKEND`: inspect, edit
and move the state.

Only the state matters (`--state DIR`, else the `state:` section of `-c/--config`, else `state/`
next to it); the rest of the declaration is never read, so these commands work while
audiences.yaml is broken. Output shows
what the state records about each audience, never member data (the state holds none) and never
the fingerprint key. `rm` and `mv` take the state lock and write atomically.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.app import (
    add_config_flags,
    add_lock_timeout_flag,
    lock_timeout,
    open_state,
    state_lock,
)
from reconciler.errors import StateError, UsageError
from reconciler.safetext import printable
from reconciler.state.backend import StateBackend
from reconciler.state.data import parse_document
from reconciler.state.settings import local_directory, open_postgres, read_settings
from reconciler.state.store import AudienceState, LockStatus, State, StateStore

# The declaration's key rule (schema/audiences.schema.json, $defs.audienceKey).
AUDIENCE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `state` command and its subcommands."""
    parser = subparsers.add_parser(
        "state",
        help="inspect and edit state (list, show, rm, mv)",
        description="Inspect and edit the state: what reconciler recorded about each managed audience.",
    )
    sub = parser.add_subparsers(dest="state_command", metavar="SUBCOMMAND")
    sub.required = True
    commands: list[tuple[str, str, Sequence[tuple[str, str]]]] = [
        ("list", "list the audiences in state", ()),
        ("show", "show one audience recorded in state", (("key", "KEY"),)),
        (
            "rm",
            "forget an audience (state only: it stays at the provider, unmanaged)",
            (("key", "KEY"),),
        ),
        ("mv", "rename an audience key in state", (("old", "OLD"), ("new", "NEW"))),
        ("history", "list the kept previous versions of the state", ()),
        ("migrate", "copy the whole state to another backend and verify it", ()),
    ]
    for name, help_text, positionals in commands:
        command = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        for dest, metavar in positionals:
            command.add_argument(dest, metavar=metavar)
        add_config_flags(command)
        command.add_argument("--json", action="store_true", help="print JSON")
        if name in ("rm", "mv", "migrate"):
            add_lock_timeout_flag(command)
        if name == "migrate":
            command.add_argument(
                "--to",
                required=True,
                choices=("postgres", "local"),
                help="postgres: from the local directory to the workspace of the state: section; "
                "local: back from that workspace to the local directory",
            )
            command.add_argument("--force", action="store_true", help="replace a state already at the target")
        command.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run one `state` subcommand; returns the exit code."""
    if args.state_command == "migrate":
        return _migrate(args)
    timeout = lock_timeout(args)
    with open_state(args) as store:
        if args.state_command == "list":
            return _list(store, args.json)
        if args.state_command == "show":
            return _show(store, args.key, args.json)
        if args.state_command == "rm":
            return _rm(store, args.key, args.json, timeout)
        if args.state_command == "mv":
            return _mv(store, args.old, args.new, args.json, timeout)
        if args.state_command == "history":
            return _history(store, args.json)
    raise UsageError(f"unknown state command {args.state_command!r}")  # pragma: no cover - argparse


# ---------------------------------------------------------------------------------------------
# Views (pure)


def audience_summary(entry: AudienceState) -> dict[str, Any]:
    """The row `state list` shows for an audience."""
    return {
        "key": entry.key,
        "provider": entry.provider,
        "provider_id": entry.provider_id,
        "name": entry.name,
        "members": entry.member_count,
        "applied_at": entry.applied_at or None,
    }


def audience_detail(state: State, entry: AudienceState) -> dict[str, Any]:
    """Everything the state records about one audience (no member data, no fingerprint key)."""
    return {
        **audience_summary(entry),
        "member_digest": entry.member_digest or None,
        "settings_digest": entry.settings_digest or None,
        "source_sha256": entry.source_sha256 or None,
        "extra": entry.extra,
        "pending_intents": [
            {
                "id": intent.id,
                "operation": intent.operation,
                "started_at": intent.started_at,
                "provider_id": intent.provider_id,
            }
            for intent in state.pending_intents
            if intent.key == entry.key
        ],
    }


def format_table(rows: list[list[str]], right: Sequence[int] = ()) -> list[str]:
    """Left-aligned columns (right-aligned for the indexes in `right`), two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def list_lines(state: State, directory: str) -> list[str]:
    """The text of `state list`."""
    if not state.audiences:
        return [f"No audiences in state ({directory})."]
    rows = [["KEY", "PROVIDER", "PROVIDER ID", "NAME", "MEMBERS", "APPLIED AT"]]
    for key in sorted(state.audiences):
        s = audience_summary(state.audiences[key])
        rows.append(
            [
                s["key"],
                s["provider"],
                s["provider_id"],
                s["name"],
                f"{s['members']:,}",
                s["applied_at"] or "-",
            ]
        )
    lines = format_table(rows, right=(4,))
    count = len(state.audiences)
    lines.append("")
    lines.append(f"{count} audience{'s' if count != 1 else ''} in {directory} (serial {state.serial}).")
    if state.pending_intents:
        lines.append(_intents_warning(len(state.pending_intents)))
    return lines


def lock_summary(lock: LockStatus | None) -> dict[str, Any] | None:
    """The lock on the state directory as JSON (None when unlocked)."""
    if lock is None:
        return None
    info = lock.info
    return {
        "id": info.id if info else None,
        "who": info.who if info else None,
        "when": info.when if info else None,
        "operation": info.operation if info else None,
        "live": lock.live,
    }


def lock_lines(lock: LockStatus | None) -> list[str]:
    """A line about the lock on the state directory, when there is one."""
    if lock is None:
        return []
    holder = lock.info.describe() if lock.info else "an unknown run (unreadable lock file)"
    if lock.live:
        return [f"Locked by {holder}."]
    return [f"Abandoned lock of {holder}; the next writing run takes it over."]


def show_lines(state: State, entry: AudienceState) -> list[str]:
    """The text of `state show KEY`."""
    d = audience_detail(state, entry)
    pairs = [
        ("key", d["key"]),
        ("provider", d["provider"]),
        ("provider id", d["provider_id"]),
        ("name", d["name"]),
        ("members", f"{d['members']:,}"),
        ("applied at", d["applied_at"] or "-"),
        ("member digest", d["member_digest"] or "-"),
        ("settings digest", d["settings_digest"] or "-"),
        ("source sha256", d["source_sha256"] or "-"),
    ]
    pairs += [
        (f"extra.{name}", json.dumps(value, ensure_ascii=False)) for name, value in sorted(d["extra"].items())
    ]
    width = max(len(label) for label, _ in pairs)
    lines = [f"{label.ljust(width)}  {value}" for label, value in pairs]
    for intent in d["pending_intents"]:
        lines.append(
            f"pending: {intent['operation']} started {intent['started_at']} (intent {intent['id']}) "
            "from an interrupted run; the next apply settles it"
        )
    return lines


def _intents_warning(count: int) -> str:
    return (
        f"{count} provider call{'s' if count != 1 else ''} from an interrupted run "
        "not settled yet; the next apply settles them."
    )


# ---------------------------------------------------------------------------------------------
# Subcommands


def _print(lines: Sequence[str]) -> None:
    sys.stdout.write("".join(f"{printable(line)}\n" for line in lines))  # names from a file: escaped


def _print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _list(store: StateBackend, as_json: bool) -> int:
    state = store.load()
    lock = store.lock_status()
    if as_json:
        _print_json(
            {
                "state_dir": store.location,
                "lineage": state.lineage,
                "serial": state.serial,
                "audiences": [audience_summary(state.audiences[k]) for k in sorted(state.audiences)],
                "pending_intents": len(state.pending_intents),
                "lock": lock_summary(lock),
            }
        )
    else:
        _print(list_lines(state, store.location) + lock_lines(lock))
    return 0


def _show(store: StateBackend, key: str, as_json: bool) -> int:
    state = store.load()
    entry = state.audience(key)
    if as_json:
        _print_json(audience_detail(state, entry))
    else:
        _print(show_lines(state, entry))
    return 0


def _rm(store: StateBackend, key: str, as_json: bool, timeout: float) -> int:
    _require_state(store)
    with state_lock(store, f"state rm {key}", timeout):
        state = store.load()
        entry = state.remove_audience(key)
        store.save(state)
    pending = [i for i in state.pending_intents if i.key == key]
    if as_json:
        _print_json({"removed": audience_summary(entry), "serial": state.serial})
        return 0
    lines = [
        f"Removed {key!r} from state (serial {state.serial}).",
        f"Nothing was changed at {entry.provider}: audience {entry.provider_id} ({entry.name!r}) "
        "still exists there and is no longer managed by reconciler.",
        f"To manage it again: reconciler import {key} {entry.provider_id}",
    ]
    if pending:
        lines.append(_intents_warning(len(pending)))
    _print(lines)
    return 0


def _mv(store: StateBackend, old: str, new: str, as_json: bool, timeout: float) -> int:
    if not AUDIENCE_KEY.fullmatch(new):
        raise UsageError(
            f"{new!r} is not a valid audience key: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit (at most 100 characters)"
        )
    _require_state(store)
    with state_lock(store, f"state mv {old} {new}", timeout):
        state = store.load()
        entry = state.rename_audience(old, new)
        store.save(state)
    if as_json:
        _print_json(
            {"moved": {"from": old, "to": new}, "audience": audience_summary(entry), "serial": state.serial}
        )
        return 0
    _print(
        [
            f"Renamed {old!r} to {new!r} in state (serial {state.serial}).",
            f"Rename the key in the declaration as well; until then a plan shows {old!r} to create "
            f"and {new!r} as removed from the declaration.",
        ]
    )
    return 0


def _require_state(store: StateBackend) -> None:
    """Refuse to edit a state that does not exist (the lock would create its directory)."""
    if not store.exists():
        detail = f" ({store.state_file} does not exist)" if isinstance(store, StateStore) else ""
        raise StateError(f"no state in {store.location}{detail}")


def history_rows(store: StateBackend) -> list[dict[str, Any]]:
    """The kept versions, oldest first, then the current one (as `state history` shows them)."""
    rows = []
    for version in store.history():
        state = parse_document(version.document, store.location, f"a history version in {store.location}")
        rows.append(
            {"serial": version.serial, "lineage": version.lineage, "saved_at": version.saved_at or None,
             "audiences": len(state.audiences), "current": False}
        )  # fmt: skip
    current = store.load()
    if current.lineage is not None:
        rows.append(
            {"serial": current.serial, "lineage": current.lineage, "saved_at": None,
             "audiences": len(current.audiences), "current": True}
        )  # fmt: skip
    return rows


def _history(store: StateBackend, as_json: bool) -> int:
    rows = history_rows(store)
    if as_json:
        _print_json({"state_dir": store.location, "versions": rows})
        return 0
    if not rows:
        _print([f"No state in {store.location}."])
        return 0
    table = [["SERIAL", "LINEAGE", "REPLACED AT", "AUDIENCES"]]
    for row in rows:
        replaced = "(current)" if row["current"] else row["saved_at"] or "-"
        table.append([str(row["serial"]), row["lineage"], replaced, str(row["audiences"])])
    footer = f"{len(rows)} version(s) of the state in {store.location}."
    _print([*format_table(table, right=(0, 3)), "", footer])
    return 0


def _migrate(args: argparse.Namespace) -> int:
    """Copy the whole state between the local directory and the postgres workspace."""
    from reconciler.state.migrate import migrate

    config = Path(args.config)
    settings = read_settings(config)
    local = StateStore(Path(args.state) if args.state else local_directory(settings, config))
    remote = open_postgres(settings)
    source, target = (local, remote) if args.to == "postgres" else (remote, local)
    timeout = lock_timeout(args)
    try:
        with state_lock(source, "state migrate", timeout), state_lock(target, "state migrate", timeout):
            done = migrate(source, target, force=args.force)
    finally:
        remote.close()
    if args.json:
        _print_json(
            {"from": source.location, "to": target.location, "lineage": done.lineage, "serial": done.serial,
             "audiences": done.audiences, "history": done.history, "member_sets": done.member_sets,
             "members": done.members, "verified": True}
        )  # fmt: skip
        return 0
    lines = [
        f"Migrated the state from {source.location} to {target.location}: lineage {done.lineage} serial "
        f"{done.serial}, {done.audiences} audience(s), {done.history} history version(s), "
        f"{done.member_sets} member set(s) ({done.members:,} members). Verified by digest.",
    ]
    if settings.backend != args.to:
        lines.append(
            f"Set `state: {{backend: {args.to}}}` in {config} so that the next runs use it"
            + (" (the old local directory is left as it was)." if args.to == "postgres" else ".")
        )
    _print(lines)
    return 0
