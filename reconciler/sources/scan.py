"""Streaming scan of a source: read, normalise, validate, de-duplicate, fingerprint."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from reconciler.model import AudienceSpec, SourceSpec
from reconciler.sources.members import Member, SourceScan, UploadFile


def scan_source(spec: AudienceSpec, key: bytes, *, workers: int | None = None) -> SourceScan:
    """Read `spec.source` once (streaming; phone parsing spread over `workers` processes)."""
    raise NotImplementedError


def iter_members(spec: AudienceSpec) -> Iterator[Member]:
    """Valid, de-duplicated members in source order, normalised exactly as `scan_source` does."""
    raise NotImplementedError


def fingerprint(member: Member, key: bytes) -> tuple[int, int]:
    """(identity fp 64-bit, attributes fp 32-bit), keyed with `key` (HMAC-SHA256 truncations).

    The identity is `member.identity()`; the attributes are every other mapped field."""
    raise NotImplementedError


def render_upload(spec: AudienceSpec, members: Iterable[Member], dest: Path) -> UploadFile:
    """Write the upload CSV for `spec.provider` to `dest` (CommBox `phone1`; Smallest the declared
    phone header; Whop headers matching its column_mapping)."""
    raise NotImplementedError


def write_rejects(scan: SourceScan, dest: Path) -> None:
    """Write `scan.issues` as CSV (row, reason, column, masked value)."""
    raise NotImplementedError


def read_headers(source: SourceSpec) -> list[str]:
    """The header row of a source (BOM stripped, delimiter sniffed); SourceError if unreadable."""
    raise NotImplementedError


def upload_headers(spec: AudienceSpec) -> dict[str, str]:
    """Mapped field -> header used in the rendered upload file for `spec.provider`
    (e.g. CommBox {"phone": "phone1", ...}); providers use it for column names and mappings."""
    raise NotImplementedError
