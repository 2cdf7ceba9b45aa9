"""Whop: upload a file (POST /files, presigned PUT, poll), then create or append from its id and
poll the audience until usable. Renames by PATCH, deletes by DELETE, lists page by page.

Every call carries the one pinned `Api-Version-Date` (API_VERSION_DATE); every POST that creates
something carries an `Idempotency-Key`, so retrying it can never create twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.config.model import AudienceSpec
from reconciler.errors import CapabilityError, NotFoundError
from reconciler.providers.answers import as_int, mask_pii, parse_timestamp
from reconciler.providers.base import (
    Capabilities,
    Endpoint,
    HTTPProvider,
    Identity,
    MemberStrategy,
    Progress,
    Provider,
    RemoteAudience,
    Setting,
)
from reconciler.providers.retry import RetryPolicy
from reconciler.sources.members import UploadFile

if TYPE_CHECKING:
    import httpx

    from reconciler.providers.http import ProviderHTTP

log = logging.getLogger("reconciler.providers.whop")

# The one pinned API generation; /files needs 2026-08-21-1 or later.
API_VERSION_DATE = "2026-08-21-1"
MAPPABLE = ("email", "phone", "first_name", "last_name", "country")
TERMINAL = frozenset({"ready", "partial", "failed"})
PAGE_SIZE = 100
MAX_IDEMPOTENCY_KEY = 255

T = TypeVar("T")


class Whop(HTTPProvider):
    """The Whop audiences API client (one account)."""

    name = "whop"
    title = "Whop"
    order = 20
    token_env = "WHOP_API_KEY"
    base_url_env = "WHOP_BASE_URL"
    default_base_url = "https://api.whop.com/api/v1"
    settings = {  # noqa: RUF012 - a read-only class-level declaration
        "account_id": Setting(
            "the Whop business account id (biz_...); defaults to the WHOP_ACCOUNT_ID environment variable",
            env="WHOP_ACCOUNT_ID",
            required=True,
            label="account id",
        ),
    }
    fields = ("phone", "email", "first_name", "last_name", "country")
    identity = Identity.PHONE_OR_EMAIL
    capabilities = Capabilities(rename=True, delete=True, members=MemberStrategy.APPEND_OR_RECREATE)
    emulator = "reconciler.emulator.whop:WhopApi"

    @classmethod
    def http_options(cls) -> dict[str, Any]:
        """Whop's SDKs also retry 408 and 409; every call pins the API generation."""
        return {
            "policy": RetryPolicy(extra_statuses=frozenset({408, 409})),
            "headers": {"Api-Version-Date": API_VERSION_DATE},
        }

    @classmethod
    def connect(
        cls,
        endpoint: Endpoint,
        settings: Mapping[str, object],
        client: httpx.Client,
        *,
        owns_client: bool,
        sleep: Callable[[float], None],
    ) -> Provider:
        account = settings.get("account_id")
        return cls(cls.session(endpoint, client, sleep), str(account or ""), owns_client=owns_client)

    def __init__(
        self,
        http: ProviderHTTP,
        account_id: str,
        *,
        owns_client: bool = False,
        poll_timeout: float = 1800.0,
        file_timeout: float = 600.0,
        poll_cap: float = 15.0,
    ) -> None:
        super().__init__(http, owns_client=owns_client)
        self.account_id = account_id
        self.poll_timeout = poll_timeout
        self.file_timeout = file_timeout
        self.poll_cap = poll_cap

    def __repr__(self) -> str:
        return f"Whop({self.http.base_url!r}, account_id={self.account_id!r})"

    # -- reads --------------------------------------------------------------------------------

    def list_audiences(self) -> list[RemoteAudience]:
        """Every audience of the account (GET /audiences, `first=100`, following `after` cursors)."""
        result: list[RemoteAudience] = []
        after: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"account_id": self.account_id, "first": PAGE_SIZE}
            if after:
                params["after"] = after
            body = self._object(self.http.get_json("/audiences", params=params), "GET /audiences")
            result.extend(self._audiences(body))
            info = body.get("page_info")
            cursor = info.get("end_cursor") if isinstance(info, dict) else None
            if not (isinstance(info, dict) and info.get("has_next_page") and isinstance(cursor, str)):
                return result
            if cursor in seen:
                raise self.http.error("GET /audiences: the listing repeats a page cursor")
            seen.add(cursor)
            after = cursor

    def read(self, audience_id: str) -> RemoteAudience | None:
        """GET /audiences?account_id=…&audience_id=…; None when the account has no such audience."""
        params = {"account_id": self.account_id, "audience_id": audience_id}
        body = self._object(self.http.get_json("/audiences", params=params), "GET /audiences")
        return next((a for a in self._audiences(body) if a.id == audience_id), None)

    # -- writes -------------------------------------------------------------------------------

    def create(
        self,
        spec: AudienceSpec,
        upload: UploadFile,
        *,
        idempotency_key: str,
        progress: Progress | None = None,
    ) -> RemoteAudience:
        """Upload the file, POST /audiences with an Idempotency-Key, and wait until it is usable.

        A `partial` audience is returned with its `error_message` (the caller warns); a `failed`
        one raises a ProviderError with Whop's message."""
        mapping = self.column_mapping(spec)
        file_id = self._upload(upload, progress)
        payload = {
            "account_id": self.account_id,
            "name": spec.name,
            "column_mapping": mapping,
            "file_id": file_id,
        }
        response = self.http.request(
            "POST", "/audiences", json=payload, headers=self._key(idempotency_key), post="safe"
        )
        audience = self._audience(self._object(self.http.decode(response), "POST /audiences"))
        return self._wait(audience, progress)

    def append_members(
        self,
        audience_id: str,
        spec: AudienceSpec,
        upload: UploadFile,
        *,
        idempotency_key: str,
        progress: Progress | None = None,
    ) -> RemoteAudience:
        """Upload the file of new members, POST /audiences/{id}/add_people, wait until usable."""
        self.column_mapping(spec)
        file_id = self._upload(upload, progress)
        path = f"/audiences/{audience_id}/add_people"
        response = self.http.request(
            "POST", path, json={"file_id": file_id}, headers=self._key(idempotency_key), post="safe"
        )
        body = self.http.decode(response)
        if isinstance(body, dict) and body.get("id"):
            audience = self._audience(body)
        else:
            found = self.read(audience_id)
            if found is None:
                raise NotFoundError(f"audience {audience_id} not found", provider=self.name, status=404)
            audience = found
        return self._wait(audience, progress)

    def rename(self, audience_id: str, name: str) -> None:
        """PATCH /audiences/{id} {name}."""
        self.http.request("PATCH", f"/audiences/{audience_id}", json={"name": name})

    def delete(self, audience_id: str) -> None:
        """DELETE /audiences/{id}; an audience Whop no longer knows counts as deleted."""
        try:
            self.http.request("DELETE", f"/audiences/{audience_id}")
        except NotFoundError:
            log.info("whop audience %s was already gone", audience_id)

    # -- helpers ------------------------------------------------------------------------------

    def column_mapping(self, spec: AudienceSpec) -> dict[str, str]:
        """Whop identity field -> upload file header, from `upload_headers(spec)`."""
        headers = self.upload_headers(spec.columns)
        mapping = {field: header for field, header in headers.items() if field in MAPPABLE}
        if "email" not in mapping and "phone" not in mapping:
            raise CapabilityError(
                f"audience {spec.key!r}: Whop needs an email or phone column", provider=self.name
            )
        return mapping

    def _upload(self, upload: UploadFile, progress: Progress | None) -> str:
        """POST /files, PUT the bytes to the presigned URL (once more from scratch on a 403), wait for
        `upload_status` ready; returns the file id."""
        file_id = ""
        for round_ in (1, 2):
            created = self.http.request(
                "POST",
                "/files",
                json={"filename": upload.path.name, "visibility": "private"},
                post="safe",  # a repeated POST /files only leaves an unused pending file record
            )
            record = self._object(self.http.decode(created), "POST /files")
            new_id, url = record.get("id"), record.get("upload_url")
            if not isinstance(new_id, str) or not isinstance(url, str):
                raise self.http.error("POST /files: the answer lacks id or upload_url")
            file_id = new_id
            extra = record.get("upload_headers")
            headers = {str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {}
            put = self.http.upload(url, upload.path, headers, progress=progress)
            if put.is_success:
                break
            if put.status_code == 403 and round_ == 1:
                log.info("whop upload URL refused (HTTP 403); starting the upload over")
                continue
            raise self.http.error(
                f"uploading the member file failed (HTTP {put.status_code})", status=put.status_code
            )

        def fetch() -> dict[str, Any]:
            return self._object(self.http.get_json(f"/files/{file_id}"), f"GET /files/{file_id}")

        record = self._poll(fetch, lambda r: r.get("upload_status") in ("ready", "failed"),
                            f"file {file_id}", self.file_timeout)
        if record.get("upload_status") == "failed":
            raise self.http.error(f"Whop could not process the uploaded member file {file_id}")
        return file_id

    def _wait(self, audience: RemoteAudience, progress: Progress | None) -> RemoteAudience:
        """Poll the audience until ready, partial or failed; report row progress on the way."""
        misses = 0

        def fetch() -> RemoteAudience:
            nonlocal misses
            found = self.read(audience.id)
            if found is None:
                misses += 1
                if misses >= 3:
                    raise NotFoundError(
                        f"audience {audience.id} disappeared while processing", provider=self.name, status=404
                    )
                return audience
            misses = 0
            if progress is not None:
                done, total = as_int(found.extra.get("processed_rows")), as_int(found.extra.get("total_rows"))
                progress(done or 0, total)
            return found

        def done(current: RemoteAudience) -> bool:
            return current.status in TERMINAL and misses == 0

        final = self._poll(fetch, done, f"audience {audience.id}", self.poll_timeout)
        if final.status == "failed":
            why = f": {final.error_message}" if final.error_message else ""
            raise self.http.error(f"audience {final.id} ({final.name!r}) failed to process{why}")
        return final

    def _poll(self, fetch: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float) -> T:
        """Call `fetch` until `done`, backing off 0.5 s doubling to `poll_cap`, for at most `timeout`."""
        deadline = self.http.clock() + timeout
        delay = 0.5
        while True:
            value = fetch()
            if done(value):
                return value
            if self.http.clock() + delay > deadline:
                raise self.http.error(f"{what} still not ready after {timeout:.0f}s", retryable=True)
            self.http.sleep(delay)
            delay = min(self.poll_cap, delay * 2)

    def _key(self, idempotency_key: str) -> dict[str, str]:
        key = idempotency_key
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii():
            key = hashlib.sha256(idempotency_key.encode()).hexdigest()
        return {"Idempotency-Key": key}

    def _object(self, body: object, label: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise self.http.error(f"{label}: unexpected answer (not a JSON object)")
        return body

    def _audiences(self, body: dict[str, Any]) -> list[RemoteAudience]:
        items = body.get("data")
        if not isinstance(items, list):
            raise self.http.error("GET /audiences: unexpected answer (no audience list)")
        return [self._audience(item) for item in items if isinstance(item, dict) and item.get("id")]

    def _audience(self, item: dict[str, Any]) -> RemoteAudience:
        if not item.get("id"):
            raise self.http.error("unexpected answer: an audience without id")
        message = item.get("error_message")
        processed = as_int(item.get("processed_rows"))
        total = as_int(item.get("total_rows"))
        return RemoteAudience(
            id=str(item["id"]),
            name=str(item.get("name") or ""),
            status=str(item.get("status") or "pending"),
            member_count=processed if processed is not None else total,
            error_message=mask_pii(str(message)) if message else None,
            extra={
                key: item.get(key)
                for key in ("total_rows", "processed_rows", "matched_rows", "progress_percent", "updated_at")
            }
            | {"created_at": parse_timestamp(item.get("created_at"))},
        )
