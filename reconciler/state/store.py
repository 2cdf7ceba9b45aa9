"""The state store: the only module that writes `state/`.

Layout of a state directory:
  state.json            versioned document: format_version, lineage, serial, fingerprint key (or
                        its check value), audiences, intents
  members/<digest>.fp   member fingerprints of one audience (12 bytes a member; content-addressed:
                        the name is `MemberSet.digest()`, the content `MemberSet.to_bytes()`)
  history/              the previous N state.json versions, named `<serial>-<lineage>.json`
  .lock                 the lock (JSON: id, who, when, operation) while a writing command runs
  .gitignore            keeps .lock and temp files out of git (written with the first save)

Public API (other modules rely on these names):
  AudienceState, Intent, State, LockInfo, LockStatus, utcnow_iso(),
  StateStore(directory).load() / .save(state, member_sets) / .members(entry) / .lock(operation) /
  .force_unlock(lock_id) / .lock_status() / .fingerprint_key(state)

Every write is atomic (temp file in the same directory, fsync, os.replace, fsync of the directory):
member files first, then state.json, so a run killed at any moment leaves either the old or the
new state, both complete. `lineage` (a uuid4) is fixed when the state is first written and
`serial` grows by one on every write; `save` refuses to write when the state on disk moved since
this State was loaded (another writer) or when the file on disk is unreadable (it is never
overwritten then: restore it from history/ or git).

Safe to commit. The state holds no tokens and no member data: each member is kept only as keyed
fingerprints, truncations of HMAC-SHA256 (64 bits of the identity, 32 bits of the other mapped
fields) under the *fingerprint key*. By default that key is a random 32-byte secret created with
the state and stored in state.json (`fingerprint_key`, hex). A fingerprint cannot be reversed,
but anyone who can read the repository - and so the key - can test a guess ("is +14155550123 in
this list?"), and phone numbers are few enough to try them all. Teams with sensitive lists should
set RECONCILER_FINGERPRINT_KEY from a CI secret:
the key is then never stored, only a check value (an HMAC of a constant) so that a run with a
different key stops with a clear error instead of reporting every member as changed. To move an
existing stored key out of the state, set RECONCILER_FINGERPRINT_KEY to the stored value once;
the next write drops it from state.json (older copies remain in history/ and git history). Both
keys are used as the UTF-8 bytes of the text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import LockError, StateError
from reconciler.sources.members import MemberSet
from reconciler.state import lock as statelock
from reconciler.state.backend import HISTORY_VERSIONS, HistoryVersion, Snapshot
from reconciler.state.data import (
    DIGEST_PATTERN,
    STATE_FORMAT_VERSION,
    AudienceState,
    Intent,
    State,
    encode_state,
    parse_document,
    utcnow_iso,
)
from reconciler.state.keys import FINGERPRINT_KEY_ENV, key_check, resolve_fingerprint_key
from reconciler.state.lock import LockInfo, LockStatus

__all__ = [
    "FINGERPRINT_KEY_ENV",
    "STATE_FORMAT_VERSION",
    "AudienceState",
    "Intent",
    "LockInfo",
    "LockStatus",
    "State",
    "StateStore",
    "key_check",
    "utcnow_iso",
]

STATE_FILE = "state.json"
MEMBERS_DIR = "members"
HISTORY_DIR = "history"
_STALE_TEMP_SECONDS = 3600.0
# Written into a new state directory: the state is committed, a lock or temp file never should be.
_GITIGNORE = (
    b"# written by reconciler: commit the state, never its lock or temp files\n.lock\n.lock-*\n.*.tmp\n"
)


# ---------------------------------------------------------------------------------------------
# Files


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _remove_stale_temp_files(*directories: Path) -> None:
    """Delete temp files left by runs killed mid-write (older than an hour, so never a live one)."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for directory in directories:
        for path in directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()


