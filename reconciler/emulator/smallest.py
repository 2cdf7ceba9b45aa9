"""Smallest AI Atoms audiences: CSV create, list, get, delete, member listing, add and delete.

Limits as documented: CSV text only, at most 5 MB; at most 10,000 members; column names of
letters, digits and `_`, unique; a duplicate phone fails the whole create; a DELETE is refused
while a campaign uses the audience. Assumption where the docs are silent: a phone is `+` then
7 to 15 digits (or the digits alone); anything else fails the create with 400.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from reconciler.emulator.base import Context, ProviderApi
from reconciler.emulator.multipart import discard, parse_multipart
from reconciler.emulator.tables import open_table
from reconciler.emulator.wire import ApiError, Request, Response

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_MEMBERS = 10_000
DEFAULT_PAGE_SIZE = 10
COLUMN_RE = re.compile(r"[A-Za-z0-9_]+\Z")
PHONE_RE = re.compile(r"\+?[0-9]{7,15}\Z")
DUPLICATE_MESSAGE = (
    "Some phone numbers in your CSV already exist in this audience. "
    "Please remove duplicate entries and try again."
)
LIMIT_MESSAGE = f"Audience cannot exceed {MAX_MEMBERS} members"
MESSAGES = {
    401: "Unauthorized access",
    404: "Audience not found",
    405: "Method not allowed",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def _iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"
    )


def phone_key(value: str) -> str:
    """The identity of a phone for duplicate checks: its digits."""
    return value.strip().lstrip("+")


@dataclass
class SmallestAudience:
    _id: str
    name: str
    description: str
    phone_column: str
    identifier_column: str
    organization: str
    created_by: str
    created_at: str
    updated_at: str
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # member _id -> data
    phones: set[str] = field(default_factory=set)
    has_campaigns: bool = False

    def to_json(self, listing: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "_id": self._id,
            "name": self.name,
            "description": self.description,
            "phoneNumberColumnName": self.phone_column,
            "identifierColumnName": self.identifier_column,
            "organization": self.organization,
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if listing:
            data.update(memberCount=len(self.members), hasCampaigns=self.has_campaigns)
        return data


class SmallestApi(ProviderApi):
    """The emulated Smallest AI Atoms API (base URL .../smallest/atoms/v1)."""

    name = "smallest"
    prefix = "/smallest/atoms/v1"

    def __init__(self, ctx: Context, token: str) -> None:
        super().__init__(ctx, token)
        self.store: dict[str, SmallestAudience] = {}
        self.organization, self.user = ctx.hex_id(), ctx.hex_id()
        self.route("POST", r"/audience", self.create)
        self.route("GET", r"/audience", self.list_all)
        self.route("GET", r"/audience/([^/]+)", self.get_one)
        self.route("DELETE", r"/audience/([^/]+)", self.delete)
        self.route("GET", r"/audience/([^/]+)/members", self.list_members)
        self.route("POST", r"/audience/([^/]+)/members", self.add_members)
        self.route("DELETE", r"/audience/([^/]+)/members", self.delete_members)

    def error(self, status: int, message: str, kind: str = "") -> Response:
        if status in (401, 429, 500, 503) and message in (
            "Unauthorized",
            "Server Error",
            "Service Unavailable",
        ):
            message = MESSAGES[status]
        return Response(status, {"status": False, "errors": [message]})

    def throttled(self, retry_after: int, send_header: bool = True) -> Response:
        return Response(
            429,
            {"status": False, "errors": [MESSAGES[429]], "retry_after": retry_after},
            {"Retry-After": str(retry_after)},
        )

    def _get(self, audience_id: str) -> SmallestAudience:
        audience = self.store.get(audience_id)
        if audience is None:
            raise ApiError(404, MESSAGES[404])
        return audience

    def create(self, req: Request) -> Response:
        """POST /audience multipart (name, phoneNumberColumnName, file; description, identifierColumnName)."""
        form = parse_multipart(req.body, req.header("Content-Type"), self.ctx.tmpdir, MAX_FILE_BYTES)
        try:
            fields = form.fields
            for key in ("name", "phoneNumberColumnName"):
                if not fields.get(key, "").strip():
                    raise ApiError(400, f"{key} is required")
            part = form.files.get("file")
            if part is None or part.filename is None:
                raise ApiError(400, "file is required")
            if part.truncated:
                raise ApiError(400, "File size exceeds the maximum limit of 5MB")
            phone_col = fields["phoneNumberColumnName"].strip()
            ident_col = fields.get("identifierColumnName", "").strip()
            rows = self._read_rows(
                open_table(part.path, allow_excel=False).header, part.path, phone_col, ident_col
            )
        finally:
            discard(form)
        now = _iso(self.ctx.now())
        audience = SmallestAudience(
            self.ctx.hex_id(),
            fields["name"].strip(),
            fields.get("description", ""),
            phone_col,
            ident_col,
            self.organization,
            self.user,
            now,
            now,
        )
        for row in rows:
            audience.members[self.ctx.hex_id()] = row
            audience.phones.add(phone_key(row[phone_col]))
        with self.lock:
            self.store[audience._id] = audience
        req.summary.update(rows=len(rows))
        return Response(200, {"status": True, "data": audience.to_json()})

    def _read_rows(
        self, header: tuple[str, ...], path: Any, phone_col: str, ident_col: str
    ) -> list[dict[str, str]]:
        bad = [h for h in header if not COLUMN_RE.match(h)]
        if bad:
            raise ApiError(400, f"Invalid column name '{bad[0]}': use letters, numbers and underscores only")
        if len(set(header)) != len(header):
            raise ApiError(400, "Duplicate column names are not allowed")
        if phone_col not in header:
            raise ApiError(400, f"Phone number column '{phone_col}' not found in CSV")
        if ident_col and ident_col not in header:
            raise ApiError(400, f"Identifier column '{ident_col}' not found in CSV")
        rows: list[dict[str, str]] = []
        seen: set[str] = set()
        for number, row in enumerate(open_table(path, allow_excel=False).rows(), start=2):
            phone = row[phone_col].strip()
            if not PHONE_RE.match(phone):
                raise ApiError(400, f"Invalid phone number in row {number}")
            if phone_key(phone) in seen:
                raise ApiError(400, DUPLICATE_MESSAGE)
            seen.add(phone_key(phone))
            if len(rows) >= MAX_MEMBERS:
                raise ApiError(400, LIMIT_MESSAGE)
            rows.append(row)
        return rows

    def list_all(self, req: Request) -> Response:
        """GET /audience: the organisation's audiences, with memberCount and hasCampaigns."""
        data = self.audiences()
        req.summary.update(audiences=len(data))
        return Response(200, {"status": True, "data": data})

    def get_one(self, req: Request, audience_id: str) -> Response:
        """GET /audience/{id}."""
        with self.lock:
            return Response(200, {"status": True, "data": self._get(audience_id).to_json(listing=True)})

    def delete(self, req: Request, audience_id: str) -> Response:
        """DELETE /audience/{id}; 400 while a campaign uses the audience."""
        with self.lock:
            if self._get(audience_id).has_campaigns:
                raise ApiError(400, "Audience is being used in one or more campaigns and cannot be deleted")
            del self.store[audience_id]
        return Response(200, {"status": True, "data": []})

    def list_members(self, req: Request, audience_id: str) -> Response:
        """GET /audience/{id}/members?page=&offset= (offset is the page size; `limit` is ignored)."""
        page = _positive(req.arg("page"), 1, "page")
        size = _positive(req.arg("offset"), DEFAULT_PAGE_SIZE, "offset")
        with self.lock:
            items = list(self._get(audience_id).members.items())
        chunk = items[(page - 1) * size : page * size]
        total_pages = math.ceil(len(items) / size) if items else 0
        req.summary.update(members=len(chunk))
        return Response(
            200,
            {
                "status": True,
                "data": {
                    "members": [{"_id": mid, "data": dict(data)} for mid, data in chunk],
                    "totalCount": len(items),
                    "totalPages": total_pages,
                    "hasMore": page < total_pages,
                },
            },
        )

    def add_members(self, req: Request, audience_id: str) -> Response:
        """POST /audience/{id}/members {members: [...]}: duplicates are skipped and counted."""
        members = req.json().get("members")
        if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
            raise ApiError(400, "members must be an array of objects")
        with self.lock:
            audience = self._get(audience_id)
            col = audience.phone_column
            fresh: list[dict[str, str]] = []
            seen = set(audience.phones)
            for member in members:
                phone = str(member.get(col, "")).strip()
                if not PHONE_RE.match(phone):
                    raise ApiError(400, f"Each member needs a valid '{col}'")
                if phone_key(phone) not in seen:
                    seen.add(phone_key(phone))
                    fresh.append({str(k): str(v) for k, v in member.items()})
            if len(audience.members) + len(fresh) > MAX_MEMBERS:
                raise ApiError(400, LIMIT_MESSAGE)
            for row in fresh:
                audience.members[self.ctx.hex_id()] = row
            audience.phones = seen
            audience.updated_at = _iso(self.ctx.now())
        req.summary.update(members=len(members), added=len(fresh))
        result = {
            "message": "Members added successfully",
            "data": {"added": len(fresh), "skipped": len(members) - len(fresh)},
        }
        return Response(200, {"status": True, "data": [result]})

    def delete_members(self, req: Request, audience_id: str) -> Response:
        """DELETE /audience/{id}/members {memberIds}: unknown ids are not counted."""
        ids = req.json().get("memberIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiError(400, "memberIds must be an array of strings")
        with self.lock:
            audience = self._get(audience_id)
            deleted = 0
            for mid in dict.fromkeys(ids):
                row = audience.members.pop(mid, None)
                if row is not None:
                    deleted += 1
                    audience.phones.discard(phone_key(row.get(audience.phone_column, "")))
            audience.updated_at = _iso(self.ctx.now())
        req.summary.update(members=len(ids), deleted=deleted)
        return Response(200, {"status": True, "data": {"deletedCount": deleted}})

    # -- inspection and test hooks -------------------------------------------------------------

    def audiences(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a.to_json(listing=True) for a in self.store.values()]

    def members(self, audience_id: str) -> list[dict[str, str]]:
        with self.lock:
            return [dict(m) for m in self.store[audience_id].members.values()]

    def set_has_campaigns(self, audience_id: str, value: bool = True) -> None:
        """Test hook: mark an audience as used by a campaign (DELETE then answers 400)."""
        with self.lock:
            self.store[audience_id].has_campaigns = value

    def remove(self, audience_id: str) -> None:
        with self.lock:
            del self.store[audience_id]


def _positive(value: str | None, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise ApiError(400, f"{name} must be a positive integer")
    return int(value)
