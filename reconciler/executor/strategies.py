"""One function per strategy: carry out one planned change through its provider.

Every mutating provider call is bracketed by the journal: an intent is saved before the call and
the result is committed (audience entry + intent settled, atomically) right after. A step returns
a short description of what it did and appends warnings to `step.warnings`; it raises a
`ReconcilerError` when the change failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reconciler.diff import applied_extra, settings_digest
from reconciler.errors import NotFoundError, ProviderError, ReconcilerError
from reconciler.executor.journal import IntentSpec, Journal, utc_now
from reconciler.model import AudienceSpec
from reconciler.plan import (
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
from reconciler.providers.base import Progress, Provider, RemoteAudience
from reconciler.sources import (
    Member,
    SourceScan,
    UploadFile,
    fingerprint,
    iter_members,
    render_upload,
)
from reconciler.state import AudienceState, Intent


class StepFailed(ReconcilerError):
    """A change could not be completed (the message says what was done and what was not)."""


@dataclass
class Step:
    """Everything one change needs; built by the runner, used by one worker thread."""

    change: Change
    provider: Provider
    old_provider: Provider  # where the recorded audience lives (differs when the provider changed)
    journal: Journal
    key: bytes  # fingerprint key of the state
    workdir: Path  # where upload files are rendered (deleted after the run)
    spec: AudienceSpec | None = None  # None for an audience removed from the declaration
    scan: SourceScan | None = None
    provider_settings: dict[str, Any] = field(default_factory=dict)
    progress: Progress | None = None
    warnings: list[str] = field(default_factory=list)
    provider_id: str | None = None  # the audience id at the end of the step

    @property
    def address(self) -> str:
        return self.change.address

    def require_spec(self) -> tuple[AudienceSpec, SourceScan]:
        if self.spec is None or self.scan is None:
            raise StepFailed(f"{self.address}: not in the declaration or its source was not scanned")
        return self.spec, self.scan

    def entry(self) -> AudienceState:
        entry = self.journal.entry(self.address)
        if entry is None:
            raise StepFailed(f"{self.address}: no audience recorded in state")
        return entry


def definitive(exc: BaseException) -> bool:
    """True when a failed call certainly changed nothing (a 4xx answer other than 408/409/429)."""
    if not isinstance(exc, ProviderError) or exc.status is None:
        return False
    return 400 <= exc.status < 500 and exc.status not in (408, 409, 429)


def new_entry(step: Step, provider_id: str) -> AudienceState:
    """The state entry after `step` made the audience match its declaration."""
    spec, scan = step.require_spec()
    return AudienceState(
        key=spec.key,
        provider=spec.provider,
        provider_id=provider_id,
        name=spec.name,
        settings_digest=settings_digest(spec, step.provider_settings),
        member_digest=scan.members.digest(),
        member_count=len(scan.members),
        source_sha256=scan.sha256,
        applied_at=utc_now(),
        extra=applied_extra(spec, step.provider_settings),
    )


def render(step: Step, members: Iterable[Member]) -> UploadFile:
    """Render the provider's upload file for `members` into the run's work directory."""
    spec, _ = step.require_spec()
    dest = step.workdir / f"{uuid.uuid4().hex}.csv"
    return render_upload(spec, members, dest)


def _discard(upload: UploadFile) -> None:
    upload.path.unlink(missing_ok=True)


def _check_usable(step: Step, remote: RemoteAudience, what: str) -> None:
    """Whop `partial` is a warning carrying the provider's message; `failed` is an error."""
    if remote.status == "partial":
        step.warnings.append(
            f"{what}: {step.change.provider} reports partial: {remote.error_message or ''}".rstrip()
        )
    elif remote.status == "failed":
        raise StepFailed(
            f"{step.address}: {what} failed at {step.change.provider}: "
            f"{remote.error_message or 'no reason given'}"
        )


def _call(step: Step, intent: Intent, call: Callable[[], Any]) -> Any:
    """Run a mutating provider call whose intent is saved; drop the intent if it certainly did nothing."""
    try:
        return call()
    except ReconcilerError as exc:
        if definitive(exc):
            step.journal.drop(intent)
        raise


def create_details(
    spec: AudienceSpec,
    scan: SourceScan,
    settings: dict[str, Any],
    *,
    preexisting: list[str],
    replaces: AudienceState | None = None,
) -> dict[str, Any]:
    """What a create intent records: enough to adopt the audience if the answer is lost (the
    same-named audiences that existed before, what the entry would hold, what it replaces)."""
    return {
        "preexisting": preexisting,
        "replaces": replaces.provider_id if replaces else None,
        "replaces_provider": replaces.provider if replaces else None,
        "settings_digest": settings_digest(spec, settings),
        "member_digest": scan.members.digest(),
        "member_count": len(scan.members),
        "source_sha256": scan.sha256,
        "extra": applied_extra(spec, settings),
    }


def _create_remote(step: Step, *, replaces: AudienceState | None) -> tuple[Intent, RemoteAudience]:
    """Upload every member and create the audience, its intent saved first. Never creates twice:
    the intent lists the same-named audiences that existed before, so settling can tell ours."""
    spec, scan = step.require_spec()
    upload = render(step, iter_members(spec))
    try:
        preexisting = sorted(a.id for a in step.provider.find_by_name(spec.name))
        details = create_details(
            spec, scan, step.provider_settings, preexisting=preexisting, replaces=replaces
        )
        intent = step.journal.begin(IntentSpec(spec.key, spec.provider, "create", spec.name, details=details))
        remote: RemoteAudience = _call(
            step,
            intent,
            lambda: step.provider.create(spec, upload, idempotency_key=intent.id, progress=step.progress),
        )
    finally:
        _discard(upload)
    if remote.status == "failed":
        _remove_failed(step, intent, remote)
    return intent, remote


