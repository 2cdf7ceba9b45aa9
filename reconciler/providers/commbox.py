"""CommBox: create by multipart POST, replace members whole by PUT, read by listing.

CommBox has no get-one, no delete, no rename and no per-member calls (see docs/providers.md).
Dynamic audiences (saved UI filters) are never written to: `replace_members` lists first and
refuses them with a CapabilityError before any PUT.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.config.model import AudienceSpec
from reconciler.errors import CapabilityError, NotFoundError, ProviderError
from reconciler.providers.answers import as_int, mask_pii, parse_timestamp
from reconciler.providers.base import (
    Capabilities,
    HTTPProvider,
    Identity,
    MemberStrategy,
    Progress,
    RemoteAudience,
)
from reconciler.providers.upload import FilePart
from reconciler.sources.members import UploadFile

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("reconciler.providers.commbox")

# How far before our first create attempt a same-named audience may have been created and still
# count as ours (clock skew between us and CommBox).
CREATE_SKEW_SECONDS = 120.0


class CommBox(HTTPProvider):
    """The CommBox audiences API client."""

    name = "commbox"
    title = "CommBox"
    order = 10
    token_env = "COMMBOX_API_TOKEN"
    base_url_env = "COMMBOX_BASE_URL"
    default_base_url = "https://api.commbox.io/"
    fields = ("phone", "email", "first_name", "last_name", "country")
    identity = Identity.PHONE
    capabilities = Capabilities(rename=False, delete=False, members=MemberStrategy.PUT_REPLACE)
    emulator = "reconciler.emulator.commbox:CommboxApi"

    # The upload file: `phone1` holds the number without '+'; these attributes travel along.
    UPLOAD_ATTRIBUTES = ("email", "first_name", "last_name")

    @classmethod
    def upload_headers(cls, columns: Mapping[str, str]) -> dict[str, str]:
        headers = {"phone": "phone1"} if "phone" in columns else {}
        headers.update({f: f for f in cls.UPLOAD_ATTRIBUTES if f in columns})
        return headers

    @classmethod
    def upload_cell(cls, field: str, value: str) -> str:
        return value.lstrip("+") if field == "phone" else value

    # -- reads --------------------------------------------------------------------------------

    def list_audiences(self) -> list[RemoteAudience]:
        """Every audience (GET /audiences; CommBox does not paginate)."""
        body = self._checked(self.http.decode(self.http.request("GET", "/audiences")), "GET /audiences")
        items = body.get("data")
        if not isinstance(items, list):
            raise self.http.error("GET /audiences: unexpected answer (no audience list)")
        return [
            self._audience(item) for item in items if isinstance(item, dict) and item.get("id") is not None
        ]

    def read(self, audience_id: str) -> RemoteAudience | None:
        """The audience with this id from the listing, or None."""
        return next((a for a in self.list_audiences() if a.id == str(audience_id)), None)

    # -- writes -------------------------------------------------------------------------------

    def create(
        self,
        spec: AudienceSpec,
        upload: UploadFile,
        *,
        idempotency_key: str,
        progress: Progress | None = None,
    ) -> RemoteAudience:
        """POST /audiences (name + audience_file). When an attempt's answer is lost, the listing is
        read back and a same-named audience created since the first attempt is taken as ours.
        `member_count` is the number of rows uploaded (CommBox reports no count on create)."""
        started = self.http.wall()

        def parse(response: httpx.Response) -> RemoteAudience:
            body = self._checked(self.http.decode(response), "POST /audiences")
            data = body.get("data")
            new_id = data.get("id") if isinstance(data, dict) else None
            if new_id is None or str(new_id) == "":
                raise self.http.error("POST /audiences: the answer carries no audience id")
            return RemoteAudience(id=str(new_id), name=spec.name, member_count=upload.rows, kind="Static")

        def landed() -> RemoteAudience | None:
            return self._created_since(spec.name, started)

        return self.http.post_checked(
            "/audiences",
            data={"name": spec.name},
            file=FilePart(upload.path, "audience_file", upload.path.name, "text/csv"),
            parse=parse,
            landed=landed,
            progress=progress,
        )

    def replace_members(
        self, audience_id: str, upload: UploadFile, *, progress: Progress | None = None
    ) -> None:
        """PUT /Audiences/{id} with only `audience_file`: the audience then holds exactly the file's
        members. Refuses (CapabilityError, no PUT) an audience that is Dynamic."""
        current = self.read(audience_id)
        if current is None:
            raise NotFoundError(f"audience {audience_id} not found", provider=self.name, status=404)
        if (current.kind or "").lower() == "dynamic":
            raise CapabilityError(
                f"audience {audience_id} ({current.name!r}) is a Dynamic audience (a saved filter); "
                "CommBox only lets Static audiences have their members replaced, so it was not changed",
                provider=self.name,
            )
        path = f"/Audiences/{audience_id}"
        response = self.http.request(
            "PUT",
            path,
            file=FilePart(upload.path, "audience_file", upload.path.name, "text/csv"),
            progress=progress,
        )
        self._checked(self.http.decode(response), f"PUT {path}")

    # -- helpers ------------------------------------------------------------------------------

    def _checked(self, body: object, label: str) -> dict[str, object]:
        """The body as a dict, raising when its `status` ("200" or 200) says it failed."""
        if not isinstance(body, dict):
            raise self.http.error(f"{label}: unexpected answer (not a JSON object)")
        status = as_int(body.get("status"))
        if status is not None and status >= 400:
            said = body.get("description")
            detail = f": {mask_pii(str(said))}" if isinstance(said, str) and said else ""
            raise self.http.error(f"{label} failed (status {status}{detail})", status=status)
        return body

    def _audience(self, item: dict[str, object]) -> RemoteAudience:
        kind = item.get("type")
        return RemoteAudience(
            id=str(item["id"]),
            name=str(item.get("name") or ""),
            status="ready",
            member_count=as_int(item.get("user_count")),
            kind=str(kind) if kind is not None else None,
            extra={"created_time": item.get("created_time")},
        )

    def _created_since(self, name: str, started: float) -> RemoteAudience | None:
        """The audience named `name` created after `started` (less the skew), if exactly one."""
        matches = self.find_by_name(name)
        undated = [a for a in matches if parse_timestamp(a.extra.get("created_time")) is None]
        if undated:
            raise ProviderError(
                f"creating audience {name!r} got no answer, and CommBox's listing does not say when its "
                f"audiences named {name!r} were created; check CommBox and adopt the right one with "
                "`reconciler import`",
                provider=self.name,
            )
        recent = [
            a
            for a in matches
            if (parse_timestamp(a.extra.get("created_time")) or 0.0) >= started - CREATE_SKEW_SECONDS
        ]
        if len(recent) > 1:
            raise ProviderError(
                f"creating audience {name!r} got no answer and {len(recent)} audiences of that name appeared "
                "since; check CommBox and adopt the right one with `reconciler import`",
                provider=self.name,
            )
        return recent[0] if recent else None
