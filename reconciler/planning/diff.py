"""Desired audiences vs state -> one `Change` per audience key. Pure: no I/O.

The decision table (see docs/providers.md); every provider fact comes from its class's
`capabilities` (the member strategy, rename, delete):
  * in config only                 -> create
  * members changed                -> the provider's member strategy: put_replace (whole list),
                                      add_remove_members (in place), or append when only people
                                      were added (append_or_recreate; otherwise replace)
  * name changed                   -> patch_rename where the provider renames; else replace
  * description / columns / provider settings / provider changed -> replace (a provider whose
                                      update uploads the whole list takes new columns with it)
  * in state only                  -> delete, or forget where the provider cannot delete
  * `--replace KEY`                -> replace (reason replace_requested)
  * member digest and settings digest equal -> no-op
  * source unchanged since the last apply (planning/reuse.py) -> no-op, planned from state
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.config.model import AudienceSpec
from reconciler.planning.plan import (
    STRATEGY_ADD_REMOVE,
    STRATEGY_APPEND,
    STRATEGY_CREATE,
    STRATEGY_CREATE_THEN_DELETE,
    STRATEGY_CREATE_THEN_FORGET,
    STRATEGY_DELETE,
    STRATEGY_FORGET,
    STRATEGY_PATCH_RENAME,
    STRATEGY_PUT_REPLACE,
    Action,
    Change,
    MemberCounts,
    RowStats,
)
from reconciler.planning.records import (
    applied_entry,
    applied_extra,
    provider_settings,
    record_digest,
    settings_digest,
    settings_record,
)
from reconciler.planning.reuse import UNCHANGED_NOTE, Unchanged
from reconciler.providers import registry
from reconciler.providers.base import MemberStrategy, Provider
from reconciler.sources.members import MemberSet, SourceScan
from reconciler.state.store import AudienceState, Intent, State

# Re-exported: the settings record helpers lived here first.
__all__ = [
    "Desired",
    "applied_entry",
    "applied_extra",
    "attribute_changes",
    "diff",
    "provider_settings",
    "record_digest",
    "row_stats",
    "settings_digest",
    "settings_record",
]

MAX_ROW_SAMPLES = 3

# Reasons, in the order plans list them.
REASON_ORDER: tuple[str, ...] = (
    "replace_requested",
    "added_to_config",
    "removed_from_config",
    "provider_changed",
    "settings_changed",
    "name_changed",
    "description_changed",
    "columns_changed",
    "members_changed",
    "members_removed",
    "attributes_changed",
)
# Top-level key of the settings record -> the reason a change to it gives.
_RECORD_REASONS: dict[str, str] = {
    "provider": "provider_changed",
    "name": "name_changed",
    "description": "description_changed",
    "columns": "columns_changed",
    "settings": "settings_changed",
}


@dataclass(frozen=True)
class Desired:
    """One declared audience as planned: its spec, its scanned source, its provider's settings."""

    spec: AudienceSpec
    scan: SourceScan
    settings: Mapping[str, object]


def row_stats(scan: SourceScan) -> RowStats:
    """The plan's row statistics of a scan, with up to three masked samples."""
    samples = [
        " ".join(part for part in (f"row {i.row}", i.reason, i.masked) if part)
        for i in scan.issues[:MAX_ROW_SAMPLES]
    ]
    return RowStats(
        read=scan.rows_read,
        valid=scan.valid,
        invalid=scan.invalid_count,
        invalid_by_reason=dict(sorted(scan.invalid.items())),
        duplicates=scan.duplicates,
        conflicting_duplicates=scan.conflicting_duplicates,
        samples=samples,
    )


def attribute_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Attribute-level changes between two settings records: 'columns.phone' -> {before, after}."""
    from deepdiff import DeepDiff  # imported here: it costs ~0.3 s and most plans never need it

    result: dict[str, dict[str, Any]] = {}
    tree = DeepDiff(dict(before), dict(after), view="tree")
    for levels in tree.values():
        for level in levels:
            path = ".".join(str(p) for p in level.path(output_format="list"))
            result[path] = {"before": _plain(level.t1), "after": _plain(level.t2)}
    return dict(sorted(result.items()))


def _plain(value: Any) -> Any:
    """A deepdiff side as JSON data (deepdiff marks an absent side with NotPresent)."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return None


def _order(reasons: Iterable[str]) -> list[str]:
    unique = set(reasons)
    return [r for r in REASON_ORDER if r in unique] + sorted(unique - set(REASON_ORDER))


def _can_delete(provider: str) -> bool:
    """Whether `provider` can delete audiences (an unregistered one is assumed to)."""
    cls = registry.find(provider)
    return cls is None or cls.capabilities.delete


