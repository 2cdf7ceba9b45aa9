"""The state backend seam: what commands and the executor need from wherever the state lives.

Two implementations: `reconciler.state.store.StateStore` (a local directory, the default) and
`reconciler.state.pg.PostgresStore` (a workspace in a PostgreSQL database). Callers open one with
`reconciler.state.settings.open_backend` and never look at which it is.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.sources.members import MemberSet
from reconciler.state.data import AudienceState, State
from reconciler.state.lock import LockInfo, LockStatus

HISTORY_VERSIONS = 20  # previous versions of the state document every backend keeps


@dataclass(frozen=True)
class HistoryVersion:
    """One previous version of the state document, exactly as it was stored."""

    serial: int
    lineage: str
    document: bytes  # the state.json bytes
    saved_at: str  # ISO 8601 UTC, when it was replaced by a newer version ("" when unknown)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.document).hexdigest()


@dataclass
class Snapshot:
    """A whole state: the current document, its kept history (oldest first) and every member set
    either refers to (digest -> `MemberSet.to_bytes()`). What `state migrate` copies."""

    document: bytes | None
    history: list[HistoryVersion] = field(default_factory=list)
    members: dict[str, bytes] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.document is None and not self.history


class StateBackend(Protocol):
    """Load, save and lock one state. Every method raises StateError (never a driver error)."""

    @property
    def location(self) -> str:
        """Where the state lives, for messages (never a password)."""
        ...

    def exists(self) -> bool:
        """True when a state has been written here."""
        ...

    def load(self) -> State:
        """The current state; an empty State (lineage None, serial 0) when there is none."""
        ...

    def save(self, state: State, member_sets: dict[str, MemberSet] | None = None) -> State:
        """Write `state` (compare-and-swap on its lineage and serial) with the given member sets."""
        ...

    def members(self, entry: AudienceState) -> MemberSet:
        """The fingerprints recorded for `entry` (empty when none)."""
        ...

    def fingerprint_key(self, state: State) -> bytes:
        """The fingerprint key of `state` (see `reconciler.state.keys`)."""
        ...

    def lock(self, operation: str, *, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        """Hold the state lock for `operation`, waiting up to `timeout` seconds; LockError naming
        the holder when it stays held."""
        ...

    def lock_status(self) -> LockStatus | None:
        """The lock currently held (or left), or None."""
        ...

    def force_unlock(self, lock_id: str, *, terminate: bool = False) -> LockStatus:
        """Release the lock `lock_id`; with `terminate`, end a live holder's session if needed."""
        ...

    def history(self) -> list[HistoryVersion]:
        """The kept previous versions, oldest first."""
        ...

    def snapshot(self) -> Snapshot:
        """The whole state, for copying elsewhere."""
        ...

    def restore(self, snapshot: Snapshot) -> None:
        """Replace whatever state is here by `snapshot` (the caller holds the lock)."""
        ...

    def close(self) -> None:
        """Release connections and other resources."""
        ...
