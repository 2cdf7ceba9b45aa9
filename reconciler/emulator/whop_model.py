"""Whop's data model: audiences, their background jobs and status progression, request checks.

Pure data and rules, no HTTP: `whop.py` serves them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reconciler.emulator.wire import ApiError

VERSION_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:-(\d+))?\Z")
IDENTITY_FIELDS = ("email", "phone", "first_name", "last_name", "country")
Outcome = Literal["ready", "partial", "failed"]


@dataclass
class Job:
    """One file being ingested into an audience."""

    path: Path
    rows: int
    matched: int
    outcome: Outcome
    error_message: str | None


@dataclass
class WhopAudience:
    """One audience; `files` hold its members (CSV files on disk), `job` the processing under way."""

    id: str
    seq: int
    account_id: str
    name: str
    column_mapping: dict[str, str]
    created_at: int
    updated_at: int
    status: str = "pending"
    total_rows: int = 0
    processed_rows: int = 0
    matched_rows: int = 0
    error_message: str | None = None
    platform_audience_ids: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    job: Job | None = None
    polls: int = 0

    def to_json(self) -> dict[str, Any]:
        progress = {"pending": 0, "processing": 50, "syncing": 90}.get(self.status, 100)
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "total_rows": self.total_rows,
            "processed_rows": self.processed_rows,
            "matched_rows": self.matched_rows,
            "progress_percent": progress,
            "error_message": self.error_message,
            "platform_audience_ids": list(self.platform_audience_ids),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def advance(self, polls_per_step: int, now: int, platform_id: Callable[[], str]) -> None:
        """One read of the audience: after `polls_per_step` reads, its job moves one status step."""
        job = self.job
        if job is None:
            return
        self.polls += 1
        if self.polls < polls_per_step:
            return
        self.polls = 0
        base = self.total_rows - job.rows
        self.updated_at = now
        if self.status == "pending":
            self.status, self.processed_rows = "processing", base + job.rows // 2
        elif self.status == "processing":
            self.status, self.processed_rows = "syncing", self.total_rows
        else:
            self._finish(job, platform_id)

    def _finish(self, job: Job, platform_id: Callable[[], str]) -> None:
        self.job, self.status, self.error_message = None, job.outcome, job.error_message
        self.processed_rows = self.total_rows
        if job.outcome == "failed":
            return
        lost = max(1, job.matched // 10) if job.outcome == "partial" and job.matched else 0
        if job.outcome == "partial":
            self.error_message = job.error_message or f"{lost} rows could not be matched"
        self.matched_rows += job.matched - lost
        self.files.append(job.path)
        if not self.platform_audience_ids:
            self.platform_audience_ids = [platform_id()]


def parse_version(value: str) -> tuple[int, int, int, int] | None:
    """An Api-Version-Date ("2026-08-21" or "2026-08-21-1") as a comparable tuple; None if malformed."""
    match = VERSION_RE.match(value.strip())
    if match is None:
        return None
    year, month, day, rev = match.groups()
    return int(year), int(month), int(day), int(rev or 0)


def check_mapping(mapping: Any) -> dict[str, str]:
    """A valid column_mapping (identity field -> CSV header); ApiError(400) otherwise."""
    if not isinstance(mapping, dict) or not mapping:
        raise ApiError(400, "Missing required parameter: column_mapping")
    unknown = sorted(k for k in mapping if k not in IDENTITY_FIELDS)
    if unknown:
        raise ApiError(400, f"column_mapping has unknown fields: {', '.join(map(str, unknown))}")
    if not all(isinstance(v, str) and v for v in mapping.values()):
        raise ApiError(400, "column_mapping values must be column headers")
    if "email" not in mapping and "phone" not in mapping:
        raise ApiError(400, "column_mapping must map at least email or phone")
    return {str(k): str(v) for k, v in mapping.items()}


def int_arg(value: str | None, default: int, name: str) -> int:
    """An integer query argument, `default` when absent; ApiError(400) when not a number."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None


def encode_cursor(seq: int) -> str:
    """The opaque paging cursor for an audience's creation sequence number."""
    return base64.urlsafe_b64encode(f"aud:{seq}".encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> int:
    """The sequence number in a cursor (0 when absent); ApiError(400) for anything else."""
    if not value:
        return 0
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        prefix, _, seq = text.partition(":")
        if prefix != "aud" or not seq.isascii() or not seq.isdigit():
            raise ValueError(text)
        if encode_cursor(int(seq)) != value.rstrip("="):  # only cursors this server issued
            raise ValueError(text)
        return int(seq)
    except ValueError:
        raise ApiError(400, "after is not a valid cursor") from None
