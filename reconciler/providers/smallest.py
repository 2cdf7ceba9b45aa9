"""Smallest AI Atoms: create by multipart POST, sync members in place (list, add, delete), delete.

Atoms has no rename. Member ids come from the members listing, which pages with `page` (from 1)
and `offset` (the page size). Each listed member's phone is normalised to E.164 so the caller can
fingerprint it exactly as it fingerprints the source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import phonenumbers

from reconciler.config.model import AudienceSpec
from reconciler.errors import CapabilityError, NotFoundError, ProviderError
from reconciler.providers.answers import as_int, mask_pii, parse_timestamp
from reconciler.providers.base import (
    Capabilities,
    HTTPProvider,
    Identity,
    Limits,
    MemberStrategy,
    Progress,
    RemoteAudience,
    sanitise_header,
)
from reconciler.providers.upload import FilePart
from reconciler.sources.members import Member, UploadFile

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("reconciler.providers.smallest")

# Documented limits: members per audience, bytes per CSV upload ("max 5MB": the docs do not say
# which megabyte, so the smaller reading).
MAX_MEMBERS = 10_000
MAX_UPLOAD_BYTES = 5_000_000
PAGE_SIZE = 500
BATCH_SIZE = 500
CREATE_SKEW_SECONDS = 120.0
MEMBER_FIELDS = ("phone", "email", "first_name", "last_name", "country", "identifier")


def to_e164(raw: object, region: str | None) -> str | None:
    """A listed phone value as E.164 ('+14155550123'); digits with '+' when it does not parse."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    candidates = [text] if text.startswith("+") else [text, "+" + digits]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return "+" + digits if digits else None