def _replace_strategy(old_provider: str) -> str:
    return STRATEGY_CREATE_THEN_DELETE if _can_delete(old_provider) else STRATEGY_CREATE_THEN_FORGET


def _abandon_warning(entry: AudienceState) -> str:
    return (
        f"{registry.title(entry.provider)} cannot delete: audience {entry.provider_id} ({entry.name!r}) "
        "stays there, unmanaged, after the new one is created"
    )


def _create(key: str, want: Desired) -> Change:
    count = want.scan.member_count
    return Change(
        address=key,
        provider=want.spec.provider,
        action=Action.CREATE,
        reasons=["added_to_config"],
        strategy=STRATEGY_CREATE,
        members=MemberCounts(before=0, after=count, added=count),
        rows=row_stats(want.scan),
        name_after=want.spec.name,
        source=want.spec.source.display,
    )


def _unchanged(key: str, found: Unchanged, entry: AudienceState) -> Change:
    """The no-op of an audience whose source was not read: counts as recorded at its last apply."""
    spec, rows = found.spec, found.rows
    return Change(
        address=key,
        provider=spec.provider,
        action=Action.NOOP,
        members=MemberCounts(before=entry.member_count, after=found.member_count),
        rows=RowStats(
            read=int(rows.get("read", 0)),
            valid=int(rows.get("valid", 0)),
            invalid=int(rows.get("invalid", 0)),
            invalid_by_reason=dict(sorted((rows.get("invalid_by_reason") or {}).items())),
            duplicates=int(rows.get("duplicates", 0)),
            conflicting_duplicates=int(rows.get("conflicting_duplicates", 0)),
            note=UNCHANGED_NOTE,
        ),
        provider_id=entry.provider_id,
        name_before=entry.name,
        name_after=spec.name,
        source=spec.source.display,
    )


def _removed(key: str, entry: AudienceState) -> Change:
    members = MemberCounts(before=entry.member_count, after=0, removed=entry.member_count)
    change = Change(
        address=key,
        provider=entry.provider,
        action=Action.DELETE,
        reasons=["removed_from_config"],
        strategy=STRATEGY_DELETE,
        members=members,
        provider_id=entry.provider_id,
        name_before=entry.name,
    )
    if not _can_delete(entry.provider):
        change.action = Action.FORGET
        change.strategy = STRATEGY_FORGET
        change.warnings.append(
            f"{registry.title(entry.provider)} cannot delete: audience {entry.provider_id} stays there, "
            "unmanaged"
        )
    return change


def _existing(
    key: str,
    want: Desired,
    entry: AudienceState,
    load_members: Callable[[AudienceState], MemberSet],
    replace_requested: bool,
) -> Change:
    spec, scan = want.spec, want.scan
    cls = registry.get(spec.provider)
    change = Change(
        address=key,
        provider=spec.provider,
        action=Action.NOOP,
        members=MemberCounts(before=entry.member_count, after=scan.member_count),
        rows=row_stats(scan),
        provider_id=entry.provider_id,
        name_before=entry.name,
        name_after=spec.name,
        source=spec.source.display,
    )
    members_differ = scan.members.digest() != entry.member_digest
    settings_differ = settings_digest(spec, want.settings) != entry.settings_digest
    if not (members_differ or settings_differ or replace_requested):
        return change

    member_reasons: set[str] = set()
    if members_differ:
        before = load_members(entry)
        added, removed, changed = scan.members.diff(before)
        change.members = MemberCounts(len(before), scan.member_count, added, removed, changed)
        member_reasons = _member_reasons(cls, added, removed, changed)
    reasons = _settings_reasons(change, want, entry) if settings_differ else set()

    all_reasons = reasons | member_reasons | ({"replace_requested"} if replace_requested else set())
    change.reasons = _order(all_reasons)
    if replace_requested or _needs_replace(cls, reasons, member_reasons):
        change.action = Action.REPLACE
        change.strategy = _replace_strategy(entry.provider)
        if change.strategy == STRATEGY_CREATE_THEN_FORGET:
            change.warnings.append(_abandon_warning(entry))
    elif all_reasons:
        change.action = Action.UPDATE
        change.strategy = _update_strategy(cls, member_reasons, reasons)
    # else: the member digest moved but the sets are equal (e.g. re-ordered storage): a no-op
    return change


def _member_reasons(cls: type[Provider], added: int, removed: int, changed: int) -> set[str]:
    """Why the members changed; an append-only provider says which kind forces a replacement."""
    if not (added or removed or changed):
        return set()
    if cls.capabilities.members is MemberStrategy.APPEND_OR_RECREATE and (removed or changed):
        return {reason for reason, n in (("members_removed", removed), ("attributes_changed", changed)) if n}
    return {"members_changed"}


