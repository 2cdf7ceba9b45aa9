"""The postgres state backend: one state per workspace in a PostgreSQL database.

Tables (created on first use, versioned in `reconciler_schema`, migrated forward):
  reconciler_state    workspace -> the current state document (the exact state.json bytes), its
                      lineage, serial and the member digests it refers to
  reconciler_history  the previous HISTORY_VERSIONS documents of each workspace
  reconciler_members  content-addressed member fingerprints: one row per member set
                      (workspace, digest = MemberSet.digest(), data = MemberSet.to_bytes())
  reconciler_lock     who holds a workspace's advisory lock (see `reconciler.state.pglock`)

A save is one transaction: it re-reads the stored lineage and serial under a row lock and writes
only when they are the ones this State was loaded at (compare-and-swap), so intent and result
land together or not at all. While this process holds the workspace lock, every save first
checks that the lock's session still holds it: a run whose lock connection dropped (server
restart, `force-unlock --terminate`) stops writing with a clear error; the next run settles.
Every driver error is reported as a StateError with the URL's password masked.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

from reconciler.errors import StateError
from reconciler.sources.members import MemberSet
from reconciler.state import pgconn, pglock, pgurl
from reconciler.state.backend import HISTORY_VERSIONS, HistoryVersion, Snapshot
from reconciler.state.data import DIGEST_PATTERN, AudienceState, State, encode_state, parse_document
from reconciler.state.keys import resolve_fingerprint_key
from reconciler.state.lock import LockInfo, LockStatus
from reconciler.state.store import referenced_digests

T = TypeVar("T")
SCHEMA_VERSION = 1
# Forward migrations: version -> statements that bring the schema from version - 1 to it.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE reconciler_state (
            workspace text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL,
            document bytea NOT NULL, digests text[] NOT NULL, saved_at timestamptz NOT NULL)""",
        """CREATE TABLE reconciler_history (
            id bigserial PRIMARY KEY, workspace text NOT NULL, lineage text NOT NULL,
            serial bigint NOT NULL, document bytea NOT NULL, digests text[] NOT NULL,
            saved_at timestamptz NOT NULL)""",
        "CREATE INDEX reconciler_history_workspace ON reconciler_history (workspace, id)",
        """CREATE TABLE reconciler_members (
            workspace text NOT NULL, digest text NOT NULL, members bigint NOT NULL,
            data bytea NOT NULL, PRIMARY KEY (workspace, digest))""",
        # fingerprints are random bytes: skip the (useless) compression attempt of TOAST
        "ALTER TABLE reconciler_members ALTER COLUMN data SET STORAGE EXTERNAL",
        """CREATE TABLE reconciler_lock (
            workspace text PRIMARY KEY, lock_id text NOT NULL, username text NOT NULL,
            host text NOT NULL, pid integer NOT NULL, command text NOT NULL,
            since timestamptz NOT NULL, backend_pid integer NOT NULL)""",
    ],
}
_HISTORY_ROWS = (
    "SELECT serial, lineage, document, "
    "to_char(saved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "FROM reconciler_history WHERE workspace = %s ORDER BY id"
)
_INSERT_MEMBERS = "INSERT INTO reconciler_members (workspace, digest, members, data) VALUES (%s, %s, %s, %b)"
_INSERT_STATE = (
    "INSERT INTO reconciler_state (workspace, lineage, serial, document, digests, saved_at) "
    "VALUES (%s, %s, %s, %b, %s, now())"
)


def ensure_schema(conn: Any) -> None:
    """Create or migrate the tables (one process at a time); StateError for a newer schema. A
    schema already current is only read, so a role that may only read the state can plan."""
    current = _schema_version(conn)
    if current is not None and current >= SCHEMA_VERSION:
        _refuse_newer(current)
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (pglock.NAMESPACE, pglock.SCHEMA_KEY))
        conn.execute("CREATE TABLE IF NOT EXISTS reconciler_schema (version integer NOT NULL)")
        current = conn.execute("SELECT coalesce(max(version), 0) FROM reconciler_schema").fetchone()[0]
        _refuse_newer(current)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("INSERT INTO reconciler_schema (version) VALUES (%s)", (version,))


def _schema_version(conn: Any) -> int | None:
    """The schema version the database holds; None when it has no reconciler tables yet."""
    if conn.execute("SELECT to_regclass('reconciler_schema') IS NULL").fetchone()[0]:
        return None
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM reconciler_schema").fetchone()[0])


