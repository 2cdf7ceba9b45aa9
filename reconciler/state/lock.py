"""The state lock: one writing run at a time per state directory.

The lock is the file `<state>/.lock`, holding JSON `{id, who, when, operation}`, plus an OS-level
lock (`flock`) on that file, held by the running process for as long as it lives.

* Acquire: write the JSON to a fresh private file (created with O_EXCL), take the OS lock on it,
  then publish it as `.lock` with `os.link`, which like O_EXCL fails when `.lock` already exists.
  Because the OS lock is taken *before* the name appears, a `.lock` whose OS lock is free can
  only belong to a run that is gone.
* Held: a second run fails fast with `LockError` naming the holder and `reconciler force-unlock`.
* Abandoned (the holder was killed, so the kernel dropped its OS lock): the next run takes it
  over automatically and reports the previous holder in `LockInfo.taken_over`.
* `force_unlock(directory, lock_id)` removes the lock file when, and only when, the id matches.

POSIX only (`fcntl.flock`); on a system without it, acquiring the lock is a `StateError`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import stat
import sys
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import LockError, StateError
from reconciler.state.data import utcnow_iso

if sys.platform != "win32":
    import fcntl

LOCK_NAME = ".lock"
_PENDING_PREFIX = ".lock-"  # private files being published: .lock-<id>.lock
_STALE_PENDING_SECONDS = 60.0
_ATTEMPTS = 20


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) a state lock. `taken_over`: the abandoned lock this one replaced."""

    id: str
    who: str  # user@host pid N
    when: str  # ISO 8601 UTC
    operation: str
    taken_over: LockInfo | None = None

    def describe(self) -> str:
        """One line for messages, e.g. "ci@runner-7 pid 4242 since 2026-... for 'apply' (lock id ...)"."""
        return f"{self.who} since {self.when} for {self.operation!r} (lock id {self.id})"

    def takeover_warning(self) -> str | None:
        """The warning to show when this lock replaced an abandoned one, else None."""
        if self.taken_over is None:
            return None
        return (
            f"took over an abandoned state lock held by {self.taken_over.describe()}; "
            "that run was killed or crashed, so check its work (`reconciler plan` shows what is left)"
        )


@dataclass(frozen=True)
class LockStatus:
    """The lock currently on a state directory; `live` when a running process holds its OS lock."""

    info: LockInfo | None  # None when the lock file cannot be read
    live: bool


@dataclass
class HeldLock:
    """A lock this process holds: release it with `release()`."""

    info: LockInfo
    path: Path
    fd: int