def _settings_reasons(change: Change, want: Desired, entry: AudienceState) -> set[str]:
    """Why the settings digest moved; records the attribute-level changes on `change`."""
    spec = want.spec
    reasons: set[str] = set()
    old_record = entry.extra.get("settings")
    if isinstance(old_record, dict):
        changes = attribute_changes(old_record, settings_record(spec, want.settings))
        change.attribute_changes = changes
        reasons |= {_RECORD_REASONS.get(path.split(".")[0], "settings_changed") for path in changes}
    if entry.provider != spec.provider:
        reasons.add("provider_changed")
        change.attribute_changes.setdefault("provider", {"before": entry.provider, "after": spec.provider})
    if entry.name != spec.name:
        reasons.add("name_changed")
        change.attribute_changes.setdefault("name", {"before": entry.name, "after": spec.name})
    return reasons or {"settings_changed"}  # digest moved but no record explains it (older state)


def _needs_replace(cls: type[Provider], reasons: set[str], member_reasons: set[str]) -> bool:
    """Whether the provider can only carry these changes out by creating the audience anew."""
    members = cls.capabilities.members
    whole_list = members.uploads_whole_list
    if whole_list and not cls.settings and reasons == {"settings_changed"}:
        return False  # no audience settings at this provider: the whole-list upload carries the file
    return bool(
        reasons & {"provider_changed", "settings_changed", "description_changed"}
        or ("name_changed" in reasons and not cls.capabilities.rename)
        or ("columns_changed" in reasons and not whole_list)
        or (
            members is MemberStrategy.APPEND_OR_RECREATE
            and member_reasons & {"members_removed", "attributes_changed"}
        )
    )


# The update strategy of each member strategy.
_UPDATES: dict[MemberStrategy, str] = {
    MemberStrategy.PUT_REPLACE: STRATEGY_PUT_REPLACE,
    MemberStrategy.ADD_REMOVE: STRATEGY_ADD_REMOVE,
    MemberStrategy.APPEND_OR_RECREATE: STRATEGY_APPEND,
}


def update_strategy(cls: type[Provider]) -> str | None:
    """The strategy that re-syncs a whole audience of `cls` from its source in place, if any."""
    members = cls.capabilities.members
    return _UPDATES[members] if members.resyncs else None


def _update_strategy(cls: type[Provider], member_reasons: set[str], reasons: set[str]) -> str:
    """The strategy of an in-place update: a rename alone is a patch_rename (the provider renames,
    or it would be a replacement); otherwise the provider's member strategy."""
    strategy = _UPDATES[cls.capabilities.members]
    if not member_reasons and (strategy == STRATEGY_APPEND or reasons == {"name_changed"}):
        return STRATEGY_PATCH_RENAME
    return strategy


def _intent_warning(intent: Intent) -> str:
    target = f" of audience {intent.provider_id}" if intent.provider_id else ""
    return (
        f"an earlier apply was interrupted during {intent.operation}{target} at {intent.provider} "
        f"(intent {intent.id}, started {intent.started_at}); apply will reconcile it first"
    )


def diff(
    desired: Mapping[str, Desired],
    state: State,
    load_members: Callable[[AudienceState], MemberSet],
    *,
    keys: Collection[str] | None = None,
    replace: Collection[str] = (),
    unchanged: Mapping[str, Unchanged] | None = None,
) -> tuple[list[Change], list[str]]:
    """(changes sorted by key, plan-wide warnings) for `keys` (default: every key in either side).

    `load_members(entry)` returns the fingerprints recorded for a state entry; it is called only
    for audiences whose member digest moved. `unchanged` audiences (declared, not in `desired`:
    their sources were not read) are no-ops planned from their state entries."""
    unchanged = unchanged or {}
    planned = sorted(set(desired) | set(state.audiences)) if keys is None else sorted(set(keys))
    changes: list[Change] = []
    for key in planned:
        want, entry = desired.get(key), state.audiences.get(key)
        if want is None and entry is not None and key in unchanged:
            change = _unchanged(key, unchanged[key], entry)
        elif want is not None and entry is None:
            change = _create(key, want)
            if key in replace:
                change.warnings.append("--replace has nothing to replace: the audience is new")
        elif want is not None and entry is not None:
            change = _existing(key, want, entry, load_members, key in replace)
        elif entry is not None:
            change = _removed(key, entry)
        else:
            continue
        changes.append(change)
    by_key = {c.address: c for c in changes}
    plan_warnings: list[str] = []
    for intent in state.intents:
        target = by_key.get(intent.key)
        if target is not None:
            target.warnings.append(_intent_warning(intent))
        else:
            plan_warnings.append(f"{intent.key}: {_intent_warning(intent)}")
    return changes, plan_warnings
