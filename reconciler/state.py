"""The state store: the only module that writes `state/`.

Layout of a state directory:
  state.json            versioned document: lineage, serial, fingerprint key, audiences, intents
  members/<digest>.fp   member fingerprints of one audience (12 bytes a member; content-addressed)
  history/              the previous N state.json versions
  .lock                 the lock (JSON: id, who, when, operation) while a writing command runs

Public API (other modules rely on these names):
  AudienceState, Intent, State, StateStore(directory).load() / .save(state, member_sets) /
  .members(key_or_state_entry) / .lock(operation) / .force_unlock(lock_id) / .fingerprint_key(state)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.sources.members import MemberSet

STATE_FORMAT_VERSION = 1
FINGERPRINT_KEY_ENV = "RECONCILER_FINGERPRINT_KEY"


@dataclass
class AudienceState:
    """What the tool knows of one managed audience after the last successful apply."""

    key: str
    provider: str
    provider_id: str
    name: str
    settings_digest: str = ""  # digest of name/description/columns/provider settings as applied
    member_digest: str = ""  # MemberSet.digest() of the members as applied
    member_count: int = 0
    source_sha256: str = ""
    applied_at: str = ""  # ISO 8601 UTC
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific, never PII


@dataclass
class Intent:
    """Written before a mutating provider call; removed (settled) once its result is committed."""

    id: str
    key: str
    provider: str
    operation: str  # create | replace_members | add_members | remove_members | rename | delete | ...
    name: str  # display name involved (to find a create whose answer was lost)
    started_at: str
    provider_id: str | None = None  # the audience the call acts on (None for a create)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    lineage: str | None = None  # None until the first write
    serial: int = 0
    fingerprint_key: str = ""  # hex secret created with the state (unless the env var supplies one)
    audiences: dict[str, AudienceState] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)


@dataclass(frozen=True)
class LockInfo:
    id: str
    who: str
    when: str
    operation: str


class StateStore:
    """Load and atomically save the state of one state directory."""

    def __init__(self, directory: Path, *, history: int = 20) -> None:
        self.directory = directory
        self.history = history

    def load(self) -> State:
        """The current state; an empty State (lineage None) when the directory holds none."""
        raise NotImplementedError

    def save(self, state: State, member_sets: dict[str, MemberSet] | None = None) -> State:
        """Atomically write `state` (serial + 1, lineage created if None) and any member sets."""
        raise NotImplementedError

    def members(self, entry: AudienceState) -> MemberSet:
        """The fingerprints recorded for `entry` (empty when none)."""
        raise NotImplementedError

    def fingerprint_key(self, state: State) -> bytes:
        """The fingerprint key: RECONCILER_FINGERPRINT_KEY if set, else the state's own secret."""
        raise NotImplementedError

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        """Hold the state lock for `operation`; LockError naming the holder if already held."""
        raise NotImplementedError
        yield  # pragma: no cover

    def force_unlock(self, lock_id: str) -> None:
        """Release a lock left by a killed run; LockError if `lock_id` does not match."""
        raise NotImplementedError