class Smallest(HTTPProvider):
    """The Smallest AI Atoms audiences API client."""

    name = "smallest"
    title = "Smallest"
    full_title = "Smallest AI Atoms"
    order = 30
    token_env = "SMALLEST_API_KEY"
    base_url_env = "SMALLEST_BASE_URL"
    default_base_url = "https://api.smallest.ai/atoms/v1"
    fields = MEMBER_FIELDS
    identity = Identity.PHONE
    audience_options = ("description",)
    limits = Limits(max_members=MAX_MEMBERS, max_upload_bytes=MAX_UPLOAD_BYTES)
    capabilities = Capabilities(
        rename=False, delete=True, members=MemberStrategy.ADD_REMOVE, list_members=True
    )
    emulator = "reconciler.emulator.smallest:SmallestApi"

    @classmethod
    def upload_headers(cls, columns: Mapping[str, str]) -> dict[str, str]:
        """The declared phone (and identifier) headers, sanitised to Smallest's column-name rule."""
        headers: dict[str, str] = {}
        if "phone" in columns:
            headers["phone"] = sanitise_header(columns["phone"], "phone")
        if "identifier" in columns:
            name = sanitise_header(columns["identifier"], "identifier")
            if name in headers.values():
                name = "identifier" if "identifier" not in headers.values() else f"{name}_id"
            headers["identifier"] = name
        return headers

    # -- reads --------------------------------------------------------------------------------

    def list_audiences(self) -> list[RemoteAudience]:
        """Every audience of the caller's organisation (GET /audience; not paginated)."""
        data = self._data(self.http.get_json("/audience"), "GET /audience")
        if not isinstance(data, list):
            raise self.http.error("GET /audience: unexpected answer (no audience list)")
        return [self._audience(item) for item in data if isinstance(item, dict) and item.get("_id")]

    def read(self, audience_id: str) -> RemoteAudience | None:
        """GET /audience/{id} plus the members listing's totalCount; None on 404."""
        try:
            data = self._data(self.http.get_json(f"/audience/{audience_id}"), "GET /audience/{id}")
        except NotFoundError:
            return None
        if not isinstance(data, dict) or not data.get("_id"):
            raise self.http.error("GET /audience/{id}: unexpected answer (no audience)")
        audience = self._audience(data)
        if audience.member_count is None:
            page = self._members_page(audience_id, page=1, size=1)
            audience.member_count = as_int(page.get("totalCount"))
        return audience

    def iter_members(self, audience_id: str, spec: AudienceSpec) -> Iterator[tuple[str, Member]]:
        """(member _id, normalised Member) for every member, PAGE_SIZE at a time."""
        headers = self.upload_headers(spec.columns)
        phone_column = self._phone_column(audience_id) or headers.get("phone")
        columns = {field: header for field, header in headers.items() if field in MEMBER_FIELDS}
        if phone_column:
            columns["phone"] = phone_column
        page = 1
        while True:
            body = self._members_page(audience_id, page=page, size=PAGE_SIZE)
            members = body.get("members")
            if not isinstance(members, list):
                raise self.http.error("GET /audience/{id}/members: unexpected answer (no member list)")
            for item in members:
                if isinstance(item, dict) and item.get("_id"):
                    yield str(item["_id"]), self._member(item.get("data"), columns, spec.phone_region)
            total_pages = as_int(body.get("totalPages"))
            more = body.get("hasMore")
            last = total_pages is None or page >= total_pages
            if not members or more is False or (more is None and last):
                return
            page += 1

    # -- writes -------------------------------------------------------------------------------

    def create(
        self,
        spec: AudienceSpec,
        upload: UploadFile,
        *,
        idempotency_key: str,
        progress: Progress | None = None,
    ) -> RemoteAudience:
        """Multipart POST /audience (name, phoneNumberColumnName, identifierColumnName when mapped,
        description when set, file). A lost answer is settled by listing and matching the name."""
        headers = self.upload_headers(spec.columns)
        phone_column = headers.get("phone")
        if not phone_column:
            raise CapabilityError(f"audience {spec.key!r}: Smallest needs a phone column", provider=self.name)
        if upload.rows > MAX_MEMBERS:
            raise CapabilityError(
                f"audience {spec.key!r} has {upload.rows:,} members; Smallest allows at most {MAX_MEMBERS:,}",
                provider=self.name,
            )
        if upload.size > MAX_UPLOAD_BYTES:
            raise CapabilityError(
                f"audience {spec.key!r}: the upload file is {upload.size:,} bytes; Smallest accepts at most "
                f"{MAX_UPLOAD_BYTES:,}",
                provider=self.name,
            )
        form = {"name": spec.name, "phoneNumberColumnName": phone_column}
        if headers.get("identifier"):
            form["identifierColumnName"] = headers["identifier"]
        if spec.description:
            form["description"] = spec.description
        started = self.http.wall()

        def parse(response: httpx.Response) -> RemoteAudience:
            data = self._data(self.http.decode(response), "POST /audience")
            if not isinstance(data, dict) or not data.get("_id"):
                raise self.http.error("POST /audience: the answer carries no audience id")
            audience = self._audience(data)
            audience.member_count = upload.rows
            return audience

        def landed() -> RemoteAudience | None:
            return self._created_since(spec.name, started)

        return self.http.post_checked(
            "/audience",
            data=form,
            file=FilePart(upload.path, "file", upload.path.name, "text/csv"),
            parse=parse,
            landed=landed,
            progress=progress,
        )

    def add_members(self, audience_id: str, spec: AudienceSpec, members: Sequence[Member]) -> int:
        """POST /audience/{id}/members in batches; returns how many Smallest added (duplicates are
        skipped by Smallest, which also makes a repeated batch harmless)."""
        headers = self.upload_headers(spec.columns)
        if not headers.get("phone"):
            raise CapabilityError(f"audience {spec.key!r}: Smallest needs a phone column", provider=self.name)
        added = 0
        path = f"/audience/{audience_id}/members"
        for start in range(0, len(members), BATCH_SIZE):
            rows = [self._row(member, headers) for member in members[start : start + BATCH_SIZE]]
            response = self.http.request("POST", path, json={"members": rows}, post="safe")
            added += _count(self._data(self.http.decode(response), f"POST {path}"), "added")
        return added

    def remove_members(self, audience_id: str, member_ids: Sequence[str]) -> int:
        """DELETE /audience/{id}/members {memberIds} in batches; returns how many were deleted."""
        deleted = 0
        path = f"/audience/{audience_id}/members"
        for start in range(0, len(member_ids), BATCH_SIZE):
            batch = [str(m) for m in member_ids[start : start + BATCH_SIZE]]
            response = self.http.request("DELETE", path, json={"memberIds": batch})
            deleted += _count(self._data(self.http.decode(response), f"DELETE {path}"), "deletedCount")
        return deleted

    def delete(self, audience_id: str) -> None:
        """DELETE /audience/{id}. Already gone counts as deleted; a 400 means a campaign uses it."""
        try:
            self.http.request("DELETE", f"/audience/{audience_id}")
        except NotFoundError:
            log.info("smallest audience %s was already gone", audience_id)
        except ProviderError as exc:
            if exc.status != 400:
                raise
            raise ProviderError(
                f"cannot delete audience {audience_id}: a campaign uses it; remove it from its campaigns "
                f"first ({exc.message.removeprefix('smallest: ')})",
                provider=self.name,
                status=400,
            ) from None

    # -- helpers ------------------------------------------------------------------------------

    def _data(self, body: object, label: str) -> object:
        if not isinstance(body, dict):
            raise self.http.error(f"{label}: unexpected answer (not a JSON object)")
        if body.get("status") is False:
            errors = body.get("errors")
            said = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
            raise self.http.error(f"{label} failed" + (f": {mask_pii(said)}" if said else ""))
        return body.get("data")

    def _members_page(self, audience_id: str, *, page: int, size: int) -> dict[str, Any]:
        path = f"/audience/{audience_id}/members"
        data = self._data(self.http.get_json(path, params={"page": page, "offset": size}), f"GET {path}")
        if not isinstance(data, dict):
            raise self.http.error(f"GET {path}: unexpected answer (no member page)")
        return data

    def _phone_column(self, audience_id: str) -> str | None:
        data = self._data(self.http.get_json(f"/audience/{audience_id}"), "GET /audience/{id}")
        column = data.get("phoneNumberColumnName") if isinstance(data, dict) else None
        return column if isinstance(column, str) and column else None

    def _audience(self, item: dict[str, Any]) -> RemoteAudience:
        return RemoteAudience(
            id=str(item["_id"]),
            name=str(item.get("name") or ""),
            status="ready",
            member_count=as_int(item.get("memberCount")),
            extra={
                "created_at": parse_timestamp(item.get("createdAt")),
                "has_campaigns": item.get("hasCampaigns"),
                "phone_column": item.get("phoneNumberColumnName"),
            },
        )

    @staticmethod
    def _member(data: object, columns: dict[str, str], region: str | None) -> Member:
        values: dict[str, str | None] = {}
        row = data if isinstance(data, dict) else {}
        for field, header in columns.items():
            raw = row.get(header)
            text = None if raw is None else str(raw).strip() or None
            if field == "phone":
                text = to_e164(text, region)
            elif field == "email" and text:
                text = text.lower()
            values[field] = text
        return Member(**values)

    @staticmethod
    def _row(member: Member, headers: dict[str, str]) -> dict[str, str]:
        row: dict[str, str] = {}
        for field, header in headers.items():
            value = getattr(member, field, None) if field in MEMBER_FIELDS else None
            if value is not None:
                row[header] = value
        return row

    def _created_since(self, name: str, started: float) -> RemoteAudience | None:
        recent = [
            a
            for a in self.find_by_name(name)
            if a.extra.get("created_at") is None or a.extra["created_at"] >= started - CREATE_SKEW_SECONDS
        ]
        if len(recent) > 1 or (recent and recent[0].extra.get("created_at") is None):
            raise ProviderError(
                f"creating audience {name!r} got no answer and Smallest's listing cannot tell which audience "
                "of that name it made; check Smallest and adopt the right one with `reconciler import`",
                provider=self.name,
            )
        return recent[0] if recent else None


def _count(data: object, key: str) -> int:
    """Sum `key` over an answer's data: {key: n}, {data: {key: n}} or a list of those."""
    items = data if isinstance(data, list) else [data]
    total = 0
    for item in items:
        if isinstance(item, dict):
            nested = item.get("data")
            inner = nested if isinstance(nested, dict) else item
            total += as_int(inner.get(key)) or 0
    return total
