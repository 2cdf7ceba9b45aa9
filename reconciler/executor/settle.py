"""Settle the intents an interrupted run left in state, by reading the providers. Runs first in
every apply, before anything is planned or carried out.

- create: the call may have landed. Look the name up at the provider and adopt an audience that
  is neither known to state nor listed as pre-existing in the intent; never create twice. If none
  is found, the create did not happen: drop the intent. When the create was a replacement, the old
  audience is then deleted (or forgotten where the provider cannot delete).
- replace_members / add_members / remove_members / rename: idempotent. Check the audience still
  exists and drop the intent; state still holds the previous members, so the plan redoes the sync.
- delete: read the audience. Gone: done (drop it from state if state still points at it). Still
  there: finish the deletion when it was the old half of a replacement, else let the plan redo it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from reconciler.errors import NotFoundError, ReconcilerError
from reconciler.executor.journal import IntentSpec, Journal
from reconciler.executor.pool import ProviderPool
from reconciler.providers.base import Provider, RemoteAudience
from reconciler.sources.members import SourceScan
from reconciler.state.store import AudienceState, Intent, utcnow_iso

# How settling waits between reads (replaceable in tests).
sleep: Callable[[float], None] = time.sleep


@dataclass
class SettleResult:
    """What settling did: one line per intent, the keys whose state entry changed, and failures."""

    lines: list[str] = field(default_factory=list)
    changed_keys: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)  # keys whose interrupted call had landed or was finished
    failed: dict[str, str] = field(default_factory=dict)  # key -> reason (its changes must not run)


def settle_pending(
    journal: Journal,
    pool: ProviderPool,
    scans: Mapping[str, SourceScan],
    *,
    keys: Collection[str] | None = None,
) -> SettleResult:
    """Settle every pending intent in `journal` (of `keys` only, when given), oldest first. A key
    whose intent cannot be settled (provider unreachable) is reported in `failed` and must not be
    touched by this run."""
    settler = _Settler(journal, pool, scans)
    result = settler.result
    queue = [i for i in journal.pending() if keys is None or i.key in keys]
    while queue:
        intent = queue.pop(0)
        if intent.key in result.failed:
            continue
        try:
            follow = settler.settle(intent)
        except ReconcilerError as exc:
            result.failed[intent.key] = f"could not settle the interrupted {intent.operation}: {exc.message}"
            continue
        queue[:0] = follow
    return result


def wait_usable(provider: Provider, audience_id: str, *, attempts: int = 8) -> RemoteAudience | None:
    """Read an audience until it is usable again (an interrupted Whop append leaves it syncing, and
    the redo would be refused meanwhile): back-off 0.25 s doubling to 8 s. None when it is gone."""
    delay = 0.25
    remote = provider.read(audience_id)
    for _ in range(attempts - 1):
        if remote is None or remote.usable or remote.status == "failed":
            break
        sleep(delay)
        delay = min(delay * 2, 8.0)
        remote = provider.read(audience_id)
    return remote


@dataclass
class _Settler:
    """Settles intents one at a time against the providers, recording what it did in `result`."""

    journal: Journal
    pool: ProviderPool
    scans: Mapping[str, SourceScan]
    result: SettleResult = field(default_factory=SettleResult)

    def settle(self, intent: Intent) -> list[Intent]:
        """Settle one intent; returns the follow-up intents it recorded (to settle next)."""
        if intent.operation == "create":
            return self._create(intent)
        if intent.operation == "delete":
            self._delete(intent)
            return []
        provider = self.pool.get(intent.provider)
        if intent.provider_id and wait_usable(provider, intent.provider_id) is None:
            self._say(
                intent,
                f"interrupted {intent.operation}: audience {intent.provider_id} no longer exists "
                f"at {intent.provider}",
            )
        else:
            self._say(intent, f"interrupted {intent.operation} on {intent.provider_id}: will be redone")
        self.journal.drop(intent)
        return []

    def _say(self, intent: Intent, text: str) -> None:
        self.result.lines.append(f"{intent.key}: {text}")

    def _create(self, intent: Intent) -> list[Intent]:
        provider = self.pool.get(intent.provider)
        skip = set(intent.details.get("preexisting") or []) | self.journal.known_ids(intent.provider)
        found = [a for a in provider.find_by_name(intent.name) if a.id not in skip]
        if not found:
            self.journal.drop(intent)
            self._say(intent, f"interrupted create of {intent.name!r} did not land; nothing to adopt")
            return []
        remote, extra = found[0], found[1:]
        if remote.status == "failed":
            with contextlib.suppress(NotFoundError):
                provider.delete(remote.id)
            self.journal.drop(intent)
            self._say(intent, f"interrupted create left a failed audience {remote.id}; deleted it")
            return []
        details = intent.details
        scan = self.scans.get(intent.key)
        members = scan.members if scan is not None and scan.sha256 == details.get("source_sha256") else None
        entry = AudienceState(
            key=intent.key,
            provider=intent.provider,
            provider_id=remote.id,
            name=intent.name,
            settings_digest=str(details.get("settings_digest", "")),
            member_digest=str(details.get("member_digest", "")) if members is not None else "",
            member_count=int(details.get("member_count", 0)) if members is not None else 0,
            source_sha256=str(details.get("source_sha256", "")),
            applied_at=utcnow_iso(),
            extra=dict(details.get("extra") or {}),
            normaliser_digest=str(details.get("normaliser_digest", "")) if members is not None else "",
            rows=dict(details.get("rows") or {}) if members is not None else {},
        )
        follow: list[IntentSpec] = []
        old = details.get("replaces")
        if old:
            gone_from = str(details.get("replaces_provider") or intent.provider)
            follow.append(IntentSpec.delete_replaced(intent.key, gone_from, intent.name, str(old), remote.id))
        added = self.journal.commit(intent, intent.key, entry, members=members, follow_ups=follow)
        self.result.changed_keys.add(intent.key)
        self.result.completed.add(intent.key)
        line = f"adopted {remote.id} ({intent.name!r}), created by the interrupted run"
        if extra:
            line += f"; also named so and not managed: {', '.join(a.id for a in extra)}"
        self._say(intent, line)
        return added

    def _delete(self, intent: Intent) -> None:
        provider = self.pool.get(intent.provider)
        audience_id = intent.provider_id or ""
        replaced_by = intent.details.get("replaced_by")
        exists = provider.read(audience_id) is not None
        if exists and replaced_by:
            with contextlib.suppress(NotFoundError):
                provider.delete(audience_id)
            exists = False
            self.result.completed.add(intent.key)
            self._say(intent, f"deleted {audience_id}, replaced by {replaced_by} in the interrupted run")
        entry = self.journal.entry(intent.key)
        if not exists and entry is not None and entry.provider_id == audience_id:
            self.journal.commit(intent, intent.key, None)
            self.result.changed_keys.add(intent.key)
            self.result.completed.add(intent.key)
            self._say(intent, f"interrupted delete of {audience_id} had landed; dropped from state")
        else:
            self.journal.drop(intent)
            if exists:
                self._say(intent, f"interrupted delete of {audience_id} did not land; will be redone")
            elif not replaced_by:
                self._say(intent, f"interrupted delete of {audience_id} had landed")
