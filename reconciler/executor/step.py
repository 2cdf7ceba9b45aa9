"""One change in the making: the `Step` a strategy works on, and the helpers strategies share
(recording an intent around a call, rendering uploads, creating an audience without ever creating
it twice, the state entry a successful step records)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config.model import AudienceSpec
from reconciler.errors import ProviderError, ReconcilerError
from reconciler.executor.journal import IntentSpec, Journal
from reconciler.planning.plan import Change
from reconciler.planning.records import (
    applied_entry,
    applied_extra,
    normaliser_digest,
    recorded_rows,
    settings_digest,
)
from reconciler.providers.base import Progress, Provider, RemoteAudience
from reconciler.sources import (
    Member,
    MemberSet,
    SourceScan,
    UploadFile,
    fingerprint,
    iter_members,
    render_upload,
)
from reconciler.state.store import AudienceState, Intent


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
    return applied_entry(
        spec,
        step.provider_settings,
        provider_id,
        scan.members,
        source_sha256=scan.sha256,
        normaliser=normaliser_digest(spec, step.key),
        rows=recorded_rows(scan),
    )


def planned_members(step: Step) -> Iterator[Member]:
    """The audience's members from its source, for an upload or an in-place sync.

    A query's rows can change between the plan and this read: once a query source's members are
    all read, their fingerprints must equal the planned member set, else StepFailed (raised
    before any provider call, as the caller consumes everything first)."""
    spec, scan = step.require_spec()
    if not spec.is_query:
        yield from iter_members(spec)
        return
    ids: list[int] = []
    attrs: list[int] = []
    for member in iter_members(spec):
        identity, details = fingerprint(member, step.key)
        ids.append(identity)
        attrs.append(details)
        yield member
    if MemberSet(ids, attrs).digest() != scan.members.digest():
        raise StepFailed(
            f"{step.address}: the rows of its query ({spec.source.display}) changed while applying; "
            "nothing was sent for this audience: run `reconciler plan` (or apply) again"
        )


def render(step: Step, members: Iterable[Member]) -> UploadFile:
    """Render the provider's upload file for `members` into the run's work directory."""
    spec, _ = step.require_spec()
    dest = step.workdir / f"{uuid.uuid4().hex}.csv"
    return render_upload(spec, members, dest)


def discard(upload: UploadFile) -> None:
    upload.path.unlink(missing_ok=True)


def check_usable(step: Step, remote: RemoteAudience, what: str) -> None:
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


def call_recorded(step: Step, intent: Intent, call: Callable[[], Any]) -> Any:
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
    key: bytes,
    preexisting: list[str],
    replaces: AudienceState | None = None,
) -> dict[str, Any]:
    """What a create intent records: enough to adopt the audience if the answer is lost (the
    same-named audiences that existed before, what the entry would hold, what it replaces).
    `key` is the fingerprint key (for the normaliser identity the entry records)."""
    return {
        "preexisting": preexisting,
        "replaces": replaces.provider_id if replaces else None,
        "replaces_provider": replaces.provider if replaces else None,
        "settings_digest": settings_digest(spec, settings),
        "member_digest": scan.members.digest(),
        "member_count": len(scan.members),
        "source_sha256": scan.sha256,
        "extra": applied_extra(spec, settings),
        "normaliser_digest": normaliser_digest(spec, key),
        "rows": recorded_rows(scan),
    }


def create_remote(step: Step, *, replaces: AudienceState | None) -> tuple[Intent, RemoteAudience]:
    """Upload every member and create the audience, its intent saved first. Never creates twice:
    the intent lists the same-named audiences that existed before, so settling can tell ours."""
    spec, scan = step.require_spec()
    upload = render(step, planned_members(step))
    try:
        preexisting = sorted(a.id for a in step.provider.find_by_name(spec.name))
        details = create_details(
            spec, scan, step.provider_settings, key=step.key, preexisting=preexisting, replaces=replaces
        )
        intent = step.journal.begin(IntentSpec(spec.key, spec.provider, "create", spec.name, details=details))
        remote: RemoteAudience = call_recorded(
            step,
            intent,
            lambda: step.provider.create(spec, upload, idempotency_key=intent.id, progress=step.progress),
        )
    finally:
        discard(upload)
    if remote.status == "failed":
        remove_failed(step, intent, remote)
    return intent, remote


def remove_failed(step: Step, intent: Intent, remote: RemoteAudience) -> None:
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
