"""The state lock of a postgres workspace: a session-level advisory lock on a dedicated connection.

The lock lives as long as the session that took it: a run that is SIGKILLed, or whose connection
drops, frees it at once, and the next run proceeds without `force-unlock`. Who holds it is recorded
in the table `reconciler_lock` (user, host, pid, command, since, and the holder's backend pid), so a
blocked run can name the holder; a row whose backend no longer holds the advisory lock is left over
from a killed run and is replaced by the next holder (reported as a takeover, like a local lock).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from reconciler.errors import LockError
from reconciler.state import pgconn
from reconciler.state.data import utcnow_iso
from reconciler.state.lock import LockInfo, LockStatus

NAMESPACE = 0x7265636F  # "reco": first key of every advisory lock this tool takes
SCHEMA_KEY = 0  # second key of the lock serialising schema creation and migration
_POLL_SECONDS = 0.2
_RECORD_GRACE_SECONDS = 2.0  # how long a live holder may take to record itself

_LIVE_HOLDERS = """
    SELECT pid FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid::bigint = %s AND objid::bigint = %s
"""


def workspace_key(workspace: str) -> int:
    """The second advisory-lock key of `workspace` (a signed 32-bit int, never SCHEMA_KEY)."""
    key = int.from_bytes(hashlib.sha256(workspace.encode("utf-8")).digest()[:4], "big", signed=True)
    return key or 1


@dataclass
class HeldAdvisoryLock:
    """A lock this process holds: its dedicated connection and the session's backend pid."""

    info: LockInfo
    conn: Any
    backend_pid: int
    workspace: str


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def live_holders(conn: Any, workspace: str) -> list[int]:
    """Backend pids of the sessions holding the advisory lock of `workspace` (at most one)."""
    unsigned = workspace_key(workspace) & 0xFFFFFFFF
    return [int(row[0]) for row in conn.execute(_LIVE_HOLDERS, (NAMESPACE, unsigned)).fetchall()]


def holder_row(conn: Any, workspace: str) -> tuple[LockInfo, int] | None:
    """The recorded holder of `workspace` and its backend pid, or None."""
    row = conn.execute(
        "SELECT lock_id, username, host, pid, command, to_char(since AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\'), backend_pid FROM reconciler_lock WHERE workspace = %s',
        (workspace,),
    ).fetchone()
    if row is None:
        return None
    lock_id, user, host, pid, command, since, backend_pid = row
    return LockInfo(lock_id, f"{user}@{host} pid {pid}", since, command), int(backend_pid)


def status(conn: Any, workspace: str) -> LockStatus | None:
    """The lock of `workspace`: None when neither held nor recorded."""
    live = live_holders(conn, workspace)
    recorded = holder_row(conn, workspace)
    if recorded is None:
        return LockStatus(info=None, live=True) if live else None
    info, backend_pid = recorded
    return LockStatus(info=info, live=backend_pid in live)


def _held_message(location: str, found: LockStatus | None, waited: float) -> str:
    waited_text = f" (waited {waited:g}s)" if waited > 0 else ""
    if found is None or found.info is None:
        return (
            f"the state {location} is locked by another run that has not recorded itself yet{waited_text}; "
            "try again in a moment, or wait with --lock-timeout"
        )
    info = found.info
    return (
        f"the state {location} is locked by {info.describe()}{waited_text}. Wait for that run to finish "
        f"(or pass --lock-timeout DURATION to wait); if it is stuck, "
        f"`reconciler force-unlock {info.id} --terminate` ends its database session"
    )


def acquire(
    url: str, workspace: str, operation: str, location: str, timeout: float = 0.0
) -> HeldAdvisoryLock:
    """Take the advisory lock of `workspace` on a new connection, waiting up to `timeout` seconds;
    LockError naming the holder when it stays held."""
    conn = pgconn.connect(url, "reconciler lock")
    try:
        return _acquire(conn, url, workspace, operation, location, timeout)
    except BaseException:
        pgconn.close_quietly(conn)
        raise


