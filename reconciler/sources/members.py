"""Value types of the sources package: members, fingerprint sets, scan results. No I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Member:
    """One normalised member. `phone` is E.164 with '+', `email` trimmed and lower-cased."""

    phone: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    country: str | None = None
    identifier: str | None = None

    def identity(self) -> str:
        """The member's identity: its phone when it has one, else its e-mail.

        E.g. 'phone:+14155550123' or 'email:jane@example.com'."""
        if self.phone:
            return f"phone:{self.phone}"
        return f"email:{self.email}"


@dataclass(frozen=True, slots=True)
class RowIssue:
    """An invalid source row: 1-based row number as the user sees it, reason code, masked value."""

    row: int
    reason: str  # missing_phone, invalid_phone, numeric_phone_cell, invalid_email, missing_email, ...
    masked: str  # masked offending value ('' when missing)
    column: str | None = None  # source header the value came from


class MemberSet:
    """An audience's members as keyed fingerprints, never raw values.

    `ids` holds each member's 64-bit identity fingerprint, sorted and unique; `attrs` holds the
    matching 32-bit fingerprint of its other mapped fields. On disk: 12 bytes a member (`to_bytes`).
    Backed by numpy so that a 1,000,000-member set loads and diffs in milliseconds.
    """

    __slots__ = ("attrs", "ids")

    def __init__(self, ids: Iterable[int] | np.ndarray = (), attrs: Iterable[int] | np.ndarray = ()) -> None:
        id_arr = np.asarray(ids if isinstance(ids, np.ndarray) else np.fromiter(ids, np.uint64), np.uint64)
        attr_arr = np.asarray(
            attrs if isinstance(attrs, np.ndarray) else np.fromiter(attrs, np.uint32), np.uint32
        )
        if id_arr.shape != attr_arr.shape:
            raise ValueError("ids and attrs must have the same length")
        order = np.argsort(id_arr, kind="stable")
        id_arr, attr_arr = id_arr[order], attr_arr[order]
        if len(id_arr) > 1:  # keep the first occurrence of a repeated identity
            keep = np.ones(len(id_arr), dtype=bool)
            keep[1:] = id_arr[1:] != id_arr[:-1]
            id_arr, attr_arr = id_arr[keep], attr_arr[keep]
        self.ids: np.ndarray = id_arr
        self.attrs: np.ndarray = attr_arr

    @classmethod
    def from_sorted(cls, ids: np.ndarray, attrs: np.ndarray) -> MemberSet:
        """Wrap arrays that are already sorted and unique (`ids` uint64, `attrs` uint32), no copy."""
        if ids.shape != attrs.shape:
            raise ValueError("ids and attrs must have the same length")
        result = cls.__new__(cls)
        result.ids, result.attrs = ids, attrs
        return result

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[int, int]]) -> MemberSet:
        """Build from (identity fp, attributes fp) pairs; a repeated identity keeps its first pair."""
        items = list(pairs)
        return cls([i for i, _ in items], [a for _, a in items])

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __contains__(self, identity_fp: object) -> bool:
        if not isinstance(identity_fp, int):
            return False
        pos = int(np.searchsorted(self.ids, np.uint64(identity_fp)))
        return pos < len(self.ids) and int(self.ids[pos]) == identity_fp

    def to_bytes(self) -> bytes:
        """Columnar little-endian: all 8-byte identity fps (sorted), then the 4-byte attribute fps."""
        return self.ids.astype("<u8").tobytes() + self.attrs.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> MemberSet:
        """Inverse of `to_bytes`; ValueError when the data is not a valid serialisation."""
        if len(data) % 12:
            raise ValueError(f"member fingerprint data has {len(data)} bytes, not a multiple of 12")
        count = len(data) // 12
        ids = np.frombuffer(data, dtype="<u8", count=count).astype(np.uint64)
        attrs = np.frombuffer(data, dtype="<u4", offset=8 * count).astype(np.uint32)
        if count > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise ValueError("member fingerprint data is not sorted and unique")
        result = cls.__new__(cls)
        result.ids, result.attrs = ids, attrs
        return result

    def digest(self) -> str:
        """Order-independent hex digest of the set (identity and attributes)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def diff(self, before: MemberSet) -> tuple[int, int, int]:
        """(added, removed, changed) relative to `before`; changed = same identity, new attributes."""
        common, new_idx, old_idx = np.intersect1d(
            self.ids, before.ids, assume_unique=True, return_indices=True
        )
        changed = int(np.count_nonzero(self.attrs[new_idx] != before.attrs[old_idx]))
        return len(self) - len(common), len(before) - len(common), changed

    def added_ids(self, before: MemberSet) -> np.ndarray:
        """Identity fps present here and not in `before` (sorted)."""
        return np.setdiff1d(self.ids, before.ids, assume_unique=True)

    def removed_ids(self, before: MemberSet) -> np.ndarray:
        """Identity fps present in `before` and not here (sorted)."""
        return np.setdiff1d(before.ids, self.ids, assume_unique=True)


@dataclass
class SourceScan:
    """Everything learned from reading one audience's source once."""

    audience: str
    source: str  # path as written in the declaration
    sha256: str  # of the source file's bytes
    rows_read: int = 0
    valid: int = 0  # rows that normalised (before de-duplication)
    invalid: dict[str, int] = field(default_factory=dict)  # reason code -> count
    issues: list[RowIssue] = field(default_factory=list)  # every invalid row, masked
    duplicates: int = 0  # valid rows dropped because their identity was already seen
    conflicting_duplicates: int = 0  # of those, rows whose other mapped fields disagreed
    members: MemberSet = field(default_factory=MemberSet)

    @property
    def member_count(self) -> int:
        return len(self.members)

    @property
    def invalid_count(self) -> int:
        return sum(self.invalid.values())


@dataclass(frozen=True)
class UploadFile:
    """A rendered provider upload file on disk."""

    path: Path
    rows: int  # data rows (members), header excluded
    size: int  # bytes
    sha256: str
    headers: tuple[str, ...]
