"""The state backend seam: the same behaviour from the local directory and a postgres workspace
(on a real, throwaway server): round trip, compare-and-swap, history, member sets, locks, copies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import LockError, StateError
from reconciler.sources.members import MemberSet
from reconciler.state.backend import StateBackend
from reconciler.state.migrate import fingerprint, migrate
from reconciler.state.store import AudienceState, StateStore


def members(*ids: int) -> MemberSet:
    return MemberSet(list(ids), [i * 7 % 2**32 for i in ids])


def entry(key: str) -> AudienceState:
    return AudienceState(key=key, provider="commbox", provider_id=f"id-{key}", name=f"Name {key}")


def open_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, workspace: str = "default"
) -> StateBackend:
    if kind == "local":
        return StateStore(tmp_path / f"state-{workspace}", history=3)
    from reconciler.state.pg import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_url"), workspace, history=3)


@pytest.fixture(params=["local", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateBackend]:
    store = open_store(request.param, tmp_path, request)
    yield store
    store.close()


def twin(backend: StateBackend, tmp_path: Path) -> StateBackend:
    """A second handle on the same state (another process would open one like it)."""
    if isinstance(backend, StateStore):
        return StateStore(backend.directory, history=3)
    from reconciler.state.pg import PostgresStore

    return PostgresStore(backend._url, backend.workspace, history=3)  # type: ignore[attr-defined]


def test_round_trip_with_members_and_intents(backend: StateBackend) -> None:
    assert backend.load().serial == 0 and not backend.exists()
    state = backend.load()
    state.audiences["vip"] = entry("vip")
    state.add_intent("vip", "commbox", "create", "Name vip")
    backend.save(state, {"vip": members(1, 2, 3)})
    assert backend.exists() and state.serial == 1 and state.lineage
    loaded = backend.load()
    assert loaded == state
    assert loaded.audiences["vip"].member_count == 3
    assert backend.members(loaded.audiences["vip"]).digest() == members(1, 2, 3).digest()
    assert len(backend.members(entry("none"))) == 0


def test_compare_and_swap_refuses_a_stale_writer(backend: StateBackend, tmp_path: Path) -> None:
    state = backend.load()
    state.audiences["a"] = entry("a")
    backend.save(state)
    other = twin(backend, tmp_path)
    try:
        mine, theirs = backend.load(), other.load()
        theirs.audiences["b"] = entry("b")
        other.save(theirs)
        mine.audiences["c"] = entry("c")
        with pytest.raises(StateError, match="changed since this run loaded it"):
            backend.save(mine)
        assert set(backend.load().audiences) == {"a", "b"}  # nothing of the stale write landed
    finally:
        other.close()


def test_history_keeps_the_last_versions_and_their_member_sets(backend: StateBackend) -> None:
    state = backend.load()
    state.audiences["vip"] = entry("vip")
    for i in range(6):
        backend.save(state, {"vip": members(*range(i + 1))})
    versions = backend.history()
    assert [v.serial for v in versions] == [3, 4, 5]  # history=3; serial 6 is current
    for version in versions:  # every kept version can still be read, members included
        assert f'"serial": {version.serial}' in version.document.decode()
    snap = backend.snapshot()
    assert len(snap.members) == 4  # the current set and those of the three kept versions
    assert members(*range(6)).digest() in snap.members


def test_one_member_set_is_stored_once(backend: StateBackend) -> None:
    state = backend.load()
    state.audiences["a"], state.audiences["b"] = entry("a"), entry("b")
    backend.save(state, {"a": members(5, 6), "b": members(5, 6)})
    assert list(backend.snapshot().members) == [members(5, 6).digest()]


def test_a_second_lock_fails_naming_the_holder_then_waits(backend: StateBackend, tmp_path: Path) -> None:
    backend.save(backend.load())
    other = twin(backend, tmp_path)
    try:
        with backend.lock("apply") as info:
            with pytest.raises(LockError) as failed, other.lock("apply"):
                pass
            assert info.id in str(failed.value) and "'apply'" in str(failed.value)
            status = other.lock_status()
            assert status is not None and status.live
            assert status.info is not None and status.info.id == info.id
        got: list[float] = []

        def hold_briefly() -> None:
            with backend.lock("apply"):
                got.append(time.monotonic())
                time.sleep(0.6)

        holder = threading.Thread(target=hold_briefly)
        holder.start()
        while not got:
            time.sleep(0.01)
        with other.lock("apply", timeout=20):
            waited = time.monotonic() - got[0]
        holder.join()
        assert waited >= 0.5
        assert other.lock_status() is None
    finally:
        other.close()


def test_copy_to_the_other_backend_is_exact(
    backend: StateBackend, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    state = backend.load()
    state.audiences["vip"] = entry("vip")
    for i in range(4):
        state.add_intent("vip", "commbox", "add_members", "Name vip")
        backend.save(state, {"vip": members(*range(i + 2))})
    kind = "postgres" if isinstance(backend, StateStore) else "local"
    target = open_store(kind, tmp_path, request, "copy")
    try:
        done = migrate(backend, target)
        assert (done.serial, done.audiences, done.history) == (4, 1, 3)
        assert fingerprint(target.snapshot()) == fingerprint(backend.snapshot())
        assert target.load() == backend.load()
        with pytest.raises(StateError, match="already holds a state; pass --force"):
            migrate(backend, target)
        migrate(backend, target, force=True)
        loaded = target.load()
        loaded.audiences["new"] = entry("new")
        target.save(loaded)  # the copy carries on from the same lineage and serial
        assert loaded.serial == 5 and [v.serial for v in target.history()][-1] == 4
    finally:
        target.close()


def test_postgres_schema_is_versioned_and_a_newer_one_refused(pg_url: str) -> None:
    import psycopg

    from reconciler.state.pg import SCHEMA_VERSION, PostgresStore

    store = PostgresStore(pg_url, "default")
    try:
        store.save(store.load())
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert conn.execute("SELECT version FROM reconciler_schema").fetchall() == [(SCHEMA_VERSION,)]
            conn.execute("INSERT INTO reconciler_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    finally:
        store.close()
    newer = PostgresStore(pg_url, "default")
    with pytest.raises(StateError, match="written by a newer reconciler"):
        newer.load()
    newer.close()


def test_postgres_member_set_is_verified_on_read(pg_url: str) -> None:
    import psycopg

    from reconciler.state.pg import PostgresStore

    store = PostgresStore(pg_url, "default")
    try:
        state = store.load()
        state.audiences["vip"] = entry("vip")
        store.save(state, {"vip": members(1, 2)})
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM reconciler_members").fetchone() == (1,)
            conn.execute("UPDATE reconciler_members SET data = %b", (members(1, 3).to_bytes(),))
        with pytest.raises(StateError, match="corrupt"):
            store.members(store.load().audiences["vip"])
    finally:
        store.close()


def test_a_holder_not_recorded_yet_is_waited_for_and_never_misnamed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Between taking the advisory lock and recording itself, a holder has no row (or the row of
    the finished run before it): a blocked run waits a moment for the record and never names the
    previous holder as the current one."""
    import psycopg

    from reconciler.state import pglock

    store = open_store("postgres", tmp_path, request)
    store.save(store.load())
    with store.lock("apply") as previous:
        pass  # leaves no row: release forgets it; write a stale one as a killed run would leave
    url = request.getfixturevalue("pg_url")
    with psycopg.connect(url, autocommit=True) as holder:
        holder_pid = holder.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (pglock.NAMESPACE, pglock.workspace_key("default")))
        holder.execute(
            "INSERT INTO reconciler_lock (workspace, lock_id, username, host, pid, command, since, "
            "backend_pid) VALUES ('default', %s, 'old', 'gone', 1, 'apply', now(), 1)", (previous.id,))
        began = time.monotonic()
        with pytest.raises(LockError) as unrecorded, store.lock("plan"):
            pass
        assert "has not recorded itself yet" in str(unrecorded.value)
        assert previous.id not in str(unrecorded.value) and time.monotonic() - began >= 1.5

        def record_soon() -> None:
            time.sleep(0.3)
            holder.execute("UPDATE reconciler_lock SET lock_id = 'the-new-one', backend_pid = %s",
                           (holder_pid,))

        recorder = threading.Thread(target=record_soon)
        recorder.start()
        try:
            with pytest.raises(LockError) as named, store.lock("plan"):
                pass
        finally:
            recorder.join()
        assert "the-new-one" in str(named.value)
    store.close()