class StateStore:
    """Load and atomically save the state of one state directory."""

    def __init__(self, directory: Path, *, history: int = HISTORY_VERSIONS) -> None:
        self.directory = Path(directory)
        self.keep = history

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def location(self) -> str:
        """The state directory, as messages name it."""
        return str(self.directory)

    def exists(self) -> bool:
        """True when the directory holds a state.json."""
        return self.state_file.is_file()

    def close(self) -> None:
        """Nothing to release: every file is closed after use."""

    # -- reading ---------------------------------------------------------------------------

    def _read(self) -> tuple[State, bytes] | None:
        """The state on disk and its bytes; None when there is no state.json."""
        path = self.state_file
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read the state file {path}: {exc.strerror}") from exc
        broken = (
            f"the state file {path} is corrupt; reconciler will neither use nor overwrite it. "
            f"Fix it, or restore a previous version from {path.parent / HISTORY_DIR} or git"
        )
        return parse_document(data, str(path), broken), data

    def load(self) -> State:
        """The current state; an empty State (lineage None, serial 0) when the directory holds none."""
        found = self._read()
        return found[0] if found else State()

    def members(self, entry: AudienceState) -> MemberSet:
        """The fingerprints recorded for `entry` (empty when none); StateError if missing/corrupt."""
        digest = entry.member_digest
        if not digest:
            return MemberSet()
        if not DIGEST_PATTERN.fullmatch(digest):
            raise StateError(f"audience {entry.key!r} has an invalid member_digest in {self.state_file}")
        path = self.directory / MEMBERS_DIR / f"{digest}.fp"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StateError(
                f"the member file {path} of audience {entry.key!r} is missing; "
                f"restore the state directory from git"
            ) from None
        except OSError as exc:
            raise StateError(f"cannot read the member file {path}: {exc.strerror}") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise StateError(f"the member file {path} of audience {entry.key!r} is corrupt (digest mismatch)")
        try:
            return MemberSet.from_bytes(data)
        except ValueError as exc:
            raise StateError(f"the member file {path} of audience {entry.key!r} is corrupt: {exc}") from None

    # -- fingerprint key -------------------------------------------------------------------

    def fingerprint_key(self, state: State) -> bytes:
        """The fingerprint key of `state`: see `reconciler.state.keys.resolve_fingerprint_key`."""
        return resolve_fingerprint_key(state, str(self.state_file))

    # -- writing ---------------------------------------------------------------------------

    def save(self, state: State, member_sets: dict[str, MemberSet] | None = None) -> State:
        """Atomically write `state` and the member sets of the audiences in `member_sets`.

        Each member set is written to members/<digest>.fp and its audience entry's
        `member_digest`/`member_count` are set from it (its key must be in `state.audiences`).
        The previous state.json goes to history/ (the last `history` versions are kept) and member
        files no longer referenced by the state or kept history are deleted.

        Mutates `state` in place (serial + 1; lineage created when None; fingerprint key recorded
        when none was) and returns that same object. Refuses (StateError) when state.json on disk
        is unreadable or moved since `state` was loaded; nothing is written then."""
        sets = dict(member_sets or {})
        unknown = sorted(set(sets) - set(state.audiences))
        if unknown:
            raise ValueError(f"member sets given for audiences not in state: {', '.join(unknown)}")
        try:
            return self._save(state, sets)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise StateError(f"cannot write the state in {self.directory}:{where} {exc.strerror}") from exc

    def _save(self, state: State, sets: dict[str, MemberSet]) -> State:
        found = self._read()  # StateError when the file on disk is corrupt: never overwritten
        on_disk = (found[0].lineage, found[0].serial) if found else (None, 0)
        if on_disk != (state.lineage, state.serial):
            raise StateError(
                f"the state in {self.directory} changed since this run loaded it "
                f"(serial {state.serial} loaded, {on_disk[1]} on disk"
                + (", another lineage" if found and on_disk[0] != state.lineage else "")
                + "); another run wrote it. Nothing was written; run the command again"
            )
        if not state.fingerprint_key and not state.fingerprint_key_check:
            self.fingerprint_key(state)
        members_dir, history_dir = self._prepare_directory()

        digests = {key: member_set.digest() for key, member_set in sets.items()}
        for key, member_set in sets.items():
            self._write_member_file(members_dir / f"{digests[key]}.fp", digests[key], member_set)
        for key, entry in state.audiences.items():
            digest = digests.get(key, entry.member_digest)
            if digest and not (members_dir / f"{digest}.fp").is_file():
                raise StateError(f"audience {key!r} refers to member file {digest}.fp, which does not exist")

        audiences = dict(state.audiences)
        for key, member_set in sets.items():
            audiences[key] = replace(audiences[key], member_digest=digests[key], member_count=len(member_set))
        lineage = state.lineage or str(uuid.uuid4())
        serial = state.serial + 1
        data = encode_state(replace(state, lineage=lineage, serial=serial, audiences=audiences))
        if found:
            previous, previous_bytes = found
            atomic_write(history_dir / f"{previous.serial:08d}-{previous.lineage}.json", previous_bytes)
        atomic_write(self.state_file, data)

        state.lineage, state.serial = lineage, serial  # written: now reflect it in the caller's object
        for key in sets:
            entry = state.audiences[key]
            entry.member_digest, entry.member_count = (
                audiences[key].member_digest,
                audiences[key].member_count,
            )
        with contextlib.suppress(OSError):  # housekeeping: the new state is written already
            self._prune(state)
        return state

    @staticmethod
    def _write_member_file(path: Path, digest: str, member_set: MemberSet) -> None:
        """Write a content-addressed member file unless an intact copy is already there."""
        with contextlib.suppress(OSError):
            if path.stat().st_size == 12 * len(member_set) and _sha256_file(path) == digest:
                return
        atomic_write(path, member_set.to_bytes())

    def _prune(self, state: State) -> None:
        """Keep the last `history` versions; delete member files nothing kept refers to."""
        history_dir = self.directory / HISTORY_DIR
        versions = sorted(history_dir.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        excess = len(versions) - max(self.keep, 0)
        for path in versions[: max(excess, 0)]:
            with contextlib.suppress(OSError):
                path.unlink()
        referenced = {entry.member_digest for entry in state.audiences.values() if entry.member_digest}
        for path in versions[max(excess, 0) :]:
            try:
                raw = json.loads(path.read_bytes())
                referenced.update(
                    entry["member_digest"]
                    for entry in raw["audiences"].values()
                    if entry.get("member_digest")
                )
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return  # an unreadable history version: keep every member file, to be safe
        for path in (self.directory / MEMBERS_DIR).iterdir():
            if path.suffix == ".fp" and path.stem not in referenced:
                with contextlib.suppress(OSError):
                    path.unlink()
        _remove_stale_temp_files(self.directory, self.directory / MEMBERS_DIR, history_dir)

    # -- locking ---------------------------------------------------------------------------

    @contextmanager
    def lock(self, operation: str, *, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the state lock for `operation`; LockError naming the holder if it is still held
        after `timeout` seconds (0: fail at once).

        An abandoned lock (its run was killed) is taken over: see `LockInfo.taken_over`."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                held = statelock.acquire(self.directory, operation)
                break
            except LockError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(0.25, max(deadline - time.monotonic(), 0.01)))
        try:
            yield held.info
        finally:
            statelock.release(held)

    def lock_status(self) -> LockStatus | None:
        """The lock currently on the directory, or None when unlocked."""
        return statelock.status(self.directory)

    def force_unlock(self, lock_id: str, *, terminate: bool = False) -> LockStatus:
        """Release a lock left by a killed run; LockError if `lock_id` does not match. (`terminate`
        changes nothing here: a local lock file is removed even when its process still runs.)"""
        return statelock.force_unlock(self.directory, lock_id)

    # -- whole-state copies (history, migration) ---------------------------------------------

    def history(self) -> list[HistoryVersion]:
        """The kept previous versions of state.json, oldest first."""
        history_dir = self.directory / HISTORY_DIR
        try:
            paths = sorted(history_dir.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        except OSError as exc:
            raise StateError(f"cannot read the history in {history_dir}: {exc.strerror}") from exc
        versions = []
        for path in paths:
            serial, _, lineage = path.stem.partition("-")
            try:
                data = path.read_bytes()
                saved = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            except OSError as exc:
                raise StateError(f"cannot read the history version {path}: {exc.strerror}") from exc
            if serial.isdigit() and lineage:
                versions.append(HistoryVersion(int(serial), lineage, data, saved))
        return versions

    def snapshot(self) -> Snapshot:
        """The whole state: state.json, history/ and every member file they refer to."""
        found = self._read()
        history = self.history()
        digests = set()
        documents = ([found[1]] if found else []) + [v.document for v in history]
        for document in documents:
            digests.update(referenced_digests(document))
        members = {}
        for digest in sorted(digests):
            path = self.directory / MEMBERS_DIR / f"{digest}.fp"
            try:
                members[digest] = path.read_bytes()
            except OSError as exc:
                raise StateError(f"cannot read the member file {path}: {exc.strerror}") from exc
        return Snapshot(found[1] if found else None, history, members)

    def _prepare_directory(self) -> tuple[Path, Path]:
        """Create the state directory's member and history folders and its .gitignore; returns
        (members folder, history folder)."""
        members_dir = self.directory / MEMBERS_DIR
        history_dir = self.directory / HISTORY_DIR
        members_dir.mkdir(parents=True, exist_ok=True)
        history_dir.mkdir(exist_ok=True)
        if not (self.directory / ".gitignore").exists():
            atomic_write(self.directory / ".gitignore", _GITIGNORE)
        return members_dir, history_dir

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the state in this directory by `snapshot` (history keeps its order by mtime)."""
        try:
            members_dir, history_dir = self._prepare_directory()
            for path in [*history_dir.glob("*.json"), *members_dir.glob("*.fp")]:
                path.unlink()
            self.state_file.unlink(missing_ok=True)
            for digest, data in snapshot.members.items():
                atomic_write(members_dir / f"{digest}.fp", data)
            base = time.time() - len(snapshot.history) - 1
            for index, version in enumerate(snapshot.history):
                path = history_dir / f"{version.serial:08d}-{version.lineage}.json"
                atomic_write(path, version.document)
                os.utime(path, (base + index, base + index))
            if snapshot.document is not None:
                atomic_write(self.state_file, snapshot.document)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise StateError(f"cannot write the state in {self.directory}:{where} {exc.strerror}") from exc


def referenced_digests(document: bytes) -> set[str]:
    """The member digests a stored state document refers to (empty when it cannot be read)."""
    try:
        raw = json.loads(document)
        return {
            entry["member_digest"]
            for entry in raw["audiences"].values()
            if isinstance(entry, dict) and entry.get("member_digest")
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()
