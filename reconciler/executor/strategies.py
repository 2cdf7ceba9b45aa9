"""One function per strategy: carry out one planned change through its provider.

Every mutating provider call is bracketed by the journal: an intent is saved before the call and
the result is committed (audience entry + intent settled, atomically) right after. A strategy
returns a short description of what it did and appends warnings to `step.warnings`; it raises a
`ReconcilerError` when the change failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from reconciler.config.model import MAPPABLE_FIELDS as MEMBER_FIELDS
from reconciler.config.model import AudienceSpec
from reconciler.errors import NotFoundError, ReconcilerError
from reconciler.executor.journal import IntentSpec
from reconciler.executor.step import (
    Step,
    StepFailed,
    call_recorded,
    check_usable,
    create_remote,
    definitive,
    discard,
    new_entry,
    planned_members,
    render,
)
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
)
from reconciler.providers.base import RemoteAudience
from reconciler.sources import Member, fingerprint, upload_headers
from reconciler.state.store import AudienceState, Intent


def do_create(step: Step) -> str:
    """Create the audience from its full source."""
    intent, remote = create_remote(step, replaces=None)
    check_usable(step, remote, "create")
    step.journal.commit(
        intent, step.address, new_entry(step, remote.id), members=step.scan.members if step.scan else None
    )
    step.provider_id = remote.id
    return f"created {remote.id}"


def do_create_then_delete(step: Step) -> str:
    """Create a new audience, record it, then delete the old one (or forget it where impossible)."""
    entry = step.entry()
    old = entry.provider_id
    can_delete = step.old_provider.capabilities.delete and step.change.strategy != STRATEGY_CREATE_THEN_FORGET
    intent, remote = create_remote(step, replaces=entry if can_delete else None)
    check_usable(step, remote, "create")
    spec, scan = step.require_spec()
    step.provider_id = remote.id
    if not can_delete:
        step.journal.commit(intent, step.address, new_entry(step, remote.id), members=scan.members)
        step.warnings.append(f"{entry.provider} cannot delete: old audience {old} stays there, unmanaged")
        return f"created {remote.id}; forgot {old}"
    follow = IntentSpec.delete_replaced(spec.key, entry.provider, entry.name, old, remote.id)
    (pending_delete,) = step.journal.commit(
        intent, step.address, new_entry(step, remote.id), members=scan.members, follow_ups=[follow]
    )
    try:
        step.old_provider.delete(old)
    except NotFoundError:
        step.warnings.append(f"old audience {old} was already gone")
    except ReconcilerError as exc:
        if not definitive(exc):
            raise StepFailed(
                f"{step.address}: created {remote.id} and recorded it; deleting the old audience {old} "
                f"failed ({exc.message}); the next apply retries it"
            ) from exc
        step.journal.drop(pending_delete)
        raise StepFailed(
            f"{step.address}: created {remote.id} and recorded it; the old audience {old} could not "
            f"be deleted ({exc.message}): it stays at {entry.provider}, unmanaged"
        ) from exc
    step.journal.drop(pending_delete)
    return f"created {remote.id}; deleted {old}"


def do_put_replace(step: Step) -> str:
    """Replace all members with the full source (CommBox PUT)."""
    _, scan = step.require_spec()
    entry = step.entry()
    upload = render(step, planned_members(step))
    try:
        intent = _begin(step, entry, "replace_members")
        call_recorded(
            step,
            intent,
            lambda: step.provider.replace_members(entry.provider_id, upload, progress=step.progress),
        )
    finally:
        discard(upload)
    _rename_if_needed(step, entry, commit_intent=intent)
    return f"replaced members of {entry.provider_id} ({len(scan.members):,} members)"


def _projector(spec: AudienceSpec) -> Callable[[Member], Member]:
    """Keep only the fields the provider holds (those in its upload file), so a member read back
    compares equal to the same member from the source."""
    held = set(upload_headers(spec))
    dropped = {f: None for f in MEMBER_FIELDS if f not in held}
    return lambda member: dataclasses.replace(member, **dropped) if dropped else member


def do_add_remove(step: Step) -> str:
    """Sync members in place (Smallest): delete those not desired or changed, add those missing."""
    spec, _ = step.require_spec()
    entry = step.entry()
    project = _projector(spec)
    desired: dict[int, tuple[int, Member]] = {}
    for member in planned_members(step):
        identity, attrs = fingerprint(project(member), step.key)
        desired.setdefault(identity, (attrs, member))
    keep: set[int] = set()
    remove_ids: list[str] = []
    for member_id, member in step.provider.iter_members(entry.provider_id, spec):
        identity, attrs = fingerprint(project(member), step.key)
        wanted = desired.get(identity)
        if wanted is not None and wanted[0] == attrs and identity not in keep:
            keep.add(identity)
        else:
            remove_ids.append(member_id)
    to_add = [member for identity, (_, member) in desired.items() if identity not in keep]
    last: Intent | None = None
    if remove_ids:
        last = _begin(step, entry, "remove_members", details={"count": len(remove_ids)})
        call_recorded(step, last, lambda: step.provider.remove_members(entry.provider_id, remove_ids))
    if to_add:
        last = _begin(step, entry, "add_members", details={"count": len(to_add)}, after=last)
        call_recorded(step, last, lambda: step.provider.add_members(entry.provider_id, spec, to_add))
    _rename_if_needed(step, entry, commit_intent=last)
    return f"removed {len(remove_ids):,} and added {len(to_add):,} members of {entry.provider_id}"


def do_append(step: Step) -> str:
    """Append only the new members (Whop add_people)."""
    spec, scan = step.require_spec()
    entry = step.entry()
    before = step.journal.store.members(entry)
    new_ids = set(scan.members.added_ids(before).tolist())
    last: Intent | None = None
    count = 0
    if new_ids:
        upload = render(step, (m for m in planned_members(step) if fingerprint(m, step.key)[0] in new_ids))
        count = upload.rows
        try:
            intent = _begin(step, entry, "add_members", details={"count": count})
            remote: RemoteAudience = call_recorded(
                step,
                intent,
                lambda: step.provider.append_members(
                    entry.provider_id, spec, upload, idempotency_key=intent.id, progress=step.progress
                ),
            )
        finally:
            discard(upload)
        check_usable(step, remote, "append")
        last = intent
    _rename_if_needed(step, entry, commit_intent=last)
    return f"appended {count:,} members to {entry.provider_id}"


def do_patch_rename(step: Step) -> str:
    """Rename in place (Whop PATCH)."""
    entry = step.entry()
    _rename_if_needed(step, entry, commit_intent=None)
    return f"renamed {entry.provider_id}"


def _rename_if_needed(step: Step, entry: AudienceState, *, commit_intent: Intent | None) -> None:
    """Rename in place when the name changed and the provider can; then commit the new entry."""
    spec, scan = step.require_spec()
    result = new_entry(step, entry.provider_id)
    if entry.name != spec.name:
        if step.provider.capabilities.rename:
            commit_intent = _begin(
                step, entry, "rename", name=spec.name, details={"from": entry.name}, after=commit_intent
            )
            call_recorded(step, commit_intent, lambda: step.provider.rename(entry.provider_id, spec.name))
        else:
            step.warnings.append(
                f"{step.change.provider} cannot rename in place; the name stays {entry.name!r}"
            )
            result.name = entry.name
    step.journal.commit(commit_intent, step.address, result, members=scan.members)
    step.provider_id = entry.provider_id


def _begin(
    step: Step,
    entry: AudienceState,
    operation: str,
    *,
    name: str | None = None,
    details: dict[str, object] | None = None,
    after: Intent | None = None,
) -> Intent:
    """Record the intent of a call on the recorded audience, settling `after` (the previous call
    of this step, which succeeded) first."""
    spec, _ = step.require_spec()
    if after is not None:
        step.journal.drop(after)
    return step.journal.begin(
        IntentSpec(
            spec.key,
            spec.provider,
            operation,
            name or entry.name,
            provider_id=entry.provider_id,
            details=details or {},
        )
    )


def do_delete(step: Step) -> str:
    """Delete the audience at the provider and drop it from state."""
    entry = step.entry()
    intent = step.journal.begin(
        IntentSpec(step.address, entry.provider, "delete", entry.name, provider_id=entry.provider_id)
    )
    try:
        call_recorded(step, intent, lambda: step.provider.delete(entry.provider_id))
    except NotFoundError:
        step.warnings.append(f"audience {entry.provider_id} was already gone")
    step.journal.commit(intent, step.address, None)
    step.provider_id = entry.provider_id
    return f"deleted {entry.provider_id}"


def do_forget(step: Step) -> str:
    """Drop the audience from state, leaving it at the provider (loudly)."""
    entry = step.entry()
    step.journal.commit(None, step.address, None)
    step.provider_id = entry.provider_id
    step.warnings.append(
        f"forgot {entry.provider_id}: it stays at {entry.provider}, no longer managed by reconciler"
    )
    return f"forgot {entry.provider_id}"


STRATEGIES: dict[str, Callable[[Step], str]] = {
    STRATEGY_CREATE: do_create,
    STRATEGY_PUT_REPLACE: do_put_replace,
    STRATEGY_ADD_REMOVE: do_add_remove,
    STRATEGY_APPEND: do_append,
    STRATEGY_PATCH_RENAME: do_patch_rename,
    STRATEGY_CREATE_THEN_DELETE: do_create_then_delete,
    STRATEGY_CREATE_THEN_FORGET: do_create_then_delete,
    STRATEGY_DELETE: do_delete,
    STRATEGY_FORGET: do_forget,
}

_BY_ACTION: dict[Action, Callable[[Step], str]] = {
    Action.CREATE: do_create,
    Action.REPLACE: do_create_then_delete,
    Action.DELETE: do_delete,
    Action.FORGET: do_forget,
}


def strategy_for(change: Change) -> Callable[[Step], str]:
    """The function carrying out `change` (by its strategy, else by its action)."""
    if change.strategy in STRATEGIES:
        return STRATEGIES[change.strategy]
    if change.action in _BY_ACTION:
        return _BY_ACTION[change.action]
    if change.action is Action.UPDATE:
        return do_patch_rename  # settings only: rename where needed and record the new settings
    raise StepFailed(
        f"{change.address}: unknown strategy {change.strategy!r} for action {change.action.value}"
    )
