"""The state lock: one writer at a time, across processes; killed holders; force-unlock."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import LockError
from reconciler.state import lock as statelock
from reconciler.state.store import StateStore

REPO = Path(__file__).resolve().parent.parent
HOLDER = """
import sys, time
from pathlib import Path
from reconciler.state.store import StateStore
with StateStore(Path(sys.argv[1])).lock(sys.argv[2]) as info:
    print(info.id, flush=True)
    time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


@pytest.fixture
def holder(store: StateStore) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Another process holding the lock (for 'apply'); yields it and its lock id."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.directory), "apply", "60"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lock_id = proc.stdout.readline().strip()
    assert lock_id, "the holder process did not take the lock"
    try:
        yield proc, lock_id
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_lock_file_records_holder_and_is_removed_on_release(store: StateStore) -> None:
    with store.lock("apply") as info:
        record = json.loads((store.directory / ".lock").read_text())
        assert record == {"id": info.id, "who": info.who, "when": info.when, "operation": "apply"}
        assert f"pid {os.getpid()}" in info.who and info.taken_over is None
        status = store.lock_status()
        assert status is not None and status.live and status.info == info
    assert not (store.directory / ".lock").exists()
    assert store.lock_status() is None
    assert [p.name for p in store.directory.iterdir()] == []  # no private files left


def test_released_even_when_the_body_raises(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.lock("apply"):
        raise RuntimeError("boom")
    with store.lock("apply"):
        pass


def test_second_lock_in_the_same_process_fails(store: StateStore) -> None:
    with store.lock("apply") as first, pytest.raises(LockError) as info, store.lock("refresh"):
        pass
    assert first.id in str(info.value)


def test_another_process_holding_the_lock_fails_fast_naming_it(
    store: StateStore, holder: tuple[subprocess.Popen[str], str]
) -> None:
    proc, lock_id = holder
    started = time.monotonic()
    with pytest.raises(LockError) as info, store.lock("state rm vip"):
        pass
    assert time.monotonic() - started < 2
    message = str(info.value)
    assert f"pid {proc.pid}" in message and "'apply'" in message and lock_id in message
    assert f"reconciler force-unlock {lock_id}" in message
    status = store.lock_status()
    assert status is not None and status.live and status.info is not None and status.info.id == lock_id


def test_lock_of_a_killed_holder_is_taken_over_and_reported(
    store: StateStore, holder: tuple[subprocess.Popen[str], str]
) -> None:
    proc, lock_id = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert (store.directory / ".lock").exists()  # the killed run could not clean up
    status = store.lock_status()
    assert status is not None and not status.live
    with store.lock("apply") as info:
        assert info.taken_over is not None
        assert info.taken_over.id == lock_id and f"pid {proc.pid}" in info.taken_over.who
        assert info.id != lock_id
        assert json.loads((store.directory / ".lock").read_text())["id"] == info.id
    assert not (store.directory / ".lock").exists()


def test_force_unlock_needs_the_matching_id(
    store: StateStore, holder: tuple[subprocess.Popen[str], str]
) -> None:
    _, lock_id = holder
    with pytest.raises(LockError, match="does not match"):
        store.force_unlock("not-the-id")
    assert (store.directory / ".lock").exists()
    released = store.force_unlock(lock_id)
    assert released.live and released.info is not None and released.info.id == lock_id
    assert not (store.directory / ".lock").exists()
    with store.lock("apply") as info:  # the next run may proceed
        assert info.taken_over is None


def test_force_unlock_without_a_lock(store: StateStore) -> None:
    with pytest.raises(LockError, match="not locked"):
        store.force_unlock("whatever")


def test_old_holder_releasing_after_force_unlock_keeps_the_new_lock(store: StateStore) -> None:
    old = statelock.acquire(store.directory, "apply")
    store.force_unlock(old.info.id)
    new = statelock.acquire(store.directory, "apply")
    statelock.release(old)
    status = store.lock_status()
    assert status is not None and status.live and status.info == new.info
    statelock.release(new)
    assert store.lock_status() is None


def test_unreadable_abandoned_lock_is_taken_over(store: StateStore) -> None:
    store.directory.mkdir()
    (store.directory / ".lock").write_text("garbage")
    with store.lock("apply") as info:
        assert info.taken_over is not None and info.taken_over.id == "unknown"


def test_unreadable_live_lock_refuses_and_cannot_be_force_unlocked(store: StateStore) -> None:
    store.directory.mkdir()
    path = store.directory / ".lock"
    path.write_text("garbage")
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a live run would hold it (another open file description)
        with pytest.raises(LockError, match="cannot be read"), store.lock("apply"):
            pass
        with pytest.raises(LockError, match="cannot be read"):
            store.force_unlock("unknown")
    finally:
        os.close(fd)


def test_stale_private_files_of_killed_runs_are_swept(store: StateStore) -> None:
    store.directory.mkdir()
    stale = store.directory / ".lock-dead.lock"
    stale.write_text("{}")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    with store.lock("apply"):
        pass
    assert not stale.exists()


def _contend(directory: str, rounds: int, barrier: object, results: object) -> None:
    """Worker: take the lock `rounds` times, checking nobody else is inside at the same time."""
    store = StateStore(Path(directory))
    inside = Path(directory) / "inside"
    barrier.wait()  # type: ignore[attr-defined]
    done = overlaps = 0
    deadline = time.monotonic() + 20
    while done < rounds and time.monotonic() < deadline:
        try:
            with store.lock("apply"):
                try:
                    fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    overlaps += 1
                    continue
                os.close(fd)
                time.sleep(0.002)
                os.unlink(inside)
                done += 1
        except LockError:
            time.sleep(0.001)
    results.put((done, overlaps))  # type: ignore[attr-defined]


def test_processes_never_hold_the_lock_together(store: StateStore) -> None:
    store.directory.mkdir()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    workers = [
        ctx.Process(target=_contend, args=(str(store.directory), 15, barrier, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    assert outcomes == [(15, 0)] * 4
    assert not (store.directory / ".lock").exists()


def _take_over_once(directory: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        with StateStore(Path(directory)).lock("apply") as info:
            results.put(("won", info.taken_over.id if info.taken_over else None))  # type: ignore[attr-defined]
            time.sleep(1.0)
    except LockError:
        results.put(("refused", None))  # type: ignore[attr-defined]


def test_only_one_of_several_runs_takes_over_an_abandoned_lock(store: StateStore) -> None:
    store.directory.mkdir()
    dead = {"id": "dead-run", "who": "ci@gone pid 1", "when": "2026-01-01T00:00:00Z", "operation": "apply"}
    (store.directory / ".lock").write_text(json.dumps(dead))
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    workers = [
        ctx.Process(target=_take_over_once, args=(str(store.directory), barrier, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=30) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    assert outcomes == [("refused", None)] * 3 + [("won", "dead-run")]