def _remove_failed(step: Step, intent: Intent, remote: RemoteAudience) -> None:
    """A created audience that failed at the provider: delete it (best effort) and fail the step."""
    note = ""
    try:
        step.provider.delete(remote.id)
    except ReconcilerError as exc:
        note = f"; the failed audience {remote.id} could not be deleted ({exc.message}), delete it by hand"
    step.journal.drop(intent)
    raise StepFailed(
        f"{step.address}: creation failed at {step.change.provider}: "
        f"{remote.error_message or 'no reason given'}{note}"
    )


def do_create(step: Step) -> str:
    """Create the audience from its full source."""
    intent, remote = _create_remote(step, replaces=None)
    _check_usable(step, remote, "create")
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
    intent, remote = _create_remote(step, replaces=entry if can_delete else None)
    _check_usable(step, remote, "create")
    spec, scan = step.require_spec()
    step.provider_id = remote.id
    if not can_delete:
        step.journal.commit(intent, step.address, new_entry(step, remote.id), members=scan.members)
        step.warnings.append(f"{entry.provider} cannot delete: old audience {old} stays there, unmanaged")
        return f"created {remote.id}; forgot {old}"
    follow = IntentSpec(
        spec.key, entry.provider, "delete", entry.name, provider_id=old, details={"replaced_by": remote.id}
    )
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
    spec, scan = step.require_spec()
    entry = step.entry()
    upload = render(step, iter_members(spec))
    try:
        intent = step.journal.begin(
            IntentSpec(spec.key, spec.provider, "replace_members", entry.name, provider_id=entry.provider_id)
        )
        _call(
            step,
            intent,
            lambda: step.provider.replace_members(entry.provider_id, upload, progress=step.progress),
        )
    finally:
        _discard(upload)
    _rename_if_needed(step, entry, commit_intent=intent)
    return f"replaced members of {entry.provider_id} ({len(scan.members):,} members)"


def _fingerprinted(members: Iterable[Member], key: bytes) -> Iterator[tuple[int, int, Member]]:
    for member in members:
        identity, attrs = fingerprint(member, key)
        yield identity, attrs, member


def do_add_remove(step: Step) -> str:
    """Sync members in place (Smallest): delete those not desired or changed, add those missing."""
    spec, scan = step.require_spec()
    entry = step.entry()
    desired = scan.members
    keep: set[int] = set()
    remove_ids: list[str] = []
    for member_id, member in step.provider.iter_members(entry.provider_id, spec):
        identity, attrs = fingerprint(member, step.key)
        pos = int(np.searchsorted(desired.ids, np.uint64(identity)))
        wanted = pos < len(desired) and int(desired.ids[pos]) == identity and int(desired.attrs[pos]) == attrs
        if wanted and identity not in keep:
            keep.add(identity)
        else:
            remove_ids.append(member_id)
    to_add = [m for identity, _, m in _fingerprinted(iter_members(spec), step.key) if identity not in keep]
    last: Intent | None = None
    if remove_ids:
        intent = step.journal.begin(
            IntentSpec(
                spec.key,
                spec.provider,
                "remove_members",
                entry.name,
                provider_id=entry.provider_id,
                details={"count": len(remove_ids)},
            )
        )
        _call(step, intent, lambda: step.provider.remove_members(entry.provider_id, remove_ids))
        last = intent
    if to_add:
        if last is not None:
            step.journal.drop(last)
        intent = step.journal.begin(
            IntentSpec(
                spec.key,
                spec.provider,
                "add_members",
                entry.name,
                provider_id=entry.provider_id,
                details={"count": len(to_add)},
            )
        )
        _call(step, intent, lambda: step.provider.add_members(entry.provider_id, spec, to_add))
        last = intent
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
        upload = render(
            step, (m for ident, _, m in _fingerprinted(iter_members(spec), step.key) if ident in new_ids)
        )
        count = upload.rows
        try:
            intent = step.journal.begin(
                IntentSpec(
                    spec.key,
                    spec.provider,
                    "add_members",
                    entry.name,
                    provider_id=entry.provider_id,
                    details={"count": count},
                )
            )
            remote: RemoteAudience = _call(
                step,
                intent,
                lambda: step.provider.append_members(
                    entry.provider_id, spec, upload, idempotency_key=intent.id, progress=step.progress
                ),
            )
        finally:
            _discard(upload)
        _check_usable(step, remote, "append")
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
    if entry.name != spec.name:
        if not step.provider.capabilities.rename:
            step.warnings.append(
                f"{step.change.provider} cannot rename in place; the name stays {entry.name!r}"
            )
        else:
            if commit_intent is not None:
                step.journal.drop(commit_intent)
            commit_intent = step.journal.begin(
                IntentSpec(
                    spec.key,
                    spec.provider,
                    "rename",
                    spec.name,
                    provider_id=entry.provider_id,
                    details={"from": entry.name},
                )
            )
            intent = commit_intent
            _call(step, intent, lambda: step.provider.rename(entry.provider_id, spec.name))
    result = new_entry(step, entry.provider_id)
    if entry.name != spec.name and not step.provider.capabilities.rename:
        result.name = entry.name
    step.journal.commit(commit_intent, step.address, result, members=scan.members)
    step.provider_id = entry.provider_id


def do_delete(step: Step) -> str:
    """Delete the audience at the provider and drop it from state."""
    entry = step.entry()
    intent = step.journal.begin(
        IntentSpec(step.address, entry.provider, "delete", entry.name, provider_id=entry.provider_id)
    )
    try:
        _call(step, intent, lambda: step.provider.delete(entry.provider_id))
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