def _acquire(
    conn: Any, url: str, workspace: str, operation: str, location: str, timeout: float
) -> HeldAdvisoryLock:
    psycopg = pgconn.driver()
    key = workspace_key(workspace)
    began = time.monotonic()
    try:
        while not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (NAMESPACE, key)).fetchone()[0]:
            waited = time.monotonic() - began
            if waited >= timeout:
                # A holder records itself just after taking the lock: give it a moment to, so that
                # the message names it (and never the previous, finished holder).
                found = status(conn, workspace)
                recorded = found is not None and found.info is not None and found.live
                if recorded or waited >= timeout + _RECORD_GRACE_SECONDS:
                    shown = round(waited, 1) if timeout > 0 else 0.0
                    raise LockError(_held_message(location, found if recorded else None, shown))
            time.sleep(min(_POLL_SECONDS, max(timeout - waited, 0.02)))
        backend_pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        previous = holder_row(conn, workspace)
        who = f"{_user()}@{socket.gethostname()} pid {os.getpid()}"
        info = LockInfo(str(uuid.uuid4()), who, utcnow_iso(), operation)
        conn.execute(
            "INSERT INTO reconciler_lock (workspace, lock_id, username, host, pid, command, since, "
            "backend_pid) VALUES (%s, %s, %s, %s, %s, %s, now(), %s) ON CONFLICT (workspace) DO UPDATE SET "
            "lock_id = excluded.lock_id, username = excluded.username, host = excluded.host, "
            "pid = excluded.pid, command = excluded.command, since = excluded.since, "
            "backend_pid = excluded.backend_pid",
            (workspace, info.id, _user(), socket.gethostname(), os.getpid(), operation, backend_pid),
        )
    except psycopg.Error as exc:
        pgconn.fail(exc, url, "cannot take the state lock")
    if previous is not None:
        info = LockInfo(info.id, info.who, info.when, info.operation, taken_over=previous[0])
    return HeldAdvisoryLock(info=info, conn=conn, backend_pid=backend_pid, workspace=workspace)


def release(held: HeldAdvisoryLock) -> None:
    """Forget the holder row and release the lock; a dropped connection has released it already."""
    try:
        held.conn.execute(
            "DELETE FROM reconciler_lock WHERE workspace = %s AND lock_id = %s",
            (held.workspace, held.info.id),
        )
        held.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (NAMESPACE, workspace_key(held.workspace)))
    except Exception:
        pass
    finally:
        pgconn.close_quietly(held.conn)


def still_held(conn: Any, held: HeldAdvisoryLock) -> bool:
    """True when the session of `held` still holds the advisory lock (checked from `conn`)."""
    return held.backend_pid in live_holders(conn, held.workspace)


def force_unlock(conn: Any, workspace: str, location: str, lock_id: str, *, terminate: bool) -> LockStatus:
    """Forget the lock `lock_id` of `workspace`; with `terminate`, end the live session holding it."""
    recorded = holder_row(conn, workspace)
    if recorded is None:
        if live_holders(conn, workspace):
            raise LockError(
                f"the state {location} is locked by a run that has not recorded itself; try again"
            )
        raise LockError(f"the state {location} is not locked; nothing to unlock")
    info, backend_pid = recorded
    if info.id != lock_id.strip():
        raise LockError(
            f"lock id {lock_id!r} does not match the lock on the state {location}, "
            f"held by {info.describe()}; nothing was unlocked"
        )
    live = backend_pid in live_holders(conn, workspace)
    if live and not terminate:
        raise LockError(
            f"the state {location} is locked by a live session: {info.describe()}. A postgres lock ends "
            "with its holder's session; pass --terminate to end that session (its run stops writing)"
        )
    if live:
        conn.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
        deadline = time.monotonic() + 10
        while backend_pid in live_holders(conn, workspace) and time.monotonic() < deadline:
            time.sleep(0.05)
    conn.execute("DELETE FROM reconciler_lock WHERE workspace = %s AND lock_id = %s", (workspace, info.id))
    return LockStatus(info=info, live=live)
