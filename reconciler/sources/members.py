"""Value types of the sources package: members, fingerprint sets, scan results. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Member:
    """One normalised member. `phone` is E.164 with '+', `email` trimmed and lower-cased."""

    phone: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    country: str | None = None
    identifier: str | None = None

    def identity(self, field_name: str) -> str:
        """The identity string for `field_name` ('phone' or 'email'), e.g. 'phone:+14155550123'."""
        value = self.phone if field_name == "phone" else self.email
        return f"{field_name}:{value}"


@dataclass(frozen=True, slots=True)
class RowIssue:
    """An invalid source row: 1-based row number as the user sees it, reason code, masked value."""

    row: int
    reason: str  # missing_phone, invalid_phone, numeric_phone_cell, invalid_email, missing_email, ...
    masked: str  # masked offending value ('' when missing)
    column: str | None = None  # source header the value came from


class MemberSet:
    """An audience's members as keyed fingerprints: identity fp (64-bit) -> attributes fp (32-bit).

    Stored on disk as 12 bytes per member (see `to_bytes`). Never holds raw values.
    """

    __slots__ = ("fps",)

    def __init__(self, fps: dict[int, int] | None = None) -> None:
        self.fps: dict[int, int] = fps if fps is not None else {}

    def __len__(self) -> int:
        return len(self.fps)

    def to_bytes(self) -> bytes:
        """Serialise sorted by identity fp: 8-byte big-endian identity + 4-byte attributes each."""
        raise NotImplementedError

    @classmethod
    def from_bytes(cls, data: bytes) -> MemberSet:
        """Inverse of `to_bytes`; raises ValueError when the length is not a multiple of 12."""
        raise NotImplementedError

    def digest(self) -> str:
        """Order-independent hex digest of the set (identity and attributes)."""
        raise NotImplementedError

    def diff(self, before: MemberSet) -> tuple[int, int, int]:
        """(added, removed, changed) relative to `before`; changed = same identity, new attributes."""
        raise NotImplementedError


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