def _refuse_newer(current: int) -> None:
    if current > SCHEMA_VERSION:
        raise StateError(
            f"the state database has schema version {current}, written by a newer reconciler "
            f"(this one knows {SCHEMA_VERSION}): upgrade reconciler"
        )


class PostgresStore:
    """Load, save and lock the state of one workspace. Thread-safe (one connection, serialised)."""

    def __init__(self, url: str, workspace: str, *, history: int = HISTORY_VERSIONS) -> None:
        self._url = url
        self.workspace = workspace
        self.keep = history
        self._conn: Any = None
        self._guard = threading.RLock()
        self._held: pglock.HeldAdvisoryLock | None = None
        self._lost: str | None = None  # why this run stopped writing (its lock is gone)

    @property
    def location(self) -> str:
        where = pgurl.describe(self._url)
        return (
            f"workspace {self.workspace!r} (postgres {where})" if where else f"workspace {self.workspace!r}"
        )

    # -- connection ----------------------------------------------------------------------------

    def _db(self) -> Any:
        if self._conn is None or self._conn.closed:
            conn = pgconn.connect(self._url)
            try:
                ensure_schema(conn)
            except pgconn.driver().Error as exc:
                pgconn.close_quietly(conn)
                pgconn.fail(exc, self._url, "cannot prepare the state tables")
            except BaseException:
                pgconn.close_quietly(conn)
                raise
            self._conn = conn
        return self._conn

    def _run(self, doing: str, work: Callable[[Any], T]) -> T:
        """Run `work(conn)` serialised; a driver error becomes a masked StateError. A dropped
        connection while this process holds the lock means the lock is gone: stop writing."""
        psycopg = pgconn.driver()
        with self._guard:
            try:
                return work(self._db())
            except psycopg.Error as exc:
                if self._held is not None and (self._conn is None or self._conn.closed):
                    self._lost = self._lost_message(pgconn.message(exc, self._url))
                    raise StateError(self._lost) from None
                pgconn.fail(exc, self._url, doing)

    def _lost_message(self, why: str) -> str:
        return (
            f"lost the state lock of {self.location} ({why}): this run no longer holds it and stopped "
            "writing the state; run `reconciler apply` again, it settles what this run left pending"
        )

    def close(self) -> None:
        with self._guard:
            pgconn.close_quietly(self._conn)
            self._conn = None

    # -- reading ---------------------------------------------------------------------------------

    def _current(self, conn: Any, *, for_update: bool = False) -> tuple[str, int, bytes] | None:
        row = conn.execute(
            "SELECT lineage, serial, document FROM reconciler_state WHERE workspace = %s"
            + (" FOR UPDATE" if for_update else ""),
            (self.workspace,),
            binary=True,
        ).fetchone()
        return (row[0], int(row[1]), bytes(row[2])) if row else None

    def _parse(self, document: bytes) -> State:
        broken = (
            f"the state document of {self.location} is corrupt; reconciler will neither use nor overwrite "
            "it. Restore a previous version (`reconciler state history`) or migrate a good copy"
        )
        return parse_document(document, f"{self.location} state document", broken)

    def exists(self) -> bool:
        return self._run("cannot read the state", lambda conn: self._current(conn) is not None)

    def load(self) -> State:
        found = self._run("cannot read the state", self._current)
        return self._parse(found[2]) if found else State()

    def members(self, entry: AudienceState) -> MemberSet:
        digest = entry.member_digest
        if not digest:
            return MemberSet()
        if not DIGEST_PATTERN.fullmatch(digest):
            raise StateError(f"audience {entry.key!r} has an invalid member_digest in {self.location}")

        def read(conn: Any) -> bytes | None:
            row = conn.execute(
                "SELECT data FROM reconciler_members WHERE workspace = %s AND digest = %s",
                (self.workspace, digest),
                binary=True,
            ).fetchone()
            return bytes(row[0]) if row else None

        data = self._run("cannot read member fingerprints", read)
        if data is None:
            raise StateError(
                f"the member fingerprints of audience {entry.key!r} ({digest}) are missing from "
                f"{self.location}"
            )
        if hashlib.sha256(data).hexdigest() != digest:
            raise StateError(
                f"the member fingerprints of audience {entry.key!r} in {self.location} are corrupt"
            )
        try:
            return MemberSet.from_bytes(data)
        except ValueError as exc:
            raise StateError(
                f"the member fingerprints of audience {entry.key!r} in {self.location} are corrupt: {exc}"
            ) from None

    def fingerprint_key(self, state: State) -> bytes:
        return resolve_fingerprint_key(state, self.location)

    # -- writing ---------------------------------------------------------------------------------

    def save(self, state: State, member_sets: dict[str, MemberSet] | None = None) -> State:
        """Write `state` and its member sets in one transaction (compare-and-swap on lineage and
        serial); mutates and returns `state` as `StateStore.save` does."""
        sets = dict(member_sets or {})
        unknown = sorted(set(sets) - set(state.audiences))
        if unknown:
            raise ValueError(f"member sets given for audiences not in state: {', '.join(unknown)}")
        if self._lost:
            raise StateError(self._lost)
        if not state.fingerprint_key and not state.fingerprint_key_check:
            self.fingerprint_key(state)
        blobs = {key: member_set.to_bytes() for key, member_set in sets.items()}
        digests = {key: hashlib.sha256(blob).hexdigest() for key, blob in blobs.items()}  # = .digest()
        audiences = dict(state.audiences)
        for key, member_set in sets.items():
            audiences[key] = replace(audiences[key], member_digest=digests[key], member_count=len(member_set))
        lineage = state.lineage or str(uuid.uuid4())
        serial = state.serial + 1
        document = encode_state(replace(state, lineage=lineage, serial=serial, audiences=audiences))
        referenced = sorted({e.member_digest for e in audiences.values() if e.member_digest})

        def write(conn: Any) -> None:
            with conn.transaction():
                self._check_lock(conn)
                self._write(conn, state, blobs, digests, (lineage, serial, document, referenced))

        self._run("cannot write the state", write)
        state.lineage, state.serial = lineage, serial
        for key in sets:
            entry = state.audiences[key]
            entry.member_digest, entry.member_count = (
                audiences[key].member_digest,
                audiences[key].member_count,
            )
        return state

    def _check_lock(self, conn: Any) -> None:
        if self._held is not None and not pglock.still_held(conn, self._held):
            self._lost = self._lost_message("its database session ended")
            raise StateError(self._lost)

    def _write(
        self,
        conn: Any,
        state: State,
        blobs: dict[str, bytes],
        digests: dict[str, str],
        new: tuple[str, int, bytes, list[str]],
    ) -> None:
        lineage, serial, document, referenced = new
        found = self._current(conn, for_update=True)
        if found is not None:
            self._parse(found[2])  # a corrupt stored document is never overwritten
        stored = (found[0], found[1]) if found else (None, 0)
        if stored != (state.lineage, state.serial):
            raise StateError(
                f"the state of {self.location} changed since this run loaded it "
                f"(serial {state.serial} loaded, {stored[1]} stored"
                + (", another lineage" if found and stored[0] != state.lineage else "")
                + "); another run wrote it. Nothing was written; run the command again"
            )
        present = {
            row[0]
            for row in conn.execute(
                "SELECT digest FROM reconciler_members WHERE workspace = %s AND digest = ANY(%s)",
                (self.workspace, referenced),
            )
        }
        for key, blob in blobs.items():
            if digests[key] not in present:
                conn.execute(
                    _INSERT_MEMBERS + " ON CONFLICT DO NOTHING",
                    (self.workspace, digests[key], len(blob) // 12, blob),
                )
                present.add(digests[key])
        missing = sorted(set(referenced) - present)
        if missing:
            raise StateError(
                f"the state refers to member fingerprints {missing[0]}, missing from {self.location}"
            )
        if found is not None:
            conn.execute(
                "INSERT INTO reconciler_history (workspace, lineage, serial, document, digests, saved_at) "
                "SELECT workspace, lineage, serial, document, digests, now() FROM reconciler_state "
                "WHERE workspace = %s",
                (self.workspace,),
            )
            conn.execute(
                "UPDATE reconciler_state SET lineage = %s, serial = %s, document = %b, digests = %s, "
                "saved_at = now() WHERE workspace = %s",
                (lineage, serial, document, referenced, self.workspace),
            )
        else:
            conn.execute(
                _INSERT_STATE,
                (self.workspace, lineage, serial, document, referenced),
            )
        self._prune(conn)

    def _prune(self, conn: Any) -> None:
        """Keep the last `keep` history versions and the member sets something kept refers to."""
        conn.execute(
            "DELETE FROM reconciler_history WHERE workspace = %s AND id NOT IN (SELECT id FROM "
            "reconciler_history WHERE workspace = %s ORDER BY id DESC LIMIT %s)",
            (self.workspace, self.workspace, max(self.keep, 0)),
        )
        conn.execute(
            "DELETE FROM reconciler_members m WHERE m.workspace = %s "
            "AND NOT EXISTS (SELECT 1 FROM reconciler_state s WHERE s.workspace = m.workspace "
            "AND m.digest = ANY(s.digests)) "
            "AND NOT EXISTS (SELECT 1 FROM reconciler_history h WHERE h.workspace = m.workspace "
            "AND m.digest = ANY(h.digests))",
            (self.workspace,),
        )

    # -- locking ---------------------------------------------------------------------------------

    @contextmanager
    def lock(self, operation: str, *, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the workspace's advisory lock on a dedicated connection for the block."""
        self._db_ready()
        held = pglock.acquire(self._url, self.workspace, operation, self.location, timeout)
        with self._guard:
            self._held, self._lost = held, None
        try:
            yield held.info
        finally:
            with self._guard:
                self._held = None
            pglock.release(held)

    def _db_ready(self) -> None:
        self._run("cannot read the state", lambda conn: None)  # the tables exist before locking

    def lock_status(self) -> LockStatus | None:
        return self._run("cannot read the state lock", lambda conn: pglock.status(conn, self.workspace))

    def force_unlock(self, lock_id: str, *, terminate: bool = False) -> LockStatus:
        return self._run(
            "cannot release the state lock",
            lambda conn: pglock.force_unlock(
                conn, self.workspace, self.location, lock_id, terminate=terminate
            ),
        )

    # -- whole-state copies ------------------------------------------------------------------------

    def history(self) -> list[HistoryVersion]:
        def read(conn: Any) -> list[HistoryVersion]:
            rows = conn.execute(
                _HISTORY_ROWS,
                (self.workspace,),
                binary=True,
            ).fetchall()
            return [HistoryVersion(int(r[0]), r[1], bytes(r[2]), r[3]) for r in rows]

        return self._run("cannot read the state history", read)

    def snapshot(self) -> Snapshot:
        def read(conn: Any) -> Snapshot:
            with conn.transaction():
                found = self._current(conn)
                rows = conn.execute(
                    "SELECT digest, data FROM reconciler_members WHERE workspace = %s", (self.workspace,),
                    binary=True,
                ).fetchall()  # fmt: skip
                history_rows = conn.execute(
                    _HISTORY_ROWS,
                    (self.workspace,),
                    binary=True,
                ).fetchall()
            history = [HistoryVersion(int(r[0]), r[1], bytes(r[2]), r[3]) for r in history_rows]
            members = {r[0]: bytes(r[1]) for r in rows}
            return Snapshot(found[2] if found else None, history, members)

        return self._run("cannot read the state", read)

    def restore(self, snapshot: Snapshot) -> None:
        def write(conn: Any) -> None:
            with conn.transaction():
                self._check_lock(conn)
                for table in ("reconciler_state", "reconciler_history", "reconciler_members"):
                    conn.execute(f"DELETE FROM {table} WHERE workspace = %s", (self.workspace,))
                for digest, data in snapshot.members.items():
                    conn.execute(
                        _INSERT_MEMBERS,
                        (self.workspace, digest, len(data) // 12, data),
                    )
                for version in snapshot.history:
                    conn.execute(
                        "INSERT INTO reconciler_history (workspace, lineage, serial, document, digests, "
                        "saved_at) VALUES (%s, %s, %s, %b, %s, coalesce(nullif(%s, '')::timestamptz, now()))",
                        (self.workspace, version.lineage, version.serial, version.document,
                         sorted(referenced_digests(version.document)), version.saved_at),
                    )  # fmt: skip
                if snapshot.document is not None:
                    current = self._parse(snapshot.document)
                    conn.execute(
                        _INSERT_STATE,
                        (self.workspace, current.lineage, current.serial, snapshot.document,
                         sorted(referenced_digests(snapshot.document))),
                    )  # fmt: skip

        self._run("cannot write the state", write)
