"""Copy a whole state between backends (`reconciler state migrate`) and verify the copy by digest.

What moves: the current document (lineage, serial, audiences, intents, fingerprint key or its
check value, byte for byte), the kept history in order, and every member set either refers to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from reconciler.errors import StateError
from reconciler.state.backend import Snapshot, StateBackend
from reconciler.state.data import State, parse_document


@dataclass(frozen=True)
class Migrated:
    """What a migration copied."""

    lineage: str
    serial: int
    audiences: int
    history: int
    member_sets: int
    members: int


def _sha(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def fingerprint(snapshot: Snapshot) -> tuple[object, ...]:
    """Digests of everything in `snapshot`: equal for two snapshots holding the same state."""
    return (
        _sha(snapshot.document),
        [(v.serial, v.lineage, v.sha256) for v in snapshot.history],
        sorted(snapshot.members),
    )


def check_members(snapshot: Snapshot, where: str) -> None:
    """StateError unless every member set's content matches its digest (its name)."""
    for digest, data in snapshot.members.items():
        if hashlib.sha256(data).hexdigest() != digest:
            raise StateError(f"the member fingerprints {digest} in {where} are corrupt (digest mismatch)")


def migrate(source: StateBackend, target: StateBackend, *, force: bool = False) -> Migrated:
    """Copy the state of `source` to `target` and verify it; the caller holds both locks.

    Refuses when `source` holds no state, and when `target` holds one unless `force`."""
    snapshot = source.snapshot()
    if snapshot.document is None:
        raise StateError(f"there is no state in {source.location} to migrate")
    check_members(snapshot, source.location)
    state: State = parse_document(
        snapshot.document, source.location, f"the state in {source.location} is corrupt"
    )
    if not force and not target.snapshot().empty:
        raise StateError(
            f"{target.location} already holds a state; pass --force to replace it (its history goes too)"
        )
    target.restore(snapshot)
    copied = target.snapshot()
    check_members(copied, target.location)
    if fingerprint(copied) != fingerprint(snapshot):
        raise StateError(
            f"the copy in {target.location} does not match {source.location} (digest mismatch); "
            "the source is unchanged: run the migration again"
        )
    return Migrated(
        lineage=state.lineage or "",
        serial=state.serial,
        audiences=len(state.audiences),
        history=len(snapshot.history),
        member_sets=len(snapshot.members),
        members=sum(len(data) // 12 for data in snapshot.members.values()),
    )