def _cause(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _check_regular(fd: int, path: Path) -> None:
    """StateError when `path` (open as `fd`) is not a regular file, e.g. a directory made by hand."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise StateError(
            f"{path} is not a lock file (it is a directory or another special file); "
            "reconciler keeps its state lock there: remove it"
        )


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _try_os_lock(fd: int) -> bool:
    """Take the exclusive OS lock on `fd` without waiting; False when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - POSIX only
        raise StateError("state locking needs a POSIX system (fcntl.flock)")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """True when `path` currently names the file open as `fd`."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (here.st_dev, here.st_ino)


def _parse_info(data: bytes) -> LockInfo | None:
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    fields = [raw.get(name) for name in ("id", "who", "when", "operation")]
    if not all(isinstance(value, str) and value for value in fields):
        return None
    return LockInfo(*fields)  # type: ignore[arg-type]


def _read_info(fd: int) -> LockInfo | None:
    data = os.pread(fd, 64 * 1024, 0)
    return _parse_info(data)


def _holder_message(directory: Path, info: LockInfo | None) -> str:
    if info is None:
        return (
            f"state directory {directory} is locked by another run, but its lock file "
            f"{directory / LOCK_NAME} cannot be read; wait for that run to finish"
        )
    return (
        f"state directory {directory} is locked by {info.describe()}. Wait for that run to finish; "
        f"if it is stuck or gone, release the lock with `reconciler force-unlock {info.id}`"
    )


def _take_over_if_abandoned(directory: Path, lock_path: Path, pending: Path) -> LockInfo | None:
    """Replace an abandoned `.lock` by `pending`; the previous holder, or None to retry.

    Raises LockError when a live process holds the lock."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:  # released meanwhile: try to publish again
        return None
    try:
        _check_regular(fd, lock_path)
        if not _try_os_lock(fd):
            raise LockError(_holder_message(directory, _read_info(fd)))
        if not _same_file(fd, lock_path):  # replaced or released meanwhile
            return None
        previous = _read_info(fd) or LockInfo("unknown", "unknown", "unknown", "unknown (unreadable lock)")
        os.replace(pending, lock_path)
        return previous
    finally:
        os.close(fd)


def _sweep_stale_pending(directory: Path) -> None:
    """Remove private lock files left by runs killed while publishing (older than a minute)."""
    now = datetime.now(UTC).timestamp()
    for path in directory.glob(f"{_PENDING_PREFIX}*.lock"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > _STALE_PENDING_SECONDS:
                path.unlink()


def acquire(directory: Path, operation: str) -> HeldLock:
    """Take the lock of `directory` for `operation`, or raise LockError naming the holder."""
    info = LockInfo(id=str(uuid.uuid4()), who=_who(), when=utcnow_iso(), operation=operation)
    lock_path = directory / LOCK_NAME
    pending = directory / f"{_PENDING_PREFIX}{info.id}.lock"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except (FileExistsError, NotADirectoryError) as exc:
        raise StateError(f"the state directory {directory} is not a directory") from exc
    except OSError as exc:
        raise StateError(f"cannot create the state lock in {directory}: {_cause(exc)}") from exc
    try:
        if not _try_os_lock(fd):  # pragma: no cover - a fresh private file
            raise LockError(f"cannot lock {pending}")
        record = {"id": info.id, "who": info.who, "when": info.when, "operation": info.operation}
        _write_all(fd, (json.dumps(record) + "\n").encode("utf-8"))
        os.fsync(fd)
        held = _publish(directory, lock_path, pending, info)
    except BaseException as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            pending.unlink()
        if isinstance(exc, OSError):  # a full disk, a read-only or vanished directory...
            raise StateError(f"cannot take the state lock {lock_path}: {_cause(exc)}") from exc
        raise
    with contextlib.suppress(OSError):
        pending.unlink()  # gone already when published by os.replace
    _sweep_stale_pending(directory)
    return HeldLock(info=held, path=lock_path, fd=fd)


def _publish(directory: Path, lock_path: Path, pending: Path, info: LockInfo) -> LockInfo:
    for _ in range(_ATTEMPTS):
        try:
            os.link(pending, lock_path)
            return info
        except FileExistsError:
            pass
        except OSError as exc:
            raise StateError(f"cannot create the state lock {lock_path}: {_cause(exc)}") from exc
        previous = _take_over_if_abandoned(directory, lock_path, pending)
        if previous is not None:
            return replace(info, taken_over=previous)
    raise LockError(f"state directory {directory} is contended by other runs; try again")


def release(held: HeldLock) -> None:
    """Release a lock taken by `acquire` (the file is removed only if it is still ours)."""
    try:
        if _same_file(held.fd, held.path):
            held.path.unlink()
    except OSError:
        pass  # a lock file we cannot remove is abandoned: the next run takes it over
    finally:
        os.close(held.fd)


def status(directory: Path) -> LockStatus | None:
    """The lock on `directory`, or None when it is not locked."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read the lock {directory / LOCK_NAME}: {_cause(exc)}") from exc
    try:
        _check_regular(fd, directory / LOCK_NAME)
        info = _read_info(fd)
        live = not _try_os_lock(fd)
        return LockStatus(info=info, live=live)
    finally:
        os.close(fd)


def force_unlock(directory: Path, lock_id: str) -> LockStatus:
    """Remove the lock of `directory` if its id is `lock_id`; LockError otherwise.

    Returns what was removed; `live` tells that a running process still held it."""
    lock_path = directory / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        raise LockError(f"state directory {directory} is not locked; nothing to unlock") from None
    except OSError as exc:
        raise StateError(f"cannot read the lock {lock_path}: {_cause(exc)}") from exc
    try:
        _check_regular(fd, lock_path)
        info = _read_info(fd)
        if info is None:
            raise LockError(
                f"the lock file {lock_path} cannot be read, so its id cannot be checked; "
                "if no reconciler run is active, delete that file by hand"
            )
        if info.id != lock_id.strip():
            raise LockError(
                f"lock id {lock_id!r} does not match the lock on {directory}, held by {info.describe()}; "
                "nothing was unlocked"
            )
        live = not _try_os_lock(fd)
        if _same_file(fd, lock_path):
            lock_path.unlink()
        return LockStatus(info=info, live=live)
    finally:
        os.close(fd)
