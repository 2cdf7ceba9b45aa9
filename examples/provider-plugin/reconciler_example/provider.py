"""The Example Lists API as a reconciler provider: everything the core needs, in one class.

The API (fictional; served by `reconciler_example.emulator` under `reconciler emulate`):
  GET    /lists                 {"lists": [List]}           every list of the account
  GET    /lists/{id}            List | 404
  POST   /lists                 multipart name + file (CSV: phone, first_name, last_name) -> 201 List
  PUT    /lists/{id}/members    multipart file -> List       replaces every member
  PATCH  /lists/{id}            JSON {"name"} -> List        renames
  DELETE /lists/{id}            204
List: {"id", "name", "size", "created_at"}; errors: {"error": {"message"}}; bearer token auth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.config.model import AudienceSpec
from reconciler.errors import NotFoundError, ProviderError
from reconciler.providers.answers import as_int, parse_timestamp
from reconciler.providers.base import (
    Capabilities,
    HTTPProvider,
    Identity,
    Limits,
    MemberStrategy,
    Progress,
    RemoteAudience,
)
from reconciler.providers.upload import FilePart
from reconciler.sources.members import UploadFile

if TYPE_CHECKING:
    import httpx

CREATE_SKEW_SECONDS = 120.0


class Example(HTTPProvider):
    """The Example Lists API client and profile."""

    name = "example"
    title = "Example"
    full_title = "Example Lists"
    token_env = "EXAMPLE_API_TOKEN"
    base_url_env = "EXAMPLE_BASE_URL"
    default_base_url = "https://api.example.invalid/v1"
    fields = ("phone", "first_name", "last_name")
    identity = Identity.PHONE
    limits = Limits(max_members=100_000)
    capabilities = Capabilities(rename=True, delete=True, members=MemberStrategy.PUT_REPLACE)
    emulator = "reconciler_example.emulator:ExampleApi"

    # -- reads --------------------------------------------------------------------------------

    def list_audiences(self) -> list[RemoteAudience]:
        body = self.http.get_json("/lists")
        items = body.get("lists") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self.http.error("GET /lists: unexpected answer (no list of lists)")
        return [self._audience(item) for item in items if isinstance(item, dict) and item.get("id")]

    def read(self, audience_id: str) -> RemoteAudience | None:
        try:
            body = self.http.get_json(f"/lists/{audience_id}")
        except NotFoundError:
            return None
        if not isinstance(body, dict) or not body.get("id"):
            raise self.http.error("GET /lists/{id}: unexpected answer (no list)")
        return self._audience(body)

    # -- writes -------------------------------------------------------------------------------

    def create(
        self,
        spec: AudienceSpec,
        upload: UploadFile,
        *,
        idempotency_key: str,
        progress: Progress | None = None,
    ) -> RemoteAudience:
        """POST /lists; a lost answer is settled by finding the list created since by its name."""
        started = self.http.wall()

        def parse(response: httpx.Response) -> RemoteAudience:
            body = self.http.decode(response)
            if not isinstance(body, dict) or not body.get("id"):
                raise self.http.error("POST /lists: the answer carries no list id")
            return self._audience(body)

        def landed() -> RemoteAudience | None:
            recent = [
                a for a in self.find_by_name(spec.name)
                if (a.extra.get("created_at") or 0.0) >= started - CREATE_SKEW_SECONDS
            ]
            if len(recent) > 1:
                raise ProviderError(
                    f"creating list {spec.name!r} got no answer and {len(recent)} lists of that name "
                    "appeared since; adopt the right one with `reconciler import`",
                    provider=self.name,
                )
            return recent[0] if recent else None

        return self.http.post_checked(
            "/lists",
            data={"name": spec.name},
            file=FilePart(upload.path, "file", upload.path.name, "text/csv"),
            parse=parse,
            landed=landed,
            progress=progress,
        )

    def replace_members(
        self, audience_id: str, upload: UploadFile, *, progress: Progress | None = None
    ) -> None:
        self.http.request(
            "PUT",
            f"/lists/{audience_id}/members",
            file=FilePart(upload.path, "file", upload.path.name, "text/csv"),
            progress=progress,
        )

    def rename(self, audience_id: str, name: str) -> None:
        self.http.request("PATCH", f"/lists/{audience_id}", json={"name": name})

    def delete(self, audience_id: str) -> None:
        try:
            self.http.request("DELETE", f"/lists/{audience_id}")
        except NotFoundError:
            return  # already gone counts as deleted

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _audience(item: dict[str, Any]) -> RemoteAudience:
        return RemoteAudience(
            id=str(item["id"]),
            name=str(item.get("name") or ""),
            member_count=as_int(item.get("size")),
            extra={"created_at": parse_timestamp(item.get("created_at"))},
        )
