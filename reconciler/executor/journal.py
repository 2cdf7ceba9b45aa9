"""The run's journal: every state change of an apply goes through here.

One in-process lock serialises the writes of all worker threads. Each method mutates the state and
saves it atomically before returning, so the state on disk is always a consistent snapshot:
an intent is on disk before its provider call starts, and its result lands together with the
intent's settlement.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.sources.members import MemberSet
from reconciler.state.backend import StateBackend
from reconciler.state.store import AudienceState, Intent, State


@dataclass(frozen=True)
class IntentSpec:
    """An intent to record: what a provider call is about to do."""

    key: str
    provider: str
    operation: str  # create | replace_members | add_members | remove_members | rename | delete
    name: str
    provider_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def delete_replaced(cls, key: str, provider: str, name: str, old_id: str, new_id: str) -> IntentSpec:
        """The intent to delete the old audience of a replacement, once the new one is recorded."""
        return cls(key, provider, "delete", name, provider_id=old_id, details={"replaced_by": new_id})


class Journal:
    """Thread-safe owner of the state during a run; saves after every change."""

    def __init__(self, store: StateBackend, state: State) -> None:
        self.store = store
        self._state = state
        self._lock = threading.Lock()

    @property
    def state(self) -> State:
        """The latest saved state (do not mutate it outside the journal)."""
        return self._state

    def entry(self, key: str) -> AudienceState | None:
        """The recorded audience of `key`, if any."""
        with self._lock:
            return self._state.audiences.get(key)

    def known_ids(self, provider: str) -> set[str]:
        """Every provider id the state knows for `provider` (audiences and pending intents)."""
        with self._lock:
            ids = {e.provider_id for e in self._state.audiences.values() if e.provider == provider}
            ids |= {i.provider_id for i in self._state.intents if i.provider == provider and i.provider_id}
            return ids

    def pending(self) -> list[Intent]:
        """The intents not yet settled, oldest first."""
        with self._lock:
            return self._state.pending_intents

    def begin(self, spec: IntentSpec) -> Intent:
        """Record an intent durably before its call; the intent's id doubles as idempotency key."""
        with self._lock:
            intent = self._add(spec)
            self._save(None)
        return intent

    def commit(
        self,
        intent: Intent | None,
        key: str,
        entry: AudienceState | None,
        *,
        members: MemberSet | None = None,
        follow_ups: Iterable[IntentSpec] = (),
    ) -> list[Intent]:
        """Record the result of a call in one atomic save: set (or, with None, remove) the audience
        entry of `key`, settle `intent`, and record `follow_ups` (intents of the next calls)."""
        with self._lock:
            if entry is None:
                self._state.audiences.pop(key, None)
            else:
                self._state.audiences[key] = entry
            if intent is not None:
                self._remove_intent(intent.id)
            added = [self._add(spec) for spec in follow_ups]
            self._save({key: members} if members is not None and entry is not None else None)
        return added

    def record(self, entries: Mapping[str, AudienceState]) -> None:
        """Replace the audience entries `entries` (same members) in one save; nothing when empty."""
        if not entries:
            return
        with self._lock:
            self._state.audiences.update(entries)
            self._save(None)

    def drop(self, intent: Intent) -> None:
        """Settle `intent` without changing any audience."""
        with self._lock:
            if self._remove_intent(intent.id):
                self._save(None)

    def _add(self, spec: IntentSpec) -> Intent:
        return self._state.add_intent(
            spec.key,
            spec.provider,
            spec.operation,
            spec.name,
            provider_id=spec.provider_id,
            details=spec.details,
        )

    def _remove_intent(self, intent_id: str) -> bool:
        try:
            self._state.settle_intent(intent_id)
        except KeyError:
            return False
        return True

    def _save(self, members: dict[str, MemberSet] | None) -> None:
        self._state = self.store.save(self._state, members)
